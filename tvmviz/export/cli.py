"""``python -m tvmviz report``: the report zip (report.md, graph.svg / .png, schedule.log, Model Explorer
node data) from a model and its logs, optionally under a What-if scenario."""

from __future__ import annotations

import importlib.metadata
import sys

from tvmviz.cli_format import example
from tvmviz.errors import TvmvizError
from tvmviz.select import cli as select_cli

MAX_ASKED = 50


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="write the layout report (Markdown, graph picture, schedule, Model Explorer data) as a zip",
        **example("python -m tvmviz report --graph sample_logs/resnet18/resnet18.onnx \\\n"
                  "    --tuning-log sample_logs/resnet18/tuning.log --transform-log sample_logs/resnet18/layout_transform.log \\\n"
                  "    --ask layer2.0.conv1_14=64 -o report.zip\n"
                  "python -m tvmviz report --db tvmviz.duckdb --run 1 --scenario s1eNq... -o report.zip"))
    select_cli._common(p)  # the same inputs and base options as select
    p.add_argument("--scenario", metavar="S", help="a What-if scenario string (the s=... of a What-if link)")
    p.add_argument("--ask", action="append", default=[], metavar="NODE=X",
                   help="also write the inequality 'why this x and not X' for NODE (repeatable)")
    p.add_argument("--uploader", help="who the files come from (shown in the report's inputs)")
    p.add_argument("--no-images", action="store_true", help="leave out graph.svg / graph.png (faster)")
    p.add_argument("-o", "--out", required=True, metavar="ZIP", help="the zip to write")
    p.set_defaults(func=cmd_report)


def parse_ask(text: str) -> tuple[str, int]:
    name, sep, x = text.rpartition("=")
    if not sep or not name or not x.strip().isdigit():
        raise TvmvizError(f"--ask {text!r}: expected NODE=X, e.g. layer2.0.conv1_14=64")
    return name, int(x)


def _runtime_tvm() -> str | None:
    try:
        return importlib.metadata.version("apache-tvm")
    except importlib.metadata.PackageNotFoundError:
        return None


def load_inputs(graph_path: str, tuning_logs: list, transform_logs: list, uploader: str | None = None):
    """(graph, tuning, transforms, uploads) read through an in-memory store, as ``tvmviz ingest`` reads them."""
    from tvmviz.store import Store

    store = Store.open(":memory:")
    try:
        ids = {}
        for role, paths in (("graph", [graph_path]), ("tuning", tuning_logs), ("transforms", transform_logs)):
            ids[role] = []
            for r in store.ingest_paths(paths, uploader=uploader):
                if r.error:
                    raise TvmvizError(r.error)
                ids[role].append(r.upload_id)
        uploads = [u for u in store.uploads() if u.upload_id in {i for v in ids.values() for i in v}]
        model = next((u for u in uploads if u.upload_id in ids["graph"]), None)
        if model is None or model.kind not in ("onnx_model", "layout_graph"):
            raise TvmvizError(f"{graph_path}: not a model graph (ONNX or tvmviz layout-graph JSON)")
        graph = store.model_graph(model.upload_id)
        tuning = store.tuning_records(upload_ids=ids["tuning"])
        transforms = store.transform_records(upload_ids=ids["transforms"]) if ids["transforms"] else []
    finally:
        store.close()
    return graph, tuning, transforms, uploads


def stored_run(db, run_text, cost_sources=()):
    """(graph, tuning, transforms, uploads, run name) of a stored run, read as ``select --db --run`` reads it."""
    from tvmviz.runs import get_run, resolve_run, run_inputs
    from tvmviz.store import Store

    store = Store.open_for_reading(db)
    try:
        run_id = resolve_run(store, run_text)
        sources = [resolve_run(store, c) for c in cost_sources]
        graph, tuning, transforms, info = run_inputs(store, run_id, sources)
        ids = {i for r in [run_id, *sources] for i in get_run(store, r, status=False).uploads}
        uploads = [u for u in store.uploads() if u.upload_id in ids]
    finally:
        store.close()
    print(f"{info.run.name()}: {info.summary()}", file=sys.stderr)
    if info.banner():
        print(f"warning: {info.banner()}", file=sys.stderr)
    return graph, tuning, transforms, uploads, info.run.name()


def cmd_report(args) -> int:
    from tvmviz.report import ReportContext, build_report, report_zip
    from tvmviz.select import Scenario, select

    asked = [parse_ask(a) for a in args.ask]
    if len(asked) > MAX_ASKED:
        raise TvmvizError(f"--ask: at most {MAX_ASKED} layers, got {len(asked)}")
    scenario = Scenario.from_string(args.scenario) if args.scenario else None
    if args.run is not None:
        if args.graph or args.tuning_log or args.transform_log or args.uploader:
            raise TvmvizError("--run reports the stored run: leave out --graph, --tuning-log, --transform-log and "
                              "--uploader (the run knows who uploaded what)")
        graph, tuning, transforms, uploads, run_name = stored_run(args.db, args.run, args.cost_source)
    elif args.graph is None or not args.tuning_log:
        raise TvmvizError("give --graph MODEL and --tuning-log LOG, or --db PATH --run RUN (a stored run)")
    else:
        if args.cost_source:
            raise TvmvizError("--cost-source needs --run")
        graph, tuning, transforms, uploads = load_inputs(args.graph, args.tuning_log, args.transform_log,
                                                         args.uploader)
        run_name = None
    context = ReportContext.from_uploads(uploads, run=run_name, runtime_tvm=_runtime_tvm())
    baseline = select(graph, tuning, transforms, select_cli._options(args))
    report = build_report(graph, baseline, tuning, transforms, context, scenario, asked=asked,
                          images=not args.no_images, scenario_link=args.scenario or "")
    data = report_zip(report)
    try:
        with open(args.out, "wb") as f:
            f.write(data)
    except OSError as e:
        raise TvmvizError(f"cannot write {args.out}: {e}") from None
    print(f"wrote {args.out} ({len(data) // 1024} KiB): report.md, "
          + ("graph.svg, graph.png, " if not args.no_images else "") + "schedule.log, "
          + ", ".join(f"model_explorer/{n}" for n in report.node_data), file=sys.stderr)
    return 0
