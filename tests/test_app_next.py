"""'What to measure next' on the Search space and Layer pages through AppTest: the selector's status and
break-even in the heatmap's tooltip data, the ranking panel, and 'measure the top N' measuring a real conv2d
candidate with TVM on this machine and adding it to the analysis."""

from __future__ import annotations

import json
import os
import socket
import tempfile

import pyarrow as pa

os.environ.setdefault("TVMVIZ_DB", os.path.join(tempfile.mkdtemp(prefix="tvmviz-next-"), "app.duckdb"))

from streamlit.testing.v1 import AppTest  # noqa: E402  (after TVMVIZ_DB: the app reads it on first start)

from tests.paths import ROOT  # noqa: E402
from tests.select_helpers import GraphMaker, tuning_record  # noqa: E402
from tvmviz.graph.json_format import to_json  # noqa: E402

TIMEOUT = 300


def _frames(chart) -> list:
    return [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets]


def _small_run():
    """A layout graph and logs where one untried cell (conv c at 8x16) would save a transform."""
    g = GraphMaker((1, 8, 8, 8))
    a = g.conv(0, 8, name="a")
    b = g.conv(g.relu(a), 8, name="b")
    c = g.conv(g.add_(b, a), 16, name="c")
    g.conv(g.relu(c), 16, k=1, name="d")
    graph = g.graph()
    w8, w16, w1 = (json.loads(graph.nodes[i].conv.workload_key()) for i in (a, c, c + 2))
    costs = [(w8, {(8, 8): 4e-4, (4, 8): 4.5e-4, (4, 4): 5e-4}), (w16, {(4, 16): 4e-4, (2, 4): 9e-4}),
             (w1, {(16, 16): 2e-4, (8, 16): 2.5e-4})]
    lines = [tuning_record(w, i, o, cost, 0).to_autotvm_json() for w, cells in costs for (i, o), cost in cells.items()]
    layout = [json.dumps({"input": ["llvm", "layout_transform", [["TENSOR", list(shape), "float32"], src, dst], {}],
                          "config": {"index": 0, "code_hash": None, "entity": []},
                          "result": [[cost], 0, 0.1, 1.0], "version": 0.2, "tvm_version": "0.19.0"})
              for shape, src, dst, cost in (((1, 1, 8, 8, 8), "NCHW8c", "NCHW4c", 3e-5),
                                            ((1, 2, 8, 8, 8), "NCHW8c", "NCHW16c", 5e-5))]
    return {"small.layout.json": json.dumps(to_json(graph)), "small_tuning.log": "\n".join(lines) + "\n",
            "small_layout_transform.log": "\n".join(layout) + "\n"}


def _uploads_table(at):
    return next(d.value for d in at.dataframe if "file" in d.value.columns and "kind" in d.value.columns)


def _upload(at, files: dict) -> tuple[int, set]:
    """Send the files together (one run) through the Data page: (the run, its upload ids)."""
    at.switch_page("pages/data.py").run()
    at.get("file_uploader")[0].set_value([(name, text.encode(), "text/plain") for name, text in files.items()])
    at.text_input(key="up_label").input("small run")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    run = int(at.session_state["run_id"])  # the session follows what it uploaded
    table = _uploads_table(at)
    return run, {int(r.id) for r in table.itertuples() if os.path.basename(r.file) in files and int(r.run) == run}


def _delete(at, ids) -> None:
    """Delete uploads through the Data page (AppTests share the process's database: leave it as found)."""
    for upload in ids:
        at.switch_page("pages/data.py").run()
        at.selectbox(key="delete_upload").set_value(upload).run()
        at.checkbox(key="delete_sure").check().run()
        next(b for b in at.button if b.label == "Delete").click().run()
    at.switch_page("pages/data.py").run()
    assert not ({int(r.id) for r in _uploads_table(at).itertuples()} & set(ids))


def test_search_space_shows_status_and_break_even_per_cell():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/search_space.py").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    cells = next(f for f in _frames(at.get("vega_lite_chart")[0]) if "selector" in f.columns)
    tried = cells[cells["status"] != "never tried"]
    assert set(tried["selector"]) <= {"kept", "pruned"} or any(s.startswith("failed") for s in tried["selector"])
    assert set(cells.loc[cells["status"] == "never tried", "selector"]) == {"untried"}
    assert cells["break_even"].notna().all()
    assert any(h.value == "What to measure next" for h in at.subheader)
    panel = next(d.value for d in at.dataframe if "break_even" in d.value.columns)
    assert len(panel) == len(cells)  # this workload's cells


def test_layer_page_ranks_the_layers_cells_and_measures_the_top_one():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    before = {int(r.id) for r in _uploads_table(at.switch_page("pages/data.py").run()).itertuples()}
    run, ids = _upload(at, _small_run())
    try:
        _rank_and_measure(at, run, ids)
    finally:
        at.switch_page("pages/data.py").run()
        _delete(at, {int(r.id) for r in _uploads_table(at).itertuples()} - before)  # ours and the measurement


def _rank_and_measure(at, run: int, ids: set) -> None:
    assert len(ids) == 3
    at.query_params["run"] = str(run)
    at.session_state["opt_estimate"] = True  # the unlogged cells' transforms: TVM's per-element estimate
    at.session_state["picked_node"] = "c"
    at.switch_page("pages/layer.py").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    panel = next(d.value for d in at.dataframe if "break_even" in d.value.columns)
    assert set(panel["convs"]) == {"c"} and len(panel) == 4 * 5  # factors of 8 x factors of 16
    top = panel.iloc[0]
    assert (top["cell"], top["selector"]) == ("8x16", "untried") and top["gain_ms"] > 0
    at.number_input(key="layer_next_n").set_value(1).run()
    # an RPC tracker that is down is named as such (nothing falls back to this machine)
    at.radio(key="layer_next_where").set_value("a device of an RPC tracker").run()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    at.text_input(key="layer_next_tracker").input(dead).run()
    assert any("cannot reach the RPC tracker" in e.value for e in at.error)
    at.radio(key="layer_next_where").set_value("this machine").run()
    button = at.button(key="layer_next_go")
    assert button.label == "Measure the top 1 on this machine"
    button.click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert any("Measured the top 1" in s.value for s in at.success)
    # the measurement joined the session: in its run (same machine) or as a cost source (this machine's)
    at.switch_page("pages/data.py").run()
    table = _uploads_table(at)
    mine = {int(r.run) for r in table.itertuples() if int(r.id) not in ids and str(r.label).startswith("measured")}
    assert mine and mine <= {run, *at.session_state["cost_sources"]}
    at.switch_page("pages/layer.py").run()
    panel = next(d.value for d in at.dataframe if "break_even" in d.value.columns)
    measured = panel.set_index("cell").loc["8x16"]
    assert measured["selector"] in ("kept", "pruned") and measured["kernel_ms"] > 0
