"""ONNX -> LayoutGraph through TVM Relax, in TVM 0.19's graph-tuner node order.

Expected values come from TVM's real outputs (the ResNet-18 tuning session and the oracle example in
sample_logs/ and tests/data/, and - in the oracle test - TVM 0.19's own Relay import of each model) or from the
post-order rule worked out by hand on small graphs.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tvmviz.errors import TvmvizError
from tvmviz.graph.model import workload_key
from tvmviz.graph.onnx_import import load_onnx
from tests.paths import ORACLE_EXAMPLE, R18

ROOT = Path(__file__).resolve().parent.parent
ORACLE_PYTHON = ROOT / ".oracle-venv" / "bin" / "python"
F = TensorProto.FLOAT


# --- models built in code -------------------------------------------------------------------------


def _w(name, shape, seed=0):
    return numpy_helper.from_array(np.random.default_rng(seed).standard_normal(shape).astype(np.float32), name)


def _model(nodes, inputs, outputs, inits=(), opset=13, weights="initializers"):
    inits = list(inits)
    ins = [helper.make_tensor_value_info(n, F, s) for n, s in inputs]
    if weights in ("inputs", "stripped"):  # keep_initializers_as_inputs / weights stripped to shapes
        ins += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
    if weights == "stripped":
        inits = []
    outs = [helper.make_tensor_value_info(n, F, None) for n in outputs]
    m = helper.make_model(helper.make_graph(nodes, "g", ins, outs, initializer=inits),
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _conv(name, x, w, out, b=None, k=3, pads=(1, 1, 1, 1), strides=(1, 1)):
    return helper.make_node("Conv", [x, w] + ([b] if b else []), [out], name=name, kernel_shape=[k, k],
                            pads=list(pads), strides=list(strides))


def residual(order="ab", weights="initializers", unnamed=False):
    """c0 -> relu -> {c1 -> relu -> c2 (1x1 s2), c3 (3x3 s2)} -> Add -> MaxPool -> GAP -> Flatten."""
    inits = [_w("w0", (8, 3, 3, 3)), _w("b0", (8,)), _w("w1", (8, 8, 3, 3)), _w("w2", (16, 8, 1, 1)), _w("w3", (16, 8, 3, 3))]
    nm = (lambda s: "") if unnamed else (lambda s: s)
    nodes = [
        _conv(nm("c0"), "x", "w0", "t0", b="b0"),
        helper.make_node("Relu", ["t0"], ["r0"], name=nm("relu0")),
        _conv(nm("c1"), "r0", "w1", "t1"),
        helper.make_node("Relu", ["t1"], ["r1"], name=nm("relu1")),
        _conv(nm("c2"), "r1", "w2", "t2", k=1, pads=(0, 0, 0, 0), strides=(2, 2)),
        _conv(nm("c3"), "r0", "w3", "t3", strides=(2, 2)),
        helper.make_node("Add", ["t2", "t3"] if order == "ab" else ["t3", "t2"], ["s"], name=nm("add0")),
        helper.make_node("MaxPool", ["s"], ["p"], name=nm("pool0"), kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p"], ["g"], name=nm("gap")),
        helper.make_node("Flatten", ["g"], ["y"], name=nm("flat")),
    ]
    return _model(nodes, [("x", [1, 3, 16, 16])], ["y"], inits, weights=weights)


def concat_bn_gemm():
    """Unnamed nodes; Concat(b, a); BatchNorm; asymmetric pads; AveragePool; Gemm with alpha."""
    inits = [_w("wa", (4, 3, 3, 3)), _w("wb", (6, 3, 1, 1)), _w("wc", (5, 10, 3, 3)), _w("g", (10,)),
             _w("be", (10,)), _w("mu", (10,)), numpy_helper.from_array(np.ones(10, np.float32), "va"),
             _w("fcw", (5 * 8 * 8, 7)), _w("fcb", (7,))]
    nodes = [
        _conv("", "x", "wa", "a"),
        _conv("", "x", "wb", "b", k=1, pads=(0, 0, 0, 0)),
        helper.make_node("Concat", ["b", "a"], ["cat"], axis=1),
        helper.make_node("BatchNormalization", ["cat", "g", "be", "mu", "va"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("Conv", ["r", "wc"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 0, 0], strides=[2, 2]),
        helper.make_node("AveragePool", ["c"], ["ap"], kernel_shape=[1, 1]),
        helper.make_node("Flatten", ["ap"], ["f"]),
        helper.make_node("Gemm", ["f", "fcw", "fcb"], ["y"], alpha=0.5),
    ]
    return _model(nodes, [("x", [1, 3, 16, 16])], ["y"], inits)


def sum3_two_outputs():
    """Sum of three (a left fold of adds), two graph outputs, softmax on axis 1 at opset 11."""
    inits = [_w(f"w{i}", (4, 4, 3, 3), seed=i) for i in range(4)]
    nodes = [
        _conv("k0", "x", "w0", "a"),
        _conv("k1", "x", "w1", "b"),
        _conv("k2", "a", "w2", "c"),
        helper.make_node("Sum", ["c", "b", "a"], ["s"], name="sum"),
        _conv("k3", "s", "w3", "d"),
        helper.make_node("Identity", ["b"], ["y2"], name="id"),
        helper.make_node("Softmax", ["d"], ["y1"], name="sm", axis=1),
    ]
    return _model(nodes, [("x", [1, 4, 8, 8])], ["y1", "y2"], inits, opset=11)


MODELS = {
    "residual_ab": lambda: residual("ab"),
    "residual_ba": lambda: residual("ba"),
    "residual_inputs": lambda: residual("ab", weights="inputs"),
    "residual_stripped": lambda: residual("ba", weights="stripped"),
    "residual_unnamed": lambda: residual("ba", unnamed=True),
    "concat_bn_gemm": concat_bn_gemm,
    "sum3_two_outputs": sum3_two_outputs,
}


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    paths = {}
    for name, build in MODELS.items():
        paths[name] = d / f"{name}.onnx"
        onnx.save(build(), paths[name])
    return paths


@pytest.fixture(scope="module")
def graphs(model_files):
    return {name: load_onnx(p) for name, p in model_files.items()}


def _summary(g):
    return [(n.name, n.op, n.inputs, n.shape, n.conv) for n in g.nodes]


# --- real TVM outputs ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet18():
    return load_onnx(R18 / "resnet18.onnx")


def test_resnet18_conv_order_and_workloads_match_tvm_graph_tuner_output(resnet18):
    # opt_dp.log: one record per conv, in the tuner's node order, carrying the conv's workload.
    logged = []
    for line in (R18 / "opt_dp.log").read_text().splitlines():
        rec = json.loads(line)
        logged.append([rec["input"][1], *rec["input"][2]])
    assert [c.conv.workload() for c in resnet18.convs()] == logged


def test_resnet18_every_conv_workload_is_in_the_tuning_log(resnet18):
    tuned = set()
    for line in (R18 / "tuning.log").read_text().splitlines():
        rec = json.loads(line)
        tuned.add(workload_key([rec["input"][1], *rec["input"][2]]))
    assert len(resnet18.convs()) == 20
    assert all(c.conv.workload_key() in tuned for c in resnet18.convs())


def test_resnet18_weights_are_not_nodes_and_names_are_onnx_names(resnet18):
    # 43 graph inputs in the file, only "data" is data: the 42 others are stripped weights.
    inputs = [n for n in resnet18.nodes if n.op == "input"]
    assert [n.name for n in inputs] == ["data"] and resnet18.nodes[0].name == "data"
    m = onnx.load(R18 / "resnet18.onnx")
    onnx_conv_names = {n.name for n in m.graph.node if n.op_type == "Conv"}
    assert {c.name for c in resnet18.convs()} == onnx_conv_names
    conv1 = resnet18.by_name("conv1_1")
    bias = resnet18.nodes[conv1.index + 1]
    assert (bias.op, bias.name, bias.inputs) == ("bias_add", "conv1_1/bias_add", (conv1.index,))
    # Flatten(axis=1) is Relay's batch_flatten, then Gemm's dense and bias add.
    assert [n.op for n in resnet18.nodes[-4:]] == ["global_avg_pool2d", "batch_flatten", "dense", "add"]
    assert resnet18.outputs == (len(resnet18.nodes) - 1,)


def test_oracle_example_names_and_workloads_match_tvm(tmp_path):
    expected = json.loads((ORACLE_EXAMPLE / "expected.json").read_text())
    g = load_onnx(ORACLE_EXAMPLE / "model.onnx")
    assert [c.name for c in g.convs()] == [e["onnx_node_name"] for e in expected["dp"]]
    assert [c.conv.workload() for c in g.convs()] == [e["workload"] for e in expected["dp"]]
    tuned = {workload_key([r["input"][1], *r["input"][2]]) for r in map(json.loads, (ORACLE_EXAMPLE / "tuning.log").read_text().splitlines())}
    assert all(c.conv.workload_key() in tuned for c in g.convs())
    add = g.by_name("add0")
    assert add.op == "add" and [g.nodes[i].name for i in add.inputs] == ["conv1", "conv2"]


# --- order and structure on built models -----------------------------------------------------------


def _conv_names(g):
    return [c.name for c in g.convs()]


def test_add_operand_order_decides_the_visit_order(graphs):
    # Add(t2, t3): the c1 -> c2 branch is visited first; Add(t3, t2): c3's branch first.
    assert _conv_names(graphs["residual_ab"]) == ["c0", "c1", "c2", "c3"]
    assert _conv_names(graphs["residual_ba"]) == ["c0", "c3", "c1", "c2"]
    add = graphs["residual_ba"].by_name("add0")
    assert [graphs["residual_ba"].nodes[i].name for i in add.inputs] == ["c3", "c2"]


def test_weights_as_initializers_inputs_or_stripped_give_the_same_graph(graphs):
    base = _summary(graphs["residual_ab"])
    assert _summary(graphs["residual_inputs"]) == base
    assert _summary(graphs["residual_stripped"]) == _summary(graphs["residual_ba"])
    assert [n.name for n in graphs["residual_stripped"].nodes if n.op == "input"] == ["x"]


def test_residual_structure_shapes_and_workloads(graphs):
    g = graphs["residual_ab"]
    assert [(n.name, n.op) for n in g.nodes] == [
        ("x", "input"), ("c0", "conv2d"), ("c0/bias_add", "bias_add"), ("relu0", "relu"), ("c1", "conv2d"),
        ("relu1", "relu"), ("c2", "conv2d"), ("c3", "conv2d"), ("add0", "add"), ("pool0", "max_pool2d"),
        ("gap", "global_avg_pool2d"), ("flat", "batch_flatten"),
    ]
    c2 = g.by_name("c2").conv
    assert c2.workload() == ["conv2d_NCHWc.x86", ["TENSOR", [1, 8, 16, 16], "float32"], ["TENSOR", [16, 8, 1, 1], "float32"],
                             [2, 2], [0, 0, 0, 0], [1, 1], "NCHW", "NCHW", "float32"]
    assert g.by_name("c3").shape == (1, 16, 8, 8)
    assert g.by_name("pool0").shape == (1, 16, 4, 4)
    assert g.by_name("flat").shape == (1, 16)


def test_unnamed_nodes_are_named_per_op_type_in_file_order(graphs):
    g = graphs["residual_unnamed"]
    assert _conv_names(g) == ["Conv_0", "Conv_3", "Conv_1", "Conv_2"]
    assert g.by_name("Add_0").op == "add" and g.by_name("Relu_1").op == "relu"


def test_concat_batchnorm_pool_gemm(graphs):
    g = graphs["concat_bn_gemm"]
    cat = g.by_name("Concat_0")
    assert cat.op == "concatenate" and cat.shape == (1, 10, 16, 16)
    assert [g.nodes[i].name for i in cat.inputs] == ["Conv_1", "Conv_0"]  # Concat(b, a): b first
    assert _conv_names(g) == ["Conv_1", "Conv_0", "Conv_2"]
    assert g.by_name("BatchNormalization_0").op == "batch_norm"
    assert g.by_name("Conv_2").conv.padding == (1, 1, 0, 0)
    assert g.by_name("Conv_2").shape == (1, 5, 8, 8)
    assert g.by_name("AveragePool_0").op == "avg_pool2d"
    # Gemm with alpha != 1: multiply(A), dense, add(C), as 0.19's converter builds it.
    assert [(n.name, n.op) for n in g.nodes[-4:]] == [
        ("Flatten_0", "batch_flatten"), ("Gemm_0", "multiply"), ("Gemm_0/dense", "dense"), ("Gemm_0/add", "add")]


def test_sum_folds_left_and_several_outputs(graphs):
    g = graphs["sum3_two_outputs"]
    # add(add(c, b), a): k0 (under c) first, then k2, then k1 (b).
    assert _conv_names(g) == ["k0", "k2", "k1", "k3"]
    first, second = g.by_name("sum"), g.by_name("sum/add")
    assert [g.nodes[i].name for i in first.inputs] == ["k2", "k1"]
    assert second.inputs == (first.index, g.by_name("k0").index)
    # Softmax(axis=1) below opset 13 on a 4-D tensor: reshape, softmax, reshape.
    assert [g.nodes[i].op for i in range(g.by_name("sm").index, g.by_name("sm").index + 3)] == ["reshape", "softmax", "reshape"]
    assert [g.nodes[o].name for o in g.outputs] == ["sm/reshape", "id"]


def test_same_autopad_conv_is_pad_then_unpadded_conv(tmp_path):
    # Not checkable against this TVM 0.19 build (its from_onnx fails on SAME); the rule is 0.19's
    # autopad: total = max(k - s, 0) when in % s == 0, split low/high for SAME_UPPER.
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="c", kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")]
    p = tmp_path / "same.onnx"
    onnx.save(_model(nodes, [("x", [1, 4, 8, 8])], ["y"], [_w("w", (4, 4, 3, 3))]), p)
    g = load_onnx(p)
    pad, conv = g.nodes[1], g.nodes[2]
    assert (pad.op, pad.shape, conv.op) == ("pad", (1, 4, 9, 9), "conv2d")
    assert conv.conv.data_shape == (1, 4, 9, 9) and conv.conv.padding == (0, 0, 0, 0)
    assert conv.shape == (1, 4, 4, 4)


def test_explicit_data_inputs(model_files):
    g = load_onnx(model_files["residual_inputs"], data_inputs=["x"])
    assert [n.name for n in g.nodes if n.op == "input"] == ["x"]
    with pytest.raises(TvmvizError, match="nope"):
        load_onnx(model_files["residual_inputs"], data_inputs=["nope"])


# --- bad input -------------------------------------------------------------------------------------


def test_not_an_onnx_file(tmp_path):
    p = tmp_path / "garbage.onnx"
    p.write_bytes(b"\x00\xffthis is not protobuf" * 10)
    with pytest.raises(TvmvizError, match="garbage.onnx"):
        load_onnx(p)


def test_model_tvm_cannot_import(tmp_path):
    nodes = [_conv("c", "x", "w", "t"), helper.make_node("NoSuchOp", ["t"], ["y"], name="weird")]
    p = tmp_path / "unsupported.onnx"
    onnx.save(_model(nodes, [("x", [1, 4, 8, 8])], ["y"], [_w("w", (4, 4, 3, 3))]), p)
    with pytest.raises(TvmvizError, match=r"unsupported.onnx: TVM Relax could not import"):
        load_onnx(p)


def test_graph_without_conv(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    p = tmp_path / "noconv.onnx"
    onnx.save(_model(nodes, [("x", [1, 4, 8, 8])], ["y"]), p)
    with pytest.raises(TvmvizError, match=r"noconv.onnx: .*no 2-D Conv"):
        load_onnx(p)


def test_dynamic_input_shape_is_a_clear_error(tmp_path):
    nodes = [_conv("c", "x", "w", "y")]
    p = tmp_path / "dyn.onnx"
    onnx.save(_model(nodes, [("x", ["N", 4, 8, 8])], ["y"], [_w("w", (4, 4, 3, 3))]), p)
    with pytest.raises(TvmvizError, match=r"dyn.onnx"):
        load_onnx(p)


# --- oracle: TVM 0.19's own Relay import -----------------------------------------------------------


EXPORT_ALL = """
import json, sys
sys.path.insert(0, sys.argv[1])
from relay_export import export_onnx
out = {}
for path in sys.argv[2:]:
    out[path] = export_onnx(path, ["x"] if not path.endswith("resnet18.onnx") else ["data"])
print(json.dumps(out))
"""


@pytest.mark.oracle
def test_relay_export_in_tvm019_matches_load_onnx(model_files):
    """tools/relay_export.py run in TVM 0.19 (Relay from_onnx + post_order_visit) gives the very graph
    load_onnx builds through Relax: same names, ops, inputs, shapes, conv attrs, outputs."""
    if not ORACLE_PYTHON.exists():
        pytest.fail(f"{ORACLE_PYTHON} is missing: scripts/test.sh builds it (scripts/oracle_venv.sh)")
    from tvmviz.graph.json_format import from_json

    paths = [str(p) for p in model_files.values()] + [str(R18 / "resnet18.onnx")]
    env = dict(os.environ, TOPHUB_LOCATION="NONE")
    proc = subprocess.run([str(ORACLE_PYTHON), "-c", EXPORT_ALL, str(ROOT / "tools"), *paths],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    exported = json.loads(proc.stdout.strip().splitlines()[-1])
    for path in paths:
        relay_graph = from_json(exported[path])
        ours = load_onnx(path)
        assert _summary(relay_graph) == _summary(ours), path
        assert relay_graph.outputs == ours.outputs, path
