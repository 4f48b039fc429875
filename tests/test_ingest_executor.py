"""Graph-executor JSON, debug-executor dump / trace / table and profiler reports, on real TVM outputs.

Expected values come from the data README, from a different file of the same run (the graph tuner's
choices, the printed Total_time / Sum lines) or from reading the file here with plain json / string
code; never from running the parser.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tvmviz.errors import TvmvizError
from tvmviz.ingest import executor, onednn
from tvmviz.ingest.base import Source
from tests.paths import DATA, R18, R18_META, THIRDPARTY, ONEDNN_VERBOSE
from tests.ingest_helpers import connect_with, on_disk


GRAPH_JSON = R18 / "graph.json"
RESNET50_JSON = THIRDPARTY / "resnet50-v2-7_graph_executor.json"
GRAPH_DUMP = R18 / "_tvmdbg_graph_dump.json"
TRACE = R18 / "_tvmdbg_execution_trace.json"
TABLE = R18 / "debug_profile.txt"
REPORT_JSON = R18_META / "profiler_report.json"
REPORT_TXT = R18_META / "profiler_report.txt"


REAL_KINDS = {
    GRAPH_JSON: "graph_executor_json",
    RESNET50_JSON: "graph_executor_json",
    GRAPH_DUMP: "debug_graph_dump",
    TRACE: "chrome_trace",
    TABLE: "debug_profile_table",
    REPORT_JSON: "profiler_report",
    REPORT_TXT: "profiler_report",
}


def _con():
    return connect_with(executor.SCHEMA)


def _load(con, data: bytes, kind: str, upload_id: int = 1, name: str = "file"):
    return executor.load(con, upload_id, Source(name, on_disk(data)), kind)


def _loaded(path: Path, data: bytes | None = None):
    con = _con()
    result = _load(con, path.read_bytes() if data is None else data, REAL_KINDS[path], name=path.name)
    return con, result


def _total_time_us() -> float:
    """The debug executor's own Total_time line."""
    (line,) = [x for x in TABLE.read_text().splitlines() if x.startswith("Total_time")]
    return float(line.split()[2])


def _table_rows() -> list[list[str]]:
    lines = TABLE.read_text().splitlines()
    assert lines[0].startswith("Node Name") and lines[1].startswith("---------")
    body = lines[2 : lines.index(next(x for x in lines if x.startswith("Total_time")))]
    return [x.split() for x in body]


def _report_sum_line() -> list[str]:
    (line,) = [x for x in REPORT_TXT.read_text().splitlines() if x.startswith("Sum ")]
    return line.split()


# ------------------------------------------------------------------------------------------------ sniff


@pytest.mark.parametrize("path", list(REAL_KINDS), ids=lambda p: p.name)
def test_sniff_real_files(path):
    head = path.read_bytes()[:65536]
    assert executor.sniff(head) == REAL_KINDS[path]
    assert executor.sniff(head.replace(b"\n", b"\r\n")) == REAL_KINDS[path]
    assert onednn.sniff(head) is None


@pytest.mark.parametrize(
    "path",
    [
        R18 / "tuning.log",
        R18 / "layout_transform.log",
        R18 / "opt_dp.log",
        THIRDPARTY / "tophub_llvm_v0.01.log",
        THIRDPARTY / "tophub_llvm_v0.04.log",
        THIRDPARTY / "resnet50-v2-7_autotvm_tvm0.13.log",
        R18_META / "graph_tuner_choices.json",
        R18_META / "tasks.json",
        R18_META / "timings.json",
        R18_META / "env.json",
        R18 / "resnet18.onnx",
        ONEDNN_VERBOSE,
        DATA / "README.md",
    ],
    ids=lambda p: p.name,
)
def test_sniff_leaves_other_kinds_alone(path):
    assert executor.sniff(path.read_bytes()[:65536]) is None


def test_sniff_rejects_lookalikes():
    autotvm_line = b'{"input": ["llvm", "conv2d_NCHWc.x86", [], {}], "nodes": [{"op": "tvm_op"}], "heads": []}\n'
    assert executor.sniff(autotvm_line) is None
    relay_json = b'{"root": 1, "nodes": [{"type_key": "relay.Call", "attrs": {"op": "2"}}], "attrs": {}}'
    assert executor.sniff(relay_json) is None
    assert executor.sniff(b"\x89PNG\r\n\x1a\n\x00\x00") is None
    assert executor.sniff(b"a,b,c\n1,2,3\n") is None
    assert executor.sniff(b"") is None


