"""tvmviz.next: statuses against the raw logs, break-evens checked by re-solving just below and above them with
the real solvers, potential gains by re-solving at the estimate, the CLI's JSON contract."""

import json
import math
from collections import defaultdict

import pytest

from tvmviz.cli import main
from tvmviz.errors import TvmvizError
from tvmviz.next import rank_next
from tvmviz.records import TuningRecord
from tvmviz.select import SelectOptions, build_problem, select
from tests.paths import R18, RESNET50_LOG
from tests.select_helpers import GraphMaker, load_logs, transform_record, tuning_record

MARGIN = 1e-3  # relative step below / above a break-even (the DP sums in float32)


def _key(workload) -> str:
    return json.dumps(workload, separators=(",", ":"))


def with_cell_at(tuning, cand, t):
    """The log with the cell's records replaced by one successful trial at kernel time t."""
    key = _key(cand.workload)
    kept = [r for r in tuning if not (r.workload == key and (r.ic_bn, r.oc_bn) == (cand.ic_bn, cand.oc_bn))]
    seq = max(r.seq for r in tuning) + 1
    return kept + [TuningRecord(key, cand.ic_bn, cand.oc_bn, (t,), 0, "[]", seq)]


def resolve(graph, tuning, transforms, opts, cand, t):
    """(chosen for some conv of its workload, total) with the cell at t, everything else as logged."""
    sel = select(graph, with_cell_at(tuning, cand, t), transforms, opts)
    key = _key(cand.workload)
    chosen = any(_key(n.workload) == key and (n.ic_bn, n.oc_bn) == (cand.ic_bn, cand.oc_bn) for n in sel.nodes)
    return chosen, sel.total_cost_s


def check_break_even(graph, tuning, transforms, opts, cand):
    if cand.break_even_s is None:
        assert not resolve(graph, tuning, transforms, opts, cand, 1e-15)[0], cand
    else:
        assert resolve(graph, tuning, transforms, opts, cand, cand.break_even_s * (1 - MARGIN))[0], cand
        assert not resolve(graph, tuning, transforms, opts, cand, cand.break_even_s * (1 + MARGIN))[0], cand


def check_gain(graph, tuning, transforms, opts, cand, base_total):
    _, total = resolve(graph, tuning, transforms, opts, cand, cand.estimated_kernel_s)
    assert cand.potential_gain_s == pytest.approx(base_total - total, rel=1e-6, abs=1e-9), cand


# ---- a small graph where two convs share a workload and feed each other -----------------------------


@pytest.fixture(scope="module")
def small():
    g = GraphMaker((1, 8, 8, 8))
    a = g.conv(0, 8, name="a")
    b = g.conv(g.relu(a), 8, name="b")  # same workload as a: a cell they both take avoids a transform
    s = g.add_(b, a)
    c = g.conv(s, 16, name="c")
    g.conv(g.relu(c), 16, k=1, name="d")
    graph = g.graph()
    w8, w16, w1 = (json.loads(graph.nodes[i].conv.workload_key()) for i in (a, c, c + 2))
    tuning, seq = [], 0
    costs8 = {(1, 1): 9e-4, (2, 2): 7e-4, (4, 4): 5e-4, (8, 8): 4e-4, (2, 4): 6e-4, (4, 8): 4.5e-4, (8, 4): 5.5e-4,
              (1, 8): 8e-4}
    for (i, o), cost in costs8.items():
        tuning.append(tuning_record(w8, i, o, cost, seq)); seq += 1
    tuning.append(tuning_record(w8, 8, 2, 1e9, seq, error_no=6)); seq += 1  # every trial failed
    tuning.append(tuning_record(w8, 8, 2, 1e9, seq, error_no=7)); seq += 1
    # c's fastest measured cell reads NCHW4c, so a transform from a/b's NCHW8c is paid: an untried 8x16 near it
    # would save that transform
    for (i, o), cost in {(4, 16): 4e-4, (2, 4): 9e-4, (1, 1): 1e-3}.items():
        tuning.append(tuning_record(w16, i, o, cost, seq)); seq += 1
    for (i, o), cost in {(16, 16): 2e-4, (8, 16): 2.5e-4, (16, 4): 3e-4}.items():
        tuning.append(tuning_record(w1, i, o, cost, seq)); seq += 1
    transforms = [transform_record((1, 1, 8, 8, 8), "NCHW8c", "NCHW4c", 3e-5, 0),
                  transform_record((1, 2, 8, 8, 8), "NCHW8c", "NCHW16c", 5e-5, 1)]
    return graph, tuning, transforms


