"""Two DPTuner quirks that random models never hit, checked against the real TVM 0.19 graph tuner.

- All output states tie: DPTuner's running minimum starts at the sum of the maxima and only a strictly
  smaller total replaces it, so the output node gets the *last* candidate; PBQPTuner picks the first.
- More than 16 output nodes: DPTuner gives every node candidate 0, however much the transforms cost.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.test_conformance import Oracle, _entity, require_oracle
from tvmviz import synth
from tvmviz.graph.load import load_graph
from tvmviz.select import SelectOptions, select
from tvmviz.select.costmodel import MAX_OUTPUT_NODES
from tvmviz.store import Store

pytestmark = pytest.mark.oracle


def _record(workload, ic_bn, oc_bn, cost, rng):
    task, *args = workload
    return synth.record_line(task, args, synth._entity(workload, ic_bn, oc_bn, rng), [cost])


def _ask_and_select(tmp_path, model, tuning_lines, transform_cost):
    """TVM's answer and tvmviz's dp/pbqp/exact for one model, every needed transform logged at ``transform_cost``."""
    oracle = Oracle()
    try:
        model_path = model.save(tmp_path / f"{model.name}.onnx")
        tuning = synth.write_lines(tmp_path / "tuning.log", tuning_lines)
        keys = oracle.ask({"cmd": "keys", "id": model.name, "model": str(model_path), "tuning_log": str(tuning),
                           "max_sch_num": 20}, [model_path, tuning])["keys"]
        layout = synth.write_lines(tmp_path / "layout.log", [
            synth.record_line("layout_transform", [["TENSOR", k["shape"], "float32"], k["src"], k["dst"]], [],
                              [transform_cost], index=0) for k in keys])
        expected = oracle.ask({"cmd": "run", "id": model.name, "model": str(model_path), "tuning_log": str(tuning),
                               "layout_log": str(layout), "mode": "measured", "max_sch_num": 20},
                              [model_path, tuning, layout])
    finally:
        oracle.close()
    store = Store.open(":memory:")
    store.ingest_paths([str(tuning), str(layout)])
    graph, records, transforms = load_graph(str(model_path)), store.tuning_records(), store.transform_records()
    got = {s: select(graph, records, transforms, SelectOptions(solver=s)) for s in ("dp", "pbqp", "exact")}
    return expected, got


def _choices(sel):
    return {n.name: (n.ic_bn, n.oc_bn, _entity(n.entity)) for n in sel.nodes}


def _tvm_choices(entries):
    return {e["onnx_node_name"]: (e["ic_bn"], e["oc_bn"], e["entity"]) for e in entries}


def test_all_tied_dp_takes_the_last_candidate_pbqp_the_first(tmp_path):
    require_oracle()
    rng = np.random.default_rng(0)
    g = synth.GraphBuilder("tied_conv", (1, 16, 8, 8))
    out = g.conv(g.input_name, 16, kernel=1)  # its input is a boundary: no transform, every total ties
    model = g.build([out])
    pairs = [(8, 8), (8, 16), (16, 8), (16, 16)]
    lines = [_record(wl, i, o, 2.0 ** -12, rng) for wl in model.workloads() for i, o in pairs]
    expected, got = _ask_and_select(tmp_path, model, lines, 1e-5)
    for solver in ("dp", "pbqp"):
        assert _choices(got[solver]) == _tvm_choices(expected[solver]), solver
    n = len(pairs)
    assert [e["candidate_index"] for e in expected["dp"]] == [n - 1]  # the quirk itself, as TVM did it
    assert {e["candidate_index"] for e in expected["pbqp"]} == {0}


def test_more_than_16_outputs_gives_every_node_candidate_0(tmp_path):
    require_oracle()
    rng = np.random.default_rng(1)
    g = synth.GraphBuilder("many_outputs", (1, 8, 8, 8))
    stem = g.conv(g.input_name, 16, kernel=1)
    heads = [g.conv(stem, 16, kernel=1) for _ in range(MAX_OUTPUT_NODES + 1)]
    model = g.build(heads)
    stem_wl, head_wl = model.workloads()[0], model.workloads()[1]
    assert all(wl == head_wl for wl in model.workloads()[1:])
    # cheapest alone: stem writes 8c, heads read 16c, so 17 paid transforms; the optimum avoids them all
    lines = [_record(stem_wl, 8, 8, 1e-4, rng), _record(stem_wl, 8, 16, 2e-4, rng),
             _record(head_wl, 16, 16, 1e-4, rng), _record(head_wl, 8, 16, 2e-4, rng)]
    expected, got = _ask_and_select(tmp_path, model, lines, 1e-3)
    assert {e["candidate_index"] for e in expected["dp"]} == {0}
    assert _choices(got["dp"]) == _tvm_choices(expected["dp"])
    assert got["dp"].total_cost_s == pytest.approx(expected["dp_cost_s"], rel=1e-6)
    assert got["exact"].total_cost_s < got["dp"].total_cost_s - 0.01  # the fallback's price, visible
    assert json.dumps(expected["dp"])  # a real answer from TVM, not an error
