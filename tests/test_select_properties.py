"""Property tests on random small graphs: exact = brute force, totals re-evaluate, pins hold, dp is exact."""

import math
import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.select_helpers import GraphMaker, brute_force, divisors, transform_record, tuning_record
from tvmviz.select import SelectOptions, build_problem, regret_table, select, solve
from tvmviz.errors import TvmvizError
from tvmviz.select.exact import solve_milp

Q = 2.0**-20  # costs are multiples of a power of two: float32 sums are exact, ties are real


@st.composite
def cases(draw):
    g = GraphMaker((1, draw(st.sampled_from([8, 16])), 8, 8))
    tensors = [0]
    n_ops = draw(st.integers(2, 7))
    n_convs = 0
    for _ in range(n_ops):
        kind = draw(st.sampled_from(["conv", "conv", "conv", "relu", "pool", "add", "concat"]))
        src = draw(st.sampled_from(tensors))
        shape = g.nodes[src].shape
        if kind == "conv" or n_convs == 0:
            k = draw(st.sampled_from([1, 3]))
            stride = draw(st.sampled_from([1, 2])) if shape[2] >= 4 else 1
            pad = draw(st.sampled_from([0, 1])) if k == 3 else 0
            if (shape[2] + 2 * pad - k) // stride + 1 < 1:
                pad, stride = 1, 1
            tensors.append(g.conv(src, draw(st.sampled_from([8, 16, 24])), k, stride, pad))
            n_convs += 1
        elif kind == "relu" and src != 0:
            tensors.append(g.relu(src))
        elif kind == "pool" and src != 0 and shape[2] >= 4:
            tensors.append(g.pool(src))
        elif kind in ("add", "concat") and src != 0:
            same = [t for t in tensors if t not in (0, src) and g.nodes[t].shape[2:] == shape[2:]
                    and (kind == "concat" or g.nodes[t].shape == shape)]
            if same:
                other = draw(st.sampled_from(same))
                a, b = (src, other) if draw(st.booleans()) else (other, src)
                tensors.append(g.add_(a, b) if kind == "add" else g.concat(a, b))
    graph = g.graph()
    tuning, seq = [], 0
    workloads = {}
    for n in graph.convs():
        workloads.setdefault(n.conv.workload_key(), n.conv)
    for key, conv in workloads.items():
        wl = conv.workload()
        ics, ocs = divisors(conv.data_shape[1]), divisors(conv.kernel_shape[0])
        for i in range(draw(st.integers(1, 4))):
            failed = i > 0 and draw(st.integers(0, 9)) == 0  # at least one valid record per workload
            cost = 1e9 if failed else draw(st.integers(1, 64)) * Q
            tuning.append(tuning_record(wl, draw(st.sampled_from(ics)), draw(st.sampled_from(ocs)), cost, seq,
                                        6 if failed else 0))
            seq += 1
    # one layout record sets the per-element rate: 2^-30 s per element
    transforms = [transform_record((1, 2, 4, 4, 8), "NCHW8c", "NCHW16c", 256 * 2.0**-30, 0)]
    return graph, tuning, transforms


# derandomized: the suite is the same on every machine (a random draw once hit a graph shape where TVM's DP
# is knowingly not exact, see _leads_shared); widen the search locally with TVMVIZ_HYPOTHESIS_EXAMPLES
SETTINGS = settings(max_examples=int(os.environ.get("TVMVIZ_HYPOTHESIS_EXAMPLES", 60)), deadline=None, derandomize=True,
                    database=None, suppress_health_check=[HealthCheck.too_slow])


def _dp_fails(p):
    """TVM's DPTuner raises when a merge reaches one node by two paths; so does ours."""
    return any(len(set(v)) != len(v) for k, v in p.in_lists.items() if p.is_merge(k))


def _leads_shared(p):
    """Two merges with the same lead: TVM's DP gives each its own axis for what is one choice, so it is
    not exact there (COST_MODEL.md's brute-force agreement was on graphs without this)."""
    leads = [p.lead(m) for m in p.merges]
    # a lead that is also a fan-out dependency elsewhere gets two independent axes too (TVM 0.19's real
    # DPTuner returns J = 1e9 on such a graph while 3e-6 exists; checked with tests/oracle/run_tuner.py)
    if any(len(p.out_nodes.get(lead, ())) > 1 for lead in leads):
        return True
    # and a merge left with one input (add(c, relu(c)) dedups to [c]) gets an all-zero DP table
    single = any(len([x for x in p.in_lists[m] if x not in p.boundary]) < 2 for m in p.merges)
    return len(set(leads)) != len(leads) or single


