"""The seed's inequality (tvmviz/select/inequality.py) against numbers read straight from the sample logs,
and the visual language's fixed colours (tvmviz/style.py)."""

import json

import pytest

from tests.paths import ORACLE_EXAMPLE, R18
from tvmviz import style
from tvmviz.select import SelectOptions, select
from tvmviz.select.cli import load_graph, load_records
from tvmviz.select.inequality import seed_inequality

NODE = "layer2.0.conv1_14"


@pytest.fixture(scope="module")
def r18():
    graph = load_graph(str(R18 / "resnet18.onnx"))
    tuning, transforms = load_records([str(R18 / "tuning.log")], [str(R18 / "layout_transform.log")])
    return graph, tuning, transforms, select(graph, tuning, transforms, SelectOptions())


def _raw_kernels(workload_args) -> dict:
    """(ic_bn, oc_bn) -> best costs[0] of the raw tuning.log lines of one workload."""
    best = {}
    for line in open(R18 / "tuning.log"):
        rec = json.loads(line)
        if rec["input"][1] != "conv2d_NCHWc.x86" or rec["input"][2] != workload_args:
            continue
        knobs = {k[0]: k[2] for k in rec["config"]["entity"]}
        pair = (knobs["tile_ic"][-1], knobs["tile_oc"][-1])
        best[pair] = min(best.get(pair, float("inf")), rec["result"][0][0])
    return best


def _raw_transforms() -> dict:
    """(shape, src, dst) -> cost of the last layout_transform line with that key."""
    out = {}
    for line in open(R18 / "layout_transform.log"):
        rec = json.loads(line)
        (_, shape, _), src, dst = rec["input"][2]
        out[(tuple(shape), src, dst)] = rec["result"][0][0]
    return out


def _transform_cost(term, raw) -> float:
    src, dst = term.text[2:-1].split(style.ARROW)
    if src == dst:
        return 0.0
    return raw[(term.shape, style.layout(int(src[:-1])), style.layout(int(dst[:-1])))]


def test_every_term_is_the_logged_number_and_the_sides_differ_as_the_objective(r18):
    graph, tuning, transforms, sel = r18
    node = graph.by_name(NODE)
    kernels = _raw_kernels(json.loads(node.conv.workload_key())[1:])
    raw = _raw_transforms()
    problem = sel.problem
    v = problem.conv_index(NODE)
    xs = sorted({c.oc_bn for c in problem.candidates[v]} - {sel.node(NODE).oc_bn})
    assert len(xs) >= 3
    for x in xs:
        q = seed_inequality(sel, NODE, x, tuning, transforms)
        for side in (q.chosen, q.alternative):
            kernel, *moves = side.terms
            assert kernel.kind == "kernel" and kernel.cost_s == kernels[(side.ic_bn, side.oc_bn)]
            assert kernel.source == "logged"
            assert moves and all(t.cost_s == _transform_cost(t, raw) for t in moves)
            assert all(t.source == ("same layout" if t.cost_s == 0 and "→" in t.text and
                                    t.text[2:-1].split("→")[0] == t.text[2:-1].split("→")[1] else "logged")
                       for t in moves)
        # the alternative's local difference is the objective's difference with only this layer changed
        k = next(i for i, c in enumerate(problem.candidates[v])
                 if (c.ic_bn, c.oc_bn) == (q.alternative.ic_bn, q.alternative.oc_bn))
        assert q.local_delta_s == pytest.approx(problem.total({**sel.assignment, v: k}) - sel.total_cost_s, abs=1e-12)
        # the deciding row is the one where the alternative loses most
        if q.deciding is not None:
            assert q.deciding.delta_s == max(r.delta_s for r in q.rows) > 0
            assert q.deciding.alternative.text in q.verdict or q.deciding.chosen.text in q.verdict
        # forcing x with the rest re-chosen: what the selector gives with x pinned
        pinned = select(graph, tuning, transforms, SelectOptions(pins={NODE: (q.alternative.ic_bn, q.alternative.oc_bn)}))
        assert q.forced_total_s == pytest.approx(pinned.total_cost_s, rel=1e-9)
        assert {c.name for c in q.rechosen} == {n.name for n in pinned.nodes if n.name != NODE and
                                                 (n.ic_bn, n.oc_bn) != (sel.node(n.name).ic_bn, sel.node(n.name).oc_bn)}
        assert style.layout(q.alternative.oc_bn) in q.formula() and " vs " not in q.formula()


