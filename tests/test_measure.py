"""tvmviz.measure: AutoTVM's config space against TVM's real log, the needed transform keys against TVM's
real benchmark set, and small real measurements (TVM 0.27) read back through tvmviz's own ingest."""

import json
import math

import numpy as np
import pytest

from tvmviz.cli import main
from tvmviz.errors import TvmvizError
from tvmviz.graph.json_format import to_json
from tvmviz.measure import (
    ConvKnobs, ConvSpace, TimingPolicy, TransformKey, conv_attrs, measure_conv, measure_transforms,
    needed_transform_keys, write_log,
)
from tvmviz.measure.cli import conv_tasks, parse_kernels
from tvmviz.measure.conv import ConvReference, check_conv_output, compile_candidate, pack_data, pack_kernel
from tvmviz.store import Store
from tests.paths import R18, R18_META

FAST = TimingPolicy(repeat=3, min_repeat_ms=0.2)


def conv_workload(c, h, w, o, k, stride=1, pad=None, dilation=1):
    pad = k // 2 if pad is None else pad
    return ["conv2d_NCHWc.x86", ["TENSOR", [1, c, h, w], "float32"], ["TENSOR", [o, c, k, k], "float32"],
            [stride, stride], [pad] * 4, [dilation, dilation], "NCHW", "NCHW", "float32"]


def ingest(path):
    store = Store.open(":memory:")
    report = store.ingest_paths([str(path)])[0]
    assert report.error is None, report.error
    return store, report


# ---- AutoTVM's config space, checked against TVM 0.19's own tuning log ----------------------------


def test_config_index_and_entity_match_every_record_of_tvms_tuning_log():
    n = 0
    for line in open(f"{R18}/tuning.log"):
        rec = json.loads(line)
        workload = [rec["input"][1], *rec["input"][2]]
        knobs = {k[0]: k[2] for k in rec["config"]["entity"]}
        k = ConvKnobs(knobs["tile_ic"][-1], knobs["tile_oc"][-1], knobs["tile_ow"][-1], knobs.get("unroll_kw"),
                      knobs.get("tile_oh"))
        assert ConvSpace.of(conv_attrs(workload)).index(k) == rec["config"]["index"]
        assert k.entity() == rec["config"]["entity"]
        n += 1
    assert n == 704


def test_config_space_sizes_match_tvms_tasks():
    for task in json.load(open(f"{R18_META}/tasks.json")):
        workload = json.loads(task["workload"].replace("(", "[").replace(")", "]").replace("'", '"'))
        assert len(ConvSpace.of(conv_attrs(workload))) == task["config_space_size"]


# ---- which transforms a model needs -----------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet18():
    from tvmviz.graph.load import load_graph

    store = Store.open(":memory:")
    t_id = store.ingest_paths([f"{R18}/tuning.log"])[0].upload_id
    x_id = store.ingest_paths([f"{R18}/layout_transform.log"])[0].upload_id
    tuning, transforms = store.tuning_records([t_id]), store.transform_records([x_id])
    store.close()
    return load_graph(f"{R18}/resnet18.onnx"), tuning, transforms


def test_needed_keys_are_exactly_the_258_transforms_tvm_benchmarked(resnet18):
    graph, tuning, transforms = resnet18
    keys = needed_transform_keys(graph, tuning)
    logged = {TransformKey.of(r) for r in transforms}
    assert len(keys) == len(set(keys)) == 258
    assert set(keys) == logged
    assert needed_transform_keys(graph, tuning, transforms, only_missing=True) == []
    some = transforms[:100]
    missing = needed_transform_keys(graph, tuning, some, only_missing=True)
    assert set(missing) == logged - {TransformKey.of(r) for r in some}


# ---- real measurements ---------------------------------------------------------------------------


def test_measure_transforms_for_real_and_read_back(tmp_path):
    keys = [TransformKey((1, 2, 4, 5, 8), "NCHW8c", "NCHW4c"), TransformKey((1, 3, 6, 6), "NCHW", "NCHW1c"),
            TransformKey((1, 2, 4, 5, 8), "NCHW8c", "NCHW4c")]  # a duplicate is measured once
    calls = []
    results = measure_transforms(keys, policy=FAST, progress=lambda d, t, label: calls.append((d, t)))
    assert [m.key for m in results] == keys[:2]
    assert calls[-1] == (2, 2)
    for m in results:
        assert m.error_no == 0 and m.checked
        assert all(math.isfinite(c) and 0 < c < 0.1 for c in m.costs)  # µs-scale copies, seconds unit
        assert m.cost0 == pytest.approx(float(np.median(m.costs[1:])))
        assert len(m.costs) == 1 + FAST.repeat and m.number >= 1

    path = tmp_path / "lt.log"
    assert write_log(path, results) == 2
    store, report = ingest(path)
    assert report.kind == "layout_transform" and report.rows == 2
    got = store.transform_records()
    assert [(r.shape, r.src, r.dst, r.dtype, r.error_no) for r in got] == [
        ((1, 2, 4, 5, 8), "NCHW8c", "NCHW4c", "float32", 0), ((1, 3, 6, 6), "NCHW", "NCHW1c", "float32", 0)]
    assert [r.cost0 for r in got] == [m.cost0 for m in results]
    line = json.loads(path.read_text().splitlines()[0])
    assert line["input"][2] == [["TENSOR", [1, 2, 4, 5, 8], "float32"], "NCHW8c", "NCHW4c"]
    assert line["input"][0].startswith("llvm -keys=cpu -mcpu=") and line["version"] == 0.2
    assert line["tvm_version"].startswith("0.27")


