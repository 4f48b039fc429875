"""``python -m tvmviz run-plan``: build layout plans with TVM, run them here, predicted against measured."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

from tvmviz.cli_format import ProgressBar
from tvmviz.errors import TvmvizError

EXAMPLE = """example:
  python -m tvmviz run-plan --graph sample_logs/resnet18/resnet18.onnx \\
      --tuning-log sample_logs/measured/tuning.log --transform-log sample_logs/measured/layout_transform.log \\
      --plans dp,per-op-best,uniform:16 --repeat 10
"""


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser(
        "run-plan", help="build layout plans into the model with TVM, run them here: predicted vs measured",
        description="Build each plan as a Relax module (conv2d_NCHWc with the plan's layouts and its records' "
                    "schedules, layout transforms where the plan puts them), check it against onnx.reference, "
                    "and time it end to end and per layer at N threads and at 1.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--graph", metavar="MODEL", help="the ONNX model (its weights and op attributes are built)")
    p.add_argument("--tuning-log", action="append", default=[], metavar="LOG", help="AutoTVM records (repeatable)")
    p.add_argument("--transform-log", action="append", default=[], metavar="LOG",
                   help="layout_transform records (repeatable)")
    p.add_argument("--db", metavar="PATH", help="a tvmviz database holding the run (with --run)")
    p.add_argument("--run", metavar="RUN", help="the stored run whose model and records to use (with --db)")
    p.add_argument("--estimate-transforms", action="store_true",
                   help="price transforms without a record per element, as TVM's infer_layout=True (default: off)")
    p.add_argument("--plans", required=True, metavar="PLAN,...",
                   help="comma-separated: dp, pbqp, exact, per-op-best, uniform:X, scenario:S (a What-if string)")
    p.add_argument("--threads", type=int, metavar="N", help="TVM threads (default: all cores)")
    p.add_argument("--repeat", type=int, default=10, metavar="R", help="timed runs per measurement (default 10)")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of tables")
    p.set_defaults(func=cmd_run_plan)


def plan_inputs(args):
    """(model path, graph, tuning records, transform records) from the file form or a stored run."""
    from tvmviz.select.cli import load_graph, load_records

    if args.db or args.run:
        if args.graph or args.tuning_log or args.transform_log:
            raise TvmvizError("give either --graph/--tuning-log/--transform-log or --db/--run, not both")
        if not (args.db and args.run):
            raise TvmvizError("--db and --run go together: --db PATH --run RUN")
        return stored_run_inputs(args.db, args.run, say=lambda text: print(text, file=sys.stderr))
    if not args.graph or not args.tuning_log:
        raise TvmvizError("give --graph MODEL and --tuning-log LOG (or --db PATH --run RUN)")
    tuning, transforms = load_records(args.tuning_log, args.transform_log)
    return args.graph, load_graph(args.graph), tuning, transforms


def stored_run_inputs(db: str, run, cost_sources=(), say=None):
    """A stored run's ONNX model (its kept raw file, copied to a temporary file the caller deletes), graph
    and records of its own machine (and of the cost-source runs, as the dashboard adds them)."""
    from tvmviz.runs import resolve_run, run_inputs
    from tvmviz.store import Store

    store = Store.open_for_reading(db)  # a snapshot while a server holds the database
    try:
        run_id = resolve_run(store, run)
        graph, tuning, transforms, info = run_inputs(store, run_id, cost_sources)
        kind = store.uploads(info.run.model_upload)[0].kind
        model = store.raw_file(info.run.model_upload)
        if kind != "onnx_model" or model is None:
            raise TvmvizError(f"{info.run.name()}: its model is a {kind} upload without a kept ONNX file; building "
                              "a plan needs the ONNX model (upload it to the run, or use --graph MODEL.onnx)")
        if say:
            say(f"{info.run.name()}: {info.summary()}")
        local = tempfile.NamedTemporaryFile(suffix=".onnx", delete=False)  # the snapshot goes away on close
        with local, open(model, "rb") as f:
            shutil.copyfileobj(f, local)
        return local.name, graph, tuning, transforms
    finally:
        store.close()


def cmd_run_plan(args) -> int:
    from tvmviz.build.plans import make_plans, parse_plans
    from tvmviz.build.run import allow_all_cores, run_plans

    allow_all_cores()  # before TVM's thread pool starts
    specs = parse_plans(args.plans)
    model, graph, tuning, transforms = plan_inputs(args)
    plans = make_plans(graph, tuning, transforms, specs, args.estimate_transforms)
    bar = ProgressBar(unit="step")
    try:
        report = run_plans(model, graph, plans, threads=args.threads, repeat=args.repeat, progress=bar)
    finally:
        bar.close()
        if args.run:
            os.unlink(model)  # the stored run's model, copied out for the build
    if args.json:
        print(json.dumps(report.to_json(), indent=1))
    else:
        print(report_text(report))
    return 0


def _ms(x) -> str:
    return "-" if x is None else f"{x * 1e3:.3f}"


def report_text(report) -> str:
    lines = [f"{report.target} · {report.threads} threads · TVM {report.tvm_version}", "",
             f"{'plan':<16} {'predicted ms':>12} {'measured ms':>12} {'1 thread ms':>12} {'ratio':>6} {'rel err':>8}"]
    for p in report.plans:
        lines.append(f"{p.plan:<16} {_ms(p.predicted_s):>12} {_ms(p.measured_s):>12} {_ms(p.measured_1t_s):>12} "
                     f"{p.measured_s / p.predicted_s:>6.2f} {p.max_rel_err:>8.1e}")
    by_pred = [p.plan for p in sorted(report.plans, key=lambda p: p.predicted_s)]
    by_meas = [p.plan for p in sorted(report.plans, key=lambda p: p.measured_s)]
    lines += ["", "ranked by prediction: " + " < ".join(by_pred), "ranked by measurement: " + " < ".join(by_meas)]
    for p in report.plans:
        lines += ["", f"{p.plan}: per layer (ms)", f"{'layer':<28} {'ic→oc':>8} {'predicted':>10} {'measured':>10}"]
        for layer in p.layers:
            lines.append(f"{layer.name:<28} {f'{layer.ic_bn}→{layer.oc_bn}':>8} {_ms(layer.predicted_s):>10} "
                         f"{_ms(layer.measured_s):>10}")
        lines.append(f"transforms: {sum(t.measured_s is not None for t in p.transforms)} inserted, "
                     f"{sum(t.predicted_s is not None for t in p.transforms)} predicted")
        for w in p.warnings:
            lines.append(f"warning: {w}")
    return "\n".join(lines)
