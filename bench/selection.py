"""Selector speed: tvmviz's dp / pbqp / exact solvers and the full regret table, against TVM 0.19's own
DPTuner.run() / PBQPTuner.run() on the same inputs, measured in the same run.

    python bench/selection.py [--quick] [--no-tvm] [--repeat N] [--tvm-repeat N] [--tvm-dag-timeout S]
                           [--dag-convs 500] [--dag-seed 0] [--dag-dp-timeout S] [--json FILE]

1. ResNet-50 v2 (ONNX built in code by tvmviz.synth, imported through TVM Relax), the real AutoTVM log
   tests/data/thirdparty/resnet50-v2-7_autotvm_tvm0.13.log through the store, and a synthetic
   measured layout_transform record for every key the cost model needs. TVM 0.19's tuners get the same
   three files through tests/oracle/time_tuners.py in .oracle-venv (which first checks that the layout log
   holds every key TVM asks for, so nothing is benchmarked).
2. synth.random_dag(500): 20 candidates per workload (synthetic records, 20 distinct (ic_bn, oc_bn) pairs)
   and measured transforms. TVM's tuners run under a time limit; so does tvmviz's dp, in a forked child.

tvmviz figures are the median (and min) of --repeat runs after one warm-up, solver calls only (the problem
is built once; its build time is its own row). The machine may be shared: figures are wall-clock and
noisy (the load average is printed); rerun to compare. Timings are reported, never asserted.
"""

from __future__ import annotations

import os
import sys

import argparse
import json
import signal
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.paths import RESNET50_LOG  # noqa: E402

ORACLE_PY = ROOT / ".oracle-venv" / "bin" / "python"
ORACLE_DIR = ROOT / "tests" / "oracle"
DAG_CANDIDATES = 20

# Run by TVM 0.19's Python for the DAG: the same steps as time_tuners.py, but each phase is printed as it
# ends, so a run cut off by the time limit still says how far it got.
PHASE_SCRIPT = r'''
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
def emit(**kw):
    print(json.dumps(kw), flush=True)
import run_tuner
from tvm.autotvm.graph_tuner import DPTuner, PBQPTuner
model_path, tuning, layout = sys.argv[2:5]
t = time.perf_counter(); model = run_tuner.Model(model_path); emit(phase="relay_import", s=time.perf_counter() - t)
log_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"tvmviz_oracle_{os.getpid()}.log")
for i, (label, cls) in enumerate((("pbqp", PBQPTuner), ("dp", DPTuner))):
    t = time.perf_counter(); tuner = model.new_tuner(cls, tuning, 20, log_file)
    emit(phase=label + "_construct", s=time.perf_counter() - t)
    if i == 0:
        t = time.perf_counter(); run_tuner._require_all_measured(tuner, layout)
        emit(phase="check_layout_keys", s=time.perf_counter() - t)
    t = time.perf_counter(); tuner.benchmark_layout_transform(layout_records=layout, infer_layout=False)
    emit(phase=label + "_layout_tables", s=time.perf_counter() - t)
    emit(phase=label + "_run started")
    t = time.perf_counter(); tuner.run(); emit(phase=label + "_run", s=time.perf_counter() - t)
'''


PHASES = ("relay_import", "pbqp_construct", "check_layout_keys", "pbqp_layout_tables", "pbqp_run", "dp_construct",
          "dp_layout_tables", "dp_run")


@dataclass
class Timing:
    times: list  # seconds, one per repeat
    finished: bool = True  # False: cut off by a time limit after len(times) runs
    limit_s: float | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.finished and self.times else None

    @property
    def best(self) -> float | None:
        return min(self.times) if self.finished and self.times else None


@dataclass
class Row:
    section: str
    figure: str
    tvmviz: Timing | None = None
    baseline_s: float | None = None  # TVM's median, same run
    baseline_note: str = ""
    target: str = ""
    verdict: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_s is None or self.tvmviz is None or not self.tvmviz.median:
            return None
        return self.baseline_s / self.tvmviz.median


@dataclass
class Report:
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)


# ---------------------------------------------------------------------------------------- timing


def time_calls(fn, repeat: int, warmup: int = 1) -> Timing:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return Timing(times)


def _child_loop(fn, repeat: int, conn) -> None:
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        conn.send(time.perf_counter() - t0)
    conn.close()


