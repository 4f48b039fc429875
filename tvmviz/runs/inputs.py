"""A run as the selector's input, matched to its machine and model, and what it lacks.

``run_inputs`` returns exactly what ``select --graph --tuning-log --transform-log`` reads from the files
when the run holds those files: the run's newest model graph, its tuning records of the run's machine for
the model's conv workloads (in upload, then line order) and its transform benchmarks of that machine.
Everything else is left out and counted (``InputsInfo``). Records of another machine come in only from
runs named as cost sources, and ``InputsInfo.banner`` then names both machines.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tvmviz.errors import TvmvizError
from tvmviz.runs.catalog import CPU_SQL, KIND_SQL, Machine, Run, get_run, list_runs
from tvmviz.runs.forming import model_workloads

# what a page or client can offer for a lack (the page words them; no command-line flags)
UPLOAD, MOVE, MEASURE, ESTIMATE = "upload", "move", "measure", "estimate"


@dataclass(frozen=True)
class Lack:
    text: str  # "no model graph: upload the ONNX this log was tuned for"
    actions: tuple = ()  # UPLOAD | MOVE | MEASURE | ESTIMATE
    uploads: tuple = ()  # MOVE: the uploads to move out
    keys: tuple = field(default=(), compare=False)  # MEASURE: tvmviz.measure.TransformKey of the missing transforms


@dataclass(frozen=True)
class CostSource:
    run: Run
    records: int  # kernel records it adds (its machine, this model's conv workloads)
    transforms: int  # transform benchmarks it adds


@dataclass
class InputsInfo:
    run: Run
    model_upload: int
    model_workloads: int  # distinct conv workloads of the model
    workloads_with_records: int
    records_total: int  # trials in the run's uploads (graph-tuner output not counted)
    records_used: int
    ignored: list = field(default_factory=list)  # (count, "for dense tasks"), ...
    transforms_total: int = 0
    transforms_used: int = 0
    cost_sources: list = field(default_factory=list)  # CostSource

    def summary(self) -> str:
        """'500 records, 460 for this model's 20 conv workloads, 40 for dense tasks'"""
        parts = [f"{self.records_total} records", f"{self.records_used} for this model's {self.model_workloads} "
                 "conv workloads"] + [f"{n} {why}" for n, why in self.ignored]
        text = ", ".join(parts)
        if self.workloads_with_records < self.model_workloads:
            text += f" ({self.model_workloads - self.workloads_with_records} of them without a record)"
        text += f"; {self.transforms_used} layout-transform benchmarks"
        if self.transforms_total > self.transforms_used:
            text += f" ({self.transforms_total - self.transforms_used} of another machine left out)"
        return text

    def banner(self) -> str | None:
        """Said wherever a selection mixes machines: both machines by name."""
        if not self.cost_sources:
            return None
        here = self.run.machine.describe() if self.run.machine else "no machine yet"
        added = "; ".join(f"{c.run.name()} on {c.run.machine.describe() if c.run.machine else 'no machine'} "
                          f"adds {c.records} kernel records and {c.transforms} transform benchmarks"
                          for c in self.cost_sources)
        return f"Costs of two machines in one selection: {self.run.name()} was measured on {here}; {added}."


def run_inputs(store, run_id: int, cost_sources=(), best_records_only: bool = False):
    """(graph, tuning_records, transform_records, InputsInfo) of a run, as ``select`` takes them. Cost sources
    (run ids) add their own records of the same workloads: their transforms fill keys the run lacks (the
    run's own benchmark of a key wins), their kernel records add candidates. ``best_records_only``: just the
    records the tvm cost model can pick (Store.best_tuning_records), far fewer on a long log."""
    run = get_run(store, run_id, status=False)
    if run.model_upload is None:
        raise TvmvizError(f"{run.name()} has no model graph: upload the ONNX this log was tuned for")
    graph = store.model_graph(run.model_upload)
    workloads = sorted(model_workloads(graph))
    tuning, transforms = _records(store, run, workloads, best_records_only)
    info = _info(store, run, workloads, tuning, transforms)
    extra_tuning, extra_transforms = [], []
    for other_id in dict.fromkeys(int(c) for c in cost_sources):
        if other_id == run.run_id:
            continue
        other = get_run(store, other_id, status=False)
        t, x = _records(store, other, workloads, best_records_only)
        info.cost_sources.append(CostSource(other, len(t), len(x)))
        extra_tuning += t
        extra_transforms += x
    if info.cost_sources:  # one logged order across runs: the run's own first, its transforms last (they win)
        tuning = [replace(r, seq=i) for i, r in enumerate(tuning + extra_tuning)]
        transforms = [replace(r, seq=i) for i, r in enumerate(extra_transforms + transforms)]
    return graph, tuning, transforms, info


def _records(store, run: Run, workloads, best_only: bool = False) -> tuple[list, list]:
    if run.machine is None:
        return [], []
    tuning = store.best_tuning_records if best_only else store.tuning_records
    return (tuning(list(run.uploads), workloads=workloads, machine=run.machine),
            store.transform_records(list(run.uploads), machine=run.machine))


def _family(task: str) -> str:
    return task.split(".")[0].split("_")[0]