# ------------------------------------------------------------------------------------------------ graphs


def test_resnet50_graph_json_counts_from_the_readme():
    con, result = _loaded(RESNET50_JSON)
    # README: 215 nodes, 53 conv2d_NCHWc, 50 with layout_transform
    assert result.rows == 215 and result.rejected == []
    n_conv, n_lt, n_nchwc = con.execute(
        "SELECT count(*) FILTER (WHERE is_conv), count(*) FILTER (WHERE is_layout_transform), "
        "count(*) FILTER (WHERE func_name LIKE '%conv2d_NCHWc%') FROM executor_node"
    ).fetchone()
    assert (n_conv, n_lt, n_nchwc) == (53, 50, 53)


def test_resnet18_graph_json_blocks_match_the_graph_tuner_choices():
    con, result = _loaded(GRAPH_JSON)
    doc = json.loads(GRAPH_JSON.read_text())
    assert result.rows == len(doc["nodes"]) == 82
    convs = con.execute(
        "SELECT ic_bn, oc_bn, shape, data_layout, out_layout, kernel_layout FROM executor_node "
        "WHERE is_conv ORDER BY node_index"
    ).fetchall()
    # graph.json was built with apply_graph_best(opt_dp.log): its convs carry the DP choices.
    choices = json.loads((R18_META / "graph_tuner_choices.json").read_text())["dp"]
    assert sorted((ic, oc) for ic, oc, *_ in convs) == sorted((c["ic_bn"], c["oc_bn"]) for c in choices)
    for ic_bn, oc_bn, shape, data_layout, out_layout, kernel_layout in convs:
        assert json.loads(shape)[-1] == oc_bn  # the 5-D output shape ends in the block
        assert data_layout == f"NCHW{ic_bn}c" and out_layout == f"NCHW{oc_bn}c"
        assert kernel_layout == f"OIHW{ic_bn}i{oc_bn}o"
    first_lt = con.execute(
        "SELECT src_layout, dst_layout, ic_bn, oc_bn, input_nodes, shape, dtype FROM executor_node "
        "WHERE is_layout_transform ORDER BY node_index LIMIT 1"
    ).fetchone()
    assert first_lt == ("NCHW", "NCHW3c", 1, 3, [0], "[1,1,224,224,3]", "float32")
    params, outputs = con.execute(
        "SELECT count(*) FILTER (WHERE is_param), list(node_index) FILTER (WHERE is_output) FROM executor_node"
    ).fetchone()
    assert params == len(doc["arg_nodes"]) and outputs == [h[0] for h in doc["heads"]]


def test_graph_dump_agrees_with_graph_json():
    con, result = _loaded(GRAPH_DUMP)
    graph = json.loads(GRAPH_JSON.read_text())
    assert result.rows == len(graph["nodes"]) and result.rejected == []
    rows = con.execute(
        "SELECT name, shape, input_nodes, is_param, dtype FROM executor_node ORDER BY node_index"
    ).fetchall()
    shapes = graph["attrs"]["shape"][1]
    for i, (name, shape, input_nodes, is_param, dtype) in enumerate(rows):
        node = graph["nodes"][i]
        assert name == node["name"]
        assert json.loads(shape) == shapes[graph["node_row_ptr"][i]]
        assert input_nodes == [e[0] for e in node["inputs"]]
        assert is_param == (node["op"] == "null")
        assert dtype == "float32"
    assert con.execute("SELECT count(*) FILTER (WHERE is_conv) FROM executor_node").fetchone() == (20,)


# ------------------------------------------------------------------------------------------------ profiles


def test_chrome_trace_durations_match_the_printed_table():
    con, result = _loaded(TRACE)
    events = json.loads(TRACE.read_text())["traceEvents"]
    assert result.rows == len(events) // 2 == 82 and result.rejected == []
    total = con.execute("SELECT sum(time_us) FROM executor_profile").fetchone()[0]
    assert total == pytest.approx(_total_time_us(), abs=1e-2)
    traced = dict(con.execute("SELECT node_name, time_us FROM executor_profile").fetchall())
    for row in _table_rows():
        assert traced[row[0]] == pytest.approx(float(row[2]), abs=1e-3), row[0]
    order = [n for (n,) in con.execute("SELECT node_name FROM executor_profile ORDER BY seq").fetchall()]
    assert order == [n["name"] for n in json.loads(GRAPH_JSON.read_text())["nodes"]]


