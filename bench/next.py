"""What to measure next, full ranking for ResNet-50 against one select(), measured in the same run.

    python bench/next.py [--repeat 3] [--solver dp|pbqp|exact] [--verify N] [--json FILE]

Inputs as bench/selection.py builds them: ResNet-50 v2 (ONNX built in code by tvmviz.synth, imported through
TVM Relax), the real AutoTVM log tests/data/thirdparty/resnet50-v2-7_autotvm_tvm0.13.log (53 convs, 23
workloads, build timeouts) and a synthetic measured layout_transform record for every key the logged
candidates need. The ranking covers every (ic_bn, oc_bn) cell of every workload. ``--verify N`` re-solves N
random cells just below and above their break-even with the real solver (a check, not timed). Figures are the
median (and min) of --repeat runs after one warm-up; the machine may be shared (the load average is printed).
Goal: the full ranking under 2 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOAL_S = 2.0


def _selection_bench():
    """bench/selection.py as a module (its resnet50_inputs builds the same inputs)."""
    spec = importlib.util.spec_from_file_location("bench_selection", ROOT / "bench" / "selection.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _time(fn, repeat: int) -> list[float]:
    fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _verify(inp, opts, ranking, n: int, seed: int = 0) -> tuple[int, int]:
    from dataclasses import replace

    from tvmviz.records import TuningRecord
    from tvmviz.select import select

    check = replace(opts, estimate_transforms=True)
    rng = random.Random(seed)
    ok = 0
    picks = rng.sample(ranking.candidates, min(n, len(ranking.candidates)))
    for c in picks:
        key = json.dumps(c.workload, separators=(",", ":"))

        def chosen(t):
            recs = [r for r in inp.tuning if not (r.workload == key and (r.ic_bn, r.oc_bn) == (c.ic_bn, c.oc_bn))]
            recs.append(TuningRecord(key, c.ic_bn, c.oc_bn, (t,), 0, "[]", 10**9))
            sel = select(inp.graph, recs, inp.transforms, check)
            return any(json.dumps(x.workload, separators=(",", ":")) == key and (x.ic_bn, x.oc_bn) == (c.ic_bn, c.oc_bn)
                       for x in sel.nodes)

        if c.break_even_s is None:
            ok += not chosen(1e-15)
        else:
            ok += chosen(c.break_even_s * (1 - 1e-4)) and not chosen(c.break_even_s * (1 + 1e-4))
    return ok, len(picks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--solver", choices=("dp", "pbqp", "exact"), default="dp")
    ap.add_argument("--verify", type=int, default=20, metavar="N", help="re-solve N random cells (0: skip)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()

    from tvmviz.next import rank_next
    from tvmviz.select import SelectOptions, select

    print(f"tvmviz next bench: cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (shared machine: "
          "wall-clock figures are noisy)")
    with tempfile.TemporaryDirectory() as tmp:
        inp = _selection_bench().resnet50_inputs(Path(tmp))
    opts = SelectOptions(solver=args.solver)
    sel = select(inp.graph, inp.tuning, inp.transforms, opts)
    ranking = rank_next(inp.graph, inp.tuning, inp.transforms, opts)
    statuses = {s: sum(c.status == s for c in ranking.candidates) for s in ("kept", "pruned", "failed", "untried")}
    print(f"ResNet-50: {len(sel.nodes)} convs, {len(ranking.spaces)} workloads, {len(ranking.candidates)} candidate "
          f"cells ({', '.join(f'{k} {v}' for k, v in statuses.items())}); {sum(c.break_even_s is None for c in ranking.candidates)} "
          f"never chosen; {len(ranking.top(10**6))} with a positive potential gain")
    for c in ranking.candidates[:5]:
        print(f"  {c.label:>7} {c.status:<8} gain {c.potential_gain_s * 1e3:.4f} ms  estimate "
              f"{c.estimated_kernel_s * 1e3:.4f} ms  break-even {c.break_even_s * 1e3:.4f} ms  {', '.join(c.nodes)}")

    one_select = _time(lambda: select(inp.graph, inp.tuning, inp.transforms, opts), args.repeat)
    full = _time(lambda: rank_next(inp.graph, inp.tuning, inp.transforms, opts), args.repeat)
    med_sel, med_next = statistics.median(one_select), statistics.median(full)
    print(f"one select ({args.solver}, with its optimality proof): median {med_sel * 1e3:.0f} ms (min "
          f"{min(one_select) * 1e3:.0f} ms)")
    print(f"full ranking ({len(ranking.candidates)} cells): median {med_next:.2f} s (min {min(full):.2f} s) = "
          f"{med_next / med_sel:.0f} selects, {med_next / len(ranking.candidates) * 1e3:.2f} ms per cell; "
          f"goal < {GOAL_S:g} s: {'met' if med_next < GOAL_S else 'NOT met'}")
    figures = {"select_s": one_select, "next_s": full, "cells": len(ranking.candidates), "solver": args.solver}
    if args.verify:
        t0 = time.perf_counter()
        ok, n = _verify(inp, opts, ranking, args.verify)
        print(f"verified by re-solving with {args.solver} just below / above the break-even (±0.01%): {ok} of {n} "
              f"cells agree ({time.perf_counter() - t0:.0f} s)")
        figures["verified"] = [ok, n]
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