def _problem(case, **kw):
    graph, tuning, transforms = case
    return build_problem(graph, tuning, transforms, SelectOptions(estimate_transforms=True, **kw))


@SETTINGS
@given(cases(), st.sampled_from(["tvm", "true"]))
def test_exact_equals_brute_force(case, model):
    p = _problem(case, cost_model=model, solver="exact")
    best, _ = brute_force(p)
    sel = solve(p)
    assert sel.optimal is True
    assert sel.total_cost_s == pytest.approx(best, rel=1e-12, abs=0)
    milp = solve_milp(p)
    assert milp.optimum == pytest.approx(best, rel=1e-9) or milp.optimal is False


@SETTINGS
@given(cases(), st.sampled_from(["dp", "pbqp", "exact"]), st.sampled_from(["tvm", "true"]))
def test_reported_total_is_the_model_reevaluated(case, solver, model):
    p = _problem(case, cost_model=model, solver=solver)
    if solver == "dp" and _dp_fails(p):
        with pytest.raises(TvmvizError, match="two paths"):
            solve(p)
        return
    sel = solve(p)
    assert sel.total_cost_s == p.total(sel.assignment)
    assert sel.kernel_cost_s == pytest.approx(sum(n.kernel_cost_s for n in sel.nodes), rel=1e-12)
    assert sel.transform_cost_s == pytest.approx(sum(e.cost_s for e in sel.edges), rel=1e-12)
    assert [n.index for n in sel.nodes] == sorted(n.index for n in sel.nodes)


@SETTINGS
@given(cases())
def test_dp_equals_brute_force_under_tvm_model(case):
    p = _problem(case, solver="dp")
    assume(not _dp_fails(p) and not _leads_shared(p))
    best, _ = brute_force(p)
    sel = solve(p)
    if best < 1e8:  # float32 tables cannot tell apart costs next to 1e9 / 1e10 penalties
        assert sel.total_cost_s == pytest.approx(best, rel=1e-12, abs=0)
    else:
        assert sel.total_cost_s == pytest.approx(best, rel=1e-6)


@SETTINGS
@given(cases(), st.sampled_from(["dp", "pbqp", "exact"]), st.data())
def test_pins_are_honoured(case, solver, data):
    p0 = _problem(case)
    conv = data.draw(st.sampled_from(p0.convs))
    cand = data.draw(st.sampled_from(p0.candidates[conv]))
    name = p0.name(conv)
    pin = (cand.ic_bn, cand.oc_bn) if data.draw(st.booleans()) else cand.oc_bn
    graph, tuning, transforms = case
    assume(solver != "dp" or not _dp_fails(p0))
    sel = select(graph, tuning, transforms, SelectOptions(solver=solver, estimate_transforms=True, pins={name: pin}))
    chosen = sel.node(name)
    if isinstance(pin, tuple):
        assert (chosen.ic_bn, chosen.oc_bn) == pin
    else:
        assert chosen.oc_bn == pin
    if solver == "exact":
        fixed_ok = [k for k, c in enumerate(p0.candidates[conv]) if (
            (c.ic_bn, c.oc_bn) == pin if isinstance(pin, tuple) else c.oc_bn == pin)]
        best = min(brute_force(p0, {conv: k})[0] for k in fixed_ok)
        assert sel.total_cost_s == pytest.approx(best, rel=1e-12)


@SETTINGS
@given(cases())
def test_regret_table_matches_brute_force(case):
    p = _problem(case, solver="exact")
    sel = solve(p)
    table = regret_table(sel)
    best, _ = brute_force(p)
    for name, regrets in zip(table.nodes, table.regret_s):
        c = p.conv_index(name)
        for k, r in enumerate(regrets):
            forced, _ = brute_force(p, {c: k})
            assert r == pytest.approx(forced - best, rel=1e-9, abs=1e-15 + 1e-12 * best)
    assert not math.isnan(table.optimum_s)
