"""Built graphs (graph-executor JSON, debug-executor dump) -> LayoutGraph, checked against TVM's
real outputs: the ResNet-18 session's chosen records (opt_dp.log) and the third-party ResNet-50 build
and its tuning log."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tvmviz.errors import TvmvizError
from tvmviz.graph.executor_graph import _fused_ops, load_executor_graph
from tvmviz.graph.model import workload_key
from tests.paths import R18, THIRDPARTY, RESNET50_LOG

DUMP = R18 / "_tvmdbg_graph_dump.json"
R50 = THIRDPARTY / "resnet50-v2-7_graph_executor.json"


def _last_factor(entity, knob):
    return next(v[2][-1] for v in entity if v[0] == knob)


@pytest.fixture(scope="module")
def r18():
    return load_executor_graph(R18 / "graph.json")


def test_resnet18_build_has_tvm_chosen_x_and_workload_per_conv(r18):
    # The build applied opt_dp.log: each conv's (workload, ic_bn, oc_bn) must be one of its records.
    chosen = Counter()
    for line in (R18 / "opt_dp.log").read_text().splitlines():
        rec = json.loads(line)
        ent = rec["config"]["entity"]
        chosen[(workload_key([rec["input"][1], *rec["input"][2]]), _last_factor(ent, "tile_ic"), _last_factor(ent, "tile_oc"))] += 1
    built = Counter((c.conv.workload_key(), c.attrs["ic_bn"], c.attrs["oc_bn"]) for c in r18.convs())
    assert built == chosen


def test_resnet18_inserted_layout_transforms(r18):
    lts = [n for n in r18.nodes if n.op == "layout_transform"]
    raw = json.loads((R18 / "graph.json").read_text())
    raw_lt = [n for n in raw["nodes"] if "layout_transform" in n.get("attrs", {}).get("func_name", "")]
    assert len(lts) == len(raw_lt) == 16
    first = lts[0]
    assert (first.attrs["src_layout"], first.attrs["dst_layout"], first.shape) == ("NCHW", "NCHW3c", (1, 1, 224, 224, 3))
    assert r18.nodes[first.inputs[0]].op == "input"
    # the fused layout_transform + batch_flatten is split: transform, then batch_flatten
    flat = next(n for n in r18.nodes if n.op == "batch_flatten")
    t = r18.nodes[flat.inputs[0]]
    assert (t.op, t.attrs["src_layout"], t.attrs["dst_layout"]) == ("layout_transform", "NCHW8c", "NCHW")


def test_resnet18_conv_input_layout_matches_its_producer(r18):
    # A conv's data input is a tensor already in NCHW{ic_bn}c: its 5-D shape's last dim is ic_bn.
    for c in r18.convs():
        assert r18.nodes[c.inputs[0]].shape[4] == c.attrs["ic_bn"]
        assert c.shape[4] == c.attrs["oc_bn"]
        assert set(c.attrs["inferred"]) == {"strides", "padding", "dilation"}


def test_debug_dump_gives_the_same_graph(r18):
    dump = load_executor_graph(DUMP)
    folder = load_executor_graph(DUMP.parent.parent)
    for g in (dump, folder):
        assert [(n.name, n.op, n.inputs, n.shape, n.conv) for n in g.nodes] == [
            (n.name, n.op, n.inputs, n.shape, n.conv) for n in r18.nodes]
        assert g.outputs == r18.outputs


def test_resnet50_counts_and_workloads_against_its_tuning_log():
    g = load_executor_graph(R50)
    assert len(g.convs()) == 53
    assert sum(n.op == "layout_transform" for n in g.nodes) == 50
    tuned = set()
    for line in RESNET50_LOG.read_text().splitlines():
        rec = json.loads(line)
        if rec["input"][1] == "conv2d_NCHWc.x86":
            tuned.add(workload_key([rec["input"][1], *rec["input"][2]]))
    missing = [c.name for c in g.convs() if c.conv.workload_key() not in tuned]
    assert missing == []
    # ResNet-50 v2 fuses the residual add into the conv (two data inputs) and the next bias add +
    # relu with the transform: the add is its own node, then the layout_transform.
    lt = g.by_name("tvmgen_default_fused_add_nn_relu_layout_transform")
    add = g.nodes[lt.inputs[0]]
    conv = g.nodes[add.inputs[0]]
    assert (add.op, lt.attrs["src_layout"], lt.attrs["dst_layout"]) == ("add", "NCHW32c", "NCHW256c")
    assert conv.name == "tvmgen_default_fused_nn_contrib_conv2d_NCHWc_add" and len(conv.inputs) == 2


def test_fused_names_split_into_ops():
    assert _fused_ops("tvmgen_default_fused_nn_contrib_conv2d_NCHWc_add_add_nn_relu_1_2") == [
        "nn_contrib_conv2d_NCHWc", "add", "add", "nn_relu"]
    assert _fused_ops("tvmgen_default_fused_add_nn_relu_layout_transform1") == ["add", "nn_relu", "layout_transform"]
    assert _fused_ops("tvmgen_default_fused_layout_transform_21") == ["layout_transform"]


def test_bad_graph_json(tmp_path):
    with pytest.raises(TvmvizError, match="nodes"):
        load_executor_graph({"heads": []})
    raw = json.loads((R18 / "graph.json").read_text())
    raw["nodes"][4]["inputs"][0] = [99, 0, 0]
    with pytest.raises(TvmvizError, match="bad input"):
        load_executor_graph(raw)
    raw = json.loads((R18 / "graph.json").read_text())
    no_conv = {"nodes": raw["nodes"][:2], "heads": [[1, 0, 0]], "attrs": raw["attrs"], "node_row_ptr": raw["node_row_ptr"][:3]}
    with pytest.raises(TvmvizError, match="no conv2d_NCHWc"):
        load_executor_graph(no_conv)
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(TvmvizError, match="broken.json"):
        load_executor_graph(p)