def time_calls_limited(fn, repeat: int, limit_s: float) -> Timing:
    """time_calls in a forked child, abandoned after limit_s (a solver that may not finish)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_loop, args=(fn, repeat, send), daemon=True)
    proc.start()
    send.close()
    deadline = time.monotonic() + limit_s
    times = []
    while len(times) < repeat:
        left = deadline - time.monotonic()
        if left <= 0 or not recv.poll(left):
            break
        try:
            times.append(recv.recv())
        except EOFError:
            break
    if proc.is_alive():
        proc.terminate()
    proc.join()
    return Timing(times, finished=len(times) == repeat, limit_s=limit_s)


# ---------------------------------------------------------------------------------------- inputs


@dataclass
class Inputs:
    name: str
    graph: object
    tuning: list
    transforms: list
    model_path: Path
    tuning_path: Path
    layout_path: Path
    n_keys: int


def _ingest_lines(store, name: str, lines: list[str]) -> int:
    return store.ingest_bytes(name, "".join(line + "\n" for line in lines).encode())[0].upload_id


def _measured_transforms(store, graph, tuning, out: Path, seed: int):
    """A measured layout_transform record for every key the cost model asks for (as TVM's would be)."""
    from tvmviz import synth
    from tvmviz.measure.keys import needed_transform_keys

    keys = needed_transform_keys(graph, tuning)
    lines = synth.measured_transform_records([synth.TransformKey(k.shape, k.src, k.dst) for k in keys], seed=seed)
    synth.write_lines(out, lines)
    return store.transform_records([_ingest_lines(store, out.name, lines)]), len(keys)


def resnet50_inputs(tmp: Path) -> Inputs:
    from tvmviz import synth
    from tvmviz.graph.onnx_import import onnx_model_to_graph
    from tvmviz.store import Store

    model = synth.resnet50_onnx("v2")
    path = model.save(tmp / "resnet50_v2.onnx")
    graph = onnx_model_to_graph(model.proto, str(path))
    store = Store.open(":memory:")
    tuning = store.tuning_records([store.ingest_paths([str(RESNET50_LOG)])[0].upload_id])
    transforms, n_keys = _measured_transforms(store, graph, tuning, tmp / "resnet50_layout.log", seed=0)
    store.close()
    return Inputs("ResNet-50", graph, tuning, transforms, path, RESNET50_LOG, tmp / "resnet50_layout.log", n_keys)


def dag_inputs(tmp: Path, n_convs: int, seed: int) -> tuple[Inputs, str]:
    from tvmviz import synth
    from tvmviz.graph.onnx_import import onnx_model_to_graph
    from tvmviz.store import Store

    model = synth.random_dag(n_convs, seed)  # 64 channels (32 in concat branches): >= 42 (ic_bn, oc_bn) pairs
    path = model.save(tmp / f"dag{n_convs}.onnx")
    graph = onnx_model_to_graph(model.proto, str(path))
    workloads = model.workloads()
    pairs_available = min(
        len([d for d in range(1, wl[1][1][1] + 1) if wl[1][1][1] % d == 0 and d <= 64])
        * len([d for d in range(1, wl[2][1][0] + 1) if wl[2][1][0] % d == 0 and d <= 64])
        for wl in workloads)
    opts = synth.RecordOptions(pairs=(DAG_CANDIDATES, DAG_CANDIDATES + 1), failed_rate=0.0)
    lines = synth.tuning_records(workloads, seed=seed, options=opts)
    tuning_path = synth.write_lines(tmp / f"dag{n_convs}_tuning.log", lines)
    store = Store.open(":memory:")
    tuning = store.tuning_records([_ingest_lines(store, tuning_path.name, lines)])
    transforms, n_keys = _measured_transforms(store, graph, tuning, tmp / f"dag{n_convs}_layout.log", seed=seed)
    store.close()
    desc = (f"{n_convs} convs, {len(workloads)} workloads, {len(graph.nodes)} graph nodes; "
            f"(ic_bn, oc_bn) pairs the channels allow: >= {pairs_available}")
    return Inputs(f"DAG-{n_convs}", graph, tuning, transforms, path, tuning_path,
                  tmp / f"dag{n_convs}_layout.log", n_keys), desc


# ---------------------------------------------------------------------------------------- tvmviz side


def bench_tvmviz(inp: Inputs, repeat: int, dp_limit_s: float | None) -> dict:
    from tvmviz.select import SelectOptions, build_problem, regret_table, solve
    from tvmviz.select.dp import solve_dp
    from tvmviz.select.exact import solve_exact, solve_milp
    from tvmviz.select.pbqp import solve_pbqp

    opts = SelectOptions(compute_optimum=False)
    out = {"build_problem": time_calls(lambda: build_problem(inp.graph, inp.tuning, inp.transforms, opts), repeat)}
    problem = build_problem(inp.graph, inp.tuning, inp.transforms, opts)
    out["problem"] = problem
    out["dp"] = (time_calls_limited(lambda: solve_dp(problem), repeat, dp_limit_s) if dp_limit_s
                 else time_calls(lambda: solve_dp(problem), repeat))
    out["pbqp"] = time_calls(lambda: solve_pbqp(problem), repeat)
    out["exact"] = time_calls(lambda: solve_exact(problem), repeat)
    out["exact_method"] = solve_exact(problem).method
    out["milp"] = time_calls(lambda: solve_milp(problem, 60.0), max(1, repeat // 3), warmup=0)
    sel = solve(problem, "exact")  # regret needs a selection; exact always finishes here
    out["regret"] = time_calls(lambda: regret_table(sel), repeat)
    table = regret_table(sel)
    out["regret_cells"] = sum(len(r) for r in table.regret_s)
    out["candidates"] = [len(problem.candidates[c]) for c in problem.convs]
    return out


# ---------------------------------------------------------------------------------------- TVM side


def _oracle_env() -> dict:
    env = dict(os.environ, TOPHUB_LOCATION="NONE", TVM_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    return env


def run_limited(cmd: list, limit_s: float | None, cwd: Path) -> tuple[list[str], str, bool, float]:
    """(stdout lines, stderr, finished, seconds); the process group is killed at the limit."""
    import subprocess
    import threading

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_oracle_env(), start_new_session=True)
    lines: list[str] = []
    err: list[str] = []
    readers = [threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True),
               threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)]
    for r in readers:
        r.start()
    try:
        proc.wait(timeout=limit_s)
        finished = True
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # our own child's group: TVM may have spawned builders
        proc.wait()
        finished = False
    for r in readers:
        r.join(timeout=5)
    return lines, "".join(err), finished and proc.returncode == 0, time.perf_counter() - t0


def tvm_time_tuners(inp: Inputs, repeat: int, limit_s: float) -> dict:
    cmd = [str(ORACLE_PY), str(ORACLE_DIR / "time_tuners.py"), str(inp.model_path), str(inp.tuning_path),
           str(inp.layout_path), "measured", "--repeat", str(repeat)]
    lines, err, ok, seconds = run_limited(cmd, limit_s, ORACLE_DIR)
    if not ok:
        tail = err.strip().splitlines()[-1:] if err.strip() else []
        why = f"did not finish in {limit_s:g} s" if seconds >= limit_s else "failed: " + " ".join(tail)
        return {"error": why, "wall_s": seconds}
    out = json.loads("".join(lines))
    out["wall_s"] = seconds
    return out


def tvm_phases(inp: Inputs, limit_s: float) -> dict:
    cmd = [str(ORACLE_PY), "-c", PHASE_SCRIPT, str(ORACLE_DIR), str(inp.model_path), str(inp.tuning_path),
           str(inp.layout_path)]
    lines, err, ok, seconds = run_limited(cmd, limit_s, ORACLE_DIR)
    phases = {}
    for line in lines:
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        phases[ev["phase"]] = ev.get("s")
    failed = None if ok or seconds >= limit_s else (err.strip().splitlines() or ["?"])[-1]
    return {"phases": phases, "finished": ok, "limit_s": limit_s, "wall_s": seconds, "error": failed}


# ---------------------------------------------------------------------------------------- report


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    if x < 1e-3:
        return f"{x * 1e6:.0f} us"
    if x < 1:
        return f"{x * 1e3:.2f} ms"
    return f"{x:.2f} s"


def _fmt_timing(t: Timing | None) -> str:
    if t is None:
        return "-"
    if not t.finished:
        return f"did not finish in {t.limit_s:g} s"
    return f"{_fmt_s(t.median)} (min {_fmt_s(t.best)}, n={len(t.times)})"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("MET" if ok else "MISSED")


def add_section(report: Report, inp: Inputs, tv: dict, tvm: dict | None, dag: bool) -> None:
    sec = inp.name
    cands = tv["candidates"]
    report.notes.append(f"{sec}: {len(cands)} convs, {min(cands)}..{max(cands)} candidates per conv, "
                        f"{len(inp.tuning)} tuning records, {inp.n_keys} measured transform keys "
                        f"({len(inp.transforms)} records); exact engine: {tv['exact_method']}")
    rows = report.rows
    rows.append(Row(sec, "build_problem", tv["build_problem"]))
    for solver, tvm_key in (("dp", "dp"), ("pbqp", "pbqp"), ("exact", None)):
        row = Row(sec, f"{solver} solve", tv[solver])
        if tvm_key and tvm is not None:
            run = tvm.get(tvm_key, {}).get("run_s") if "error" not in tvm else None
            if run is not None:
                row.baseline_s = run["median"]
                row.baseline_note = f"{'DP' if solver == 'dp' else 'PBQP'}Tuner.run() {_fmt_s(run['median'])}"
            else:
                row.baseline_note = tvm.get(f"{tvm_key}_note") or tvm.get("error", "TVM: no figure")
        if solver == "dp" and not dag:
            row.target = "TVM run() / dp >= 10x"
            row.verdict = _verdict(None if row.ratio is None else row.ratio >= 10)
        if solver == "dp" and dag:
            row.target = "TVM run() / dp >= 10x"
            row.verdict = _verdict(None if row.ratio is None else row.ratio >= 10)
            if not tv["dp"].finished:
                row.verdict = "MISSED" if row.baseline_s is not None else "n/a (neither finished)"
        if solver == "exact" and dag:
            row.target = "< 10 s"
            row.verdict = _verdict(tv["exact"].finished and tv["exact"].median < 10)
        rows.append(row)
    rows.append(Row(sec, "exact, MILP engine (forced)", tv["milp"],
                    note="the fallback engine when the clique tree is too large; not what auto picks here"))
    reg = Row(sec, f"regret table ({tv['regret_cells']} cells)", tv["regret"])
    if not dag:
        reg.target = "< 1 s"
        reg.verdict = _verdict(tv["regret"].median < 1.0)
    rows.append(reg)
    if tvm is not None and "relay_import_s" in tvm:  # time_tuners.py output
        for label in ("dp", "pbqp"):
            d = tvm[label]
            report.notes.append(
                f"{sec}: TVM {label.upper()} side (time_tuners.py, n={len(d['run_s']['all'])}): relay import "
                f"{_fmt_s(tvm['relay_import_s'])}, construct {_fmt_s(d['first_construct_s'])} (first timed; "
                f"expr2graph already ran once, untimed, in the key check), "
                f"benchmark_layout_transform from records {_fmt_s(d['layout_tables_s']['median'])}, "
                f"run() {_fmt_s(d['run_s']['median'])} (min {_fmt_s(d['run_s']['min'])}); subprocess wall "
                f"{_fmt_s(tvm['wall_s'])}")


def print_report(report: Report, header: list[str]) -> None:
    for line in header:
        print(line)
    cols = ["section", "figure", "tvmviz median (min, n)", "TVM 0.19 same run", "ratio TVM/tvmviz", "target",
            "verdict"]
    table = [[r.section, r.figure, _fmt_timing(r.tvmviz), r.baseline_note or "-",
              f"{r.ratio:.1f}x" if r.ratio else "-", r.target or "-", r.verdict or "-"] for r in report.rows]
    widths = [max(len(str(x)) for x in col) for col in zip(cols, *table)]
    print()
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    print()
    for n in report.notes:
        print("- " + n)
    for r in report.rows:
        if r.note:
            print(f"- {r.section} {r.figure}: {r.note}")


def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"
    except OSError:
        return "load average unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, shorter limits")
    ap.add_argument("--no-tvm", action="store_true", help="skip TVM 0.19's tuners (no ratios)")
    ap.add_argument("--repeat", type=int, help="tvmviz repeats (default 7, --quick 3)")
    ap.add_argument("--tvm-repeat", type=int, help="TVM run() repeats on ResNet-50 (default 3, --quick 1)")
    ap.add_argument("--tvm-timeout", type=float, default=600.0, help="limit for TVM on ResNet-50 (s)")
    ap.add_argument("--tvm-dag-timeout", type=float, help="limit for TVM on the DAG (s; default 60, --quick 30, "
                                                          "0 skips it)")
    ap.add_argument("--dag-convs", type=int, default=500)
    ap.add_argument("--dag-seed", type=int, default=0)
    ap.add_argument("--dag-dp-timeout", type=float, help="limit for tvmviz dp on the DAG (s; default 30, "
                                                         "--quick 15)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    import tempfile

    sys.path.insert(0, str(ROOT))
    repeat = args.repeat or (3 if args.quick else 7)
    tvm_repeat = args.tvm_repeat or (1 if args.quick else 3)
    dag_tvm_limit = args.tvm_dag_timeout if args.tvm_dag_timeout is not None else (30.0 if args.quick else 60.0)
    dag_dp_limit = args.dag_dp_timeout or (15.0 if args.quick else 30.0)
    use_tvm = not args.no_tvm
    if use_tvm and not ORACLE_PY.exists():
        print(f"{ORACLE_PY} not found (scripts/oracle_venv.sh builds it): running without TVM", file=sys.stderr)
        use_tvm = False

    started = time.perf_counter()
    header = [f"bench/selection.py: {' '.join(sys.argv[1:]) or '(defaults)'}; {_load()} at start; "
              f"tvmviz repeats {repeat}; wall-clock on a possibly shared machine: noisy"]
    report = Report()
    dump: dict = {}
    with tempfile.TemporaryDirectory(prefix="tvmviz_bench_select_") as tmp_name:
        tmp = Path(tmp_name)
        print("ResNet-50: building inputs ...", file=sys.stderr, flush=True)
        r50 = resnet50_inputs(tmp)
        print("ResNet-50: timing tvmviz ...", file=sys.stderr, flush=True)
        r50_tv = bench_tvmviz(r50, repeat, None)
        r50_tvm = None
        if use_tvm:
            print(f"ResNet-50: TVM 0.19 time_tuners.py --repeat {tvm_repeat} ...", file=sys.stderr, flush=True)
            r50_tvm = tvm_time_tuners(r50, tvm_repeat, args.tvm_timeout)
        add_section(report, r50, r50_tv, r50_tvm, dag=False)

        print(f"DAG: building a {args.dag_convs}-conv DAG ...", file=sys.stderr, flush=True)
        dag, dag_desc = dag_inputs(tmp, args.dag_convs, args.dag_seed)
        report.notes.append(f"{dag.name}: {dag_desc}")
        print("DAG: timing tvmviz ...", file=sys.stderr, flush=True)
        dag_tv = bench_tvmviz(dag, repeat, dag_dp_limit)
        dag_tvm = None
        if use_tvm and dag_tvm_limit > 0:
            print(f"DAG: TVM 0.19 tuners, limit {dag_tvm_limit:g} s ...", file=sys.stderr, flush=True)
            ph = tvm_phases(dag, dag_tvm_limit)
            dag_tvm = {}
            for label in ("dp", "pbqp"):
                s = ph["phases"].get(f"{label}_run")
                if s is not None:
                    dag_tvm[label] = {"run_s": {"median": s, "min": s, "all": [s]}}
                elif ph["error"]:
                    dag_tvm[f"{label}_note"] = "TVM failed: " + ph["error"]
                else:
                    dag_tvm[f"{label}_note"] = f"TVM {label.upper()}Tuner did not finish in {dag_tvm_limit:g} s"
            done = ", ".join(f"{k} {_fmt_s(v)}" for k, v in ph["phases"].items() if v is not None)
            cut = next((k for k in PHASES if ph["phases"].get(k) is None), None)
            report.notes.append(f"{dag.name}: TVM 0.19 phases done within {dag_tvm_limit:g} s: {done or 'none'}"
                                + (f"; cut off during {cut}" if cut and not ph["finished"] else ""))
            for label in ("dp", "pbqp"):
                if cut and f"{label}_note" in dag_tvm and not ph["error"]:
                    dag_tvm[f"{label}_note"] += f" (cut off in {cut})"
            dump["dag_tvm_phases"] = ph
        elif use_tvm:
            report.notes.append(f"{dag.name}: TVM 0.19 not run (--tvm-dag-timeout 0)")
        add_section(report, dag, dag_tv, dag_tvm, dag=True)
        if not dag_tv["dp"].finished:
            report.notes.append(
                f"{dag.name}: tvmviz dp did not finish in {dag_dp_limit:g} s ({len(dag_tv['dp'].times)} runs "
                "done): its backward pass re-queues a node once per path to it, as TVM's DPTuner does, and the "
                "paths grow exponentially with stacked residual/fork diamonds")

    header.append(f"{_load()} at end; total {time.perf_counter() - started:.0f} s")
    print_report(report, header)
    if args.json:
        for name, inp, tv, tvm in (("resnet50", r50, r50_tv, r50_tvm), ("dag", dag, dag_tv, dag_tvm)):
            dump[name] = {k: asdict(v) if isinstance(v, Timing) else v for k, v in tv.items() if k != "problem"}
            dump[name]["tvm"] = tvm
        dump["rows"] = [{**asdict(r), "ratio": r.ratio} for r in report.rows]
        Path(args.json).write_text(json.dumps(dump, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
