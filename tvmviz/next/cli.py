"""``python -m tvmviz next``: which unmeasured, failed or pruned candidates could still change the choice."""

from __future__ import annotations

import argparse
import json
import sys

from tvmviz.cli_format import ProgressBar
from tvmviz.errors import TvmvizError

EXAMPLE = """example:
  python -m tvmviz next --graph sample_logs/resnet18/resnet18.onnx \\
      --tuning-log sample_logs/resnet18/tuning.log --transform-log sample_logs/resnet18/layout_transform.log --top 10
"""


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser(
        "next", help="what to measure next: every candidate's status, break-even kernel time and potential gain",
        description="Every (ic_bn, oc_bn) the x86 conv2d_NCHWc template allows for each conv workload, with its "
                    "status (kept / pruned / failed / untried), the kernel time below which the selector would "
                    "choose it (break_even_s, exact re-solve; null: never), an estimate of its kernel time from "
                    "the measured neighbours in its (ic_bn, oc_bn) grid (failed / untried cells) and the potential "
                    "gain of the total at that estimate, ranked by that gain. Transforms only an unlogged cell "
                    "needs are estimated per element, as TVM's infer_layout does.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--graph", metavar="MODEL", help="ONNX, graph-executor JSON or tvmviz graph JSON")
    src.add_argument("--db", metavar="PATH", help="DuckDB file holding the run (with --run)")
    p.add_argument("--run", metavar="RUN", help="the stored run to analyse (with --db)")
    p.add_argument("--tuning-log", action="append", default=[], metavar="LOG",
                   help="AutoTVM records (repeatable; with --graph)")
    p.add_argument("--transform-log", action="append", default=[], metavar="LOG",
                   help="the graph tuner's layout_transform records (repeatable)")
    p.add_argument("--estimate-transforms", action="store_true",
                   help="price every transform without a record per element (TVM's infer_layout=True; default off)")
    p.add_argument("--solver", choices=("dp", "pbqp", "exact"), default="dp", help="default: dp")
    p.add_argument("--max-sch-num", type=int, default=20, metavar="K", help="candidates kept per workload (default 20)")
    p.add_argument("--cost-model", choices=("tvm", "true"), default="tvm", help="default: tvm")
    p.add_argument("--top", type=int, default=20, metavar="N", help="rows printed without --json (default 20)")
    p.add_argument("--json", action="store_true",
                   help='print {"candidates": [{nodes, workload, ic_bn, oc_bn, status, kernel_s, break_even_s, '
                        'estimated_kernel_s, potential_gain_s}]}, sorted by potential_gain_s')
    p.set_defaults(func=cmd_next)


def run_inputs(db: str, run: str):
    """(graph, tuning, transforms) of a stored run: its model and its records of its own machine."""
    from tvmviz import runs
    from tvmviz.store import Store

    store = Store.open_for_reading(db)  # a snapshot while a server holds the database
    try:
        graph, tuning, transforms, info = runs.run_inputs(store, runs.resolve_run(store, run))
    finally:
        store.close()
    print(f"{info.run.name()}: {info.summary()}", file=sys.stderr)
    return graph, tuning, transforms


def cmd_next(args) -> int:
    from tvmviz.next.ranking import rank_next
    from tvmviz.select.options import SelectOptions

    if args.db:
        if not args.run:
            raise TvmvizError("--db needs --run RUN (the stored run to analyse)")
        graph, tuning, transforms = run_inputs(args.db, args.run)
    else:
        if args.run:
            raise TvmvizError("--run goes with --db PATH, not with --graph")
        if not args.tuning_log:
            raise TvmvizError("--graph needs --tuning-log LOG (the AutoTVM records of its convs)")
        from tvmviz.select.cli import load_graph, load_records

        graph = load_graph(args.graph)
        tuning, transforms = load_records(args.tuning_log, args.transform_log)
    if args.top < 1:
        raise TvmvizError(f"--top must be at least 1, got {args.top}")
    opts = SelectOptions(solver=args.solver, cost_model=args.cost_model, max_sch_num=args.max_sch_num,
                         estimate_transforms=args.estimate_transforms)
    bar = ProgressBar("break-even", unit="workload", quiet=args.json)
    try:
        ranking = rank_next(graph, tuning, transforms, opts, bar)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(ranking.to_json(), indent=1))
        return 0
    print(format_table(ranking, args.top))
    return 0


def _ms(x) -> str:
    return "-" if x is None else f"{x * 1e3:.4f}"


def format_table(ranking, top: int) -> str:
    from tvmviz.next.space import ESTIMATE_METHOD

    sel = ranking.selection
    lines = [f"{len(ranking.candidates)} candidates; logged total {sel.total_cost_s * 1e3:.4f} ms ({sel.solver}, "
             f"{sel.cost_model} cost model); break-even: {ranking.method}",
             "estimate: " + ESTIMATE_METHOD,
             *[f"warning: {w}" for w in ranking.warnings],
             f"{'gain ms':>9} {'estimate ms':>11} {'break-even ms':>13} {'kernel ms':>9}  cell     status     convs"]
    for c in ranking.candidates[:top]:
        nodes = ", ".join(c.nodes[:3]) + (f" +{len(c.nodes) - 3}" if len(c.nodes) > 3 else "")
        be = "never" if c.break_even_s is None else _ms(c.break_even_s)
        lines.append(f"{_ms(c.potential_gain_s):>9} {_ms(c.estimated_kernel_s):>11} {be:>13} {_ms(c.kernel_s):>9}  "
                     f"{c.label:<8} {c.status_text():<10} {nodes}")
    return "\n".join(lines)
