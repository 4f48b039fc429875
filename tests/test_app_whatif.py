"""What-if follow-ups through AppTest on the sample logs: profiled times and per-layer kernel scaling in the
URL scenario, and measuring missing layout transforms on this machine with TVM (real measurement).

Expected values come from TVM's own files (opt_dp.log, tuning.log, debug_profile.txt,
layout_transform.log) read here, and from the AutoTVM log tvmviz writes, parsed here.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_logs" / "resnet18"
os.environ["TVMVIZ_DB"] = os.path.join(tempfile.mkdtemp(prefix="tvmviz-whatif-"), "app.duckdb")

from streamlit.testing.v1 import AppTest  # noqa: E402  (after TVMVIZ_DB: the app reads it on first start)

from tvmviz.select import Scenario  # noqa: E402
from tvmviz.store import default_db_path  # noqa: E402

TIMEOUT = 180


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _tvm_choices() -> list[tuple[int, int, float]]:
    """(ic_bn, oc_bn, costs[0]) per conv in node order, from TVM 0.19's DPTuner output."""
    out = []
    for rec in _records(SAMPLE / "opt_dp.log"):
        knobs = {e[0]: e[2] for e in rec["config"]["entity"]}
        out.append((knobs["tile_ic"][-1], knobs["tile_oc"][-1], rec["result"][0][0]))
    return out


def _profiled_conv_seconds() -> list[float]:
    """Every built conv's Time(us) in the debug executor's printed table, in seconds."""
    table = {}
    for line in (SAMPLE / "debug_profile.txt").read_text().splitlines():
        parts = line.split()
        if parts and "conv2d" in parts[0]:
            table[parts[0]] = float(parts[2]) / 1e6
    return sorted(table.values())


def _conv_order() -> list[str]:
    from tvmviz.graph.load import load_graph

    return [n.name for n in load_graph(SAMPLE / "resnet18.onnx").convs()]


def _totals_ms(at) -> tuple[float, float]:
    before, after = (float(m.value.split()[0]) for m in at.metric[:2])
    return before, after


def _scenario(at) -> Scenario:
    return Scenario.from_string(at.query_params["s"][0] if isinstance(at.query_params["s"], list)
                                else at.query_params["s"])


@pytest.fixture
def whatif():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/whatif.py")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    return at


def test_use_profiled_times_prices_the_built_layouts_with_the_debug_profile(whatif):
    at = whatif
    before_ms, _ = _totals_ms(at)
    at.checkbox(key="wi_profiled").check().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    overrides = _scenario(at).kernel_override
    names = _conv_order()
    tvm = _tvm_choices()
    assert set(overrides) == set(names)
    for name, (ic, oc, _) in zip(names, tvm):  # built with opt_dp.log: the built layout is TVM's choice
        assert list(overrides[name]) == [(ic, oc)], name
    profiled = sorted(s for m in overrides.values() for s in m.values())
    assert profiled == pytest.approx(_profiled_conv_seconds(), rel=1e-9)
    # TVM's assignment, now priced with profiled kernels, bounds the new optimum from above
    _, after_ms = _totals_ms(at)
    transforms_ms = before_ms - sum(c for _, _, c in tvm) * 1e3
    assert after_ms <= transforms_ms + sum(profiled) * 1e3 + 0.01


def test_scaling_one_layers_kernels(whatif):
    at = whatif
    name = "layer1.0.conv1_4"
    names = _conv_order()
    _, _, chosen_s = _tvm_choices()[names.index(name)]
    workload = _records(SAMPLE / "opt_dp.log")[names.index(name)]["input"][2]  # node order
    fastest_s = min(r["result"][0][0] for r in _records(SAMPLE / "tuning.log")
                    if r["input"][2] == workload and r["result"][1] == 0)
    before_ms, _ = _totals_ms(at)
    at.selectbox(key="wi_layer").set_value(name).run()
    at.slider(key=f"wi_lscale_{name}").set_value(4.0).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _scenario(at).kernel_scale == {name: 4.0}
    _, after_ms = _totals_ms(at)
    # every candidate of the layer costs 4x: the optimum rises by at least 3x its fastest kernel and at
    # most 3x the kernel TVM chose (keeping the old assignment); metrics show 4 significant digits
    assert before_ms + 3 * fastest_s * 1e3 - 0.01 <= after_ms <= before_ms + 3 * chosen_s * 1e3 + 0.01
    # with a global factor too, the layer's factor multiplies it
    at.slider(key="wi_kscale").set_value(2.0).run()
    scales = _scenario(at).kernel_scale
    assert scales[name] == 8.0 and {v for k, v in scales.items() if k != name} == {2.0}


def _stored_raw_logs() -> list[list[dict]]:
    files = Path(default_db_path() + ".files")  # the database the app opened first in this process
    out = []
    for f in files.iterdir():
        text = f.read_bytes()
        if text.startswith(b"{") and b'"layout_transform"' in text[:400]:
            out.append([json.loads(line) for line in text.decode().splitlines() if line.strip()])
    return out


