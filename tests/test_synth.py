"""tvmviz.synth: generated models are valid ONNX whose conv workloads are what the shapes say, ResNet-50 has
the workloads of the real ResNet-50 v2 log, and the synthetic records have the properties the conformance
test relies on (exact float32 sums, failed trials, ties, complete measured layout logs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import shape_inference

from tvmviz import synth
from tests.paths import RESNET50_LOG



@pytest.fixture(scope="module")
def models():
    return synth.generate_models(24, seed=5)


def _inferred_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    inferred = shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        shapes[vi.name] = tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
    for init in inferred.graph.initializer:
        shapes[init.name] = tuple(init.dims)
    return shapes


def _workloads_from_onnx(model: onnx.ModelProto) -> dict[str, list]:
    """Each Conv's workload computed from ONNX's own shape inference and attributes."""
    shapes = _inferred_shapes(model)
    out = {}
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: list(a.ints) for a in node.attribute}
        out[node.name] = ["conv2d_NCHWc.x86", ["TENSOR", list(shapes[node.input[0]]), "float32"],
                          ["TENSOR", list(shapes[node.input[1]]), "float32"], attrs["strides"], attrs["pads"],
                          [1, 1], "NCHW", "NCHW", "float32"]
    return out


def test_generated_models_are_varied_valid_onnx(models):
    assert len(models) >= 20
    assert len({m.proto.SerializeToString() for m in models}) == len(models)
    for m in models:
        onnx.checker.check_model(m.proto, full_check=True)
        assert m.proto.ir_version <= 8 and m.proto.opset_import[0].version == 13  # readable by onnx 1.16
    features = set().union(*(m.features for m in models))
    assert {"add", "fork", "concat", "max_pool", "avg_pool", "strided", "valid_pad", "conv1x1", "conv3x3",
            "add_swapped", "flatten_gemm", "input_fork", "batch_norm", "multi_output", "weights_inputs",
            "weights_initializers"} <= features


def test_conv_workloads_match_onnx_shape_inference(models):
    for m in [*models, synth.resnet50_onnx(), synth.random_dag(40, seed=3)]:
        want = _workloads_from_onnx(m.proto)
        assert {c.name: c.workload for c in m.convs} == want, m.name


def test_swapped_add_puts_the_skip_first(models):
    m = next(m for m in models if "add_swapped" in m.features)
    produced_by = {o: n for n in m.proto.graph.node for o in n.output}
    adds = [n for n in m.proto.graph.node if n.op_type == "Add"]
    # some Add reads a tensor produced before the other input's producer (the skip) as its first argument
    order = {n.name: i for i, n in enumerate(m.proto.graph.node)}

    def pos(t):
        return order[produced_by[t].name] if t in produced_by else -1

    assert any(pos(a.input[0]) < pos(a.input[1]) for a in adds)


def test_resnet50_has_the_real_logs_workloads():
    r = synth.resnet50_onnx()
    logged = set()
    for line in RESNET50_LOG.read_text().splitlines():
        rec = json.loads(line)
        if rec["input"][1] == "conv2d_NCHWc.x86":
            logged.add(json.dumps(["conv2d_NCHWc.x86", *rec["input"][2]]))
    assert len(r.convs) == 53
    assert {json.dumps(w) for w in r.workloads()} == logged
    assert r.proto.ByteSize() < 100_000  # weights are shape-only inputs
    v1 = synth.resnet50_onnx("v1")
    assert {json.dumps(w) for w in v1.workloads()} == logged


def test_random_dag_size_and_inputs():
    d = synth.random_dag(500, seed=0)
    assert len(d.convs) == 500
    assert not d.proto.graph.initializer
    assert d.proto.ByteSize() < 500_000


def test_models_import_through_tvm_relax(models):
    """Both weight styles import through TVM Relax (what tvmviz's graph loader uses)."""
    from tvm.relax.frontend.onnx import from_onnx

    for weights in ("inputs", "initializers"):
        m = next(m for m in models if f"weights_{weights}" in m.features)
        shapes = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in m.proto.graph.input}
        mod = from_onnx(m.proto, shape_dict=shapes)
        assert "conv2d" in mod.script()


