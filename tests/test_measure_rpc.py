"""Measuring through TVM's RPC tracker: a real ``python -m tvm.exec.rpc_tracker`` and ``rpc_server`` started on
127.0.0.1 by the test, a round trip through ``tvmviz measure --rpc-tracker``, and the errors for a tracker that
is down, a key nobody registered and a device that is busy."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tvmviz.cli import main
from tvmviz.errors import TvmvizError
from tvmviz.measure import TimingPolicy, TransformKey, measure_transforms
from tvmviz.measure.rpc import RemoteDevice, tracker_devices
from tests.test_measure import _chain_graph, ingest

KEY = "tvmviz-test"
START_S = 120  # two TVM imports on a loaded 2-core machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # the group this test started (the server forks workers)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def tracker():
    port = _free_port()
    procs = [_start(["tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port", str(port), "--port-end",
                     str(port + 1)])]
    address = f"127.0.0.1:{port}"
    try:
        server_port = _free_port()
        procs.append(_start(["tvm.exec.rpc_server", "--host", "127.0.0.1", "--port", str(server_port),
                             "--port-end", str(server_port + 1), "--tracker", address, "--key", KEY]))
        deadline = time.monotonic() + START_S
        while True:
            try:
                if any(d.key == KEY and d.free for d in tracker_devices(address, timeout_s=2)):
                    break
            except TvmvizError:
                pass  # not listening yet
            assert all(p.poll() is None for p in procs), "the tracker or server exited"
            assert time.monotonic() < deadline, f"no free {KEY} device on {address} after {START_S} s"
            time.sleep(0.5)
        yield address
    finally:
        for p in reversed(procs):
            _stop(p)


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
        t0 = time.monotonic()
        with pytest.raises(TvmvizError, match="no free device with key"):
            RemoteDevice(tracker, KEY, timeout_s=1.0)
        assert time.monotonic() - t0 < 30


def test_unknown_key_is_an_error_naming_the_keys_there(tracker):
    with pytest.raises(TvmvizError, match=f"no device with key 'nope'; its keys: {KEY}"):
        RemoteDevice(tracker, "nope", timeout_s=2)


def test_down_tracker_is_an_error_not_a_local_fallback(tmp_path, capsys):
    port = _free_port()  # nothing listens there
    t0 = time.monotonic()
    code = main(["measure", "--graph", str(_chain_graph(tmp_path)), "--kernels", "8x8", "--transforms", "none",
                 "--rpc-tracker", f"127.0.0.1:{port}", "--rpc-key", KEY, "--rpc-timeout", "1",
                 "--out", str(tmp_path / "x.log")])
    assert code == 2
    assert "cannot reach the RPC tracker" in capsys.readouterr().err
    assert not (tmp_path / "x.log").exists()
    assert time.monotonic() - t0 < 30


def test_bad_rpc_arguments(tmp_path, capsys):
    graph = str(_chain_graph(tmp_path))
    assert main(["measure", "--graph", graph, "--transforms", "none", "--rpc-key", KEY]) == 2
    assert "--rpc-key needs --rpc-tracker" in capsys.readouterr().err
    assert main(["measure", "--graph", graph, "--transforms", "none", "--rpc-tracker", "nohost"]) == 2
    assert "expected HOST:PORT" in capsys.readouterr().err
