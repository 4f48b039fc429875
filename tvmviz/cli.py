"""``python -m tvmviz``: the library's commands for scripts and CI.

Each subcommand module adds its parser with ``add_parsers(subparsers)`` and sets ``func``; a
TvmvizError becomes one clear line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

from tvmviz.errors import TvmvizError
from tvmviz.ingest import all_kinds
from tvmviz.text import strip_controls
from tvmviz.measure import cli as measure_cli
from tvmviz.select import cli as select_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tvmviz", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_ingest_parsers(sub)
    select_cli.add_parsers(sub)
    measure_cli.add_parsers(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except TvmvizError as e:
        print(strip_controls(f"error: {e}"), file=sys.stderr)
        return 2


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="DuckDB file (default: $TVMVIZ_DB or ./tvmviz.duckdb)")


def _add_ingest_parsers(sub) -> None:
    p = sub.add_parser("ingest", help="store logs (files, folders, zips) in the database")
    p.add_argument("paths", nargs="+", metavar="FILE|DIR")
    add_db_argument(p)
    p.add_argument("--label", help="run label, e.g. 'resnet18 znver3'")
    p.add_argument("--uploader", help="who the logs come from")
    p.add_argument("--kind", choices=all_kinds(), metavar="KIND",
                   help="skip sniffing and read every file as this kind (one of: %(choices)s)")
    p.add_argument("--json", action="store_true", help="print one JSON array, an object per file")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("uploads", help="list what is stored")
    add_db_argument(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_uploads)


def _cmd_ingest(args) -> int:
    from tqdm import tqdm

    from tvmviz.store import Store

    store = Store.open(args.db)
    bar = tqdm(unit="file", disable=args.json or not sys.stderr.isatty(), file=sys.stderr)

    def progress(done, total, name):
        bar.total = total
        bar.n = done
        bar.set_postfix_str(name[-40:])
        bar.refresh()

    try:
        reports = store.ingest_paths(args.paths, args.label, args.uploader, args.kind, progress)
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


def _cmd_uploads(args) -> int:
    from tvmviz.store import Store

    store = Store.open(args.db)
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
