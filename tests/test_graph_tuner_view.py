"""A built graph back to the graph the tuner saw (tvmviz/graph/tuner_view.py), checked against the
same models before the build: the ResNet-18 session's ONNX model, and small TVM 0.19 models exported
by tools/relay_export.py next to their builds (tests/data/tvm019/residual)."""

from __future__ import annotations

import json

import pytest

from tests.paths import R18, RESIDUAL_BUILDS as SMALL, RESNET50_GRAPH, RESNET50_LOG
from tests.select_helpers import load_logs
from tvmviz.cli import main
from tvmviz.errors import TvmvizError
from tvmviz.graph.load import load_graph
from tvmviz.select import SelectOptions, select

BUILT_R18 = ["graph.json", "_tvmdbg_graph_dump.json"]


def _tuner_form(graph):
    """(op, inputs, shape) per node, with Relay's bias_add spelled as the add a build leaves."""
    return [("add" if n.op == "bias_add" else n.op, n.inputs, tuple(n.shape)) for n in graph.nodes]


def _merges(graph):
    return [(n.op, n.inputs) for n in graph.nodes if len(n.inputs) >= 2]


@pytest.fixture(scope="module")
def r18_logs():
    return load_logs([R18 / "tuning.log"], [R18 / "layout_transform.log"])


@pytest.fixture(scope="module")
def onnx18():
    return load_graph(R18 / "resnet18.onnx")


@pytest.mark.parametrize("built", BUILT_R18)
def test_resnet18_build_recovers_the_onnx_graph(onnx18, built):
    g = load_graph(R18 / built)
    assert _tuner_form(g) == _tuner_form(onnx18)
    assert [c.conv for c in g.convs()] == [c.conv for c in onnx18.convs()]
    assert _merges(g) == _merges(onnx18) and len(_merges(g)) == 8
    assert g.outputs == onnx18.outputs
    assert not any(n.op == "layout_transform" for n in g.nodes)
    # names: the built node names (as in the executor profile), not the ONNX ones
    raw = json.loads((R18 / "graph.json").read_text())
    built_names = {n["name"] for n in raw["nodes"]}
    assert {c.name for c in g.convs()} <= built_names


@pytest.mark.parametrize("built", BUILT_R18)
@pytest.mark.parametrize("solver", ["dp", "pbqp"])
def test_resnet18_build_selects_like_the_onnx_model(onnx18, r18_logs, built, solver):
    tuning, transforms = r18_logs
    opts = SelectOptions(solver=solver)
    want = select(onnx18, tuning, transforms, opts)
    got = select(load_graph(R18 / built), tuning, transforms, opts)
    # convs map by order (both are in Relay post-order), and by workload
    assert [n.workload for n in got.nodes] == [n.workload for n in want.nodes]
    assert [(n.ic_bn, n.oc_bn) for n in got.nodes] == [(n.ic_bn, n.oc_bn) for n in want.nodes]
    assert got.total_cost_s == pytest.approx(want.total_cost_s, rel=1e-12)
    assert len(got.edges) == len(want.edges)


def test_cli_select_on_a_built_graph(onnx18, capsys):
    args = ["--tuning-log", str(R18 / "tuning.log"), "--transform-log", str(R18 / "layout_transform.log"),
            "--format", "json"]
    assert main(["select", "--graph", str(R18 / "graph.json"), *args]) == 0
    got = json.loads(capsys.readouterr().out)
    assert main(["select", "--graph", str(R18 / "resnet18.onnx"), *args]) == 0
    want = json.loads(capsys.readouterr().out)
    assert [(n["ic_bn"], n["oc_bn"]) for n in got["nodes"]] == [(n["ic_bn"], n["oc_bn"]) for n in want["nodes"]]
    assert got["total_cost_s"] == pytest.approx(want["total_cost_s"], rel=1e-12)


