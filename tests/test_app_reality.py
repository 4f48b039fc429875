"""Reality check through AppTest: a run holding a small fire / residual model (tests/fire_model.py) and its
records; Build and run pressed for two plans (real TVM build in its own process, onnx.reference check, timing
at repeat 1) while the page follows its progress; the tables shown, the results stored as profiles of the run,
and Profile vs tuned showing them.

Expected values come from the stored run-plan documents (read through the store, not the page) and from
the selection the page's run gives, computed here."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.fire_model import fire_model, fire_records
from tvmviz.cli import main
from tvmviz.runs import list_runs
from tvmviz.store import Store

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 600  # two plans built on a shared 2-core machine
PLANS = ["dp", "uniform:8"]
ADMIN = "admin@example.com"


@pytest.fixture(scope="module")
def fire_run(tmp_path_factory):
    """A database holding one run (fire.onnx + tuning.log, a folder upload), TVMVIZ_DB pointing at it."""
    tmp = tmp_path_factory.mktemp("reality")
    folder = tmp / "fire_run"
    folder.mkdir()
    model = fire_model()
    (folder / "fire.onnx").write_bytes(model.SerializeToString())
    (folder / "tuning.log").write_text("\n".join(fire_records(model)) + "\n")
    db = tmp / "app.duckdb"
    assert main(["ingest", str(folder), "--db", str(db), "--label", "fire here"]) == 0
    store = Store.open(str(db))
    [run] = [r for r in list_runs(store, status=False) if r.label == "fire here"]
    store.close()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TVMVIZ_DB", str(db))  # read on every script run: the app opens this database
        yield run.run_id
    shutil.rmtree(folder)


def _open(run_id: int, page: str, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if user is not None:  # a team server's signed-in person (st.user), its admins in the secrets
        at.user = {"is_logged_in": True, **user}
        at.secrets["tvmviz"] = {"admins": [ADMIN]}
    at.query_params["run"] = str(run_id)
    at.session_state["opt_estimate"] = True  # the run has no transform benchmarks: estimate them
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_build_and_run_shows_the_plans_and_stores_profiles_profile_vs_tuned_reads(fire_run):
    at = _open(fire_run, "pages/reality.py")
    assert any("No plan measured yet" in i.value for i in at.info)
    at.multiselect[0].set_value(PLANS)
    at.number_input[1].set_value(1)  # runs per timing
    at.button[0].click()
    at.run()
    assert [s.label for s in at.status] == [f"Building and measuring {len(PLANS)} plans…"]  # in its own process
    deadline = time.monotonic() + TIMEOUT
    while not any("Built and measured" in s.label for s in at.status) and time.monotonic() < deadline:
        assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
        time.sleep(1)
        at.run()  # what the page's status fragment does every second in a browser
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    [status] = [s for s in at.status if "Built and measured" in s.label]
    assert f"run {fire_run}" in status.label

    store = at.session_state["store"]  # the page's own connection: what it stored, read back
    uploads = [u for u in store.uploads() if u.kind == "tvmviz_run_plan"]
    assert len(uploads) == len(PLANS) and {u.run_id for u in uploads} == {fire_run}
    docs = {store.upload_meta(u.upload_id)["run_plan"]["plans"][0]["plan"]: store.upload_meta(u.upload_id)["run_plan"]
            for u in uploads}
    assert set(docs) == set(PLANS)

    plans = at.dataframe[0].value
    assert list(plans["plan"]) == PLANS
    for row in plans.itertuples():
        doc = docs[row.plan]["plans"][0]
        assert row.measured_ms == pytest.approx(doc["measured_s"] * 1e3)
        assert row.predicted_ms == pytest.approx(doc["predicted_s"] * 1e3)
    # ranked both ways: each rank is the order of its own column
    assert list(plans.sort_values("predicted_ms")["rank predicted"]) == sorted(plans["rank predicted"])
    assert list(plans.sort_values("measured_ms")["rank measured"]) == sorted(plans["rank measured"])
    assert any("Ranked by measurement" in t.value for t in at.text)

    layers = at.dataframe[1].value  # the last plan measured: uniform:8
    doc = docs[PLANS[-1]]["plans"][0]
    assert list(layers["layer"]) == [x["name"] for x in doc["layers"]]
    assert list(layers["flagged"]) == [x["measured_s"] > 1.5 * x["predicted_s"] for x in doc["layers"]]
    assert all(bool(c) == f for c, f in zip(layers["likely cause"], layers["flagged"]))
    transforms = at.dataframe[2].value
    assert set(transforms["status"]) <= {"predicted and inserted", "inserted, not predicted", "predicted, not inserted"}
    assert len(transforms) == len(doc["transforms"])
    threads = at.dataframe[3].value
    assert list(threads["plan"]) == PLANS and (threads["measured_1t_ms"] > 0).all()
    assert len(at.get("vega_lite_chart")) == 2  # plans side by side, per-layer ratios

    profile = _open(fire_run, "pages/profile.py")
    picker = profile.selectbox[0]
    dp_upload = next(u.upload_id for u in uploads if docs_plan(store, u.upload_id) == "dp")
    picker.set_value(dp_upload)
    profile.run()
    assert not profile.exception, [e.value for e in profile.exception]
    table = profile.dataframe[0].value.set_index("layer")
    for layer in docs["dp"]["plans"][0]["layers"]:
        assert table.loc[layer["name"], "profiled_ms"] == pytest.approx(layer["measured_s"] * 1e3)


def docs_plan(store, upload_id: int) -> str:
    return store.upload_meta(upload_id)["run_plan"]["plans"][0]["plan"]


def test_a_build_that_cannot_start_reports_why(fire_run):
    """No record at NCHW32c: the job's process ends with the selector's error, not a traceback."""
    from tvmviz.build.job import JobRequest, PlanJob
    from tvmviz.store import default_db_path

    job = PlanJob(JobRequest(default_db_path(), fire_run, ["uniform:32"], 1, 1, True))
    assert job.wait(TIMEOUT)
    assert job.report is None and "no tuning record at NCHW32c" in job.error


def test_build_button_is_locked_for_non_admins_on_a_team_server(fire_run, monkeypatch):
    monkeypatch.setenv("TVMVIZ_TEAM_SERVER", "1")
    for email, admin in (("ana@example.com", False), (ADMIN, True)):
        at = _open(fire_run, "pages/reality.py", {"email": email})
        [build] = [b for b in at.button if b.label == "Build and run"]
        assert build.disabled is not admin, email
        locked = [i.value for i in at.info if "only admins may" in i.value]
        assert bool(locked) is not admin, email
        assert any(f"Signed in as {email}" in t.value for t in at.sidebar.text)
