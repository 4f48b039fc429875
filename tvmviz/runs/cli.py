"""``python -m tvmviz runs``: the stored runs, what each holds and lacks."""

from __future__ import annotations

import argparse
import json


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser(
        "runs", help="list the runs (one tuning session on one machine each): machine, model, uploads, what they lack",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  python -m tvmviz runs --db tvmviz.duckdb --json\n\n"
               "--json prints one array of {run_id, label, uploader, target, cpu, tvm_version, model, uploads, "
               "complete, missing}.")
    p.add_argument("--db", help="DuckDB file (default: $TVMVIZ_DB or ./tvmviz.duckdb)")
    p.add_argument("--json", action="store_true", help="print a JSON array (default: one line per run)")
    p.set_defaults(func=cmd_runs)


def cmd_runs(args) -> int:
    from tvmviz.runs import list_runs
    from tvmviz.store import Store

    store = Store.open_for_reading(args.db)
    try:
        runs = list_runs(store)
    finally:
        store.close()
    if args.json:
        print(json.dumps([r.to_json() for r in runs], indent=1))
        return 0
    for r in runs:
        machine = r.machine.describe() if r.machine else "no records"
        state = "complete" if r.complete else "lacks: " + "; ".join(r.missing)
        who = f" by {r.uploader}" if r.uploader else ""
        print(f"{r.run_id:>4}  {r.label}{who}  [{machine}, TVM {r.tvm_version or '?'}, model {r.model or '-'}, "
              f"{len(r.uploads)} uploads]  {state}")
    if not runs:
        print("no runs yet: python -m tvmviz ingest FILE|DIR...")
    return 0
