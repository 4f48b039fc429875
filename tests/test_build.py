"""tvmviz.build: plans built with real TVM 0.27 (Relax), checked against onnx.reference, timed here.

Most tests use a small SqueezeNet-like model (tests/fire_model.py: fire module, residual add, batch norm,
pools, flatten, gemm, softmax); one test builds the sample ResNet-18 with the
records measured on this project's machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.fire_model import fire_model, fire_records
from tvmviz.build.compare import layer_table, markdown, plans_table, split_plans, transform_table
from tvmviz.build.model import build_module, data_input_names, model_weights
from tvmviz.build.plans import block_for, make_plans, parse_plans
from tvmviz.build.run import REL_ERR_LIMIT, allow_all_cores, available_cores, check_numerics, run_plans
from tvmviz.cli import main
from tvmviz.errors import TvmvizError
from tvmviz.graph.onnx_import import onnx_model_to_graph
from tvmviz.select.cli import load_records
from tvmviz.select.whatif import Scenario
from tvmviz.store import Store
from tests.paths import R18

allow_all_cores()


@pytest.fixture(scope="module")
def fire(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fire")
    model = fire_model()
    path = tmp / "fire.onnx"
    path.write_bytes(model.SerializeToString())
    log = tmp / "tuning.log"
    log.write_text("\n".join(fire_records(model)) + "\n")
    graph = onnx_model_to_graph(model, str(path))
    tuning, transforms = load_records([str(log)], [])
    return {"model": model, "path": path, "log": log, "graph": graph, "tuning": tuning}


@pytest.fixture(scope="module")
def fire_report(fire):
    plans = make_plans(fire["graph"], fire["tuning"], [], ["dp", "per-op-best", "uniform:16", "uniform:4"],
                       estimate_transforms=True)
    return plans, run_plans(fire["model"], fire["graph"], plans, repeat=3)


def test_every_plan_matches_onnx_reference_and_times_every_conv(fire, fire_report):
    plans, report = fire_report
    assert [p.plan for p in report.plans] == ["dp", "per-op-best", "uniform:16", "uniform:4"]
    conv_names = [n.name for n in fire["graph"].convs()]
    for plan, run in zip(plans, report.plans):
        assert 0 <= run.max_rel_err <= REL_ERR_LIMIT
        assert sorted(layer.name for layer in run.layers) == sorted(conv_names)
        assert all(layer.measured_s > 0 and layer.measured_1t_s > 0 for layer in run.layers)
        assert len(run.measured_runs_s) == 3 and min(run.measured_runs_s) <= run.measured_s <= max(run.measured_runs_s)
        # a plan's convs together cannot take longer than the whole model (at 1 thread: on a loaded machine a
        # preempted pool thread stalls a multi-threaded kernel's barrier for a time slice, ~100x these kernels)
        assert sum(layer.measured_1t_s for layer in run.layers) < max(run.measured_1t_runs_s) * 1.5
        assert run.predicted_s == pytest.approx(plan.selection.total_cost_s)
        assert {(layer.name, layer.ic_bn, layer.oc_bn) for layer in run.layers} == {
            (n.name, n.ic_bn, n.oc_bn) for n in plan.selection.nodes}


def test_uniform_plans_use_the_block_or_the_largest_factor_below(fire, fire_report):
    _, report = fire_report
    by_name = {n.name: n.conv for n in fire["graph"].convs()}
    for run, x in ((report.plans[2], 16), (report.plans[3], 4)):
        for layer in run.layers:
            c, o = by_name[layer.name].data_shape[1], by_name[layer.name].kernel_shape[0]
            assert (layer.ic_bn, layer.oc_bn) == (block_for(c, x), block_for(o, x))
    assert block_for(3, 16) == 3 and block_for(24, 16) == 12 and block_for(24, 8) == 8


def test_transforms_inserted_where_predicted_and_else_only_at_boundaries(fire, fire_report):
    plans, report = fire_report
    boundaries = {"data", "output", "fc/batch_flatten", "fc_flat"}
    for plan, run in zip(plans, report.plans):
        predicted = {(e.src, e.dst) for e in plan.selection.edges if not e.identity}
        inserted = {(t.src, t.dst): t for t in run.transforms if t.measured_s is not None}
        assert predicted <= set(inserted), (plan.name, predicted - set(inserted))
        for (src, dst), t in inserted.items():
            if (src, dst) in predicted:
                continue
            # not in the objective: the graph input, the way out to NCHW ops, or a concat whose inputs'
            # channels the lead's block does not divide (it runs in NCHW, as AlterOpLayout does)
            cat_fallback = dst == "cat" and t.dst_layout == "NCHW"
            assert src == "data" or dst.startswith("fc") or cat_fallback, (plan.name, src, dst)
        for t in run.transforms:
            assert t.measured_s is None or t.measured_s > 0
    # a uniform plan whose block divides every channel count keeps one layout between convs
    uni = report.plans[3]
    assert all(t.predicted_s is None for t in uni.transforms)
    assert {t.src for t in uni.transforms} == {"data", "res"}
    # at 16 the 8-channel expand cannot join a 16c concat: both inputs go to NCHW, unpredicted
    assert {(t.src, t.dst_layout) for t in report.plans[2].transforms if t.dst == "cat"} == {
        ("expand1", "NCHW"), ("expand3", "NCHW")}


def test_one_thread_is_measured_and_reported(fire_report):
    _, report = fire_report
    frame = plans_table([report.to_json()])
    assert list(frame["plan"]) == [p.plan for p in report.plans]
    assert (frame["measured_1t_ms"] > 0).all()
    assert sorted(frame["rank measured"]) == sorted(frame["measured_ms"].rank(method="min").astype(int))
    assert "| uniform:16 |" in markdown([report.to_json()])


def test_json_contract_and_cli(fire, tmp_path, capsys):
    rc = main(["run-plan", "--graph", str(fire["path"]), "--tuning-log", str(fire["log"]), "--estimate-transforms",
               "--plans", "dp,uniform:8", "--threads", "1", "--repeat", "2", "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"target", "cpu", "threads", "tvm_version", "plans"} <= doc.keys() and doc["threads"] == 1
    for p in doc["plans"]:
        assert {"plan", "predicted_s", "measured_s", "measured_runs_s", "max_rel_err", "layers", "transforms"} <= p.keys()
        assert len(p["measured_runs_s"]) == 2
        for layer in p["layers"]:
            assert {"name", "ic_bn", "oc_bn", "predicted_s", "measured_s"} <= layer.keys()
        for t in p["transforms"]:
            assert {"src", "dst", "src_layout", "dst_layout", "predicted_s", "measured_s"} <= t.keys()
    assert [p["plan"] for p in doc["plans"]] == ["dp", "uniform:8"]


def test_a_stored_run_builds_the_same_plan_as_its_files(fire, tmp_path, capsys):
    folder = tmp_path / "fire_run"  # a folder upload is one run: model and log
    folder.mkdir()
    shutil.copy(fire["path"], folder / "fire.onnx")
    shutil.copy(fire["log"], folder / "tuning.log")
    db = tmp_path / "runs.duckdb"
    assert main(["ingest", str(folder), "--db", str(db), "--label", "fire here"]) == 0
    capsys.readouterr()
    common = ["--estimate-transforms", "--plans", "dp", "--threads", "1", "--repeat", "2", "--json"]
    assert main(["run-plan", "--db", str(db), "--run", "fire here", *common]) == 0
    stored = json.loads(capsys.readouterr().out)["plans"][0]
    assert main(["run-plan", "--graph", str(fire["path"]), "--tuning-log", str(fire["log"]), *common]) == 0
    files = json.loads(capsys.readouterr().out)["plans"][0]
    assert stored["predicted_s"] == pytest.approx(files["predicted_s"], rel=1e-9)
    assert [(x["name"], x["ic_bn"], x["oc_bn"]) for x in stored["layers"]] == \
        [(x["name"], x["ic_bn"], x["oc_bn"]) for x in files["layers"]]
    assert stored["measured_s"] > 0 and stored["max_rel_err"] < REL_ERR_LIMIT


def test_stored_as_a_profile_that_profile_vs_tuned_reads(fire, fire_report):
    from tvmviz.report import profile_comparison

    plans, report = fire_report
    store = Store.open(":memory:")
    docs = split_plans(report.to_json())
    assert len(docs) == len(report.plans)
    ids = []
    for doc in docs:
        [r] = store.ingest_bytes(f"{doc['plans'][0]['plan']}.json", json.dumps(doc).encode())
        assert r.error is None and r.kind == "tvmviz_run_plan"
        ids.append(r.upload_id)
    assert store.upload_meta(ids[1])["run_plan"] == json.loads(json.dumps(docs[1]))
    cmp = profile_comparison(store.con, fire["graph"], plans[1].selection, ids[1], [ids[1]])
    assert not cmp.unmatched
    assert set(cmp.layers["same layout"]) == {True}
    measured = {layer.name: layer.measured_s * 1e3 for layer in report.plans[1].layers}
    for row in cmp.layers.itertuples():
        assert row.profiled_ms == pytest.approx(measured[row.layer])
    [bad] = store.ingest_bytes("all.json", json.dumps(report.to_json()).encode())
    assert bad.error and "plans" in bad.error


def test_layer_causes_name_threads_and_machine():
    doc = {"threads": 2, "cpu": "znver5", "plans": []}
    plan = {"layers": [
        {"name": "a", "ic_bn": 8, "oc_bn": 8, "predicted_s": 1e-3, "measured_s": 3e-3, "measured_1t_s": 1.1e-3},
        {"name": "b", "ic_bn": 8, "oc_bn": 8, "predicted_s": 1e-3, "measured_s": 3e-3, "measured_1t_s": 2.9e-3},
        {"name": "c", "ic_bn": 8, "oc_bn": 8, "predicted_s": 1e-3, "measured_s": 1.2e-3, "measured_1t_s": 1e-3},
    ], "transforms": [{"src": "x", "dst": "b", "src_layout": "NCHW", "dst_layout": "NCHW8c", "predicted_s": None,
                       "measured_s": 1e-5}]}
    t = layer_table(doc, plan, {"a": "llvm -mcpu=znver3"}).set_index("layer")
    assert list(t["flagged"]) == [True, True, False]
    assert "threads" in t.loc["a", "likely cause"] and "znver3" in t.loc["a", "likely cause"]
    assert "in-graph" in t.loc["b", "likely cause"] and "transform" in t.loc["b", "likely cause"]
    assert t.loc["c", "likely cause"] == ""
    assert transform_table(plan)["status"].tolist() == ["inserted, not predicted"]


def test_wrong_numerics_and_bad_requests_are_clear_errors(fire, capsys):
    want = np.linspace(-2, 2, 10, dtype=np.float32).reshape(1, 10)
    assert check_numerics(want + 1e-6, want, "x") < REL_ERR_LIMIT
    with pytest.raises(TvmvizError, match="differs from onnx.reference"):
        check_numerics(want * 1.01, want, "plan p")
    with pytest.raises(TvmvizError, match="unknown plan"):
        parse_plans("dp,fastest")
    with pytest.raises(TvmvizError, match="uniform needs"):
        parse_plans("uniform:0")
    with pytest.raises(TvmvizError, match="scenario"):
        parse_plans("scenario:nonsense")
    with pytest.raises(TvmvizError, match="no tuning record at NCHW32c.*tvmviz measure"):
        make_plans(fire["graph"], fire["tuning"], [], ["uniform:32"])
    assert main(["run-plan", "--db", "no-such.duckdb", "--run", "r1", "--plans", "dp"]) == 2
    assert "no database at no-such.duckdb" in capsys.readouterr().err
    assert main(["run-plan", "--graph", str(fire["path"]), "--plans", "dp"]) == 2
    assert "--tuning-log" in capsys.readouterr().err
    with pytest.raises(TvmvizError, match="repeat"):
        run_plans(fire["model"], fire["graph"], make_plans(fire["graph"], fire["tuning"], [], ["dp"]), repeat=0)


def test_unsupported_op_names_the_node(fire):
    model = fire_model()
    node = next(n for n in model.graph.node if n.op_type == "Softmax")
    node.op_type = "Hardmax"
    weights = model_weights(model, data_input_names(fire["graph"]))
    plan = make_plans(fire["graph"], fire["tuning"], [], ["dp"])[0]
    with pytest.raises(TvmvizError, match="'softmax' \\(Hardmax\\).*supported"):
        build_module(model, fire["graph"], plan.choices(), weights)


def test_scenario_plan_pins_a_layer(fire):
    name = fire["graph"].convs()[1].name
    code = Scenario(pins={name: (4, 4)}).to_string()
    [plan] = make_plans(fire["graph"], fire["tuning"], [], [f"scenario:{code}"])
    assert plan.selection.node(name).ic_bn == 4 and plan.selection.node(name).oc_bn == 4


def test_resnet18_dp_plan_runs_here():
    graph_path = R18 / "resnet18.onnx"
    from tvmviz.graph.load import load_graph

    graph = load_graph(graph_path)
    measured = R18.parent / "measured"
    tuning, transforms = load_records([str(measured / "tuning.log")], [str(measured / "layout_transform.log")])
    [plan] = make_plans(graph, tuning, transforms, ["dp"])
    report = run_plans(graph_path, graph, [plan], repeat=2)
    run = report.plans[0]
    assert run.max_rel_err <= REL_ERR_LIMIT and len(run.layers) == 20
    inserted = {(t.src, t.dst) for t in run.transforms if t.measured_s is not None}
    assert {(e.src, e.dst) for e in plan.selection.edges if not e.identity} <= inserted
    # the first conv reads the graph input, so its NCHW -> NCHW{ic}c is inserted but never predicted
    first = plan.selection.nodes[0]
    assert any(t.src == "data" and t.dst == first.name and t.predicted_s is None for t in run.transforms)


def test_kernels_are_compiled_once_per_process_and_shared_by_plans(fire, fire_report):
    from tvmviz.build.kernels import library

    plans, report = fire_report
    calls = sum(len(p.layers) + sum(t.measured_s is not None for t in p.transforms) for p in report.plans)
    assert 0 < report.kernels < calls  # plans (and layers) sharing a layout share its kernel
    # the same plans again: every kernel is in the library, none is compiled, the numbers still check out
    compiled_before = library().compiled
    again = run_plans(fire["model"], fire["graph"], plans[:2], repeat=1, single_thread=False)
    assert again.kernels_compiled == 0 and library().compiled == compiled_before
    assert all(p.max_rel_err <= REL_ERR_LIMIT for p in again.plans)
    assert [(x.name, x.ic_bn, x.oc_bn) for x in again.plans[1].layers] == \
        [(x.name, x.ic_bn, x.oc_bn) for x in report.plans[1].layers]


@pytest.mark.skipif(available_cores() < 2, reason="a worker can only be pinned away from others with 2+ cores")
def test_tvm_workers_are_not_pinned_to_one_core():
    # pinned (TVM's default), a worker whose core another process keeps busy stalls every parallel kernel
    probe = ("import os; from tvmviz.build.run import allow_all_cores, set_threads; allow_all_cores(); "
             "set_threads(2); print(sorted({len(os.sched_getaffinity(int(t))) for t in os.listdir('/proc/self/task')}))")
    env = {k: v for k, v in os.environ.items() if k != "TVM_BIND_THREADS"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [available_cores()]


def test_plans_with_the_same_layouts_are_built_and_timed_once(fire):
    plans = make_plans(fire["graph"], fire["tuning"], [], ["dp", "pbqp", "uniform:4"], estimate_transforms=True)
    assert plans[0].choices() == plans[1].choices() != plans[2].choices()
    steps = []
    report = run_plans(fire["model"], fire["graph"], plans, repeat=2, single_thread=False,
                       progress=lambda done, total, label: steps.append(label))
    dp, pbqp, uniform = report.plans
    assert pbqp.plan == "pbqp" and pbqp.measured_runs_s == dp.measured_runs_s != uniform.measured_runs_s
    assert [l.measured_s for l in pbqp.layers] == [l.measured_s for l in dp.layers]
    assert any("same layouts as plan dp" in w for w in pbqp.warnings)
    assert not any("same layouts" in w for w in dp.warnings + uniform.warnings)
    assert not any(label.startswith("pbqp:") for label in steps)


def test_other_ops_get_a_parallel_cpu_schedule(fire):
    from tvm import relax
    from tvm.tirx import PrimFunc

    from tvmviz.build.schedule import schedule_ops
    from tvmviz.measure.timing import resolve_target

    plan = make_plans(fire["graph"], fire["tuning"], [], ["dp"], estimate_transforms=True)[0]
    built = build_module(fire["model"], fire["graph"], plan.choices(),
                         model_weights(fire["model"], data_input_names(fire["graph"])))
    target = resolve_target(None)
    with target:
        lowered = schedule_ops(relax.get_default_pipeline(target)(built.mod), target)
    ops = {gv.name_hint: f for gv, f in lowered.functions.items() if isinstance(f, PrimFunc)}
    assert ops and all(f.attrs.get("tirx.is_scheduled") for f in ops.values()), sorted(ops)
    parallel = [name for name, f in ops.items() if "T.parallel" in f.script()]
    assert {name for name in ops if "relu" in name or "pool" in name} <= set(parallel), sorted(ops)
