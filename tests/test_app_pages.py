"""Every dashboard page through streamlit.testing.v1.AppTest on the sample logs (ResNet-18, TVM 0.19).

Expected values come from the real files: TVM's own graph-tuner output (opt_dp.log), the ONNX model,
the tuning log, the debug executor's printed table and the oneDNN verbose log, read here directly.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from collections import defaultdict
from pathlib import Path

import onnx
import pyarrow as pa
import pytest
from tests.paths import ORACLE_EXAMPLE
from tvmviz.select.explain import label

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_logs" / "resnet18"
ORACLE_LOG = ORACLE_EXAMPLE / "tuning.log"
os.environ["TVMVIZ_DB"] = os.path.join(tempfile.mkdtemp(prefix="tvmviz-apptest-"), "app.duckdb")

from tvmviz.server.accounts import local_identity  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402  (after TVMVIZ_DB: the app reads it on first start)

TIMEOUT = 120


# ---- independent readings of the sample files ---------------------------------------------------


def _last_factor(entity, knob):
    return next(e[2][-1] for e in entity if e[0] == knob)


def _tvm_choices() -> list[tuple[list, int, int]]:
    """(workload args, ic_bn, oc_bn) per conv, in node order, from TVM 0.19's DPTuner output."""
    out = []
    for line in (SAMPLE / "opt_dp.log").read_text().splitlines():
        rec = json.loads(line)
        ent = rec["config"]["entity"]
        out.append((rec["input"][2], _last_factor(ent, "tile_ic"), _last_factor(ent, "tile_oc")))
    return out


def _onnx_conv_names() -> list[str]:
    model = onnx.load(str(SAMPLE / "resnet18.onnx"), load_external_data=False)
    return [n.name for n in model.graph.node if n.op_type == "Conv"]


def _tuning_pairs() -> dict[str, set]:
    """workload args (JSON) -> set of (ic_bn, oc_bn) tried, from tuning.log."""
    pairs = defaultdict(set)
    for line in (SAMPLE / "tuning.log").read_text().splitlines():
        rec = json.loads(line)
        ent = rec["config"]["entity"]
        pairs[json.dumps(rec["input"][2])].add((_last_factor(ent, "tile_ic"), _last_factor(ent, "tile_oc")))
    return pairs


def _chart_frames(chart) -> list:
    """The data tables of a chart: shipped as Arrow IPC (Altair charts) or inline in its Vega-Lite spec."""
    import pandas as pd

    inline = json.loads(chart.proto.spec).get("datasets", {})
    return [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets] + [
        pd.DataFrame(rows) for rows in inline.values() if rows]


def _frame_with(chart, column: str):
    return next(f for f in _chart_frames(chart) if column in f.columns)


