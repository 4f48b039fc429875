"""Every subcommand's help shows its defaults and a worked example that runs; reading a database the app holds."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys

import duckdb
import pytest

from tests.paths import R18, ROOT
from tvmviz.cli import build_parser, main


def _subcommands():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


def _examples(help_text: str) -> list[list[str]]:
    """The commands in a help text's example block, continuation lines joined."""
    block = help_text.split("example:", 1)[1].replace("\\\n", " ")
    return [shlex.split(line.split("python -m tvmviz", 1)[1], comments=True) for line in block.splitlines()
            if "python -m tvmviz" in line]


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_help_has_defaults_and_an_example_that_parses(name):
    p = _subcommands()[name]
    text = p.format_help()
    assert "example:" in text, f"{name} --help has no example"
    for action in p._actions:
        if action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS) and action.nargs != 0:
            assert "default" in (p._get_formatter()._get_help_string(action) or ""), (name, action.dest)
    commands = _examples(text)
    assert commands and all(c[0] == name for c in commands)
    for c in commands:
        build_parser().parse_args(c)  # exits (SystemExit) on an example that does not parse


def test_select_example_runs_as_printed(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    command = _examples(_subcommands()["select"].format_help())[0]
    assert main(command) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["solver"] == "pbqp" and next(n for n in doc["nodes"] if n["name"] == "conv1_1")["oc_bn"] == 16


def test_uploads_and_export_read_a_database_another_process_holds(tmp_path):
    db = tmp_path / "held.duckdb"
    assert main(["ingest", str(R18 / "tuning.log"), str(R18 / "layout_transform.log"), "--db", str(db)]) == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from tvmviz.store import Store; s = Store.open(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(120)", str(db)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(duckdb.IOException):  # what any other DuckDB client meets
            duckdb.connect(str(db), read_only=True)
        run = lambda *a: subprocess.run([sys.executable, "-m", "tvmviz", *a], cwd=ROOT, capture_output=True,
                                        text=True, timeout=120)
        listed = run("uploads", "--db", str(db), "--json")
        assert listed.returncode == 0, listed.stderr
        assert "snapshot copy" in listed.stderr
        assert sorted(u["kind"] for u in json.loads(listed.stdout)) == ["autotvm", "layout_transform"]
        out = tmp_path / "export"
        exported = run("export", "--db", str(db), "-o", str(out))
        assert exported.returncode == 0, exported.stderr
        assert holder.poll() is None  # the holder was never disturbed
    finally:
        holder.kill()
        holder.wait()
    con = duckdb.connect()
    n_records = con.execute(f"SELECT count(*) FROM '{out}/autotvm_record.parquet'").fetchone()[0]
    n_lines = sum(1 for line in (R18 / "tuning.log").read_text().splitlines() if line.strip())
    assert n_records == n_lines
    assert (out / "schema.sql").exists() and (out / "load.sql").exists()
    again = subprocess.run([sys.executable, "-m", "tvmviz", "export", "--db", str(db), "-o", str(out)], cwd=ROOT,
                           capture_output=True, text=True)
    assert again.returncode == 2 and "is not empty" in again.stderr