@pytest.mark.parametrize("overlap", [True, False])
def test_batches_compiled_ahead_are_timed_in_order(overlap):
    keys = [TransformKey((1, c, 4, 4, 8), "NCHW8c", dst) for c in (1, 2, 3) for dst in ("NCHW4c", "NCHW2c")]
    calls = []
    results = measure_transforms(keys, policy=FAST, batch_size=2, overlap=overlap,
                                 progress=lambda d, t, label: calls.append(label))
    assert [m.key for m in results] == keys
    assert all(m.error_no == 0 and m.checked for m in results)
    assert sum(label.startswith("compiling") for label in calls) == 3  # one module per batch of 2


def test_a_batch_is_one_packed_entry_per_pair_of_ranks_over_private_kernels():
    """Each transform is an internal function (no packed-API wrapper of its own); the entries pick one by index."""
    from tvmviz.measure.transform import _batch_module

    keys = [TransformKey((1, 2, 4, 4, 8), "NCHW8c", "NCHW4c"), TransformKey((1, 16, 4, 4), "NCHW", "NCHW8c"),
            TransformKey((1, 2, 4, 4, 8), "NCHW8c", "NCHW"), TransformKey((1, 4, 4, 4, 4), "NCHW4c", "NCHW2c")]
    mod = _batch_module(list(enumerate(keys)))
    exported = {gv.name_hint for gv, f in mod.functions.items() if f.attrs and "global_symbol" in f.attrs}
    assert exported == {"run_5d_5d_float32", "run_4d_5d_float32", "run_5d_4d_float32"}
    assert {gv.name_hint for gv in mod.functions} - exported == {"lt0", "lt1", "lt2", "lt3"}
    # every key gets its own, right result through its entry: one measurement per key, all NumPy-checked
    results = measure_transforms(keys, policy=FAST)
    assert [m.key for m in results] == keys and all(m.error_no == 0 and m.checked for m in results)


def test_the_timing_thread_compiles_later_batches_while_the_one_it_needs_is_not_ready():
    """No core waits: while the compile thread is busy with batch 0, asking for it compiles batches 1 and 2 here."""
    import threading

    from tvmviz.measure.transform import _Batches

    release, started, who = threading.Event(), threading.Event(), {}

    def compile_chunk(chunk):
        who[chunk] = threading.current_thread().name
        if chunk == "a":
            started.set()
            release.wait(30)
        if chunk == "c":
            release.set()  # batch 0 finishes only once this thread has compiled every later batch
        if chunk == "bad":
            raise RuntimeError("broken batch")
        return chunk.upper()

    batches = _Batches(["a", "b", "c"], compile_chunk)
    compiler = threading.Thread(target=batches.compile_all, name="compiler")
    compiler.start()
    started.wait(30)
    assert [batches.get(0), batches.get(1), batches.get(2)] == ["A", "B", "C"]
    compiler.join()
    here = threading.current_thread().name
    assert who == {"a": "compiler", "b": here, "c": here}
    # a batch's failure is raised where it is asked for, and nothing starts after stop()
    broken = _Batches(["bad", "never"], compile_chunk)
    with pytest.raises(RuntimeError, match="broken batch"):
        broken.get(0)
    broken.stop()
    broken.compile_all()
    assert "never" not in who


@pytest.mark.parametrize("workload,ic_bn,oc_bn,last", [
    (conv_workload(8, 6, 7, 16, 3), 4, 8, "unroll_kw"),
    (conv_workload(8, 8, 8, 16, 1, stride=2, pad=0), 8, 4, "tile_oh"),
])
def test_measure_conv_for_real_and_read_back(tmp_path, workload, ic_bn, oc_bn, last):
    results = measure_conv(workload, ic_bn, oc_bn, trials=2)
    assert len(results) == 2
    space = ConvSpace.of(conv_attrs(workload))
    for m in results:
        assert m.error_no == 0, m.error
        assert all(math.isfinite(c) and 0 < c < 1.0 for c in m.costs)
        assert 0 < m.gflops < 10_000
        assert [k[0] for k in m.knobs.entity()] == ["tile_ic", "tile_oc", "tile_ow", last]
        assert m.config_index == space.index(m.knobs)

    path = tmp_path / "conv.log"
    write_log(path, results)
    store, report = ingest(path)
    assert report.kind == "autotvm" and report.rows == 2
    recs = store.tuning_records()
    assert [json.loads(r.workload) for r in recs] == [workload, workload]
    assert {(r.ic_bn, r.oc_bn, r.error_no) for r in recs} == {(ic_bn, oc_bn, 0)}
    assert [r.config_index for r in recs] == [m.config_index for m in results]
    assert [json.loads(r.entity) for r in recs] == [m.knobs.entity() for m in results]
    assert [r.cost0 for r in recs] == [m.cost0 for m in results]


