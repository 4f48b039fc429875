"""``python -m tvmviz``: the library's commands for scripts and CI.

Each subcommand module adds its parser with ``add_parsers(subparsers)`` and sets ``func``; a
TvmvizError becomes one clear line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

from tvmviz.build import cli as build_cli
from tvmviz.cli_format import HelpFormatter, ProgressBar, example
from tvmviz.errors import TvmvizError
from tvmviz.export import cli as export_cli
from tvmviz.ingest import all_kinds
from tvmviz.text import strip_controls
from tvmviz.measure import cli as measure_cli
from tvmviz.next import cli as next_cli
from tvmviz.runs import cli as runs_cli
from tvmviz.select import cli as select_cli
from tvmviz.server import cli as server_cli


EXAMPLE = """example, on the sample logs:
  python -m tvmviz ingest sample_logs/resnet18 --label "resnet18 znver3"
  python -m tvmviz select --graph sample_logs/resnet18/resnet18.onnx --tuning-log sample_logs/resnet18/tuning.log \\
      --transform-log sample_logs/resnet18/layout_transform.log --format markdown

each command's --help shows its options, their defaults and an example."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tvmviz", description="tvmviz: the library's commands for scripts and CI.", epilog=EXAMPLE,
                                     formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_ingest_parsers(sub)
    select_cli.add_parsers(sub)
    measure_cli.add_parsers(sub)
    server_cli.add_parsers(sub)
    runs_cli.add_parsers(sub)
    build_cli.add_parsers(sub)
    next_cli.add_parsers(sub)
    export_cli.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TvmvizError as e:
        print(strip_controls(f"error: {e}"), file=sys.stderr)
        return 2


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="DuckDB file (default: $TVMVIZ_DB or ./tvmviz.duckdb)")


def _add_ingest_parsers(sub) -> None:
    p = sub.add_parser("ingest", help="store logs (files, folders, zips) in the database",
                       **example("python -m tvmviz ingest sample_logs/resnet18 --label 'resnet18 znver3' --uploader ana"))
    p.add_argument("paths", nargs="+", metavar="FILE|DIR")
    add_db_argument(p)
    p.add_argument("--label", help="run label, e.g. 'resnet18 znver3'")
    p.add_argument("--uploader", help="who the logs come from")
    p.add_argument("--kind", choices=all_kinds(), metavar="KIND",
                   help="skip sniffing and read every file as this kind (one of: %(choices)s)")
    p.add_argument("--run", metavar="RUN", help="add every file to this run (id or label; default: each folder "
                   "or zip is a new run, a single file joins the run its label or its workloads name)")
    p.add_argument("--json", action="store_true", help="print one JSON array, an object per file")
    p.add_argument("--server", metavar="URL", help="push to a team server's API instead of a local database")
    p.add_argument("--token", help="API token for --server (tvmviz token create)")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("uploads", help="list what is stored (works while the app runs: reads a snapshot)",
                       **example("python -m tvmviz uploads --db tvmviz.duckdb --json"))
    add_db_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON array, an object per upload")
    p.set_defaults(func=_cmd_uploads)

    p = sub.add_parser("export", help="write every table to Parquet (or CSV) files any tool reads, "
                                      "even while the app holds the database",
                       **example("python -m tvmviz export --db tvmviz.duckdb -o tvmviz-export\n"
                                 "duckdb -c \"SELECT count(*) FROM 'tvmviz-export/autotvm_record.parquet'\""))
    add_db_argument(p)
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="a new or empty folder")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="file format")
    p.set_defaults(func=_cmd_export)


def _cmd_ingest(args) -> int:
    if args.server:
        return _push(args)

    from tvmviz.store import Store

    store = Store.open(args.db)
    run = None
    if args.run is not None:
        from tvmviz.runs import resolve_run

        try:
            run = resolve_run(store, args.run)
        except TvmvizError:
            store.close()
            raise
    bar = ProgressBar(unit="file", quiet=args.json)
    try:
        reports = store.ingest_paths(args.paths, args.label, args.uploader, args.kind, bar, run=run)
    finally:
        bar.close()
        store.close()
    if args.json:
        print(json.dumps([r.to_json() for r in reports], indent=1))
    else:
        for r in reports:
            print(strip_controls(_describe_report(r)))
    stored = any(r.upload_id is not None for r in reports)
    return 0 if stored else 2


def _push(args) -> int:
    """ingest --server: each file through the team server's API; the same reports and exit codes."""
    from tvmviz.server.client import push_file
    from tvmviz.store import IngestReport

    if not args.token:
        raise TvmvizError("--server needs --token (ask the server's admin: tvmviz token create)")
    if args.uploader or args.kind or args.db:
        raise TvmvizError("--uploader, --kind and --db do not apply with --server: the server knows who you are")
    reports = []
    for path in args.paths:
        reports += [IngestReport(**r) for r in push_file(args.server, args.token, path, label=args.label)]
    if args.json:
        print(json.dumps([r.to_json() for r in reports], indent=1))
    else:
        for r in reports:
            print(_describe_report(r))
    return 0 if any(r.upload_id is not None for r in reports) else 2


def _describe_report(r) -> str:
    if r.error:
        return f"REJECTED {r.file}: {r.error}"
    if r.duplicate:
        return f"{r.file}: already stored as upload {r.upload_id} ({r.kind}, {r.rows} rows)"
    parts = [f"{r.file}: {r.kind}, upload {r.upload_id}, {r.rows} rows stored"]
    if r.failed_trials:
        parts.append("failed trials: " + ", ".join(f"{k} {v}" for k, v in r.failed_trials.items()))
    if r.rejected_lines:
        shown = "; ".join(f"line {x['line']}: {x['reason']}" for x in r.rejected_lines[:10])
        more = len(r.rejected_lines) - 10
        parts.append(f"{len(r.rejected_lines)} lines rejected: {shown}" + (f" (+{more} more)" if more > 0 else ""))
    return "\n  ".join(parts)


def _open_for_reading(db):
    from tvmviz.store import Store

    store = Store.open_for_reading(db)
    if store.snapshot_note:
        print(f"note: {store.snapshot_note}", file=sys.stderr)
    return store


def _cmd_export(args) -> int:
    store = _open_for_reading(args.db)
    try:
        files = store.export(args.out, args.format)
    finally:
        store.close()
    print(f"wrote {len(files)} files to {args.out}: {', '.join(files)}")
    return 0


def _cmd_uploads(args) -> int:
    store = _open_for_reading(args.db)
    uploads = store.uploads()
    store.close()
    if args.json:
        print(json.dumps([{**u.__dict__, "uploaded_at": u.uploaded_at.isoformat()} for u in uploads], indent=1))
        return 0
    for u in uploads:
        who = f" by {u.uploader}" if u.uploader else ""
        label = f" [{u.label}]" if u.label else ""
        print(strip_controls(f"{u.upload_id:>4}  {u.kind:<20} {u.rows:>8} rows  {u.file_name}{label}{who}  {u.cpu or u.target or ''}"))
    if not uploads:
        print("no uploads yet: python -m tvmviz ingest FILE...")
    return 0
