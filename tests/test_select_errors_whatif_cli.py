"""Bad input, explanations, what-if scenarios and the CLI, on the real ResNet-18 logs."""

import json

import pytest

from tests.select_helpers import GraphMaker, load_logs
from tvmviz.cli import main
from tvmviz.errors import MissingTransformsError, TvmvizError
from tvmviz.graph.onnx_import import load_onnx
from tvmviz.select import Scenario, SelectOptions, explain_node, regret_table, run_scenario, select
from tests.paths import R18, R18_META, ROOT



@pytest.fixture(scope="module")
def r18():
    tuning, transforms = load_logs([f"{R18}/tuning.log"], [f"{R18}/layout_transform.log"])
    graph = load_onnx(f"{R18}/resnet18.onnx")
    return graph, tuning, transforms, select(graph, tuning, transforms, SelectOptions())


def test_workload_without_record_names_node_and_workload(r18):
    graph, tuning, transforms, _ = r18
    wl = graph.by_name("layer3.0.conv1_25").conv.workload_key()
    with pytest.raises(TvmvizError, match=r"layer3\.0\.conv1_25.*256,128,3,3"):
        select(graph, [t for t in tuning if t.workload != wl], transforms, SelectOptions())


def test_all_failed_records_are_no_valid_record_under_true(r18):
    graph, tuning, transforms, _ = r18
    wl = graph.by_name("conv1_1").conv.workload_key()
    import dataclasses

    broken = [dataclasses.replace(t, error_no=6, costs=(1e9,)) if t.workload == wl else t for t in tuning]
    with pytest.raises(TvmvizError, match="conv1_1.*no valid tuning record"):
        select(graph, broken, transforms, SelectOptions(cost_model="true"))
    # TVM keeps failed trials at 1e9: the tvm model still selects (and pays 1e9)
    sel = select(graph, broken, transforms, SelectOptions(cost_model="tvm"))
    assert sel.node("conv1_1").kernel_cost_s == 1e9


def test_needed_transform_without_record_or_estimate(r18):
    graph, tuning, _, _ = r18
    with pytest.raises(MissingTransformsError,
                       match=r"layout_transform \d+c→\d+c of \[1, .*--estimate-transforms") as e:
        select(graph, tuning, [], SelectOptions())
    assert e.value.count > 1 and e.value.example in str(e.value)  # what a page words its own way
    sel = select(graph, tuning, [], SelectOptions(allow_missing_transforms=True))
    assert {e.source for e in sel.edges if not e.identity} == {"missing"}


def test_bad_pins(r18):
    graph, tuning, transforms, _ = r18
    with pytest.raises(TvmvizError, match="unknown node 'nope'"):
        select(graph, tuning, transforms, SelectOptions(pins={"nope": 8}))
    with pytest.raises(TvmvizError, match="relu_2.*not a conv2d"):
        select(graph, tuning, transforms, SelectOptions(pins={"relu_2": 8}))
    with pytest.raises(TvmvizError, match=r"conv1_1=7 matches no candidate"):
        select(graph, tuning, transforms, SelectOptions(pins={"conv1_1": 7}))


def test_graph_without_conv():
    g = GraphMaker()
    g.relu(0)
    with pytest.raises(TvmvizError, match="no conv2d"):
        select(g.graph(), [], [], SelectOptions())


def test_a_built_graph_is_recovered_and_only_the_raw_build_is_refused(r18):
    """load_graph turns a graph-executor JSON into the graph the tuner saw; the raw built graph
    (residual adds fused into convs) is still refused, with the fused conv named and what to do."""
    from tvmviz.graph.executor_graph import load_executor_graph
    from tvmviz.graph.load import load_graph

    _, tuning, transforms, onnx_sel = r18
    built = load_graph(f"{R18}/graph.json")
    sel = select(built, tuning, transforms, SelectOptions())
    assert [(n.ic_bn, n.oc_bn) for n in sel.nodes] == [(n.ic_bn, n.oc_bn) for n in onnx_sel.nodes]
    assert sel.total_cost_s == pytest.approx(onnx_sel.total_cost_s, rel=1e-12)
    raw = load_executor_graph(f"{R18}/graph.json")
    with pytest.raises(TvmvizError, match=r"conv2d_NCHWc_add_add_nn_relu has 2 data inputs.*load_graph"):
        select(raw, tuning, transforms, SelectOptions())


