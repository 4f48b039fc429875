"""``python -m tvmviz select`` and ``python -m tvmviz explain``."""

from __future__ import annotations

import argparse
import json
import re
import sys

from tvmviz import style
from tvmviz.cli_format import example
from tvmviz.errors import TvmvizError


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser("select", help="choose every conv2d's layout as TVM's graph tuner does", **example(
        "python -m tvmviz select --graph sample_logs/resnet18/resnet18.onnx --tuning-log sample_logs/resnet18/tuning.log \\\n"
        "    --transform-log sample_logs/resnet18/layout_transform.log --solver pbqp --pin conv1_1=3x16 --format json\n"
        "python -m tvmviz select --db tvmviz.duckdb --run 1 --format json   # a stored run"))
    _common(p)
    p.add_argument("--format", choices=("json", "markdown"), default="markdown", help="what to print")
    p.add_argument("--write-opt-log", metavar="FILE", help="write the choice as AutoTVM records (apply_graph_best)")
    p.set_defaults(func=cmd_select)

    p = subparsers.add_parser("explain", help="why one conv2d got its layout: every candidate's costs and regret",
                              **example("python -m tvmviz explain --graph sample_logs/resnet18/resnet18.onnx --tuning-log sample_logs/resnet18/tuning.log "
                                        "\\\n    --transform-log sample_logs/resnet18/layout_transform.log --node layer2.0.conv1_14"))
    _common(p)
    p.add_argument("--node", required=True, metavar="NAME", help="conv2d node name (ONNX node name)")
    p.add_argument("--format", choices=("json", "markdown"), default="markdown", help="what to print")
    p.set_defaults(func=cmd_explain)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--graph", metavar="MODEL", help="ONNX, tvmviz layout-graph JSON, or a built graph (graph-executor JSON, debug dump): read back as the graph the tuner saw")
    p.add_argument("--tuning-log", action="append", metavar="LOG", help="AutoTVM records (repeatable)")
    p.add_argument("--transform-log", action="append", default=[], metavar="LOG",
                   help="the graph tuner's layout_transform records (repeatable)")
    p.add_argument("--estimate-transforms", action="store_true",
                   help="price transforms without a record per element, as TVM's infer_layout=True")
    p.add_argument("--solver", choices=("dp", "pbqp", "exact"), default="dp",
                   help="dp = TVM's DPTuner, pbqp = PBQPTuner, exact = the provable optimum")
    p.add_argument("--max-sch-num", type=int, default=20, metavar="N",
                   help="candidates kept per workload, as the graph tuner's max_sch_num")
    p.add_argument("--pin", action="append", default=[], metavar="NODE=ICxOC",
                   help="force a conv to (ic_bn, oc_bn), or NODE=X for any candidate with oc_bn X (repeatable)")
    p.add_argument("--exclude-x", action="append", type=int, default=[], metavar="X",
                   help="no candidate reading or writing NCHW{X}c (repeatable)")
    p.add_argument("--cost-model", choices=("tvm", "true"), default="tvm",
                   help="tvm = TVM's objective with its quirks; true = real tensor shapes (docs/cost_model.md)")
    p.add_argument("--db", help="DuckDB file of --run (default: $TVMVIZ_DB or ./tvmviz.duckdb)")
    p.add_argument("--run", metavar="RUN", help="a stored run (id or label) instead of --graph / --tuning-log / "
                   "--transform-log: its model, and its records of its own machine")
    p.add_argument("--cost-source", action="append", default=[], metavar="RUN",
                   help="with --run: add another run's records (another machine's costs; repeatable)")


def parse_pin(text: str):
    name, sep, value = text.rpartition("=")
    if not sep or not name:
        raise TvmvizError(f"--pin {text!r}: expected NODE=ICxOC or NODE=X")
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value)
    if m:
        return name, (int(m.group(1)), int(m.group(2)))
    if re.fullmatch(r"\s*\d+\s*", value):
        return name, int(value)
    raise TvmvizError(f"--pin {text!r}: expected NODE=ICxOC or NODE=X, e.g. conv1=8x16 or conv1=16")


def load_graph(path: str):
    from tvmviz.graph.load import load_graph as loader

    return loader(path)


def load_records(tuning_logs: list, transform_logs: list):
    """Parse the logs through an in-memory store (the same parsers as ``tvmviz ingest``)."""
    from tvmviz.store import Store

    store = Store.open(":memory:")
    try:
        tuning_ids = _ingest(store, tuning_logs)
        transform_ids = _ingest(store, transform_logs) if transform_logs else []
        tuning = store.tuning_records(upload_ids=tuning_ids)
        transforms = store.transform_records(upload_ids=transform_ids) if transform_ids else []
    finally:
        store.close()
    return tuning, transforms


def _ingest(store, paths: list) -> list:
    ids = []
    for report in store.ingest_paths(paths):
        if report.error:
            raise TvmvizError(report.error)
        if report.upload_id is not None:
            ids.append(report.upload_id)
    return ids


