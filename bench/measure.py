"""Layout-transform measurement: speed against TVM 0.19's benchmark_layout_transform, run-to-run
stability, and how far the per-element estimate (--estimate-transforms) is from measured costs.

    python bench/measure.py [--runs 2] [--oracle 16] [--kernels 16] [--serial] [--json out.json]

The 258 transforms are the ones TVM 0.19's graph tuner benchmarked for ResNet-18
(sample_logs/resnet18, 839 s there on a znver3 VM, min_exec_num=20); tvmviz derives the same
keys from the model and the tuning log. With ``--oracle N`` (needs .oracle-venv with TVM 0.19) the first
N keys are also measured here by TVM 0.19 exactly as benchmark_layout_transform does (one GridSearch
trial per key, LocalBuilder + LocalRunner(number=20, repeat=1)), in the same run, as a same-machine
baseline. The machine may be shared: times are wall-clock and noisy; rerun to compare.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.paths import R18, R18_META  # noqa: E402

TVM019_SECONDS = json.load(open(R18_META / "timings.json"))["graph_tuner"]["dp_layout_benchmark_s"]
ORACLE_PY = ROOT / ".oracle-venv" / "bin" / "python"

# Run by TVM 0.19's Python: what BaseGraphTuner.benchmark_layout_transform does for each missing key.
ORACLE_SCRIPT = r'''
import json, os, sys, time
os.environ.setdefault("TOPHUB_LOCATION", "NONE")
from tvm import autotvm, te
from tvm.autotvm.graph_tuner import base_graph_tuner  # noqa: F401  registers the "layout_transform" template
keys, target = json.load(open(sys.argv[1])), sys.argv[2]
option = autotvm.measure_option(builder=autotvm.LocalBuilder(n_parallel=1),
                                runner=autotvm.LocalRunner(number=20, repeat=1, timeout=10))
out, t0 = [], time.perf_counter()
for shape, src, dst in keys:
    task = autotvm.task.create("layout_transform", args=[te.placeholder(tuple(shape), name="data"), src, dst],
                               target=target)
    got = []
    autotvm.tuner.GridSearchTuner(task).tune(n_trial=1, measure_option=option,
                                             callbacks=[lambda _, i, r: got.extend(r)])
    out.append({"key": [shape, src, dst], "cost": float(got[0].costs[0]), "error_no": int(got[0].error_no)})
print(json.dumps({"seconds": time.perf_counter() - t0, "results": out}))
'''


def load_inputs():
    from tvmviz.graph.load import load_graph
    from tvmviz.store import Store

    store = Store.open(":memory:")
    t_id = store.ingest_paths([str(R18 / "tuning.log")])[0].upload_id
    x_id = store.ingest_paths([str(R18 / "layout_transform.log")])[0].upload_id
    tuning, logged = store.tuning_records([t_id]), store.transform_records([x_id])
    store.close()
    return load_graph(R18 / "resnet18.onnx"), tuning, logged


def quantiles(values, qs=(10, 50, 90)) -> str:
    v = np.asarray(values, dtype=float)
    return " ".join(f"p{q} {np.percentile(v, q):.3g}" for q in qs)


def ratio_stats(est: np.ndarray, meas: np.ndarray) -> str:
    r = est / meas
    within2 = np.mean((r >= 0.5) & (r <= 2.0)) * 100
    return (f"est/measured {quantiles(r, (5, 25, 50, 75, 95))}; within 2x: {within2:.0f}%; "
            f"median |log2| {np.median(np.abs(np.log2(r))):.2f}")


def estimate_via_selector(graph, tuning, given, held_out_keys) -> dict:
    """The selector's own --estimate-transforms numbers for keys not in ``given`` (COST_MODEL §5)."""
    from tvmviz.measure import TransformKey
    from tvmviz.select.costmodel import ESTIMATED, build_problem
    from tvmviz.select.options import SelectOptions

    problem = build_problem(graph, tuning, given, SelectOptions(estimate_transforms=True, compute_optimum=False))
    out = {}
    for table in problem.pairs.values():
        for a in range(len(table.shapes)):
            for b in range(len(table.dst_layouts)):
                if int(table.source[a, b]) == ESTIMATED:
                    out[TransformKey(*table.key(a, b))] = float(table.costs[a, b])
    return {k: out[k] for k in held_out_keys}


