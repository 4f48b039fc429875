"""Build and measure 5 layout plans of ResNet-18 (tvmviz run-plan) against the time ``tvmviz measure``
takes for the same number of kernels in isolation, in the same run.

    python bench/run_plan.py [--repeat 10] [--plans dp,pbqp,exact,per-op-best,uniform:16]

Records: sample_logs/measured (tvmviz measure on this project's machine type). Goal: all 5 plans built,
checked and measured in under 60 s on 2 cores. The baseline sweeps one schedule per (conv, ic_bn, oc_bn)
of every plan (5 x 20 kernels), as ``tvmviz measure --trials 1`` would. Kernels are compiled once for
all plans (tvmviz.build.kernels), split over the cores; plans with the same layouts everywhere are one
module, timed once; the bench starts cold (a new process). The machine
may be shared: times are wall-clock, the load average is printed beside them; rerun to compare.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.paths import R18  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--plans", default="dp,pbqp,exact,per-op-best,uniform:16")
    args = ap.parse_args()
    from tvmviz.build import make_plans, parse_plans, run_plans
    from tvmviz.build.run import allow_all_cores, first_with_same_layouts
    from tvmviz.graph.load import load_graph
    from tvmviz.measure.conv import ConvTask, measure_convs
    from tvmviz.select.cli import load_records

    allow_all_cores()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    measured = ROOT / "sample_logs" / "measured"
    graph = load_graph(R18 / "resnet18.onnx")
    tuning, transforms = load_records([str(measured / "tuning.log")], [str(measured / "layout_transform.log")])
    plans = make_plans(graph, tuning, transforms, parse_plans(args.plans))
    t0 = time.perf_counter()
    report = run_plans(R18 / "resnet18.onnx", graph, plans, repeat=args.repeat)
    t_plans = time.perf_counter() - t0

    tasks = [ConvTask.of(n.workload, n.ic_bn, n.oc_bn) for p in plans for n in p.selection.nodes]
    t0 = time.perf_counter()
    measure_convs(tasks, trials=1)
    t_isolated = time.perf_counter() - t0

    print(f"{report.target}, {report.threads} threads, TVM {report.tvm_version}")
    print(f"{'plan':<14} {'predicted ms':>12} {'measured ms':>12} {'1 thread ms':>12} {'build s':>8}")
    for p in report.plans:
        print(f"{p.plan:<14} {p.predicted_s * 1e3:>12.3f} {p.measured_s * 1e3:>12.3f} "
              f"{(p.measured_1t_s or 0) * 1e3:>12.3f} {p.build_s:>8.2f}")
    calls = sum(len(p.layers) + sum(t.measured_s is not None for t in p.transforms) for p in report.plans)
    print(f"compiling: {report.kernels} distinct kernels for {calls} conv / transform calls, "
          f"{report.compile_s:.1f} s with the plans' other ops")
    distinct = len(set(first_with_same_layouts(plans)))
    print(f"run-plan, {len(plans)} plans ({distinct} distinct layouts, each built + checked + measured once; "
          f"R={args.repeat}, N and 1 thread): {t_plans:.1f} s (goal < 60 s)")
    print(f"tvmviz measure, the same {len(tasks)} kernels in isolation (1 schedule each): {t_isolated:.1f} s")
    print(f"ratio run-plan / isolated: {t_plans / t_isolated:.2f}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
