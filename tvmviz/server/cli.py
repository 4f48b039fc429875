"""``python -m tvmviz serve`` and ``python -m tvmviz token create|list|revoke``."""

from __future__ import annotations

import json

from tvmviz.cli_format import example
from tvmviz.server import accounts
from tvmviz.server.settings import RpcSetting


def add_parsers(sub) -> None:
    from tvmviz.server.streamlit_app import DEFAULT_SECRETS

    p = sub.add_parser("serve", help="a team server: the dashboard with sign-in, and the HTTP API, in one process",
                       **example("python -m tvmviz serve --db /srv/tvmviz/team.duckdb --host 127.0.0.1 --port 8501"))
    p.add_argument("--db", help="DuckDB file (default: $TVMVIZ_DB or ./tvmviz.duckdb)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (put a TLS proxy in front)")
    p.add_argument("--port", type=int, default=8501, help="port")
    p.add_argument("--secrets", default=str(DEFAULT_SECRETS), metavar="TOML",
                   help="OIDC ([auth]) and admin ([tvmviz] admins) settings")
    p.add_argument("--max-upload-mb", type=int, default=500, metavar="MB", help="largest upload, page or API")
    p.add_argument("--rpc-tracker", metavar="HOST:PORT",
                   help="TVM RPC tracker of the target devices: the pages measure there (admins), never elsewhere")
    p.add_argument("--rpc-key", metavar="KEY", help="the tracker's device key the pages measure on")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("token", help="API tokens for scripts: create (printed once), list, revoke",
                       **example("python -m tvmviz token create --db team.duckdb --user ci@example.com\n"
                                 "python -m tvmviz token revoke --db team.duckdb tvz_AbCdEf"))
    tsub = p.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    for name, text in (("create", "a new token; its value is the last word printed, and shown only once"),
                       ("list", "every token: hint, user, admin, created, revoked"),
                       ("revoke", "revoke a token by its hint (the first characters)")):
        t = tsub.add_parser(name, help=text)
        t.add_argument("--db", help="DuckDB file (default: $TVMVIZ_DB or ./tvmviz.duckdb)")
        if name == "create":
            t.add_argument("--user", required=True, help="who the token acts as (e.g. their sign-in e-mail)")
            t.add_argument("--admin", action="store_true", help="may delete and move anyone's uploads")
        if name == "list":
            t.add_argument("--json", action="store_true", help="print a JSON array")
        if name == "revoke":
            t.add_argument("hint", help="the token or its first characters (at least 6)")
    p.set_defaults(func=_cmd_token)


def _cmd_serve(args) -> int:
    from tvmviz.server.streamlit_app import serve
    from tvmviz.store import default_db_path

    tracker = RpcSetting.of(args.rpc_tracker, args.rpc_key) if args.rpc_tracker or args.rpc_key else RpcSetting.from_env()
    serve(args.db or default_db_path(), args.host, args.port, args.secrets, args.max_upload_mb, tracker)
    return 0


def _cmd_token(args) -> int:
    from tvmviz.store import Store

    store = Store.open(args.db)
    who = accounts.local_identity().name
    try:
        if args.token_command == "create":
            token = accounts.create_token(store.con, args.user, args.admin, created_by=who)
            role = "admin" if args.admin else "user"
            print(f"token for {args.user.strip()} ({role}); shown once, store it now: {token}")
        elif args.token_command == "list":
            tokens = accounts.list_tokens(store.con)
            if args.json:
                print(json.dumps(tokens, indent=1))
            for t in [] if args.json else tokens:
                state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "live"
                print(f"{t['hint']}…  {t['user']:<30} {'admin' if t['admin'] else 'user ':<6} {t['created_at']}  {state}")
        else:
            n = accounts.revoke_token(store.con, args.hint, by=who)
            print(f"revoked {n} token{'s' if n != 1 else ''}")
    finally:
        store.close()
    return 0