def test_resnet50_tvmc_build_selects_with_its_log():
    g = load_graph(RESNET50_GRAPH)
    tuning, _ = load_logs([RESNET50_LOG])
    tuned = {r.workload for r in tuning}
    assert len(g.convs()) == 53
    assert [c.name for c in g.convs() if c.conv.workload_key() not in tuned] == []
    # one merge per fused function with two data arguments (its residual add)
    raw = json.loads(RESNET50_GRAPH.read_text())
    params = {i for i, n in enumerate(raw["nodes"]) if n["op"] == "null" and n["name"] != "data"}
    fused_merges = sum(1 for n in raw["nodes"] if n["op"] == "tvm_op"
                       and sum(inp[0] not in params for inp in n["inputs"]) >= 2)
    assert len(_merges(g)) == fused_merges == 16
    # v2's last conv: conv -> residual add -> folded batch norm (multiply, add) -> relu
    last = g.by_name("tvmgen_default_fused_nn_contrib_conv2d_NCHWc_add_multiply_add_nn_relu")
    chain = [n for n in g.nodes if n.name.startswith(last.name + "/")]
    assert [(n.op, len(n.inputs)) for n in chain] == [("add", 2), ("multiply", 1), ("add", 1), ("relu", 1)]
    for solver in ("dp", "pbqp"):
        sel = select(g, tuning, [], SelectOptions(solver=solver, estimate_transforms=True, compute_optimum=True))
        assert len(sel.nodes) == 53 and sel.optimal
        assert all(n.workload for n in sel.nodes)


def test_small_build_recovers_relay_graph_and_the_padding_its_records_have():
    tuning, _ = load_logs([SMALL / "tuning.log"])
    relay_graph = load_graph(SMALL / "residual_right.layout.json")
    built = load_graph(SMALL / "residual_right.graph.json")
    assert _tuner_form(built) == _tuner_form(relay_graph)
    # the stride-2 conv's TF-style padding is not in the build: the guess is symmetric...
    s2 = built.convs()[-1]
    assert relay_graph.convs()[-1].conv.padding == (0, 0, 1, 1) != s2.conv.padding
    assert [0, 0, 1, 1] in s2.attrs["padding_alternatives"]
    # ...and selection takes the padding its tuning records have
    opts = SelectOptions(estimate_transforms=True)
    want, got = select(relay_graph, tuning, [], opts), select(built, tuning, [], opts)
    assert [n.workload for n in got.nodes] == [n.workload for n in want.nodes]
    assert [(n.ic_bn, n.oc_bn) for n in got.nodes] == [(n.ic_bn, n.oc_bn) for n in want.nodes]
    assert got.total_cost_s == pytest.approx(want.total_cost_s, rel=1e-12)
    assert got.problem.graph.convs()[-1].attrs["padding_from"] == "tuning records"


def test_no_record_for_any_padding_says_it_was_inferred():
    tuning, _ = load_logs([SMALL / "tuning.log"])
    built = load_graph(SMALL / "residual_right.graph.json")
    s2 = built.convs()[-1].conv
    kept = [r for r in tuning if json.loads(r.workload)[4] != [0, 0, 1, 1]]
    assert len(kept) < len(tuning)
    with pytest.raises(TvmvizError, match=r"inferred from a built graph.*other paddings"):
        select(built, kept, [], SelectOptions(estimate_transforms=True))
    assert s2.padding == (1, 1, 1, 1)


def test_residual_operand_order_is_not_in_the_build():
    """add(r, conv) and add(conv, r) build to the same graph: the conv chain is taken as the left operand."""
    left = load_graph(SMALL / "residual_left.graph.json")
    right = load_graph(SMALL / "residual_right.graph.json")
    assert _tuner_form(left) == _tuner_form(right)
    relay_left = load_graph(SMALL / "residual_left.layout.json")
    (merge,) = _merges(relay_left)
    assert _merges(left) == [(merge[0], tuple(reversed(merge[1])))]


def test_a_residual_around_one_conv_is_refused():
    # relu((conv(r) + r) * 0.5): the build passes r once and keeps 0.5 inside the function
    with pytest.raises(TvmvizError, match=r"add has no argument of its own.*give the ONNX model"):
        load_graph(SMALL / "self_residual.graph.json")
