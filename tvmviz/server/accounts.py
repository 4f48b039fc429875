"""Identities, ownership rules, API tokens and the audit log.

Local mode (``./scripts/app.sh``) has one user, the person at the machine, who may do everything. On a
team server a person signs in with OpenID Connect or a script presents an API token; the uploader of an
upload is that identity, never typed text. Owners and admins may delete or move an upload; everyone
signed in may read; measuring on the server is for admins.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from tvmviz.errors import TvmvizError

TOKEN_PREFIX = "tvz_"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS api_token (
        token_sha256 VARCHAR PRIMARY KEY,   -- sha256 of the token; the token itself is shown once, never stored
        token_hint VARCHAR NOT NULL,        -- its first characters, to tell tokens apart in a list
        user_name VARCHAR NOT NULL,
        admin BOOLEAN NOT NULL,
        created_at TIMESTAMP NOT NULL,
        created_by VARCHAR NOT NULL,
        revoked_at TIMESTAMP
    )""",
    # no upload_id column: deleting an upload deletes every row keyed by it, and its audit must stay
    """CREATE TABLE IF NOT EXISTS audit_event (
        happened_at TIMESTAMP NOT NULL,
        actor VARCHAR NOT NULL,
        action VARCHAR NOT NULL,            -- upload | delete | move | rename | token_create | token_revoke | measure
        subject_upload INTEGER,
        detail JSON
    )""",
)


@dataclass(frozen=True)
class Identity:
    """Who asks. ``via`` says how they proved it: local, oidc or token."""

    name: str
    admin: bool = False
    via: str = "local"


def local_identity() -> Identity:
    """The one user of a local dashboard: the account running it, allowed everything."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "local"
    return Identity(name, admin=True, via="local")


def oidc_identity(claims: dict, admins: list[str]) -> Identity:
    """A signed-in person: their e-mail if the provider gives one, else their subject."""
    name = str(claims.get("email") or claims.get("preferred_username") or claims.get("sub") or "")
    if not name:
        raise TvmvizError("the sign-in gave no e-mail, username or subject: check the provider's scopes")
    return Identity(name, admin=name in admins, via="oidc")


def may_change(who: Identity, uploader: str | None) -> bool:
    """Delete or move an upload: its owner, or an admin."""
    return who.admin or (uploader is not None and uploader == who.name)


def may_measure(who: Identity) -> bool:
    return who.admin


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_schema(con) -> None:
    for statement in SCHEMA:
        con.execute(statement)


def create_token(con, user: str, admin: bool, created_by: str) -> str:
    """A new API token for ``user``; returned once, only its hash is kept."""
    if not user or not user.strip():
        raise TvmvizError("a token needs a user name (--user)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    con.execute("INSERT INTO api_token VALUES (?, ?, ?, ?, ?, ?, NULL)",
                [_hash(token), token[:10], user.strip(), admin, _now(), created_by])
    audit(con, created_by, "token_create", None, {"user": user.strip(), "admin": admin, "hint": token[:10]})
    return token


def list_tokens(con) -> list[dict]:
    rows = con.execute("SELECT token_hint, user_name, admin, created_at, created_by, revoked_at FROM api_token "
                       "ORDER BY created_at").fetchall()
    keys = ("hint", "user", "admin", "created_at", "created_by", "revoked_at")
    return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in zip(keys, r)} for r in rows]


def revoke_token(con, hint: str, by: str) -> int:
    """Revoke the live tokens whose hint starts with ``hint`` (as ``token list`` shows it); how many."""
    if len(hint) < 6:
        raise TvmvizError("give at least the first 6 characters of the token (its hint in `token list`)")
    prefix = hint[:10]
    rows = con.execute("SELECT token_sha256 FROM api_token WHERE starts_with(token_hint, ?) AND revoked_at IS NULL",
                       [prefix]).fetchall()
    if not rows:
        raise TvmvizError(f"no live token starts with {prefix!r}")
    con.execute("UPDATE api_token SET revoked_at = ? WHERE starts_with(token_hint, ?) AND revoked_at IS NULL",
                [_now(), prefix])
    audit(con, by, "token_revoke", None, {"hint": prefix, "count": len(rows)})
    return len(rows)


def token_identity(con, token: str) -> Identity | None:
    """The identity a presented token stands for, or None (unknown or revoked)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = con.execute("SELECT user_name, admin FROM api_token WHERE token_sha256 = ? AND revoked_at IS NULL",
                      [_hash(token)]).fetchone()
    return Identity(row[0], admin=bool(row[1]), via="token") if row else None