@pytest.fixture
def app():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _table(at, column: str):
    """The page's table that has this column (the Data page shows runs, then uploads)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _page(at, name: str, errors_allowed: bool = False):
    at.switch_page(f"pages/{name}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert errors_allowed or not at.error, [e.value for e in at.error]
    return at


# ---- pages ---------------------------------------------------------------------------------------


def test_data_page_lists_the_sample_uploads_and_states_the_size_limit(app):
    limit = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    assert any(f"{limit} MB" in c.value for c in app.caption)
    uploads = _table(app, "file")
    files = {Path(f).name for f in uploads["file"]}
    assert {"tuning.log", "layout_transform.log", "opt_dp.log", "resnet18.onnx", "debug_profile.txt"} <= files
    kinds = dict(zip([Path(f).name for f in uploads["file"]], uploads["kind"]))
    assert kinds["tuning.log"] == "autotvm" and kinds["resnet18.onnx"] == "onnx_model"
    # each sample folder is a run; the session opens the ResNet-18 one, complete, on its CPU
    runs = _table(app, "lacks").set_index("label")
    cpu = json.loads((SAMPLE / "tuning.log").read_text().splitlines()[0])["input"][0].split("-mcpu=")[1]
    sample = runs.loc["sample: resnet18 (TVM 0.19, znver3)"]
    assert sample["this session"] and sample["complete"] and sample["CPU"] == cpu
    assert set(uploads.loc[uploads["file"].str.startswith("resnet18/"), "run"]) == {sample["run"]}
    assert app.query_params["run"] in (str(sample["run"]), [str(sample["run"])])


def test_data_page_ingests_an_uploaded_log(app):
    data = ORACLE_LOG.read_bytes()
    app.get("file_uploader")[0].set_value(("oracle_tuning.log", data, "text/plain"))
    app.text_input(key="up_label").input("oracle example")
    app.button[0].click().run()  # the form's submit button
    assert not app.exception
    lines = len([ln for ln in data.decode().splitlines() if ln.strip()])
    assert any(f"autotvm, {lines} rows stored" in s.value for s in app.success), [s.value for s in app.success]
    table = _table(app, "file")
    row = table[table["file"] == "oracle_tuning.log"].iloc[0]
    # the uploader is who asks (locally the account running the app), never typed text
    assert (row["uploader"], row["label"], row["rows"]) == (local_identity().name, "oracle example", lines)
    assert app.text_input(key="up_uploader").disabled
    # a single labelled file starts the run of its label; the session follows it and says what it lacks
    run = _table(app, "lacks").set_index("run").loc[row["run"]]
    assert run["label"] == "oracle example" and run["this session"] and not run["complete"]
    assert run["model"] == "–"  # what a run lacks reads as a dash, never as "None"
    assert any("no model graph" in w.value for w in app.warning), [w.value for w in app.warning]


def test_data_page_says_so_when_ingest_has_no_file(app):
    before = len(_table(app, "file"))
    app.button[0].click().run()  # the form's submit button, with no file (or one still uploading)
    assert any("Nothing to ingest" in w.value for w in app.warning), [w.value for w in app.warning]
    assert len(_table(app, "file")) == before


def test_graph_page_draws_every_conv_with_tvms_chosen_x(app):
    _page(app, "graph")
    chart = app.get("vega_lite_chart")[0]
    spec = json.loads(chart.proto.spec)
    assert spec["params"][0]["name"] == "node_pick"  # clicking a node is wired
    nodes = _frame_with(chart, "x_block")
    convs = nodes[nodes["is_conv"]].set_index("name")
    names = _onnx_conv_names()
    assert set(convs.index) == set(names)
    # node order in the graph is TVM's, and opt_dp.log lists convs in that order
    order = [n for n in nodes["name"] if n in set(names)]
    tvm = _tvm_choices()
    assert len(order) == len(tvm) == 20
    graph_order = [n.name for n in _app_graph().convs()]
    for name, (_, ic, oc) in zip(graph_order, tvm):
        assert convs.loc[name, "x_block"] == oc, name
        assert convs.loc[name, "label"] == f"{name} · {label(ic, oc)}"
    edges = _frame_with(chart, "transform_ms")
    assert (edges["transform_ms"] > 0).any()  # this selection pays for some transforms


def _app_graph():
    from tvmviz.graph.load import load_graph

    return load_graph(SAMPLE / "resnet18.onnx")


def test_graph_click_opens_the_explanation(app):
    name = "layer2.0.conv1_14"
    app.session_state["picked_node"] = name
    _page(app, "graph")
    order = [n.name for n in _app_graph().convs()]
    _, ic, oc = _tvm_choices()[order.index(name)]
    assert any(h.value == f"{name}: {label(ic, oc)} (reads NCHW{ic}c, writes NCHW{oc}c)" for h in app.subheader), \
        [h.value for h in app.subheader]
    # the seed's inequality for the picked layer: the formula, and why in words
    assert any(f"Latency(NCHW{ic}c" in c.value for c in app.code), [c.value for c in app.code]
    assert any("With its neighbours as chosen" in t.value for t in app.text)
    picked = _frame_with(app.get("vega_lite_chart")[0], "picked")
    assert list(picked.loc[picked["picked"], "name"]) == [name]


def test_layer_page_lists_every_candidate_and_marks_tvms_choice(app):
    name = "conv1_1"
    app.session_state["picked_node"] = name
    _page(app, "layer")
    assert app.selectbox[0].value == name
    table = next(d.value for d in app.dataframe if "chosen" in d.value.columns)
    workload, ic, oc = _tvm_choices()[0]
    tried = _tuning_pairs()[json.dumps(workload)]
    assert set(table["candidate"]) == {label(*p) for p in tried}  # 12 pairs < max_sch_num: all kept
    chosen = table[table["chosen"]]
    assert list(chosen["candidate"]) == [label(ic, oc)]
    regrets = list(table["regret_ms"])
    assert regrets == sorted(regrets) and regrets[0] == pytest.approx(0, abs=1e-9)  # by regret, the chosen first
    assert list(table.columns[:5]) == ["candidate", "chosen", "regret_ms", "local_delta_ms", "other_layers_rechosen"]
    bars = _frame_with(app.get("vega_lite_chart")[0], "kernel_ms")
    assert set(zip(bars["ic_bn"], bars["oc_bn"])) == tried
    # the inequality panel comes first: the formula with the chosen kernel, and its verdict
    assert app.code[0].value.count("Latency(") == 2 and label(ic, oc) in app.text[0].value


def test_whatif_pin_changes_the_layer_and_the_url(app):
    _page(app, "whatif")
    assert "Same layouts" in app.success[0].value
    name = "layer1.0.conv1_4"
    _, ic, oc = _tvm_choices()[1]
    app.selectbox(key="wi_layer").set_value(name).run()
    pin_box = app.selectbox(key=f"wi_pin_{name}")
    other = next(o for o in pin_box.options if o not in ("free (solver decides)", label(ic, oc)))
    pin_box.set_value(other).run()
    assert not app.exception
    diff = app.dataframe[0].value
    assert name in set(diff["layer"]) and diff.set_index("layer").loc[name, "after"] == other
    # its old candidate is not one of the pinned layer's candidates any more, so the scenario prices it not at all
    assert diff.set_index("layer").loc[name, "kernel before, as this scenario prices it (ms)"] == "not a candidate"
    assert "s" in app.query_params
    before, after = (float(m.value.split()[0]) for m in app.metric[:2])
    assert after >= before  # the baseline is optimal: no pin can beat it
    rings = _frame_with(app.get("vega_lite_chart")[0], "changed")
    assert name in set(rings.loc[rings["changed"], "name"])


def test_whatif_scenario_from_the_url(app):
    from tvmviz.select import Scenario

    name = "layer1.0.conv1_4"
    _, ic, oc = _tvm_choices()[1]
    pin = 16 if oc != 16 else 8  # a block the tuning log has candidates and transforms for
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["s"] = Scenario(pins={name: pin}).to_string()
    at.switch_page("pages/whatif.py")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    diff = at.dataframe[0].value.set_index("layer")
    assert diff.loc[name, "after"].endswith(f"{pin}c")


def test_search_space_heatmap_cells_and_onednn_baseline(app):
    _page(app, "search_space")
    workload = _tvm_choices()[0][0]
    cells = _frame_with(app.get("vega_lite_chart")[0], "status")
    tried = set(zip(cells.loc[cells["status"] != "never tried", "ic_bn"], cells.loc[cells["status"] != "never tried", "oc_bn"]))
    assert tried == _tuning_pairs()[json.dumps(workload)]
    assert (cells["status"] == "never tried").any()  # e.g. ic_bn 3 is not a divisor pair tried for every oc
    # the oneDNN verbose log ran this conv (ic3 oc64, 7x7 /2) with src abcd, dst aBcd8b
    line = next(ln for ln in (SAMPLE / "onednn_verbose.txt").read_text().splitlines() if "mb1_ic3oc64_" in ln)
    dst_tag = re.search(r"dst:f32:a:blocked:(\w+)", line).group(1)
    onednn = next(d.value for d in app.dataframe if "implementation" in d.value.columns)
    assert onednn["dst"].iloc[0] == dst_tag


def test_profile_page_matches_the_debug_table(app):
    _page(app, "profile")
    layers = app.dataframe[0].value
    assert len(layers) == 20 and layers["same layout"].all()  # built with the same graph tuner choice
    table = {}
    for line in (SAMPLE / "debug_profile.txt").read_text().splitlines():
        parts = line.split()
        if parts and "conv2d" in parts[0]:
            table[parts[0]] = float(parts[2]) / 1e3
    assert sorted(layers["built node"]) == sorted(table)
    for row in layers.itertuples():
        assert row.profiled_ms == pytest.approx(table[row[2]], rel=1e-9)
    assert "Layout transforms: inserted vs predicted" in [h.value for h in app.subheader]


def test_compare_page_two_teammates(app):
    lines = (SAMPLE / "tuning.log").read_text().splitlines()
    half_lines = lines[::2]  # every other trial: every workload, fewer trials
    half = "\n".join(half_lines) + "\n"
    # bob's run: his log with the same model and transform benchmarks (stored once, shared by his run)
    app.get("file_uploader")[0].set_value([
        ("half_tuning.log", half.encode(), "text/plain"),
        ("resnet18.onnx", (SAMPLE / "resnet18.onnx").read_bytes(), "application/octet-stream"),
        ("layout_transform.log", (SAMPLE / "layout_transform.log").read_bytes(), "text/plain")])
    app.text_input(key="up_label").input("bob's half log")
    app.button[0].click().run()
    runs = _table(app, "lacks").set_index("label", drop=False)
    bob = runs.loc["bob's half log"]
    assert bob["this session"] and bob["uploads"] == 3 and bob["model"].endswith("resnet18.onnx"), bob
    assert bob["complete"] or "transform keys missing" in bob["lacks"]  # fewer trials: other candidates
    _page(app, "compare")
    sample = int(_table_runs_id(app, "sample: resnet18 (TVM 0.19, znver3)"))
    app.selectbox(key="cmp_a").set_value(sample)
    app.selectbox(key="cmp_b").set_value(int(bob["run"]))
    app.run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert not any("differ" in w.value for w in app.warning)  # same CPU, target, TVM version
    best = app.dataframe[0].value
    expect_b = {}
    for line in half_lines:
        rec = json.loads(line)
        if rec["result"][1] == 0:
            key = json.dumps(rec["input"][2])
            expect_b[key] = min(expect_b.get(key, 1e9), rec["result"][0][0] * 1e3)
    assert (best["b_ms"].dropna() >= best["a_ms"].dropna().loc[best["b_ms"].dropna().index] - 1e-12).all()
    assert sorted(best["b_ms"].dropna().round(9)) == sorted(round(v, 9) for v in expect_b.values())
    assert len(app.dataframe[1].value) == 20  # chosen x per layer, A vs B
    # the measured sample run: same model, another CPU, another TVM: shown side by side with a warning
    measured = int(_table_runs_id(app, "sample: measured (tvmviz, znver5)"))
    app.selectbox(key="cmp_b").set_value(measured).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    side = app.table[0].value
    assert side.loc["CPU", "A"] != side.loc["CPU", "B"] and side.loc["CPU", "B"] in side.loc["target", "B"]
    assert any("differ in CPU" in w.value and "TVM version" in w.value for w in app.warning)
    assert len(app.dataframe[1].value) == 20


def _table_runs_id(at, label: str) -> int:
    """A run's id from the Compare page's picker ("run 3: label")."""
    option = next(o for o in at.selectbox(key="cmp_a").options if o.split(": ", 1)[1] == label)
    return int(option.split(":")[0].split()[1])


def test_report_page_offers_the_downloads(app):
    _page(app, "report")
    labels = [b.label for b in app.get("download_button")]
    assert any("zip" in lab for lab in labels) and any("schedule.log" in lab for lab in labels)
    assert any("Layout selection report" in m.value for m in app.markdown)


HOSTILE_PARTS = ['<img src=x onerror=alert(1)>', '[click](javascript:alert(1))', '![t](http://tracker/x.png)',
                 ':red[alarm]', '**bold**']


def _markdown_shown(at) -> list[str]:
    """The source of every element Streamlit renders as Markdown."""
    kinds = ("markdown", "caption", "error", "warning", "info", "success", "subheader", "header", "title")
    return [e.value for kind in kinds for e in getattr(at, kind)]


def test_hostile_names_stay_text_on_every_page(app):
    """A teammate's label, file name and target full of markup: every page shows them escaped."""
    evil = " ".join(HOSTILE_PARTS)
    log = (SAMPLE / "tuning.log").read_text().replace("-mcpu=znver3", "-mcpu=znver3 -model=[evil](javascript:alert(1))")
    app.get("file_uploader")[0].set_value([
        (f"{HOSTILE_PARTS[1]}.log", log.encode(), "text/plain"),
        ("resnet18.onnx", (SAMPLE / "resnet18.onnx").read_bytes(), "application/octet-stream"),
        ("layout_transform.log", (SAMPLE / "layout_transform.log").read_bytes(), "text/plain")])
    app.text_input(key="up_label").input(evil)
    app.button[0].click().run()
    assert not app.exception
    uploads = _table(app, "file")
    ours = int(uploads.loc[uploads["file"] == f"{HOSTILE_PARTS[1]}.log", "id"].iloc[0])
    try:
        _every_page_escapes(app, evil)
    finally:  # AppTests share the process's database: no complete hostile run for the next test's session
        _page(app, "data", errors_allowed=True)
        app.selectbox(key="delete_upload").set_value(ours).run()
        app.checkbox(key="delete_sure").check().run()
        next(b for b in app.button if b.label == "Delete").click().run()
        assert ours not in set(_table(app, "file")["id"])


def _every_page_escapes(app, evil: str) -> None:
    from tvmviz.text import markdown_text

    seen = []
    for page in ("data", "graph", "layer", "whatif", "search_space", "profile", "report", "compare"):
        _page(app, page, errors_allowed=True)
        if page == "compare":  # the hostile run (this session's) against the sample run: a target warning
            sample = int(_table_runs_id(app, "sample: resnet18 (TVM 0.19, znver3)"))
            app.selectbox(key="cmp_b").set_value(sample).run()
            assert any("differ in" in w.value for w in app.warning)
        shown = _markdown_shown(app)
        for text in shown:
            outside_code = re.sub(r"(`+)(.+?)\1", "", text)  # a code span shows its text as typed (md_code)
            for part in HOSTILE_PARTS + ["[evil](javascript"]:
                assert part not in outside_code, (page, text)
        seen += shown
    assert any(markdown_text(evil) in t for t in seen)  # the label was shown, escaped
    assert any("-model=[evil](javascript:alert(1))`" in t for t in seen)  # the target, in the report's code span