def _info(store, run: Run, workloads, tuning, transforms) -> InputsInfo:
    kind, cpu = (run.machine.kind, run.machine.cpu) if run.machine else ("", "")
    rows = store.con.execute(
        f"SELECT task, {KIND_SQL} = ? AND {CPU_SQL} = ? AS same, list_contains(?, workload) AS in_model, "
        f"{KIND_SQL} AS kind, {CPU_SQL} AS cpu, count(*) FROM autotvm_record "
        "WHERE list_contains(?, upload_id) AND NOT is_selection GROUP BY ALL",
        [kind, cpu, list(workloads), list(run.uploads)]).fetchall()
    ignored: dict[str, int] = {}
    for task, same, in_model, k, c, n in rows:
        if not same:
            why = f"for another machine ({Machine(k, c or '').describe() if k else 'no target'})"
        elif in_model:
            continue
        elif task == "conv2d_NCHWc.x86":
            why = "for conv workloads not in this model"
        else:
            why = f"for {_family(task)} tasks"
        ignored[why] = ignored.get(why, 0) + n
    total_transforms = store.con.execute("SELECT count(*) FROM layout_transform WHERE list_contains(?, upload_id)",
                                         [list(run.uploads)]).fetchone()[0]
    return InputsInfo(
        run, run.model_upload, len(workloads), len({r.workload for r in tuning}),
        sum(r[-1] for r in rows), len(tuning), [(n, why) for why, n in ignored.items()],
        total_transforms, len(transforms))


# ---- completeness --------------------------------------------------------------------------------------


def run_status(store, run: Run) -> tuple[bool, list[Lack]]:
    """(complete, lacks): complete when TVM's graph tuner could run on it as it is: a model graph, records of
    the run's machine for every conv workload of the model, and every layout transform it needs measured."""
    lacks: list[Lack] = []
    if not run.uploads:
        return False, [Lack("nothing uploaded yet: upload the model, its tuning log and layout-transform "
                            "benchmarks", (UPLOAD,))]
    if run.model_upload is None:
        lacks.append(Lack("no model graph: upload the ONNX this log was tuned for", (UPLOAD,)))
    foreign = store.con.execute(
        f"SELECT {KIND_SQL}, {CPU_SQL}, count(*), list(DISTINCT upload_id ORDER BY upload_id) FROM autotvm_record "
        "WHERE list_contains(?, upload_id) AND ic_bn IS NOT NULL AND NOT is_selection GROUP BY ALL",
        [list(run.uploads)]).fetchall()
    machines = [(Machine(k, c or ""), n, tuple(ids)) for k, c, n, ids in foreign if k]
    if not any(m == run.machine for m, _, _ in machines):
        lacks.append(Lack("no tuning records: upload the AutoTVM log tuned for this model", (UPLOAD,)))
    for m, n, ids in machines:
        if run.machine is not None and m != run.machine:
            lacks.append(Lack(f"{n} records are for another machine ({m.describe()}, not {run.machine.describe()}): "
                              "move their uploads to a run of their own", (MOVE,), ids))
    if run.model_upload is None or not any(m == run.machine for m, _, _ in machines):
        return False, lacks
    try:
        graph, tuning, transforms, info = run_inputs(store, run.run_id, best_records_only=True)  # keys only
    except TvmvizError as e:
        return False, lacks + [Lack(f"its model graph cannot be read: {e}", (UPLOAD,))]
    if info.workloads_with_records == 0:
        lacks.append(Lack(f"none of its {info.records_total} records is for this model's convs: upload the model "
                          "this log was tuned for, or move the log to a run of its own", (UPLOAD, MOVE)))
        return False, lacks
    if info.workloads_with_records < info.model_workloads:
        lacks.append(Lack(f"{info.model_workloads - info.workloads_with_records} of {info.model_workloads} conv "
                          "workloads have no tuning record: upload their records", (UPLOAD,)))
        return False, lacks
    from tvmviz.measure.keys import needed_transform_keys

    try:
        keys = needed_transform_keys(graph, tuning, transforms, only_missing=True)
    except TvmvizError as e:
        return False, lacks + [Lack(f"no selection is possible: {e}", ())]
    if keys and transforms:
        lacks.append(Lack(f"{len(keys)} transform keys missing: measure them / estimate them", (MEASURE, ESTIMATE),
                          keys=tuple(keys)))
    elif keys:
        lacks.append(Lack(f"no layout-transform benchmarks ({len(keys)} transform keys needed): measure them",
                          (MEASURE,), keys=tuple(keys)))
    return not lacks, lacks


def with_status(store, run: Run) -> Run:
    complete, lacks = run_status(store, run)
    return replace(run, complete=complete, lacks=tuple(lacks))


def default_run(store, fallback_label: str | None = None) -> int | None:
    """What a new session opens: the newest complete run, else the run labelled ``fallback_label`` (the
    sample), else the newest run."""
    runs = list_runs(store)
    for r in reversed(runs):
        if r.complete:
            return r.run_id
    for r in reversed(runs):
        if fallback_label is not None and r.label == fallback_label:
            return r.run_id
    return runs[-1].run_id if runs else None


def needs_same_model(store, a: Run, b: Run) -> str | None:
    """Why two runs cannot be compared layer by layer (None: same conv workloads)."""
    for r in (a, b):
        if r.model_upload is None:
            return f"{r.name()} has no model graph"
    wa = model_workloads(store.model_graph(a.model_upload))
    wb = model_workloads(store.model_graph(b.model_upload))
    if wa != wb:
        return (f"not the same model: {a.name()} has {len(wa)} conv workloads, {b.name()} {len(wb)}, "
                f"{len(wa & wb)} in common")
    return None