def audit(con, actor: str, action: str, upload_id: int | None, detail: dict | None = None) -> None:
    con.execute("INSERT INTO audit_event VALUES (?, ?, ?, ?, ?)",
                [_now(), actor, action, upload_id, json.dumps(detail or {})])


def audit_events(con, limit: int = 200) -> list[dict]:
    rows = con.execute("SELECT happened_at, actor, action, subject_upload, detail FROM audit_event ORDER BY happened_at DESC LIMIT ?",
                       [limit]).fetchall()
    return [{"at": r[0].isoformat(timespec="seconds"), "actor": r[1], "action": r[2], "upload_id": r[3],
             "detail": json.loads(r[4] or "{}")} for r in rows]


class Forbidden(TvmvizError):
    """The identity may not do this (HTTP 403)."""


class Gone(TvmvizError):
    """The upload does not exist (any more) (HTTP 404)."""


def ingest_file_as(store, who: Identity, path, name: str, label: str | None = None, kind: str | None = None,
                   run=None):
    """Ingest one file with ``who`` as the uploader, and audit every stored upload."""
    reports = store.ingest_file(path, name, label=label, uploader=who.name, kind=kind, run=run)
    _audit_reports(store, who, reports)
    return reports


def ingest_bytes_as(store, who: Identity, name: str, data: bytes, label: str | None = None, kind: str | None = None,
                    run=None):
    reports = store.ingest_bytes(name, data, label=label, uploader=who.name, kind=kind, run=run)
    _audit_reports(store, who, reports)
    return reports


def _audit_reports(store, who, reports) -> None:
    for r in reports:
        if r.upload_id is not None and not r.duplicate:
            audit(store.con, who.name, "upload", r.upload_id, {"file": r.file, "kind": r.kind, "rows": r.rows,
                                                                "via": who.via})


def _upload(store, upload_id: int):
    found = store.uploads(upload_id)
    if not found:
        raise Gone(f"upload {upload_id} does not exist (deleted already?)")
    return found[0]


def move_as(store, who: Identity, upload_id: int, run_id: int) -> None:
    """Move an upload to another run if ``who`` owns it or is an admin."""
    from tvmviz.runs import move_upload

    upload = _upload(store, upload_id)
    if not may_change(who, upload.uploader):
        raise Forbidden(f"upload {upload_id} belongs to {upload.uploader or 'nobody'}: only its owner or an admin "
                        "may move it")
    move_upload(store, upload_id, run_id)
    audit(store.con, who.name, "move", upload_id, {"from_run": upload.run_id, "to_run": run_id, "via": who.via})


def rename_as(store, who: Identity, run, label: str) -> None:
    """Rename a run if ``who`` started it or is an admin."""
    from tvmviz.runs import rename_run

    if not may_change(who, run.uploader):
        raise Forbidden(f"run {run.run_id} was started by {run.uploader or 'nobody'}: only they or an admin may "
                        "rename it")
    rename_run(store, run.run_id, label)
    audit(store.con, who.name, "rename", None, {"run": run.run_id, "from": run.label, "to": label, "via": who.via})


def delete_as(store, who: Identity, upload_id: int) -> None:
    """Delete an upload if ``who`` owns it or is an admin; Gone / Forbidden otherwise."""
    upload = _upload(store, upload_id)
    if not may_change(who, upload.uploader):
        raise Forbidden(f"upload {upload_id} belongs to {upload.uploader or 'nobody'}: only its owner or an admin "
                        "may delete it")
    import duckdb

    try:
        store.delete_upload(upload_id)
    except duckdb.TransactionException:  # another session deleted it at the same moment
        raise Gone(f"upload {upload_id} was deleted by someone else just now") from None
    audit(store.con, who.name, "delete", upload_id, {"file": upload.file_name, "owner": upload.uploader,
                                                     "via": who.via})