def test_an_x_pruned_by_max_sch_num_is_priced_by_pinning_it(r18):
    graph, tuning, transforms, _ = r18
    sel = select(graph, tuning, transforms, SelectOptions(max_sch_num=3))
    problem = sel.problem
    v = problem.conv_index(NODE)
    kept = {c.oc_bn for c in problem.candidates[v]}
    kernels = _raw_kernels(json.loads(graph.by_name(NODE).conv.workload_key())[1:])
    pruned = sorted({oc for (_, oc) in kernels} - kept)
    assert pruned
    x = pruned[0]
    q = seed_inequality(sel, NODE, x, tuning, transforms)
    assert q.coverage.status == "pruned" and q.coverage.rank > 3 and "max_sch_num=3" in q.verdict
    assert q.coverage.trials == sum(1 for line in open(R18 / "tuning.log")
                                    if json.loads(line)["input"][2] == json.loads(graph.by_name(NODE).conv.workload_key())[1:]
                                    and next(k[2][-1] for k in json.loads(line)["config"]["entity"] if k[0] == "tile_oc") == x)
    best_pair = min((p for p in kernels if p[1] == x), key=lambda p: kernels[p])
    assert (q.alternative.ic_bn, q.alternative.oc_bn) == best_pair
    assert q.alternative.terms[0].cost_s == kernels[best_pair]
    # the pin may need transforms nobody benchmarked: priced as missing (0), and the inequality says so
    pinned = select(graph, tuning, transforms, SelectOptions(max_sch_num=3, pins={NODE: best_pair},
                                                             allow_missing_transforms=True))
    missing = [e for e in pinned.edges if e.source == "missing" and NODE in (e.src, e.dst)]
    assert len([t for t in q.alternative.terms if t.source == "missing"]) == len(missing)
    assert q.forced_total_s == pytest.approx(pinned.total_cost_s, rel=1e-9)


def test_an_x_never_measured_or_not_dividing_says_so(r18):
    graph, tuning, transforms, sel = r18
    q = seed_inequality(sel, NODE, 7, tuning, transforms)
    assert q.alternative is None and q.coverage.status == "not a divisor" and "7 does not divide 128" in q.verdict
    q = seed_inequality(sel, NODE, sel.node(NODE).oc_bn, tuning, transforms)
    assert q.alternative is None and "already writes" in q.verdict


def test_the_colour_of_an_x_is_the_same_in_every_run_and_never_red():
    from tvmviz.charts import graph_spec

    def x_colours(graph, sel):
        spec = graph_spec(graph, sel)
        scale = next(layer["encoding"]["color"]["scale"] for layer in spec["layer"]
                     if layer.get("encoding", {}).get("color", {}).get("field") == "x_block")
        return dict(zip(scale["domain"], scale["range"]))

    g1 = load_graph(str(R18 / "resnet18.onnx"))
    t1, m1 = load_records([str(R18 / "tuning.log")], [str(R18 / "layout_transform.log")])
    g2 = load_graph(str(ORACLE_EXAMPLE / "model.onnx"))
    t2, m2 = load_records([str(ORACLE_EXAMPLE / "tuning.log")], [str(ORACLE_EXAMPLE / "layout_transform.log")])
    a = x_colours(g1, select(g1, t1, m1, SelectOptions()))
    b = x_colours(g2, select(g2, t2, m2, SelectOptions(estimate_transforms=True)))
    shared = set(a) & set(b)
    assert shared and all(a[x] == b[x] for x in shared)
    assert len(set(a.values())) == len(a)  # one colour per x
    for x in [1, 2, 3, 4, 8, 16, 32, 64, 128, 256, 512, 7, 24, 96]:
        r, g, bl = (int(style.x_color(x)[i:i + 2], 16) for i in (1, 3, 5))
        assert not (r > 170 and g < 90 and bl < 90), x  # red is kept for problems
    assert style.contrast(style.FAILED_CELL, style.PROBLEM) >= 4.5


def test_milliseconds_read_with_sensible_digits():
    assert style.ms(0.000278) == "0.278 ms" and style.ms(0.0000043217) == "0.00432 ms"
    assert style.ms(0.0123456) == "12.3 ms" and style.ms(1.5) == "1,500 ms" and style.ms(None) == "–"
    assert style.ms_delta(0.0) == "no change" and style.ms_delta(-0.0001) == "−0.1 ms"
    assert style.pair(16, 16) == "16c" and style.pair(32, 16) == "32c→16c"
    assert style.transform("NCHW256c", "NCHW32c") == "256c→32c"