@pytest.mark.parametrize("solver,cost_model", [("dp", "tvm"), ("pbqp", "tvm"), ("exact", "tvm"), ("dp", "true")])
def test_small_graph_break_evens_and_gains_hold_when_re_solved(small, solver, cost_model):
    graph, tuning, transforms = small
    opts = SelectOptions(solver=solver, cost_model=cost_model, max_sch_num=4, estimate_transforms=True,
                         compute_optimum=False)
    ranking = rank_next(graph, tuning, transforms, opts)
    statuses = {c.status for c in ranking.candidates}
    assert statuses == {"kept", "pruned", "failed", "untried"}
    assert len(ranking.candidates) == 4 * 4 + 4 * 5 + 5 * 5  # factors of (8, 8), (8, 16), (16, 16)
    for cand in ranking.candidates:
        check_break_even(graph, tuning, transforms, opts, cand)
        if cand.potential_gain_s is not None:
            check_gain(graph, tuning, transforms, opts, cand, ranking.selection.total_cost_s)
    gains = [c.potential_gain_s for c in ranking.candidates if c.potential_gain_s is not None]
    assert gains == sorted(gains, reverse=True)
    assert any(g > 0 for g in gains)
    if solver == "dp" and cost_model == "tvm":
        first = ranking.candidates[0]
        assert (first.nodes, first.label, first.status) == (("c",), "8x16", "untried")


def test_small_graph_statuses_follow_the_log(small):
    graph, tuning, transforms = small
    ranking = rank_next(graph, tuning, transforms, SelectOptions(max_sch_num=4, estimate_transforms=True))
    a = {c.label: c for c in ranking.for_node("a")}
    assert a["8x2"].status == "failed" and dict(a["8x2"].errors) == {"BUILD_TIMEOUT": 1, "RUN_TIMEOUT": 1}
    assert a["8x2"].kernel_s is None and a["8x2"].estimated_kernel_s is not None
    # the 4 fastest measured pairs are kept, the other measured ones pruned
    assert {k for k, c in a.items() if c.status == "kept"} == {"8x8", "4x8", "4x4", "8x4"}
    assert {k for k, c in a.items() if c.status == "pruned"} == {"2x4", "2x2", "1x8", "1x1"}
    assert a["1x2"].status == "untried" and a["1x2"].kernel_s is None
    assert a["8x8"].nodes == ("a", "b")
    # a pruned cell can only be chosen below the 4th kept cost, since it must enter the top 4 first
    assert a["2x4"].break_even_s is None or a["2x4"].break_even_s <= 5.5e-4


# ---- ResNet-50: the real TVM 0.13 log (build timeouts) -----------------------------------------------


@pytest.fixture(scope="module")
def resnet50():
    from tvmviz import synth
    from tvmviz.graph.onnx_import import onnx_model_to_graph
    from tvmviz.measure.keys import needed_transform_keys

    model = synth.resnet50_onnx("v2")
    graph = onnx_model_to_graph(model.proto, "resnet50_v2.onnx")
    tuning, _ = load_logs([RESNET50_LOG])
    keys = needed_transform_keys(graph, tuning)
    # measured-like transform costs for every key the logged candidates need: 1 ns per element
    transforms = [transform_record(k.shape, k.src, k.dst, 1e-9 * math.prod(k.shape), i) for i, k in enumerate(keys)]
    return graph, tuning, transforms


