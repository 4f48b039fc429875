"""tvmviz's layout-graph JSON: round trips and validation errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tvmviz.errors import TvmvizError
from tvmviz.graph.executor_graph import load_executor_graph
from tvmviz.graph.json_format import from_json, to_json
from tvmviz.graph.onnx_import import load_onnx
from tests.paths import R18, ORACLE_EXAMPLE



def _full(g):
    return [(n.index, n.name, n.op, n.inputs, n.shape, n.dtype, n.conv, n.attrs) for n in g.nodes], g.outputs


@pytest.fixture(scope="module")
def r18_obj():
    return to_json(load_onnx(R18 / "resnet18.onnx"))


@pytest.mark.parametrize("load", [
    lambda: load_onnx(ORACLE_EXAMPLE / "model.onnx"),
    lambda: load_executor_graph(R18 / "graph.json"),
])
def test_round_trip_through_json_text(load):
    g = load()
    back = from_json(json.loads(json.dumps(to_json(g))))
    assert _full(back) == _full(g)


def test_header_and_conv_workload(r18_obj):
    assert (r18_obj["format"], r18_obj["version"]) == ("tvmviz-layout-graph", 1)
    conv = next(n for n in r18_obj["nodes"] if n["op"] == "conv2d")
    assert conv["conv"]["workload"] == ["conv2d_NCHWc.x86", ["TENSOR", [1, 3, 224, 224], "float32"],
                                        ["TENSOR", [64, 3, 7, 7], "float32"], [2, 2], [3, 3, 3, 3], [1, 1],
                                        "NCHW", "NCHW", "float32"]


def _broken(obj, edit):
    obj = copy.deepcopy(obj)
    edit(obj)
    return obj


@pytest.mark.parametrize("edit, message", [
    (lambda o: o.update(format="something-else"), "format"),
    (lambda o: o.update(version=2), "unsupported version 2"),
    (lambda o: o.update(nodes="x"), "\"nodes\" must be a list"),
    (lambda o: o["nodes"][3].update(inputs=[5]), r"node 3 .*do not come before it"),
    (lambda o: o["nodes"][1]["conv"].update(workload=["conv2d_NCHWc.x86"]), r"node 1 \('conv1_1'\).*disagrees"),
    (lambda o: o["nodes"][1]["conv"].update(strides=[2]), r"conv.strides must have 2"),
    (lambda o: o["nodes"][1].pop("conv"), r"exactly on conv2d"),
    (lambda o: o["nodes"][2].update(conv=o["nodes"][1]["conv"]), r"exactly on conv2d"),
    (lambda o: o["nodes"][2].update(shape=[1, "a"]), r"\"shape\" must be a list of integers"),
    (lambda o: o["nodes"][2].update(index=7), r"\"index\" is 7"),
    (lambda o: o.update(outputs=[999]), "outputs"),
    (lambda o: o["nodes"][0].update(name=""), "non-empty string"),
])
def test_validation_errors_name_the_problem(r18_obj, edit, message):
    with pytest.raises(TvmvizError, match=message):
        from_json(_broken(r18_obj, edit), source="model.layout.json")


def test_not_an_object():
    with pytest.raises(TvmvizError, match="expected a JSON object"):
        from_json([1, 2])
