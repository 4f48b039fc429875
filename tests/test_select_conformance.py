"""The selector against TVM 0.19's real answers (files in sample_logs/ and tests/data/)."""

import json

import pytest

from tests.select_helpers import load_logs
from tvmviz.graph.onnx_import import load_onnx
from tvmviz.select import SelectOptions, select
from tvmviz.select.pbqp import pbqp_objective
from tests.paths import R18, R18_META, ORACLE_EXAMPLE



@pytest.fixture(scope="module")
def oracle():
    tuning, transforms = load_logs([f"{ORACLE_EXAMPLE}/tuning.log"], [f"{ORACLE_EXAMPLE}/layout_transform.log"])
    return load_onnx(f"{ORACLE_EXAMPLE}/model.onnx"), tuning, transforms, json.load(open(f"{ORACLE_EXAMPLE}/expected.json"))


@pytest.fixture(scope="module")
def resnet18():
    tuning, transforms = load_logs([f"{R18}/tuning.log"], [f"{R18}/layout_transform.log"])
    return load_onnx(f"{R18}/resnet18.onnx"), tuning, transforms, json.load(open(f"{R18_META}/graph_tuner_choices.json"))


@pytest.mark.parametrize("solver", ["dp", "pbqp", "exact"])
def test_oracle_example_matches_tvm(oracle, solver):
    graph, tuning, transforms, expected = oracle
    sel = select(graph, tuning, transforms, SelectOptions(solver=solver, estimate_transforms=True))
    want = expected["dp" if solver == "exact" else solver]
    assert [n.name for n in sel.nodes] == [e["onnx_node_name"] for e in want]
    assert [(n.ic_bn, n.oc_bn) for n in sel.nodes] == [(e["ic_bn"], e["oc_bn"]) for e in want]
    assert [n.entity for n in sel.nodes] == [e["entity"] for e in want]
    assert [n.workload for n in sel.nodes] == [e["workload"] for e in want]
    assert sel.total_cost_s == pytest.approx(expected["dp_cost_s"], rel=1e-12)
    assert sel.optimal is True


def test_oracle_example_pbqp_objective_counts_the_lead_twice(oracle):
    graph, tuning, transforms, expected = oracle
    sel = select(graph, tuning, transforms, SelectOptions(solver="pbqp", estimate_transforms=True))
    assert sel.solver_objective_s == pytest.approx(expected["pbqp_objective_s"], rel=1e-12)
    assert pbqp_objective(sel.problem, sel.assignment) == pytest.approx(expected["pbqp_objective_s"], rel=1e-12)


def test_oracle_example_runner_up(oracle):
    """The second-best assignment's J, as TVM's own matrices gave it."""
    graph, tuning, transforms, expected = oracle
    sel = select(graph, tuning, transforms, SelectOptions(estimate_transforms=True))
    p = sel.problem
    import itertools

    totals = sorted(p.total(dict(zip(p.convs, combo)))
                    for combo in itertools.product(*[range(len(p.candidates[c])) for c in p.convs]))
    assert totals[0] == pytest.approx(expected["brute_force_cost_s"], rel=1e-12)
    assert totals[1] == pytest.approx(expected["runner_up_cost_s"], rel=1e-12)


@pytest.mark.parametrize("solver", ["dp", "pbqp"])
def test_resnet18_matches_tvm_choices(resnet18, solver):
    graph, tuning, transforms, expected = resnet18
    sel = select(graph, tuning, transforms, SelectOptions(solver=solver))
    want = expected[solver]
    assert len(sel.nodes) == len(want) == 20
    assert [(n.ic_bn, n.oc_bn) for n in sel.nodes] == [(e["ic_bn"], e["oc_bn"]) for e in want]
    assert [n.record.config_index for n in sel.nodes] == [e["config_index"] for e in want]
    assert [n.entity for n in sel.nodes] == [e["entity"] for e in want]
    assert [n.kernel_cost_s * 1e3 for n in sel.nodes] == pytest.approx([e["cost_ms"] for e in want], rel=1e-12)


def test_resnet18_opt_log_equals_tvms(resnet18, tmp_path):
    graph, tuning, transforms, _ = resnet18
    sel = select(graph, tuning, transforms, SelectOptions(solver="dp"))
    ours = [json.loads(line) for line in sel.opt_log_lines()]
    theirs = [json.loads(line) for line in open(f"{R18}/opt_dp.log")]
    assert [(o["input"][1:3], o["config"], o["result"][:2]) for o in ours] == [
        (t["input"][1:3], t["config"], t["result"][:2]) for t in theirs
    ]


def test_resnet18_exact_agrees_and_totals_reevaluate(resnet18):
    graph, tuning, transforms, _ = resnet18
    dp = select(graph, tuning, transforms, SelectOptions(solver="dp"))
    ex = select(graph, tuning, transforms, SelectOptions(solver="exact"))
    assert ex.optimal is True and dp.optimal is True and dp.gap_s == 0.0
    assert ex.total_cost_s == pytest.approx(dp.total_cost_s, rel=1e-12)
    assert dp.total_cost_s == pytest.approx(sum(n.kernel_cost_s for n in dp.nodes) + sum(e.cost_s for e in dp.edges),
                                            rel=1e-12)
    # every paid transform of the choice is one of TVM's measured records
    measured = {(tuple(t.shape), t.src, t.dst): t.cost0 for t in transforms}
    for e in dp.edges:
        if not e.identity:
            assert e.source == "measured"
            assert measured[(tuple(e.shape), e.src_layout, e.dst_layout)] == e.cost_s


def test_resnet18_true_model_runs_and_exact_is_no_worse(resnet18):
    graph, tuning, transforms, _ = resnet18
    opts = dict(cost_model="true", estimate_transforms=True)
    dp = select(graph, tuning, transforms, SelectOptions(solver="dp", **opts))
    ex = select(graph, tuning, transforms, SelectOptions(solver="exact", **opts))
    assert ex.total_cost_s <= dp.total_cost_s + 1e-12
    # real shapes: the edge into layer1.0.conv1_4 carries the pooled 56x56 tensor with 64 channels
    edge = next(e for e in dp.edges if e.dst == "layer1.0.conv1_4")
    n, c1, h, w, b = edge.shape
    assert (n, c1 * b, h, w) == (1, 64, 56, 56)


def test_resnet18_tvm_model_keys_through_pooling_with_pre_pool_shape(resnet18):
    graph, tuning, transforms, _ = resnet18
    sel = select(graph, tuning, transforms, SelectOptions())
    edge = next(e for e in sel.edges if e.dst == "layer1.0.conv1_4")
    assert edge.shape[2:4] == [112, 112]  # COST_MODEL §4: the producer conv's pre-pool output
