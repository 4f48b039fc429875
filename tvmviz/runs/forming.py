"""Which run an upload joins (called inside the upload's transaction, once its rows are stored).

- Given a run (``ingest --run``, "add to this run" on the Data page): that run.
- A folder, a zip, or files sent together: one new run for all of them (the label, else the folder's name).
- A single file with a label: the newest run of that label, else a new run of that label.
- A single unlabelled file: the newest run whose model its workloads match on the same machine (a tuning
  log: at least half of its conv workloads are the model's; a transform log: half of its tensor shapes are
  the model's conv inputs or outputs; a model: the run without a model whose conv records are mostly its
  workloads), else a new run named after the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tvmviz.runs.catalog import (
    CPU_SQL, KIND_SQL, MEMBERS_SQL, MODEL_KINDS, Machine, _catalog, insert_run, run_exists,
)
from tvmviz.errors import TvmvizError

RECORD_KINDS = ("autotvm", "autotvm_selection")


@dataclass
class Placement:
    """Where the uploads of one ingest call (or one folder / zip in it) go."""

    label: str | None = None
    uploader: str | None = None
    run_id: int | None = None  # given, or the batch's run once made
    batch: bool = False  # all uploads in one run
    name: str = ""  # the batch's name: its run's label when no label is given
    given: bool = False  # run_id was asked for (never replaced)
    pending: list = field(default_factory=list)  # stored uploads the batch uses, until its run exists

    @classmethod
    def into(cls, run_id: int) -> "Placement":
        return cls(run_id=int(run_id), batch=True, given=True)

    def run_for(self, con, upload_id: int, kind: str, file_name: str) -> int:
        """The run of a just-stored upload (its rows are in ``con``'s open transaction)."""
        if self.run_id is not None and run_exists(con, self.run_id):
            return self.run_id
        if self.given:
            raise TvmvizError(f"run {self.run_id} does not exist (python -m tvmviz runs lists them)")
        if self.batch:
            self.run_id = insert_run(con, self.label or self.name or file_name, self.uploader)
            for shared in self.pending:
                _share(con, self.run_id, shared)
            return self.run_id
        if self.label:
            row = con.execute("SELECT max(run_id) FROM run WHERE label = ?", [self.label]).fetchone()
            return row[0] if row[0] is not None else insert_run(con, self.label, self.uploader)
        match = matching_run(con, upload_id, kind)
        return match if match is not None else insert_run(con, Path(file_name).name, self.uploader)

    def shared(self, con, upload_id: int) -> None:
        """The same bytes are stored already as ``upload_id``: a given run, a batch (once it stores a file
        of its own) or the run a single file's label names uses that upload too; nothing else changes."""
        if self.given or (self.batch and self.run_id is not None and run_exists(con, self.run_id)):
            _share(con, self.run_id, upload_id)
        elif self.batch:
            self.pending.append(upload_id)
        elif self.label:
            row = con.execute("SELECT max(run_id) FROM run WHERE label = ?", [self.label]).fetchone()
            if row[0] is not None:
                _share(con, row[0], upload_id)


def _share(con, run_id: int, upload_id: int) -> None:
    owner = con.execute("SELECT run_id FROM upload WHERE upload_id = ?", [upload_id]).fetchone()
    if owner and owner[0] != run_id:
        con.execute("INSERT INTO run_share VALUES (?, ?) ON CONFLICT DO NOTHING", [run_id, upload_id])


def placements(paths, label=None, uploader=None, run_id=None):
    """One Placement per folder or zip among ``paths`` (a batch each), one for the single files:
    ``placement(path, zipped)`` for each file as it is read."""
    if run_id is not None:
        given = Placement.into(run_id)
        return lambda path, zipped: given
    single = Placement(label, uploader)
    batches: dict[str, Placement] = {}

    def placement(path, zipped: bool) -> Placement:
        path = Path(path)
        if not (path.is_dir() or zipped):
            return single
        return batches.setdefault(str(path), Placement(label, uploader, batch=True, name=path.name))

    return placement


# ---- matching an unlabelled file to a run -------------------------------------------------------------


def _upload_machine(con, upload_id: int, table: str) -> Machine | None:
    row = con.execute(f"SELECT {KIND_SQL}, {CPU_SQL}, count(*) AS n FROM {table} WHERE upload_id = ? "
                      "GROUP BY ALL ORDER BY n DESC LIMIT 1", [upload_id]).fetchone()
    return Machine(row[0], row[1] or "") if row and row[0] else None


def _graph_of(con, upload_id: int):
    from tvmviz.graph.json_format import from_json

    row = con.execute("SELECT graph, name FROM model_graph WHERE upload_id = ?", [upload_id]).fetchone()
    return from_json(json.loads(row[0]), source=row[1]) if row else None


def model_workloads(graph) -> set[str]:
    return {n.conv.workload_key() for n in graph.convs()}


def _model_tensors(graph) -> set[tuple]:
    out = set()
    for n in graph.convs():
        out.add(tuple(n.conv.data_shape))
        out.add(tuple(n.shape))
    return out


def _nchw(shape) -> tuple:
    shape = list(shape)
    return (shape[0], shape[1] * shape[4], shape[2], shape[3]) if len(shape) == 5 else tuple(shape)


def _mostly(part: set, whole: set) -> bool:
    common = len(part & whole)
    return common > 0 and 2 * common >= len(part)


def matching_run(con, upload_id: int, kind: str) -> int | None:
    runs = [r for r in reversed(_catalog(con)) if upload_id not in r.uploads]  # newest first
    if kind in RECORD_KINDS:
        mine = {w for (w,) in con.execute("SELECT DISTINCT workload FROM autotvm_record WHERE upload_id = ? "
                                          "AND ic_bn IS NOT NULL", [upload_id]).fetchall()}
        return _run_with_model(con, runs, _upload_machine(con, upload_id, "autotvm_record"), mine, model_workloads)
    if kind == "layout_transform":
        mine = {_nchw(s) for (s,) in con.execute("SELECT DISTINCT shape FROM layout_transform WHERE upload_id = ?",
                                                 [upload_id]).fetchall()}
        return _run_with_model(con, runs, _upload_machine(con, upload_id, "layout_transform"), mine, _model_tensors)
    if kind in MODEL_KINDS:
        graph = _graph_of(con, upload_id)
        if graph is None:
            return None
        workloads = model_workloads(graph)
        for r in runs:
            if r.model_upload is None:
                theirs = {w for (w,) in con.execute(
                    f"SELECT DISTINCT workload FROM autotvm_record JOIN ({MEMBERS_SQL}) m USING (upload_id) "
                    "WHERE m.run_id = ? AND ic_bn IS NOT NULL", [r.run_id]).fetchall()}
                if _mostly(theirs, workloads):
                    return r.run_id
    return None


def _run_with_model(con, runs, machine, mine: set, of_graph) -> int | None:
    """The newest run on ``machine`` (or on none yet) whose model ``of_graph`` gives mostly ``mine``."""
    for r in runs:
        if r.model_upload is not None and r.machine in (None, machine):
            graph = _graph_of(con, r.model_upload)
            if graph is not None and _mostly(mine, of_graph(graph)):
                return r.run_id
    return None


def migrate(con) -> None:
    """Put every upload stored before runs existed into a run, by the same rules, in upload order."""
    rows = con.execute("SELECT upload_id, label, uploader, kind, file_name FROM upload WHERE run_id IS NULL "
                       "ORDER BY upload_id").fetchall()
    if not rows:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        for upload_id, label, uploader, kind, file_name in rows:
            run_id = Placement(label, uploader).run_for(con, upload_id, kind, file_name)
            con.execute("UPDATE upload SET run_id = ? WHERE upload_id = ?", [run_id, upload_id])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