def estimate_errors(graph, tuning, records, label: str) -> None:
    """Hold out every other key, estimate it from the rest with the selector, compare with its measurement."""
    from tvmviz.measure import TransformKey
    from tvmviz.records import TransformRecord

    recs = [TransformRecord(tuple(r.key.shape), r.key.src, r.key.dst, r.cost0, i) if hasattr(r, "key") else r
            for i, r in enumerate(records)]
    given, held = recs[0::2], recs[1::2]
    est = estimate_via_selector(graph, tuning, given, [TransformKey.of(r) for r in held])
    e = np.array([est[TransformKey.of(r)] for r in held])
    m = np.array([r.cost0 for r in held])
    print(f"  {label}: {len(held)} held-out keys, {ratio_stats(e, m)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2, help="measure the 258 transforms this many times (stability)")
    ap.add_argument("--oracle", type=int, default=16, metavar="N", help="TVM 0.19 baseline on N keys (0: skip)")
    ap.add_argument("--kernels", type=int, default=0, metavar="X",
                    help="also sweep every ResNet-18 conv at ic_bn=oc_bn=X (or the closest divisor)")
    ap.add_argument("--serial", action="store_true",
                    help="first measure once without overlapping compile and timing (same-run baseline)")
    ap.add_argument("--json", metavar="FILE", help="write the raw figures here")
    args = ap.parse_args()

    from tvmviz.measure import TransformKey, measure_transforms, needed_transform_keys, resolve_target, target_string
    from tvmviz.measure.timing import TRANSFORM_TIMING, iqr_ratio, tvm_version

    target = resolve_target()
    print(f"tvmviz measure bench: TVM {tvm_version()}, target {target_string(target)}, cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f} (shared machine: wall-clock figures are noisy)")
    graph, tuning, logged = load_inputs()
    keys = needed_transform_keys(graph, tuning)
    logged_cost = {TransformKey.of(r): r.cost0 for r in logged}
    same = set(keys) == set(logged_cost)
    print(f"needed keys from the model + tuning log: {len(keys)}; identical to TVM 0.19's benchmarked set: {same}")
    print(f"timing policy: repeat {TRANSFORM_TIMING.repeat}, about {TRANSFORM_TIMING.min_repeat_ms} ms per repeat, "
          "costs[0] = median of repeats")

    figures: dict = {"tvm019_seconds": TVM019_SECONDS, "n_keys": len(keys), "runs": []}
    if args.serial:  # the same code without the compile thread, in the same run: what the overlap buys
        t0 = time.perf_counter()
        serial = measure_transforms(keys, overlap=False)
        figures["serial_seconds"] = time.perf_counter() - t0
        print(f"serial (compile, then time, one batch after the other): {len(serial)} transforms in "
              f"{figures['serial_seconds']:.1f} s")
    runs = []
    for run in range(args.runs):
        t0 = time.perf_counter()
        res = measure_transforms(keys)
        seconds = time.perf_counter() - t0
        runs.append({m.key: m.cost0 for m in res if m.error_no == 0})
        failed = sum(m.error_no != 0 for m in res)
        spread = [iqr_ratio(m.costs[1:]) for m in res if m.error_no == 0]
        print(f"run {run + 1}: {len(res)} transforms in {seconds:.1f} s ({seconds / len(res) * 1e3:.0f} ms each), "
              f"{failed} failed, all NumPy-checked: {all(m.checked for m in res if m.error_no == 0)}; "
              f"speed-up vs TVM 0.19's {TVM019_SECONDS:.0f} s: {TVM019_SECONDS / seconds:.0f}x "
              f"(target >= 10x, <= 84 s; goal <= 8 s: {'met' if seconds <= 8 else 'not met'}"
              + (f"; {figures['serial_seconds'] / seconds:.2f}x the serial run" if args.serial else "")
              + f"); in-run IQR/median of repeats {quantiles(spread)}")
        figures["runs"].append({"seconds": seconds, "failed": failed,
                                "costs": {json.dumps(k.args()): c for k, c in runs[-1].items()}})
    if len(runs) >= 2:
        common = [k for k in keys if k in runs[0] and k in runs[1]]
        d = np.abs(np.log([runs[1][k] / runs[0][k] for k in common]))
        print(f"stability, run 2 vs run 1 per key: |ln ratio| {quantiles(d, (50, 90, 99))}, max {d.max():.3f}; "
              f"sum of costs {sum(runs[0].values()) * 1e3:.2f} ms vs {sum(runs[1].values()) * 1e3:.2f} ms")
    ours = runs[-1] if runs else {}

    if ours:
        both = [k for k in keys if k in ours]
        r = np.array([ours[k] / logged_cost[k] for k in both])
        print(f"tvmviz here / TVM 0.19 logged (znver3, another machine): {quantiles(r, (5, 50, 95))}")
        print("estimate (--estimate-transforms: prod(shape) x sum(costs)/sum(elements)) vs measured:")
        estimate_errors(graph, tuning, logged, "TVM 0.19 log, estimate from its other half")
        mine = [type("M", (), {"key": k, "cost0": ours[k]})() for k in both]
        estimate_errors(graph, tuning, mine, "measured here, estimate from its other half")
        avg = sum(logged_cost.values()) / sum(k.elements for k in logged_cost)
        e = np.array([k.elements * avg for k in both])
        m = np.array([ours[k] for k in both])
        print(f"  all {len(both)} keys estimated from the whole TVM 0.19 log (another CPU) vs measured here: "
              f"{ratio_stats(e, m)}")

    if args.oracle and ORACLE_PY.exists():
        subset = keys[:: max(1, len(keys) // args.oracle)][: args.oracle]  # spread over the model
        with tempfile.TemporaryDirectory() as tmp:
            kpath, spath = Path(tmp) / "keys.json", Path(tmp) / "oracle.py"
            kpath.write_text(json.dumps([[list(k.shape), k.src, k.dst] for k in subset]))
            spath.write_text(ORACLE_SCRIPT)
            t0 = time.perf_counter()
            proc = subprocess.run([str(ORACLE_PY), str(spath), str(kpath), f"llvm -mcpu={target.attrs['mcpu']}"],
                                  capture_output=True, text=True, env={**os.environ, "TOPHUB_LOCATION": "NONE"},
                                  cwd=tmp)
            wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(f"TVM 0.19 baseline failed: {proc.stderr.strip().splitlines()[-1:]}")
        else:
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            per = got["seconds"] / len(subset)
            print(f"TVM 0.19 benchmark_layout_transform here, same run: {len(subset)} keys in {got['seconds']:.1f} s "
                  f"({per:.2f} s each; x258 = {per * 258:.0f} s; process wall {wall:.1f} s)")
            if runs:
                ok = [(TransformKey(tuple(x["key"][0]), x["key"][1], x["key"][2]), x["cost"]) for x in got["results"]
                      if x["error_no"] == 0]
                r = np.array([ours[k] / c for k, c in ok if k in ours])
                mine_s = sum(f["seconds"] for f in figures["runs"]) / len(figures["runs"]) / len(keys)
                print(f"  tvmviz / TVM 0.19 on this machine, cost per key: {quantiles(r, (10, 50, 90))}; "
                      f"speed per key {per / mine_s:.0f}x faster")
                figures["oracle"] = {"seconds": got["seconds"], "n": len(subset), "ratios": r.tolist()}
    elif args.oracle:
        print(f"no {ORACLE_PY}: TVM 0.19 same-machine baseline skipped (scripts/oracle_venv.sh builds it)")

    if args.kernels:
        bench_kernels(graph, args.kernels, figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


def bench_kernels(graph, x: int, figures: dict) -> None:
    """Sweep every ResNet-18 workload at one block size, with the progress a user would watch."""
    from tvmviz.measure.cli import conv_tasks
    from tvmviz.measure.conv import measure_convs

    tasks = conv_tasks(graph, str(x))
    t0 = time.perf_counter()
    res = measure_convs(tasks, trials=8)
    seconds = time.perf_counter() - t0
    best: dict = {}
    for m in res:
        if m.error_no == 0:
            k = json.dumps(m.workload)
            best[k] = max(best.get(k, 0.0), m.gflops)
    print(f"conv2d: {len(tasks)} (workload, x) sweeps, {len(res)} candidates in {seconds:.1f} s "
          f"({seconds / len(res):.2f} s each), {sum(m.error_no != 0 for m in res)} failed; best GFLOPS per workload "
          f"{quantiles(list(best.values()))}")
    figures["kernels"] = {"seconds": seconds, "candidates": len(res), "best_gflops": best}


if __name__ == "__main__":
    sys.exit(main())
