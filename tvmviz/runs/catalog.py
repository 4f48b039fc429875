"""The ``run`` table and the Run object: which uploads a run holds, its machine, and the edits a user makes
(start a run, rename it, move an upload to another run).

An upload belongs to one run (``upload.run_id``). A run may also use an upload another run holds: the
same bytes uploaded again into it (a teammate's copy of the same ONNX) are stored once and listed in
``run_share``. Both tables are additive: ``create_schema`` adds them to an existing database and puts
every upload stored before runs existed into one (tvmviz.runs.forming).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tvmviz.errors import TvmvizError

MODEL_KINDS = ("onnx_model", "layout_graph")

SCHEMA = [
    "CREATE SEQUENCE IF NOT EXISTS run_id_seq START 1",
    """
CREATE TABLE IF NOT EXISTS run (
    run_id INTEGER PRIMARY KEY DEFAULT nextval('run_id_seq'),
    label VARCHAR NOT NULL,
    uploader VARCHAR,
    created_at TIMESTAMP NOT NULL
)""",
    # a run using an upload another run holds (the same bytes uploaded into it again)
    "CREATE TABLE IF NOT EXISTS run_share (run_id INTEGER NOT NULL, upload_id INTEGER NOT NULL, "
    "PRIMARY KEY (run_id, upload_id))",
    "ALTER TABLE upload ADD COLUMN IF NOT EXISTS run_id INTEGER",
]

MEMBERS_SQL = """
SELECT run_id, upload_id FROM upload WHERE run_id IS NOT NULL
UNION SELECT s.run_id, s.upload_id FROM run_share s JOIN upload u USING (upload_id)
"""

# The machine a record was measured on: the target's kind (llvm, cuda, ...) and its -mcpu (may be '').
KIND_SQL = r"regexp_extract(target, '^\s*(\S+)', 1)"
CPU_SQL = r"regexp_extract(target, '-mcpu=(\S+)', 1)"


@dataclass(frozen=True)
class Machine:
    """Target kind and CPU: records of two machines are never compared or mixed unless a user asks."""

    kind: str
    cpu: str  # '' when the target names no -mcpu

    def describe(self) -> str:
        return f"{self.kind} {self.cpu}" if self.cpu else f"{self.kind} (no -mcpu)"

    def sql(self) -> tuple[str, list]:
        """A WHERE clause (and its parameters) keeping the records of this machine (autotvm_record or
        layout_transform)."""
        return f" AND {KIND_SQL} = ? AND {CPU_SQL} = ?", [self.kind, self.cpu]

    @classmethod
    def of_target(cls, target: str | None) -> "Machine | None":
        if not target or not target.strip():
            return None
        m = re.search(r"-mcpu=(\S+)", target)
        return cls(target.split()[0], m.group(1) if m else "")


@dataclass(frozen=True)
class Run:
    run_id: int
    label: str
    uploader: str | None
    created_at: datetime
    uploads: tuple = ()  # every upload the run uses, its own and shared, in upload order
    machine: Machine | None = None  # of most of its conv tuning records (else of its transforms)
    target: str | None = None  # the commonest full target string of that machine
    tvm_version: str | None = None
    model_upload: int | None = None  # the newest model graph among its uploads
    model: str | None = None  # that model's file name
    # filled by list_runs / get_run (tvmviz.runs.inputs.run_status)
    complete: bool = False
    lacks: tuple = field(default=(), compare=False)  # tvmviz.runs.inputs.Lack

    @property
    def cpu(self) -> str | None:
        return (self.machine.cpu or None) if self.machine else None

    @property
    def missing(self) -> list[str]:
        return [lack.text for lack in self.lacks]

    def name(self) -> str:
        return f"run {self.run_id}: {self.label}"

    def to_json(self) -> dict:
        """What ``tvmviz runs --json`` prints (and the team server's GET /api/v1/runs returns)."""
        return {"run_id": self.run_id, "label": self.label, "uploader": self.uploader, "target": self.target,
                "cpu": self.cpu, "tvm_version": self.tvm_version, "model": self.model,
                "uploads": list(self.uploads), "complete": self.complete, "missing": self.missing}


def create_schema(con) -> None:
    for statement in SCHEMA:
        con.execute(statement)
    from tvmviz.runs.forming import migrate

    migrate(con)


def insert_run(con, label: str, uploader: str | None, created_at: datetime | None = None) -> int:
    created_at = created_at or datetime.now(timezone.utc).replace(tzinfo=None)
    return con.execute("INSERT INTO run (label, uploader, created_at) VALUES (?, ?, ?) RETURNING run_id",
                       [label, uploader, created_at]).fetchone()[0]


def run_exists(con, run_id: int) -> bool:
    return con.execute("SELECT count(*) FROM run WHERE run_id = ?", [int(run_id)]).fetchone()[0] > 0


def run_members(con, run_id: int) -> list[int]:
    """Upload ids a run uses (its own and shared), in upload order."""
    return [u for (u,) in con.execute(f"SELECT upload_id FROM ({MEMBERS_SQL}) WHERE run_id = ? ORDER BY upload_id",
                                      [int(run_id)]).fetchall()]


def _catalog(con, run_ids=None) -> list[Run]:
    where, params = ("", []) if run_ids is None else (" WHERE list_contains(?, run_id)", [[int(r) for r in run_ids]])
    runs = con.execute(f"SELECT run_id, label, uploader, created_at FROM run{where} ORDER BY run_id", params).fetchall()
    members: dict[int, list[int]] = {}
    for run_id, upload_id in con.execute(f"SELECT run_id, upload_id FROM ({MEMBERS_SQL}) ORDER BY upload_id").fetchall():
        members.setdefault(run_id, []).append(upload_id)
    models = {}
    for run_id, upload_id, name in con.execute(
            f"SELECT m.run_id, u.upload_id, u.file_name FROM ({MEMBERS_SQL}) m JOIN upload u USING (upload_id) "
            f"WHERE u.kind IN {MODEL_KINDS} ORDER BY u.upload_id").fetchall():
        models[run_id] = (upload_id, name)  # the newest wins
    machines = _machines(con)
    out = []
    for run_id, label, uploader, created_at in runs:
        machine, target, tvm = machines.get(run_id, (None, None, None))
        model = models.get(run_id, (None, None))
        out.append(Run(run_id, label, uploader, created_at, tuple(members.get(run_id, ())), machine, target, tvm,
                       model[0], model[1]))
    return out


def _machines(con) -> dict:
    """run_id -> (Machine, commonest target string, commonest TVM version) of most of its conv records (the
    graph tuner's input); a run with transforms only takes theirs."""
    rows = con.execute(f"""
        WITH member AS ({MEMBERS_SQL}), rec AS (
            SELECT member.run_id, {KIND_SQL} AS kind, {CPU_SQL} AS cpu, target, tvm_version, 0 AS pref
            FROM autotvm_record JOIN member USING (upload_id) WHERE ic_bn IS NOT NULL
            UNION ALL
            SELECT member.run_id, {KIND_SQL}, {CPU_SQL}, target, tvm_version, 1
            FROM layout_transform JOIN member USING (upload_id))
        SELECT run_id, kind, cpu, mode(target), mode(tvm_version), min(pref), count(*) FROM rec
        WHERE kind <> '' GROUP BY run_id, kind, cpu""").fetchall()
    best: dict = {}
    for run_id, kind, cpu, target, tvm, pref, n in rows:
        rank = (pref, -n)
        if run_id not in best or rank < best[run_id][0]:
            best[run_id] = (rank, (Machine(kind, cpu or ""), target, tvm))
    return {r: v for r, (_, v) in best.items()}


def catalog_version(con) -> tuple:
    """A fingerprint of the rows list_runs and Store.uploads read besides the records (runs, their uploads,
    shares): the same fingerprint, the same catalog, since an upload's records never change once stored.
    One query over the small tables, where the catalog scans every record (the dashboard's cache key)."""
    return con.execute("""
        SELECT (SELECT (count(*), sum(hash(run_id, label, uploader, created_at))) FROM run),
               (SELECT (count(*), sum(hash(upload_id, run_id, label, kind, file_name, uploader))) FROM upload),
               (SELECT (count(*), sum(hash(run_id, upload_id))) FROM run_share)""").fetchone()


def list_runs(store, status: bool = True) -> list[Run]:
    """Every run, oldest first; with ``status`` each says whether it is complete and what it lacks."""
    runs = _catalog(store.con)
    if not status:
        return runs
    from tvmviz.runs.inputs import with_status

    return [with_status(store, r) for r in runs]


def get_run(store, run_id: int, status: bool = True) -> Run:
    runs = _catalog(store.con, [run_id])
    if not runs:
        raise TvmvizError(f"run {run_id} does not exist (python -m tvmviz runs lists them)")
    if not status:
        return runs[0]
    from tvmviz.runs.inputs import with_status

    return with_status(store, runs[0])


def resolve_run(store, text) -> int:
    """A run named by its id or its exact label (the newest run of that label)."""
    text = str(text).strip()
    if text.isdigit():
        if run_exists(store.con, int(text)):
            return int(text)
        raise TvmvizError(f"run {text} does not exist (python -m tvmviz runs lists them)")
    row = store.con.execute("SELECT max(run_id) FROM run WHERE label = ?", [text]).fetchone()
    if row[0] is None:
        raise TvmvizError(f"no run is labelled {text!r} (python -m tvmviz runs lists them)")
    return row[0]


def new_run(store, label: str, uploader: str | None = None) -> int:
    """Start an empty run; uploads join it when the user adds them to it."""
    label = (label or "").strip()
    if not label:
        raise TvmvizError("a new run needs a label, e.g. 'resnet50 on skylake'")
    return insert_run(store.con, label, (uploader or "").strip() or None)


def rename_run(store, run_id: int, label: str) -> None:
    label = (label or "").strip()
    if not label:
        raise TvmvizError("a run's label cannot be empty")
    if not run_exists(store.con, run_id):
        raise TvmvizError(f"run {run_id} does not exist")
    store.con.execute("UPDATE run SET label = ? WHERE run_id = ?", [label, int(run_id)])


def move_upload(store, upload_id: int, run_id: int) -> None:
    """Give an upload to another run (a run that only shared it keeps sharing it)."""
    if not run_exists(store.con, run_id):
        raise TvmvizError(f"run {run_id} does not exist")
    if not store.con.execute("SELECT count(*) FROM upload WHERE upload_id = ?", [int(upload_id)]).fetchone()[0]:
        raise TvmvizError(f"upload {upload_id} does not exist")
    store.con.execute("BEGIN TRANSACTION")
    try:
        store.con.execute("UPDATE upload SET run_id = ? WHERE upload_id = ?", [int(run_id), int(upload_id)])
        store.con.execute("DELETE FROM run_share WHERE run_id = ? AND upload_id = ?", [int(run_id), int(upload_id)])
        store.con.execute("COMMIT")
    except BaseException:
        store.con.execute("ROLLBACK")
        raise