def test_explain_numbers_are_consistent(r18):
    graph, tuning, transforms, sel = r18
    exp = explain_node(sel, "layer2.0.conv1_14")
    p = sel.problem
    v = p.conv_index("layer2.0.conv1_14")
    chosen = exp.candidates[exp.chosen]
    assert chosen.chosen and chosen.regret_s == pytest.approx(0.0, abs=1e-15)
    assert (chosen.ic_bn, chosen.oc_bn) == (64, 16)  # TVM's choice (graph_tuner_choices.json)
    for c in exp.candidates:
        assign = dict(sel.assignment)
        assign[v] = c.index
        assert sel.total_cost_s + c.local_delta_s == pytest.approx(p.total(assign), rel=1e-12)
        assert c.local_total_s == pytest.approx(c.kernel_s + c.transform_in_s + c.transform_out_s)
        assert 0.0 <= c.regret_s <= c.local_delta_s + 1e-15  # the selection is optimal
    assert len(exp.sentences) == len(exp.candidates) - 1
    assert "worse than 64c→16c" in exp.sentences[0]


def test_regret_table_covers_every_node(r18):
    *_, sel = r18
    table = regret_table(sel)
    assert table.nodes == tuple(n.name for n in sel.nodes)
    assert table.optimum_s == pytest.approx(sel.total_cost_s, rel=1e-12)
    for regrets, chosen in zip(table.regret_s, table.chosen):
        assert regrets[chosen] == pytest.approx(0.0, abs=1e-15)
        assert min(regrets) >= 0.0


def test_scenario_round_trip_and_diff(r18):
    graph, tuning, transforms, base = r18
    sc = Scenario(pins={"layer1.0.conv1_4": (64, 8)}, exclude_x=frozenset({32}), transform_scale=2.0,
                  kernel_scale={"conv1_1": 1.5}, kernel_override={"layer4.1.conv2_44": {(512, 8): 1e-3}},
                  max_sch_num=10, solver="exact")
    text = sc.to_string()
    assert len(text) < 200 and all(ch.isalnum() or ch in "-_" for ch in text)
    assert Scenario.from_string(text) == sc
    assert sc.link_code() == text and Scenario().link_code() == ""  # the baseline's link carries no code
    with pytest.raises(TvmvizError):
        Scenario.from_string("s1!!notbase64")
    res = run_scenario(graph, tuning, transforms, sc, baseline=base)
    assert res.selection.node("layer1.0.conv1_4").ic_bn == 64
    assert all(32 not in (n.ic_bn, n.oc_bn) for n in res.selection.nodes)
    assert res.selection.node("layer4.1.conv2_44").kernel_cost_s in (1e-3,) or res.selection.node(
        "layer4.1.conv2_44").ic_bn != 512
    assert "layer1.0.conv1_4" not in res.diff.x_changed or base.node("layer1.0.conv1_4").ic_bn != 64
    changed = {n.name for n in res.selection.nodes if (n.ic_bn, n.oc_bn) != (base.node(n.name).ic_bn,
                                                                              base.node(n.name).oc_bn)}
    assert set(res.diff.x_changed) == changed
    assert res.diff.total_before_s == base.total_cost_s


def test_pinning_a_worse_layout_costs_its_regret(r18):
    graph, tuning, transforms, base = r18
    table = regret_table(base)
    i = table.nodes.index("layer1.0.conv1_4")
    k = max(range(len(table.regret_s[i])), key=lambda j: table.regret_s[i][j])
    cand = base.problem.candidates[base.problem.conv_index("layer1.0.conv1_4")][k]
    res = run_scenario(graph, tuning, transforms, Scenario(pins={"layer1.0.conv1_4": (cand.ic_bn, cand.oc_bn)},
                                                           solver="exact"), baseline=base)
    assert res.diff.delta_s == pytest.approx(table.regret_s[i][k], rel=1e-9)


def test_scenarios_through_a_table_cache_select_and_fail_as_without_it(r18):
    from tvmviz.select.costmodel import TableCache

    graph, tuning, transforms, base = r18
    p = base.problem
    scenarios = [Scenario(pins={p.name(c): (cand.ic_bn, cand.oc_bn)}) for c in p.convs[::4]
                 for cand in p.candidates[c][:3]]
    scenarios += [Scenario(exclude_x=frozenset({16})), Scenario(transform_scale=0.5), Scenario(max_sch_num=4),
                  Scenario(kernel_scale={p.name(p.convs[5]): 3.0}, solver="pbqp"), Scenario(cost_model="true")]

    def outcome(opts, tables):
        try:
            return select(graph, tuning, transforms, opts, tables).to_json()
        except TvmvizError as e:
            return str(e)

    for base_opts in (SelectOptions(), SelectOptions(estimate_transforms=True)):
        tables = TableCache(graph, tuning, transforms)
        for sc in scenarios * 2:  # the second pass hits the cache
            opts = sc.options(base_opts)
            assert outcome(opts, tables) == outcome(opts, None), sc
    no_transforms = []
    with pytest.raises(TvmvizError, match="needed layout transforms have no record") as uncached:
        select(graph, tuning, no_transforms, SelectOptions())
    tables = TableCache(graph, tuning, no_transforms)
    for _ in range(2):  # on a cache hit the message counts and names the same missing transforms
        with pytest.raises(TvmvizError) as e:
            select(graph, tuning, no_transforms, SelectOptions(), tables)
        assert str(e.value) == str(uncached.value)
    with pytest.raises(ValueError, match="TableCache serves"):
        select(graph, tuning, transforms, SelectOptions(), tables)