def _row_key(r) -> tuple:
    """(shape, src layout, dst layout) of a transform-table row ('32c→16c' is NCHW32c to NCHW16c)."""
    return (tuple(json.loads(r.shape)), *(f"NCHW{x}" for x in r.transform.split("→")))


def test_measure_the_missing_transforms_here(whatif):
    at = whatif
    # the two smallest transforms the baseline pays for lose their benchmark
    paid = _transforms(at)
    smallest = paid.assign(n=paid["shape"].map(_elements)).nsmallest(2, "n")
    drop = {_row_key(r) for r in smallest.itertuples()}
    lines = (SAMPLE / "layout_transform.log").read_text().splitlines()
    kept = [ln for ln in lines if _key(json.loads(ln)) not in drop]
    assert len(kept) == len(lines) - len(drop)

    # a run of the model, its tuning log and the trimmed benchmarks, sent together (the first two are stored
    # already: the new run shares them)
    at.switch_page("pages/data.py").run()
    at.get("file_uploader")[0].set_value([
        ("resnet18.onnx", (SAMPLE / "resnet18.onnx").read_bytes(), "application/octet-stream"),
        ("tuning.log", (SAMPLE / "tuning.log").read_bytes(), "text/plain"),
        ("trimmed_layout_transform.log", ("\n".join(kept) + "\n").encode(), "text/plain")])
    at.text_input(key="up_label").input("trimmed")
    at.button[0].click().run()
    runs = _table(at, "lacks").set_index("label")
    assert runs.loc["trimmed", "this session"] and runs.loc["trimmed", "uploads"] == 3
    assert "transform keys missing" in runs.loc["trimmed", "lacks"]
    at.session_state["opt_missing"] = True
    at.switch_page("pages/whatif.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    sources = _transforms(at)
    missing = sources[sources["source"] == "missing"]
    assert 1 <= len(missing) and {_row_key(r) for r in missing.itertuples()} <= drop
    button = at.button(key="wi_measure")
    assert "missing transforms on this machine" in button.label

    button.click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert any("Measured" in s.value for s in at.success), [s.value for s in at.success]
    banners = [w.value for w in at.warning if "two machines" in w.value]
    after = _transforms(at)
    assert "missing" not in set(after["source"])
    here = after[after["source"] == "measured here"]
    measured_keys = {_row_key(r) for r in here.itertuples()}
    assert measured_keys == {_row_key(r) for r in missing.itertuples()}
    # the stored log is AutoTVM's format with this machine's numbers; the page shows its costs[0]
    log = next(recs for recs in _stored_raw_logs() if {_key(r) for r in recs} <= drop)
    cost = {_key(r): r["result"][0][0] for r in log}
    assert set(cost) == measured_keys
    # measured on another machine than the run's: a cost source, and the page names both machines
    run_cpu, here_cpu = (_mcpu(json.loads(kept[0])), _mcpu(log[0]))
    if here_cpu != run_cpu:
        assert len(banners) == 1 and run_cpu in banners[0] and here_cpu in banners[0] and "measured here" in banners[0]
    else:
        assert banners == []  # this machine is the run's: the log joined the run itself
    assert all(0 < c < 1e-2 and r["result"][1] == 0 for r, c in zip(log, cost.values()))
    for r in here.itertuples():
        assert r.ms == pytest.approx(cost[_row_key(r)] * 1e3, rel=1e-9)
    # the upload is named as measured here, by tvmviz measure
    at.switch_page("pages/data.py").run()
    table = _table(at, "file")
    row = table[table["label"] == "measured here"].iloc[0]
    assert row["uploader"] == "tvmviz measure" and row["kind"] == "layout_transform" and row["rows"] == len(log)
    # the Layer page marks the same source on a conv at either end of a measured transform
    convs = set(_conv_order())
    name = next(n for pair in here[["from", "to"]].values for n in pair if n in convs)
    at.session_state["picked_node"] = name
    at.switch_page("pages/layer.py").run()
    assert at.selectbox[0].value == name
    rows = next(d.value for d in at.dataframe if "side" in d.value.columns)
    assert "measured here" in set(rows["source"])


def _table(at, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _transforms(at):
    """The What-if page's table of the scenario's layout transforms."""
    return next(d.value for d in at.dataframe if {"transform", "source"} <= set(d.value.columns))


def _mcpu(rec: dict) -> str:
    return rec["input"][0].split("-mcpu=")[1].split()[0]


def _key(rec: dict) -> tuple:
    tensor, src, dst = rec["input"][2]
    return tuple(tensor[1]), src, dst


def _elements(text: str) -> int:
    n = 1
    for d in json.loads(text):
        n *= int(d)
    return n


def _conv_pairs() -> dict:
    """workload args (JSON) -> (ic_bn, oc_bn) pairs in tuning.log."""
    pairs: dict = {}
    for rec in _records(SAMPLE / "tuning.log"):
        knobs = {e[0]: e[2] for e in rec["config"]["entity"]}
        pairs.setdefault(json.dumps(rec["input"][2]), set()).add((knobs["tile_ic"][-1], knobs["tile_oc"][-1]))
    return pairs


def test_an_infeasible_exclusion_names_the_constraint_and_a_button_drops_it(whatif):
    at = whatif
    # conv1_1 reads the 3-channel image: every pair it was tuned with reads NCHW1c or NCHW3c
    first = _records(SAMPLE / "tuning.log")[0]["input"][2]
    reads = {ic for ic, _ in _conv_pairs()[json.dumps(first)]}
    assert reads <= {1, 3}
    at.sidebar.multiselect[0].set_value(sorted(reads)).run()
    assert not at.exception
    assert any("every candidate uses an excluded x" in e.value for e in at.error), [e.value for e in at.error]
    buttons = {b.label: b for b in at.button}
    assert {f"Allow NCHW{x}c again" for x in reads} <= set(buttons)
    # excluding 1 also pulls other layers' lower-ranked candidates into max_sch_num: allow it again
    buttons[f"Allow NCHW{min(reads)}c again"].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.sidebar.multiselect[0].value == sorted(reads - {min(reads)})
    assert any(m.label == "Layers that changed x" for m in at.metric)


def test_an_exclusion_that_needs_unbenchmarked_transforms_offers_pricing_them_or_dropping_it(whatif):
    at = whatif
    at.sidebar.multiselect[0].set_value([32]).run()  # the sample's chosen x for layer3: its rivals' transforms
    assert not at.exception
    assert [e.value for e in at.error] and "were never benchmarked (e.g. " in at.error[0].value, \
        "expected excluding NCHW32c to need a transform the sample log lacks"
    labels = [b.label for b in at.button]
    assert {"Estimate them (TVM's per-element average)", "Price them at 0 (and say so)", "Measure them here",
            "Allow NCHW32c again"} <= set(labels)
    next(b for b in at.button if b.label == "Allow NCHW32c again").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.sidebar.multiselect[0].value == [] and "Same layouts" in at.success[0].value


def test_missing_transforms_offer_estimating_them_and_a_zero_change_is_not_red(whatif):
    at = whatif
    assert not next(m for m in at.metric if m.label == "Total after").delta  # the baseline: no "+0 ms"
    # more candidates per layer than the graph tuner kept: transforms nobody benchmarked
    scenario = Scenario(max_sch_num=40).to_string()
    at2 = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at2.query_params["s"] = scenario
    at2.switch_page("pages/whatif.py")
    at2.run()
    assert not at2.exception
    if not at2.error:  # the log has them after all: nothing to offer
        pytest.fail("expected max_sch_num=40 to need a transform the sample log lacks")
    error = at2.error[0].value  # in the page's words: the fixes are its buttons, not the command line's flags
    assert "layout transforms it needs were never benchmarked (e.g. " in error and "→" in error
    assert "--" not in error and "->" not in error
    labels = [b.label for b in at2.button]
    assert "Estimate them (TVM's per-element average)" in labels and "Price them at 0 (and say so)" in labels
    next(b for b in at2.button if b.label.startswith("Estimate them")).click().run()
    assert not at2.exception and not at2.error, [e.value for e in at2.error]
    assert at2.session_state["opt_estimate"] is True


def test_the_pins_one_click_away_are_selected_before_they_are_asked_for(whatif, monkeypatch):
    """While the user reads the page, the server selects each pin the candidate box offers (in idle time);
    picking one then shows its result without running a selection."""
    import tvmviz.select
    from pages.common import _prefetcher
    from tvmviz.select.explain import label

    at = whatif
    at.slider(key="wi_tscale").set_value(1.75).run()  # scenarios no other test has cached
    assert _prefetcher().wait_idle(120)
    selected = []
    real_select = tvmviz.select.select
    monkeypatch.setattr(tvmviz.select, "select", lambda *a, **k: selected.append(a[3].pins) or real_select(*a, **k))

    name = "layer2.0.conv1_14"
    at.selectbox(key="wi_layer").set_value(name).run()
    assert _prefetcher().wait_idle(120)
    offered = [o for o in at.selectbox(key=f"wi_pin_{name}").options if o != "free (solver decides)"]
    assert sorted(label(*p[name]) for p in selected) == sorted(offered)  # each once, nothing else

    selected.clear()
    at.selectbox(key=f"wi_pin_{name}").set_value(offered[-1]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert selected == []  # it was selected before it was asked for
    pins = _scenario(at).pins
    assert list(pins) == [name] and label(*pins[name]) == offered[-1]
    assert at.dataframe[0].value.set_index("layer").loc[name, "after"] == offered[-1]