def test_debug_profile_table_rows_and_total():
    con, result = _loaded(TABLE)
    expected = _table_rows()
    assert result.rows == len(expected) == 39 and result.rejected == []
    assert float(result.meta["total_time_us"]) == _total_time_us()
    total = con.execute("SELECT sum(node_time_us) FROM executor_profile WHERE repeat_index = 0").fetchone()[0]
    assert total == pytest.approx(_total_time_us(), abs=len(expected) * 5e-4)
    first = con.execute(
        "SELECT node_name, func_name, time_us, percent, shape, num_inputs, num_outputs, is_conv "
        "FROM executor_profile WHERE seq = 0"
    ).fetchone()
    row = expected[0]
    assert first[:4] == (row[0], row[1], float(row[2]), float(row[3]))
    assert first[4] == "[" + ",".join(x.strip("(),") for x in row[4:9]) + "]"
    assert first[5:] == (3, 1, True)


def test_debug_profile_table_crlf_copy():
    con, result = _loaded(TABLE)
    con2, result2 = _loaded(TABLE, TABLE.read_bytes().replace(b"\n", b"\r\n"))
    assert (result2.rows, result2.rejected, result2.meta) == (result.rows, [], result.meta)
    q = "SELECT * EXCLUDE (upload_id) FROM executor_profile ORDER BY seq, repeat_index"
    assert con2.execute(q).fetchall() == con.execute(q).fetchall()


def test_debug_profile_table_malformed_lines_are_rejected_with_line_numbers():
    lines = TABLE.read_text().split("\n")
    lines[4] = lines[4][:40]  # truncated row
    lines[7] = lines[7].replace("[", "(")  # measurements not a list
    con, result = _loaded(TABLE, "\n".join(lines).encode())
    assert [r.line for r in result.rejected] == [5, 8]
    assert result.rows == 37


def test_debug_profile_table_of_older_tvm_without_measurements():
    # TVM before the Measurements(us) column printed the same table without it.
    lines = [re.sub(r"\s+(\[[^\]]*\]|Measurements\(us\)|-{16})\s*$", "", x) for x in TABLE.read_text().splitlines()]
    assert not any("[" in x for x in lines)
    con, result = _loaded(TABLE, "\n".join(lines).encode())
    assert result.rows == 39 and result.rejected == []
    total = con.execute("SELECT sum(time_us) FROM executor_profile").fetchone()[0]
    assert total == pytest.approx(_total_time_us(), abs=39 * 5e-4)


def test_debug_profile_table_several_measurements():
    # The debug executor prints one Measurements(us) entry per repeat; Time(us) is their mean.
    text = (
        "Node Name        Ops              Time(us)  Time(%)  Shape          Inputs  Outputs  Measurements(us)  \n"
        "---------        ---              --------  -------  -----          ------  -------  ----------------  \n"
        "fused_conv2d     fused_conv2d     20.0      80.0     (1, 8, 4, 4, 8)  3       1        [10.0, 20.0, 30.0]  \n"
        "fused_relu       fused_relu       5.0       20.0     (1, 8, 4, 4, 8)  1       1        [5.0, 5.0, 5.0]  \n"
        "Total_time       -                25.0      -        -              -       -        -                 \n"
    )
    con = _con()
    result = _load(con, text.encode(), "debug_profile_table")
    assert result.rows == 6
    rows = con.execute(
        "SELECT repeat_index, time_us, node_time_us FROM executor_profile WHERE node_name = 'fused_conv2d' "
        "ORDER BY repeat_index"
    ).fetchall()
    assert rows == [(0, 10.0, 20.0), (1, 20.0, 20.0), (2, 30.0, 20.0)]
    assert con.execute("SELECT sum(node_time_us) FROM executor_profile WHERE repeat_index = 0").fetchone() == (25.0,)