def _parse(lines):
    return [json.loads(line) for line in lines]


def test_tuning_records_are_valid_and_exact(models):
    saw = {"failed_new_pair": False, "tie": False, "multi_cost": False}
    for m in models:
        recs = _parse(synth.tuning_records(m.workloads(), seed=7))
        by_wl: dict[str, list] = {}
        for r in recs:
            assert r["version"] == 0.2 and r["input"][0] == "llvm" and r["input"][1] == "conv2d_NCHWc.x86"
            by_wl.setdefault(json.dumps(["conv2d_NCHWc.x86", *r["input"][2]]), []).append(r)
        assert set(by_wl) == {json.dumps(w) for w in m.workloads()}
        for key, rs in by_wl.items():
            wl = json.loads(key)
            c, o = wl[1][1][1], wl[2][1][0]
            ok = [r for r in rs if r["result"][1] == 0]
            assert ok, f"{m.name}: every workload has a valid record"
            pairs_ok = set()
            for r in rs:
                ent = {k[0]: k[2] for k in r["config"]["entity"]}
                assert ent["tile_ic"][0] * ent["tile_ic"][1] == c and ent["tile_oc"][0] * ent["tile_oc"][1] == o
                costs = r["result"][0]
                if r["result"][1] != 0:
                    assert r["result"][1] == 6 and costs == [1e9]
                    saw["failed_new_pair"] |= (ent["tile_ic"][1], ent["tile_oc"][1]) not in pairs_ok
                    continue
                pairs_ok.add((ent["tile_ic"][1], ent["tile_oc"][1]))
                c0 = costs[0]
                assert float(np.float32(c0)) == c0 and (c0 / synth.KERNEL_QUANTUM).is_integer()
                saw["multi_cost"] |= len(costs) > 1 and np.mean(costs) != c0
            firsts = [r["result"][0][0] for r in ok]
            saw["tie"] |= len(firsts) != len(set(firsts))
    assert all(saw.values()), saw


def test_records_are_deterministic(models):
    m = models[3]
    assert synth.tuning_records(m.workloads(), seed=11) == synth.tuning_records(m.workloads(), seed=11)
    assert synth.tuning_records(m.workloads(), seed=11) != synth.tuning_records(m.workloads(), seed=12)


KEYS = [synth.TransformKey((1, 4, 8, 8, 8), "NCHW8c", "NCHW16c"),
        synth.TransformKey((1, 2, 8, 8, 16), "NCHW16c", "NCHW8c"),
        synth.TransformKey((1, 1, 6, 6, 24), "NCHW24c", "NCHW16c", valid=False),
        synth.TransformKey((1, 8, 4, 4, 4), "NCHW4c", "NCHW1c")]


def test_measured_layout_records_cover_every_key_last_one_wins():
    recs = _parse(synth.measured_transform_records(KEYS, seed=1, duplicates=2))
    last = {}
    for r in recs:
        assert r["input"][1] == "layout_transform"
        last[json.dumps(r["input"][2])] = r["result"][0][0]
    assert set(last) == {json.dumps(k.args()) for k in KEYS}
    assert len(recs) == len(KEYS) + 2
    for k in KEYS:  # finite, exact per-element costs even for element-changing transforms
        cost = last[json.dumps(k.args())]
        assert cost < 1 and (cost / (synth.TRANSFORM_RATE_QUANTUM * 4) / k.elements).is_integer()


def test_inferred_layout_records_average_is_exact():
    recs = _parse(synth.inferred_transform_records(KEYS, seed=2, n_matching=2))
    needed = {json.dumps(k.args()) for k in KEYS}
    matching = [r for r in recs if json.dumps(r["input"][2]) in needed]
    assert len(matching) == 2 and len(recs) == 4
    total = sum(r["result"][0][0] for r in recs)
    elements = sum(int(np.prod(r["input"][2][0][1])) for r in recs)
    rate = total / elements  # TVM's avg_time: a power-of-two multiple, so every estimate is exact
    assert (rate / (synth.TRANSFORM_RATE_QUANTUM * 4)).is_integer()
    for r in matching:  # used as given, and not equal to the estimate
        assert r["result"][0][0] != rate * int(np.prod(r["input"][2][0][1]))