def test_wrong_kernel_is_a_clear_error():
    """A real TVM kernel of a different conv (dilation 2: same shapes, other numbers) fails the NumPy check."""
    right = conv_attrs(conv_workload(4, 6, 6, 8, 3, pad=1))
    wrong = conv_attrs(conv_workload(4, 6, 6, 8, 3, pad=2, dilation=2))
    knobs = ConvKnobs(4, 8, 3, unroll_kw=False)
    module = compile_candidate(wrong, knobs)
    import tvm

    ref = ConvReference.of(right)
    dev = tvm.cpu(0)
    out = tvm.runtime.empty((1, 1, 6, 6, 8), "float32", dev)
    module["main"](tvm.runtime.tensor(pack_data(ref.data, 4), dev),
                   tvm.runtime.tensor(pack_kernel(ref.kernel, 4, 8), dev), out)
    with pytest.raises(TvmvizError, match=r"differs from the NumPy reference.*max abs error") as e:
        check_conv_output(ref, knobs, out.numpy())
    assert right.workload_key() in str(e.value) and "tile_ow=3" in str(e.value)
    # the same kernel compiled for the right workload passes
    module = compile_candidate(right, knobs)
    module["main"](tvm.runtime.tensor(pack_data(ref.data, 4), dev),
                   tvm.runtime.tensor(pack_kernel(ref.kernel, 4, 8), dev), out)
    check_conv_output(ref, knobs, out.numpy())


# ---- the command ---------------------------------------------------------------------------------


def test_parse_kernels():
    assert parse_kernels("16, 32,8x16") == ([16, 32], [(8, 16)])
    for bad in ("", "a", "0", "8x", "8x0"):
        with pytest.raises(TvmvizError, match="--kernels"):
            parse_kernels(bad)


def _chain_graph(tmp_path):
    from tests.select_helpers import GraphMaker

    g = GraphMaker((1, 3, 8, 8))
    a = g.conv(0, 16, name="conv_a")
    b = g.conv(g.relu(a), 16, name="conv_b")
    path = tmp_path / "chain.json"
    path.write_text(json.dumps(to_json(g.graph([b]))))
    return path


def test_conv_tasks_fit_block_sizes_to_channels(tmp_path):
    from tvmviz.graph.load import load_graph

    graph = load_graph(_chain_graph(tmp_path))
    tasks = conv_tasks(graph, "4,8")
    # conv_a reads 3 channels: no size divides 3, so the largest divisor of 3 up to 8 (3) is used
    assert sorted((t.workload[1][1][1], t.ic_bn, t.oc_bn) for t in tasks) == [
        (3, 3, 4), (3, 3, 8), (16, 4, 4), (16, 4, 8), (16, 8, 4), (16, 8, 8)]
    assert [(t.ic_bn, t.oc_bn) for t in conv_tasks(graph, "2x8", "conv_b")] == [(2, 8)]
    with pytest.raises(TvmvizError, match="no conv2d named nope"):
        conv_tasks(graph, "4", "nope")


def test_measure_command_measures_kernels_then_the_transforms_they_need(tmp_path, capsys):
    graph = _chain_graph(tmp_path)
    out = tmp_path / "measured.log"
    code = main(["measure", "--graph", str(graph), "--kernels", "4,8", "--trials", "1", "--out", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kernels"]["candidates"] == 6 and summary["kernels"]["failed"] == 0
    assert summary["transforms"]["measured"] == 2 and summary["transforms"]["failed"] == 0
    store, report = ingest(out)
    assert report.kind == "autotvm" and report.rows == 8
    assert sorted((r.ic_bn, r.oc_bn) for r in store.tuning_records()) == [
        (3, 4), (3, 8), (4, 4), (4, 8), (8, 4), (8, 8)]
    # conv_a's output (1,16,8,8) as NCHW{oc}c meets conv_b's NCHW{ic}c for oc != ic in {4, 8}
    assert {(r.shape, r.src, r.dst) for r in store.transform_records()} == {
        ((1, 4, 8, 8, 4), "NCHW4c", "NCHW8c"), ((1, 2, 8, 8, 8), "NCHW8c", "NCHW4c")}
    assert all(r.cost0 > 0 for r in store.transform_records())


def test_measure_command_without_candidates_says_what_to_give(tmp_path, capsys):
    assert main(["measure", "--graph", str(_chain_graph(tmp_path)), "--out", str(tmp_path / "x.log")]) == 2
    assert "--tuning-log" in capsys.readouterr().err