def test_profiler_report_json():
    con, result = _loaded(REPORT_JSON)
    calls = json.loads(REPORT_JSON.read_text())["calls"]
    assert result.rows == len(calls) == 39 and result.rejected == []
    total, n = con.execute("SELECT sum(time_us), sum(count) FROM executor_profile").fetchone()
    assert total == pytest.approx(float(_report_sum_line()[1]), abs=1e-2)  # the printed "Sum" line
    assert n == int(_report_sum_line()[3])
    assert result.meta["total_us.cpu0"] == "47392.688"
    assert result.meta["config.Number of threads"] == "1"
    conv = con.execute(
        "SELECT func_name, time_us, shape, arg_shapes, hash, attrs, is_conv FROM executor_profile WHERE seq = 1"
    ).fetchone()
    assert conv[0] == "tvmgen_default_fused_nn_contrib_conv2d_NCHWc_add_nn_relu"
    assert conv[1] == calls[1]["Duration (us)"]["microseconds"]
    assert json.loads(conv[2]) == [1, 2, 112, 112, 32]
    assert json.loads(conv[3])[0] == [1, 1, 224, 224, 3]
    assert json.loads(conv[5]) == {"data_layout": "NCHW3c", "kernel_layout": "OIHW3i32o", "out_layout": "NCHW32c"}
    assert conv[4] == "020e7a0020adb28c" and conv[6] is True


def test_profiler_report_text_and_its_crlf_copy():
    text_lines = REPORT_TXT.read_text().splitlines()
    n_rows = text_lines.index(next(x for x in text_lines[1:] if x.startswith("-----"))) - 1
    graph = json.loads(GRAPH_JSON.read_text())
    n_ops = sum(1 for n in graph["nodes"] if n["op"] == "tvm_op")
    for data in (REPORT_TXT.read_bytes(), REPORT_TXT.read_bytes().replace(b"\n", b"\r\n")):
        con, result = _loaded(REPORT_TXT, data)
        assert result.rows == n_rows and result.rejected == []
        total, calls = con.execute("SELECT sum(time_us), sum(count) FROM executor_profile").fetchone()
        assert calls == n_ops == int(_report_sum_line()[3])
        assert total == pytest.approx(float(_report_sum_line()[1]), abs=n_rows * 5e-3)
        assert result.meta["sum_us"] == _report_sum_line()[1]
        assert result.meta["config.Executor"] == "Graph"
        lt = con.execute(
            "SELECT count, attrs, shape FROM executor_profile "
            "WHERE func_name = 'tvmgen_default_fused_layout_transform_1'"
        ).fetchone()
        assert lt[0] == 4
        assert json.loads(lt[1]) == {"dst_layout": "NCHW64c", "src_layout": "NCHW8c"}
        assert json.loads(lt[2]) == [1, 1, 56, 56, 64]


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "kind, data, match",
    [
        ("chrome_trace", b'{"displayTimeUnit": "ns", "traceEvents": []}', "no valid trace event"),
        ("chrome_trace", b'{"traceEvents": [{"ph": "B", "name": "a", "ts": 1.0}]}', "never ends"),
        ("graph_executor_json", b'{"nodes": [], "arg_nodes": [], "heads": []}', "no valid graph node"),
        ("graph_executor_json", b'{"nodes": [{"op": "null", "name": "x", "inputs": [', "not valid JSON"),
        ("debug_graph_dump", b'{"nodes": [{"op": "f", "name": "a", "inputs": ["missing"]}]}', "not nodes of"),
        ("debug_profile_table", TABLE.read_bytes().split(b"\n", 2)[0] + b"\n", "no valid profile table row"),
        ("profiler_report", b'{"calls": [], "device_metrics": {}}', "no valid profiler report call"),
        ("profiler_report", b"[1, 2]", "not a TVM profiler report"),
    ],
)
def test_file_without_a_valid_entry_raises(kind, data, match):
    con = _con()
    with pytest.raises(TvmvizError, match=match):
        _load(con, data, kind, name="bad.json")
    stored = "SELECT (SELECT count(*) FROM executor_node) + (SELECT count(*) FROM executor_profile)"
    assert con.execute(stored).fetchone() == (0,)


def test_truncated_graph_json_names_the_file_and_position():
    data = GRAPH_JSON.read_bytes()[:5000]
    with pytest.raises(TvmvizError, match=r"graph.json: not valid JSON \(line \d+, column \d+"):
        _load(_con(), data, "graph_executor_json", name="graph.json")


def test_bad_graph_node_is_rejected_and_the_rest_stored():
    doc = json.loads(GRAPH_JSON.read_text())
    doc["nodes"][5]["inputs"] = [[999, 0, 0]]
    con = _con()
    result = _load(con, json.dumps(doc).encode(), "graph_executor_json")
    assert result.rows == 81
    assert len(result.rejected) == 1 and "node 5" in result.rejected[0].reason