def _options(args, solver=None):
    from tvmviz.select.options import SelectOptions

    return SelectOptions(
        solver=solver or args.solver, cost_model=args.cost_model, max_sch_num=args.max_sch_num,
        estimate_transforms=args.estimate_transforms, pins=dict(parse_pin(p) for p in args.pin),
        exclude_x=frozenset(args.exclude_x),
    )


def _run(args):
    from tvmviz.select.api import select

    opts = _options(args)
    if args.run is not None:
        graph, tuning, transforms = _run_inputs(args)
    elif args.graph is None or not args.tuning_log:
        raise TvmvizError("give --graph MODEL and --tuning-log LOG, or --run RUN (a stored run)")
    else:
        if args.cost_source:
            raise TvmvizError("--cost-source needs --run")
        graph = load_graph(args.graph)
        tuning, transforms = load_records(args.tuning_log, args.transform_log)
    return select(graph, tuning, transforms, opts)


def _run_inputs(args):
    from tvmviz.runs import resolve_run, run_inputs
    from tvmviz.store import Store

    if args.graph or args.tuning_log or args.transform_log:
        raise TvmvizError("--run reads the run's own model and logs: leave out --graph, --tuning-log and "
                          "--transform-log")
    store = Store.open_for_reading(args.db)
    try:
        run = resolve_run(store, args.run)
        sources = [resolve_run(store, c) for c in args.cost_source]
        graph, tuning, transforms, info = run_inputs(store, run, sources)
    finally:
        store.close()
    print(f"{info.run.name()}: {info.summary()}", file=sys.stderr)
    if info.banner():
        print(f"warning: {info.banner()}", file=sys.stderr)
    return graph, tuning, transforms


def cmd_select(args) -> int:
    sel = _run(args)
    if args.write_opt_log:
        try:
            with open(args.write_opt_log, "w") as f:
                for line in sel.opt_log_lines():
                    f.write(line + "\n")
        except OSError as e:
            raise TvmvizError(f"cannot write {args.write_opt_log}: {e}") from None
    if args.format == "json":
        print(json.dumps(sel.to_json(), indent=1))
    else:
        print(selection_markdown(sel))
    for w in sel.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def cmd_explain(args) -> int:
    from tvmviz.select.explain import explain_node

    sel = _run(args)
    exp = explain_node(sel, args.node)
    if args.format == "json":
        from dataclasses import asdict

        print(json.dumps(asdict(exp), indent=1, default=list))
    else:
        print(explanation_markdown(exp))
    return 0


def _ms(x: float) -> str:
    return f"{x * 1e3:.4f}"


def selection_markdown(sel) -> str:
    opt = {True: "optimal", False: "not optimal", None: "optimality not checked"}[sel.optimal]
    gap = f" ({_ms(sel.gap_s)} ms above optimal)" if sel.optimal is False and sel.gap_s is not None else ""
    lines = [
        f"# Layout selection ({sel.solver}, cost model {sel.cost_model})",
        "",
        f"Total {_ms(sel.total_cost_s)} ms = kernels {_ms(sel.kernel_cost_s)} ms + transforms "
        f"{_ms(sel.transform_cost_s)} ms; {opt}{gap}.",
        "",
        "| # | node | ic_bn | oc_bn | kernel ms | candidate |",
        "|---|---|---|---|---|---|",
    ]
    for i, n in enumerate(sel.nodes):
        lines.append(f"| {i} | {n.name} | {n.ic_bn} | {n.oc_bn} | {_ms(n.kernel_cost_s)} | "
                     f"{n.candidate + 1}/{n.n_candidates} |")
    paid = [e for e in sel.edges if not e.identity]
    lines += ["", f"Transforms paid: {len(paid)} of {len(sel.edges)} edges.", ""]
    if paid:
        lines += ["| from | to | shape | layouts | ms | source |", "|---|---|---|---|---|---|"]
        for e in paid:
            lines.append(f"| {e.src} | {e.dst} | {e.shape} | {style.transform(e.src_layout, e.dst_layout)} | "
                         f"{_ms(e.cost_s)} | {e.source} |")
    return "\n".join(lines)


def explanation_markdown(exp) -> str:
    lines = [f"# {exp.node}", "", f"Workload `{json.dumps(exp.workload)}`", "",
             "| candidate | kernel ms | in ms | out ms | local ms | regret ms | |",
             "|---|---|---|---|---|---|---|"]
    for c in exp.candidates:
        regret = _ms(c.regret_s) if c.regret_s is not None else "?"
        lines.append(f"| {c.label} | {_ms(c.kernel_s)} | {_ms(c.transform_in_s)} | {_ms(c.transform_out_s)} | "
                     f"{_ms(c.local_total_s)} | {regret} | {'chosen' if c.chosen else ''} |")
    lines += [""] + [f"- {s}" for s in exp.sentences]
    return "\n".join(lines)