def test_resnet50_statuses_match_the_raw_log(resnet50):
    graph, tuning, transforms = resnet50
    ranking = rank_next(graph, tuning, transforms)
    trials = defaultdict(list)
    for line in open(RESNET50_LOG):
        rec = json.loads(line)
        if rec["input"][1] != "conv2d_NCHWc.x86":
            continue
        knobs = {k[0]: k[2] for k in rec["config"]["entity"]}
        key = _key([rec["input"][1], *rec["input"][2]])
        trials[(key, knobs["tile_ic"][-1], knobs["tile_oc"][-1])].append(rec["result"][1])
    problem = build_problem(graph, tuning, transforms, SelectOptions())
    kept = {(graph.nodes[c].conv.workload_key(), cand.ic_bn, cand.oc_bn)
            for c in problem.convs for cand in problem.candidates[c]}
    seen = defaultdict(int)
    for cand in ranking.candidates:
        k = (_key(cand.workload), cand.ic_bn, cand.oc_bn)
        errs = trials.get(k, [])
        if not errs:
            assert cand.status == "untried"
        elif all(e != 0 for e in errs):
            assert cand.status == "failed" and cand.kernel_s is None
            assert sum(n for _, n in cand.errors) == len(errs)
        else:
            assert cand.status == ("kept" if k in kept else "pruned")
        seen[cand.status] += 1
    assert set(seen) == {"kept", "pruned", "failed", "untried"}
    assert any(name == "BUILD_TIMEOUT" for c in ranking.candidates for name, _ in c.errors)
    assert len(ranking.candidates) == len({(_key(c.workload), c.ic_bn, c.oc_bn) for c in ranking.candidates})


def test_resnet50_break_evens_hold_when_re_solved(resnet50):
    graph, tuning, transforms = resnet50
    opts = SelectOptions(compute_optimum=False)
    ranking = rank_next(graph, tuning, transforms, opts)
    check_opts = SelectOptions(compute_optimum=False, estimate_transforms=True)  # unlogged cells' transforms
    picks = ranking.candidates[:3]  # the top of the ranking
    for status in ("kept", "pruned", "failed", "untried"):
        picks += [c for c in ranking.candidates if c.status == status][:1]
    picks += [c for c in ranking.candidates if c.break_even_s is None][:1]
    picks += [c for c in ranking.candidates if c.chosen_by and len(c.nodes) > 1][:1]
    for cand in picks:
        check_break_even(graph, tuning, transforms, check_opts, cand)
    for cand in ranking.candidates[:3]:
        check_gain(graph, tuning, transforms, check_opts, cand, ranking.selection.total_cost_s)


# ---- CLI -----------------------------------------------------------------------------------------


def test_cli_json_contract(capsys):
    args = ["next", "--graph", f"{R18}/resnet18.onnx", "--tuning-log", f"{R18}/tuning.log",
            "--transform-log", f"{R18}/layout_transform.log", "--max-sch-num", "8", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["candidates"]
    keys = ["nodes", "workload", "ic_bn", "oc_bn", "status", "kernel_s", "break_even_s", "estimated_kernel_s",
            "potential_gain_s"]
    assert all(list(c) == keys for c in out["candidates"])
    gains = [c["potential_gain_s"] for c in out["candidates"]]
    numeric = [g for g in gains if g is not None]
    assert numeric == sorted(numeric, reverse=True)
    assert gains[:len(numeric)] == numeric  # nulls last
    assert {c["status"] for c in out["candidates"]} >= {"kept", "pruned", "untried"}


def test_cli_stored_run_ranks_like_its_files(tmp_path, capsys):
    db = tmp_path / "runs.duckdb"
    assert main(["ingest", f"{R18}", "--db", str(db), "--label", "r18 here"]) == 0  # a folder: one run
    capsys.readouterr()
    assert main(["next", "--db", str(db), "--run", "r18 here", "--max-sch-num", "8", "--json"]) == 0
    stored = json.loads(capsys.readouterr().out)
    assert main(["next", "--graph", f"{R18}/resnet18.onnx", "--tuning-log", f"{R18}/tuning.log",
                 "--transform-log", f"{R18}/layout_transform.log", "--max-sch-num", "8", "--json"]) == 0
    assert stored == json.loads(capsys.readouterr().out)


def test_cli_errors(tmp_path, capsys):
    assert main(["next", "--db", str(tmp_path / "t.duckdb"), "--run", "r1"]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "t.duckdb").exists()
    assert main(["next", "--db", str(tmp_path / "t.duckdb")]) == 2
    assert "--db needs --run" in capsys.readouterr().err
    assert main(["next", "--graph", f"{R18}/resnet18.onnx", "--tuning-log", f"{R18}/tuning.log"]) == 2
    assert "--estimate-transforms" in capsys.readouterr().err


def test_what_if_options_are_refused(small):
    graph, tuning, transforms = small
    with pytest.raises(TvmvizError, match="pins"):
        rank_next(graph, tuning, transforms, SelectOptions(pins={"a": (8, 8)}, estimate_transforms=True))
