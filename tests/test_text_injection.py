"""User text stays text: Markdown reports escape markup, the CLI strips terminal control characters."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tvmviz.report import _md_table
from tvmviz.text import markdown_text, strip_controls
from tests.paths import R18

HOSTILE = ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '[click](javascript:alert(1))',
           '![t](http://tracker/x.png)', '# Fake heading', 'a | b\n| c |', ':red[alarm]']


def test_markdown_cells_carry_no_markup():
    table = _md_table(pd.DataFrame({"layer": HOSTILE, "x": range(len(HOSTILE))}))
    body = table.split("\n")
    assert len(body) == 2 + len(HOSTILE)  # no cell broke the table into more rows
    for forbidden in ("<script", "<img", "\n#"):
        assert forbidden not in table
    for markup in (r"\]\(javascript", r"!\[", r":red\["):  # links, images, directives: only escaped ones
        assert not re.search(r"(?<!\\)" + markup, table), markup
    assert all(line.count(" | ") == 1 for line in body[2:])  # two columns, whatever the cell held
    assert markdown_text("a_b*c _d_") == "a_b\\*c \\_d\\_"


def test_cli_output_has_no_terminal_escapes(tmp_path):
    name = tmp_path / "evil\x1b[2J\x1b]52;c;aGk=\x07.log"
    name.write_bytes((R18 / "tuning.log").read_bytes())
    p = subprocess.run([sys.executable, "-m", "tvmviz", "ingest", str(name), "--db", str(tmp_path / "t.duckdb")],
                       cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "\x1b" not in p.stdout and "\x07" not in p.stdout and "704 rows stored" in p.stdout
    assert strip_controls("ok\x1b[31m\u202e") == "ok[31m"
