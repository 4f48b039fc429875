"""load_graph picks the importer by content, not by file name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tvmviz.errors import TvmvizError
from tvmviz.graph.json_format import to_json
from tvmviz.graph.load import load_graph
from tvmviz.graph.onnx_import import load_onnx
from tests.paths import R18, ORACLE_EXAMPLE

EXAMPLE = ORACLE_EXAMPLE / "model.onnx"


def test_onnx_under_a_json_name(tmp_path):
    p = tmp_path / "model.json"
    shutil.copy(EXAMPLE, p)
    g = load_graph(p)
    assert [c.name for c in g.convs()] == ["conv0", "conv1", "conv2"]


def test_layout_json_under_an_onnx_name(tmp_path):
    p = tmp_path / "model.onnx"
    p.write_text(json.dumps(to_json(load_onnx(EXAMPLE))))
    g = load_graph(p)
    assert [c.name for c in g.convs()] == ["conv0", "conv1", "conv2"]
    assert g.source == str(p)


def test_executor_json_dump_and_folder(tmp_path):
    p = tmp_path / "whatever.bin"
    shutil.copy(R18 / "graph.json", p)
    assert len(load_graph(p).convs()) == 20
    assert len(load_graph(R18 / "_tvmdbg_graph_dump.json").convs()) == 20
    dump = tmp_path / "dbg" / "_tvmdbg_device_CPU_0"  # the debug executor's own folder layout
    dump.mkdir(parents=True)
    shutil.copy(R18 / "_tvmdbg_graph_dump.json", dump)
    assert len(load_graph(tmp_path / "dbg").convs()) == 20


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"   {oops", "does not parse"),
    (b'{"hello": 1}', "neither a tvmviz layout graph"),
    (b"\x01\x02 random bytes \xff", "not a model graph"),
])
def test_unrecognized_content(tmp_path, content, message):
    p = tmp_path / "x.dat"
    p.write_bytes(content)
    with pytest.raises(TvmvizError, match=message):
        load_graph(p)


def test_missing_file(tmp_path):
    with pytest.raises(TvmvizError, match="nothere.onnx"):
        load_graph(tmp_path / "nothere.onnx")