def test_cli_select_json_and_opt_log(tmp_path, capsys):
    out = tmp_path / "opt.log"
    rc = main(["select", "--graph", f"{R18}/resnet18.onnx", "--tuning-log", f"{R18}/tuning.log",
               "--transform-log", f"{R18}/layout_transform.log", "--format", "json", "--write-opt-log", str(out)])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    for key in ("solver", "cost_model", "total_cost_s", "kernel_cost_s", "transform_cost_s", "optimal", "gap_s",
                "nodes", "edges"):
        assert key in doc
    want = json.load(open(f"{R18_META}/graph_tuner_choices.json"))["dp"]
    assert [(n["ic_bn"], n["oc_bn"]) for n in doc["nodes"]] == [(e["ic_bn"], e["oc_bn"]) for e in want]
    assert doc["nodes"][0]["workload"][0] == "conv2d_NCHWc.x86" and doc["nodes"][0]["name"] == "conv1_1"
    assert {e["source"] for e in doc["edges"]} <= {"measured", "estimated", "missing"}
    written = [json.loads(line)["config"] for line in out.read_text().splitlines()]
    assert written == [json.loads(line)["config"] for line in open(f"{R18}/opt_dp.log")]


def test_cli_errors_are_one_line(capsys):
    rc = main(["select", "--graph", f"{R18}/resnet18.onnx", "--tuning-log", f"{R18}/tuning.log",
               "--transform-log", f"{R18}/layout_transform.log", "--pin", "conv1_1=5x5"])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error: pin conv1_1=5x5 matches no candidate") and "Traceback" not in err


def test_cli_explain_markdown(capsys):
    rc = main(["explain", "--graph", f"{R18}/resnet18.onnx", "--tuning-log", f"{R18}/tuning.log",
               "--transform-log", f"{R18}/layout_transform.log", "--node", "layer2.0.conv1_14", "--solver", "pbqp"])
    assert rc == 0
    text = capsys.readouterr().out
    assert text.startswith("# layer2.0.conv1_14") and "| 64c→16c |" in text and "chosen" in text


def test_readme_true_cost_model_example_runs_and_its_error_names_the_flag(capsys):
    """The README's `--cost-model true` example works as printed; without the flag it says which one."""
    readme = (ROOT / "README.md").read_text()
    example = next(line for line in readme.splitlines() if "--cost-model true" in line and "python -m tvmviz" in line)
    args = example.split("python -m tvmviz", 1)[1].split()
    assert "--estimate-transforms" in args
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["cost_model"] == "true"
    rc = main([a for a in args if a != "--estimate-transforms"])
    err = capsys.readouterr().err
    assert rc == 2 and "real tensor shapes" in err and "--estimate-transforms" in err


def test_scenario_links_are_size_and_depth_checked_before_the_work():
    import base64
    import zlib

    from tvmviz.errors import TvmvizError
    from tvmviz.select.whatif import MAX_LINK_CHARS, MAX_SCENARIO_BYTES, Scenario

    def link(raw: bytes) -> str:
        return "s1" + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")

    bomb = link(b'{"x": [' + b"1," * (MAX_SCENARIO_BYTES) + b"1]}")
    assert len(bomb) < MAX_LINK_CHARS
    with pytest.raises(TvmvizError, match="decompresses to over"):
        Scenario.from_string(bomb)
    with pytest.raises(TvmvizError, match="nested 5000 deep"):
        Scenario.from_string(link(b"[" * 5000 + b"]" * 5000))
    with pytest.raises(TvmvizError, match="character limit"):
        Scenario.from_string("s1" + "A" * (MAX_LINK_CHARS + 1))
    ok = Scenario(pins={"conv[1]": (8, 16)}, kernel_override={"c": {(8, 8): 1e-3}})
    assert Scenario.from_string(ok.to_string()) == ok
