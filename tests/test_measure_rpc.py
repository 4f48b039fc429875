"""Measuring through TVM's RPC tracker: a real ``python -m tvm.exec.rpc_tracker`` and ``rpc_server`` started on
127.0.0.1 by the test, a round trip through ``tvmviz measure --rpc-tracker``, and the errors for a tracker that
is down, a key nobody registered and a device that is busy."""

import json

import pytest

from tvmviz.cli import main
from tvmviz.errors import TvmvizError
from tvmviz.measure import TimingPolicy, TransformKey, measure_transforms
from tvmviz.measure.rpc import RemoteDevice, tracker_devices
from tests.processes import free_port, rpc_tracker
from tests.test_measure import _chain_graph, ingest

KEY = "tvmviz-test"


@pytest.fixture(scope="module")
def tracker():
    with rpc_tracker(KEY) as address:
        yield address


def test_measure_command_round_trip_through_the_tracker(tracker, tmp_path, capsys):
    graph = _chain_graph(tmp_path)
    out = tmp_path / "remote.log"
    # conv_a reads 3 channels: 3x8; conv_b 8x8 and 4x4, so its input needs NCHW8c -> NCHW4c
    code = main(["measure", "--graph", str(graph), "--kernels", "3x8,8x8,4x4", "--trials", "1",
                 "--transforms", "all", "--rpc-tracker", tracker, "--rpc-key", KEY, "--out", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["device"] == f"{KEY} via {tracker}"
    assert "-mtriple=" in summary["target"] and "-mcpu=" in summary["target"]
    assert summary["kernels"]["candidates"] == 3 and summary["kernels"]["failed"] == 0
    assert summary["transforms"]["measured"] >= 1 and summary["transforms"]["failed"] == 0
    store, report = ingest(out)
    assert report.kind == "autotvm"
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {line["input"][0] for line in lines} == {summary["target"]}  # written with the device's target
    conv = store.tuning_records()
    assert sorted((r.ic_bn, r.oc_bn) for r in conv) == [(3, 8), (4, 4), (8, 8)]
    assert all(r.cost0 > 0 for r in conv)
    assert ((1, 2, 8, 8, 8), "NCHW8c", "NCHW4c") in {(r.shape, r.src, r.dst) for r in store.transform_records()}
    assert all(r.cost0 > 0 for r in store.transform_records())


def test_transforms_timed_on_the_device_match_the_numpy_reference(tracker):
    keys = [TransformKey((1, 2, 8, 8, 8), "NCHW8c", "NCHW4c"), TransformKey((1, 16, 8, 8), "NCHW", "NCHW8c"),
            TransformKey((1, 1, 8, 8, 16), "NCHW16c", "NCHW8c")]
    with RemoteDevice(tracker, KEY) as device:
        res = measure_transforms(keys, device=device, policy=TimingPolicy(repeat=3, min_repeat_ms=0.2))
    assert [m.key for m in res] == keys
    assert all(m.error_no == 0 and m.checked and m.cost0 > 0 for m in res)


def test_busy_device_is_an_error_after_the_timeout(tracker):
    with RemoteDevice(tracker, KEY):  # holds the only server
        with pytest.raises(TvmvizError, match="no free device with key"):
            RemoteDevice(tracker, KEY, timeout_s=1.0)


def test_unknown_key_is_an_error_naming_the_keys_there(tracker):
    with pytest.raises(TvmvizError, match=f"no device with key 'nope'; its keys: {KEY}"):
        RemoteDevice(tracker, "nope", timeout_s=2)


def test_down_tracker_is_an_error_not_a_local_fallback(tmp_path, capsys):
    port = free_port()  # nothing listens there
    code = main(["measure", "--graph", str(_chain_graph(tmp_path)), "--kernels", "8x8", "--transforms", "none",
                 "--rpc-tracker", f"127.0.0.1:{port}", "--rpc-key", KEY, "--rpc-timeout", "1",
                 "--out", str(tmp_path / "x.log")])
    assert code == 2
    assert "cannot reach the RPC tracker" in capsys.readouterr().err
    assert not (tmp_path / "x.log").exists()


def test_bad_rpc_arguments(tmp_path, capsys):
    graph = str(_chain_graph(tmp_path))
    assert main(["measure", "--graph", graph, "--transforms", "none", "--rpc-key", KEY]) == 2
    assert "--rpc-key needs --rpc-tracker" in capsys.readouterr().err
    assert main(["measure", "--graph", graph, "--transforms", "none", "--rpc-tracker", "nohost"]) == 2
    assert "expected HOST:PORT" in capsys.readouterr().err


def _device_choice_page():
    import streamlit as st

    from pages.common import measure_device_choice

    st.session_state["chosen"] = measure_device_choice("dev")


def test_a_team_server_measures_where_its_setting_says(tracker, monkeypatch):
    """On a team server the page shows the tracker of the server's settings (tvmviz serve --rpc-tracker) and its
    devices, and a session cannot point the server at another address; without a setting, only this machine."""
    from streamlit.testing.v1 import AppTest

    from tvmviz.server.settings import RpcSetting
    from tvmviz.server.streamlit_app import build_app

    monkeypatch.setenv("TVMVIZ_RPC_TRACKER", "")
    monkeypatch.setenv("TVMVIZ_RPC_KEY", "")
    monkeypatch.setenv("TVMVIZ_DB", "")
    monkeypatch.setenv("TVMVIZ_TEAM_SERVER", "")
    secrets = {"auth": {k: "x" for k in ("redirect_uri", "cookie_secret", "client_id", "client_secret",
                                         "server_metadata_url")}}
    build_app(":memory:", secrets, 10, RpcSetting.of(tracker, KEY))  # what `serve` hands its pages
    at = AppTest.from_function(_device_choice_page, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="dev_where").value == "a device of an RPC tracker"
    address, key = at.text_input(key="dev_tracker"), at.text_input(key="dev_key")
    assert (address.value, key.value, address.disabled, key.disabled) == (tracker, KEY, True, True)
    devices = next(d.value for d in at.dataframe)
    assert KEY in set(devices["key"])
    assert at.session_state["chosen"] == (tracker, KEY)
    at.session_state["dev_tracker"] = "10.1.2.3:9190"  # a crafted session sending another address is overruled
    at.run()
    assert at.session_state["chosen"] == (tracker, KEY)

    RpcSetting().export()  # a team server started without a tracker measures on itself, saying so
    at = AppTest.from_function(_device_choice_page, default_timeout=60).run()
    assert not at.radio and at.session_state["chosen"] == (None, None)
    assert any("no RPC tracker set" in c.value for c in at.caption)
