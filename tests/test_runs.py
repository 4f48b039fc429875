"""Runs (tvmviz/runs): how uploads form runs, what a run gives the selector, and the runs / select CLI.

Real DuckDB files, the real sample logs: expected machines, workloads and counts are read from the log
files here, not from tvmviz.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest
from tests.paths import R18, RESNET50_LOG, ROOT

from tvmviz.runs import get_run, list_runs, move_upload, new_run, rename_run, resolve_run, run_inputs
from tvmviz.select import SelectOptions, select
from tvmviz.store import Store

MEASURED = ROOT / "sample_logs" / "measured"
RUN_KEYS = {"run_id", "label", "uploader", "target", "cpu", "tvm_version", "model", "uploads", "complete", "missing"}


def _lines(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def _cpu(path: Path) -> str:
    target = _lines(path)[0]["input"][0]
    return next(w.split("=", 1)[1] for w in target.split() if w.startswith("-mcpu="))


@pytest.fixture
def store(tmp_path):
    s = Store.open(str(tmp_path / "runs.duckdb"))
    yield s
    s.close()


def _run_of(store, upload_id: int) -> int:
    return next(u.run_id for u in store.uploads() if u.upload_id == upload_id)


def _one(store, path, **kw) -> int:
    reports = store.ingest_paths([path], **kw)
    assert len(reports) == 1 and reports[0].error is None, reports
    return reports[0].upload_id


# ---- forming rules --------------------------------------------------------------------------------------


def test_a_folder_is_one_run_named_after_it(store):
    reports = store.ingest_paths([R18])
    files = sorted(p for p in R18.iterdir() if p.is_file())
    assert len(reports) == len(files) and all(r.upload_id for r in reports)
    (run,) = list_runs(store)
    assert run.label == R18.name and sorted(run.uploads) == sorted(r.upload_id for r in reports)
    assert run.cpu == _cpu(R18 / "tuning.log") and run.model.endswith("resnet18.onnx")
    assert run.complete and run.missing == []


def test_a_zip_is_one_run_even_beside_a_single_file(store, tmp_path):
    archive = tmp_path / "measured.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("tuning.log", "layout_transform.log"):
            z.write(MEASURED / name, name)
    reports = store.ingest_paths([archive, RESNET50_LOG], label="mixed call")
    runs = list_runs(store)
    zip_run = _run_of(store, reports[0].upload_id)
    assert _run_of(store, reports[1].upload_id) == zip_run  # both zip members together
    # the single file carries the same label: it joins the run of that label (the zip's)
    assert _run_of(store, reports[2].upload_id) == zip_run and len(runs) == 1


def test_unlabelled_files_join_the_run_whose_model_they_match_on_the_same_machine(store):
    model = _one(store, R18 / "resnet18.onnx")
    home = _run_of(store, model)
    assert _run_of(store, _one(store, R18 / "tuning.log")) == home  # its workloads are the model's
    assert _run_of(store, _one(store, R18 / "layout_transform.log")) == home  # its tensors are the model's, same CPU
    # the same model's workloads measured on another CPU: a run of its own
    assert _cpu(MEASURED / "tuning.log") != _cpu(R18 / "tuning.log")
    other = _run_of(store, _one(store, MEASURED / "tuning.log"))
    assert other != home
    # a log of another model: a run of its own, which says what it lacks
    foreign = _run_of(store, _one(store, RESNET50_LOG))
    assert foreign not in (home, other)
    run = get_run(store, foreign)
    assert not run.complete and any("no model graph" in m for m in run.missing)
    assert get_run(store, home).complete


def test_a_model_joins_the_run_of_its_records_and_a_label_names_a_run(store):
    log = _one(store, R18 / "tuning.log")
    first = _run_of(store, log)
    assert _run_of(store, _one(store, R18 / "resnet18.onnx")) == first  # the run without a model, same workloads
    labelled = _run_of(store, _one(store, R18 / "debug_profile.txt", label="ana's profile"))
    assert labelled != first and get_run(store, labelled).label == "ana's profile"
    assert _run_of(store, _one(store, R18 / "onednn_verbose.txt", label="ana's profile")) == labelled
    assert resolve_run(store, "ana's profile") == labelled


def test_a_teammates_batch_shares_the_stored_model_and_move_rename_start(store, tmp_path):
    store.ingest_paths([R18], label="team A")
    half = tmp_path / "bob" / "half_tuning.log"
    half.parent.mkdir()
    lines = (R18 / "tuning.log").read_text().splitlines()
    half.write_text("\n".join(lines[::2]) + "\n")
    (half.parent / "resnet18.onnx").write_bytes((R18 / "resnet18.onnx").read_bytes())  # same bytes: stored once
    reports = store.ingest_paths([half.parent], uploader="bob")
    assert [r.duplicate for r in reports] == [True, False] or [r.duplicate for r in reports] == [False, True]
    bob = _run_of(store, next(r.upload_id for r in reports if not r.duplicate))
    run = get_run(store, bob)
    shared = next(r.upload_id for r in reports if r.duplicate)
    assert shared in run.uploads and run.model_upload == shared and run.uploader == "bob"
    assert _run_of(store, shared) != bob  # still held by team A's run
    graph, tuning, _, info = run_inputs(store, bob)
    assert len(tuning) == len(lines[::2]) == info.records_used
    # move, rename, start
    fresh = new_run(store, "bob's second try", "bob")
    move_upload(store, reports[-1].upload_id if not reports[-1].duplicate else reports[0].upload_id, fresh)
    assert get_run(store, fresh).uploads and not [u for u in get_run(store, bob).uploads if u != shared]
    rename_run(store, fresh, "bob, 2nd")
    assert get_run(store, fresh).label == "bob, 2nd"


def test_an_old_database_gets_its_runs_by_label(tmp_path):
    path = str(tmp_path / "old.duckdb")
    s = Store.open(path)
    s.ingest_paths([R18], label="r18")
    s.ingest_paths([MEASURED / "tuning.log"], label="zen5")
    n = len(s.uploads())
    s.close()
    con = duckdb.connect(path)  # as before runs existed
    con.execute("DROP TABLE run")
    con.execute("DROP TABLE run_share")
    con.execute("DROP SEQUENCE run_id_seq")
    con.execute("ALTER TABLE upload DROP COLUMN run_id")
    con.close()
    s = Store.open(path)
    runs = list_runs(s)
    assert sorted((r.label, len(r.uploads)) for r in runs) == [("r18", n - 1), ("zen5", 1)]
    s.close()


# ---- records are matched, never mixed ---------------------------------------------------------------------


def test_two_cpus_never_meet_unless_added_as_a_cost_source(store):
    store.ingest_paths([R18], label="zen3")
    store.ingest_paths([MEASURED], label="zen5")
    store.ingest_paths([R18 / "resnet18.onnx"], run=resolve_run(store, "zen5"))  # the model it was measured for
    zen3, zen5 = resolve_run(store, "zen3"), resolve_run(store, "zen5")
    cpu3, cpu5 = _cpu(R18 / "tuning.log"), _cpu(MEASURED / "tuning.log")
    baseline = select(*run_inputs(store, zen3)[:3], SelectOptions())
    # a zen5 log moved into the zen3 run by mistake: left out of its selection, counted and flagged
    zen5_log = next(u.upload_id for u in store.uploads() if u.file_name == "measured/tuning.log")
    move_upload(store, zen5_log, zen3)
    graph, tuning, transforms, info = run_inputs(store, zen3)
    assert {t.split("-mcpu=")[1] for t in {r.target for r in tuning}} == {cpu3}
    assert (len(_lines(MEASURED / "tuning.log")), f"for another machine (llvm {cpu5})") in info.ignored
    assert select(graph, tuning, transforms, SelectOptions()).to_json() == baseline.to_json()
    assert any("another machine" in m for m in get_run(store, zen3).missing)
    assert info.banner() is None
    move_upload(store, zen5_log, zen5)
    # added explicitly: both machines' records, and the banner names both
    graph, tuning, transforms, info = run_inputs(store, zen3, cost_sources=[zen5])
    assert {t.split("-mcpu=")[1] for t in {r.target for r in tuning}} == {cpu3, cpu5}
    assert cpu3 in info.banner() and cpu5 in info.banner()
    # zen5's candidates need transforms neither run benchmarked: priced per element
    mixed = select(graph, tuning, transforms, SelectOptions(estimate_transforms=True))
    assert len(mixed.nodes) == len(baseline.nodes)


def test_dense_and_other_records_are_counted_not_used(store, tmp_path):
    store.ingest_paths([R18 / "resnet18.onnx", R18 / "layout_transform.log"], label="r18")
    mixed = tmp_path / "with_dense.log"
    dense = [ln for ln in RESNET50_LOG.read_text().splitlines() if '"dense' in ln]
    target = _lines(R18 / "tuning.log")[0]["input"][0]
    dense = [json.dumps({**json.loads(ln), "input": [target, *json.loads(ln)["input"][1:]]}) for ln in dense]
    mixed.write_text((R18 / "tuning.log").read_text() + "\n".join(dense) + "\n")
    store.ingest_paths([mixed], label="r18")
    _, tuning, _, info = run_inputs(store, resolve_run(store, "r18"))
    convs = len(_lines(R18 / "tuning.log"))
    assert info.records_total == convs + len(dense) and info.records_used == len(tuning) == convs
    assert info.summary().startswith(f"{convs + len(dense)} records, {convs} for this model's")
    assert f"{len(dense)} for dense tasks" in info.summary()


# ---- CLI ----------------------------------------------------------------------------------------------------


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tvmviz", *map(str, args)], cwd=ROOT, capture_output=True, text=True)


def test_select_from_a_stored_run_equals_the_file_form_and_runs_json(tmp_path):
    db = tmp_path / "cli.duckdb"
    assert _cli("ingest", R18, "--db", db, "--label", "sample").returncode == 0
    p = _cli("ingest", RESNET50_LOG, "--db", db, "--run", "sample")  # --run: joins it whatever it holds
    assert p.returncode == 0, p.stderr
    runs = json.loads(_cli("runs", "--db", db, "--json").stdout)
    assert len(runs) == 1 and set(runs[0]) == RUN_KEYS
    assert runs[0]["cpu"] == _cpu(R18 / "tuning.log") and runs[0]["complete"] is False
    assert any("another machine" in m for m in runs[0]["missing"])
    stored = _cli("select", "--db", db, "--run", "sample", "--format", "json", "--solver", "pbqp")
    files = _cli("select", "--graph", R18 / "resnet18.onnx", "--tuning-log", R18 / "tuning.log",
                 "--transform-log", R18 / "layout_transform.log", "--format", "json", "--solver", "pbqp")
    assert stored.returncode == files.returncode == 0, stored.stderr + files.stderr
    assert json.loads(stored.stdout) == json.loads(files.stdout)
    assert "for another machine" in stored.stderr  # the foreign log is counted, not used
    bad = _cli("select", "--db", db, "--run", "nope")
    assert bad.returncode == 2 and "no run is labelled 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_best_records_are_what_the_graph_tuner_keeps_of_every_record(store, tmp_path):
    """Store.best_tuning_records (what a run's status selects with) equals rank_records over every record,
    per workload, in order: on the sample and ResNet-50 logs, and on a log shuffled with equal-cost twins
    and failures so that ties and first-seen order decide."""
    import random

    from tvmviz.select.costmodel import rank_records

    lines = (R18 / "tuning.log").read_text().splitlines()
    rng = random.Random(7)
    twins = []
    for line in rng.sample(lines, 200):
        rec = json.loads(line)
        rec["config"]["index"] += 100_000  # another config with exactly the same cost: the first logged wins
        twins.append(json.dumps(rec))
        rec["result"][0], rec["result"][1] = [1e9], 6  # and a build timeout of it
        twins.append(json.dumps(rec))
    mixed = lines + twins
    rng.shuffle(mixed)
    (tmp_path / "mixed.log").write_text("\n".join(mixed) + "\n")
    reports = store.ingest_paths([R18 / "tuning.log", RESNET50_LOG, tmp_path / "mixed.log"])
    assert all(r.error is None for r in reports)
    for report in reports:
        ids = [report.upload_id]
        every = store.tuning_records(ids)
        best = store.best_tuning_records(ids)
        assert len(best) < len(every)
        for workload in {r.workload for r in every}:
            want = rank_records([r for r in every if r.workload == workload])
            got = rank_records([r for r in best if r.workload == workload])
            assert [(r.ic_bn, r.oc_bn, r.config_index, r.costs, r.error_no) for r in got] == \
                   [(r.ic_bn, r.oc_bn, r.config_index, r.costs, r.error_no) for r in want], workload
    # a run of the sample folder with the shuffled twins added: selecting from best records is selecting
    # from every record, and its status lacks the same transform keys
    from tvmviz.measure.keys import needed_transform_keys

    sample = Store.open(str(tmp_path / "sample.duckdb"))
    try:
        sample.ingest_paths([R18])
        run_id = sample.uploads()[0].run_id
        sample.ingest_paths([tmp_path / "mixed.log"], run=run_id)
        graph, tuning, transforms, _ = run_inputs(sample, run_id)
        _, best_tuning, _, _ = run_inputs(sample, run_id, best_records_only=True)
        assert len(best_tuning) < len(tuning)
        assert needed_transform_keys(graph, best_tuning, transforms[:100]) == needed_transform_keys(graph, tuning, transforms[:100])
        opts = SelectOptions(allow_missing_transforms=True)
        assert [(n.ic_bn, n.oc_bn) for n in select(graph, best_tuning, transforms, opts).nodes] == \
               [(n.ic_bn, n.oc_bn) for n in select(graph, tuning, transforms, opts).nodes]
    finally:
        sample.close()
