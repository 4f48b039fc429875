"""Where measurements run: this process, or a device registered with TVM's RPC tracker.

The remote path is AutoTVM's RPCRunner: ask the tracker for a free server with the key, build here for the
device's target (its ``-mtriple`` / ``-mcpu``, asked from the device, or given), export the library as a
tar of objects (the server links it, as with AutoTVM's default build_func), upload it, load it there and
time it there with ``time_evaluator``. A tracker that cannot be reached, a key with no server, or no free
device within the timeout is a TvmvizError; nothing falls back to measuring here.
"""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass

from tvmviz.errors import TvmvizError
from tvmviz.measure.timing import import_tvm, resolve_target

DEFAULT_TIMEOUT_S = 10.0  # reaching the tracker, and waiting for a free device
DEFAULT_SESSION_TIMEOUT_S = 0  # 0: the server keeps the session as long as we hold it (AutoTVM's default)


def parse_tracker(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port)."""
    host, sep, port = (text or "").strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise TvmvizError(f"--rpc-tracker {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9190")
    return host, int(port)


@dataclass(frozen=True)
class TrackerDevice:
    key: str
    servers: int  # registered servers with this key
    free: int
    pending: int  # requests waiting for one


def _tracker(host: str, port: int, timeout_s: float):
    """A TrackerSession, after checking within timeout_s that something listens there."""
    tvm = import_tvm()
    from tvm import rpc

    where = f"{host}:{port}"
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as e:
        raise TvmvizError(f"cannot reach the RPC tracker at {where} within {timeout_s:g} s "
                          f"({e.strerror or e}); start it with python -m tvm.exec.rpc_tracker --port {port}") from None
    try:
        session = rpc.connect_tracker(host, port)
        session._sock.settimeout(timeout_s)  # TVM's own calls block forever otherwise
        return session
    except (OSError, RuntimeError, tvm.error.TVMError) as e:
        raise TvmvizError(f"{where} does not answer as a TVM RPC tracker: {e}") from None


def tracker_devices(tracker: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[TrackerDevice]:
    """The device keys a tracker knows, with their free / pending counts (what the page shows)."""
    host, port = parse_tracker(tracker)
    session = _tracker(host, port, timeout_s)
    try:
        data = session.summary()
    except OSError as e:
        raise TvmvizError(f"the RPC tracker at {tracker} did not send its summary within {timeout_s:g} s: {e}") from None
    finally:
        session.close()
    servers: dict = {}
    for item in data.get("server_info", []):
        key = str(item.get("key", "")).split(":", 1)[-1]
        servers[key] = servers.get(key, 0) + 1
    queue = data.get("queue_info", {})
    keys = sorted(set(servers) | set(queue))
    return [TrackerDevice(k, servers.get(k, 0), int(queue.get(k, {}).get("free", 0)),
                          int(queue.get(k, {}).get("pending", 0))) for k in keys]


class LocalDevice:
    """This process's CPU: modules run where they were compiled."""

    remote = False
    label = "this machine"

    def __init__(self, target=None):
        self.target = resolve_target(target)
        self.dev = import_tvm().cpu(0)

    def load(self, executable, entry: str):
        module = executable.mod
        module[entry]  # the LLVM JIT runs on first lookup: charge it to compiling
        return module

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RemoteDevice(LocalDevice):
    """A server from the RPC tracker, held for the measurements (a context manager)."""

    remote = True

    def __init__(self, tracker: str, key: str, target=None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 session_timeout_s: float = DEFAULT_SESSION_TIMEOUT_S):
        import_tvm()
        host, port = parse_tracker(tracker)
        if not key:
            raise TvmvizError("--rpc-key is needed with --rpc-tracker (the device key its servers registered with)")
        known = {d.key: d for d in tracker_devices(tracker, timeout_s)}
        if key not in known or known[key].servers == 0:
            have = ", ".join(f"{d.key} ({d.servers} servers, {d.free} free)" for d in known.values()) or "none"
            raise TvmvizError(f"the RPC tracker at {tracker} has no device with key {key!r}; its keys: {have}")
        session = _tracker(host, port, timeout_s)
        try:
            self.session = session.request(key, priority=1, session_timeout=session_timeout_s, max_retry=1)
        except (RuntimeError, OSError) as e:
            raise TvmvizError(f"no free device with key {key!r} on the RPC tracker at {tracker} within "
                              f"{timeout_s:g} s ({known[key].servers} registered, all busy?): {e}") from None
        finally:
            session.close()
        self.key, self.tracker = key, tracker
        self.label = f"{key} via {tracker}"
        self.target = resolve_target(target) if target is not None else self._ask_target()
        self.dev = self.session.cpu(0)
        self._tmp = tempfile.TemporaryDirectory(prefix="tvmviz_rpc_")
        self._n = 0

    def _ask_target(self):
        try:
            cpu = str(self.session.get_function("target.llvm_get_system_cpu")())
            triple = str(self.session.get_function("target.llvm_get_system_triple")())
        except Exception as e:  # noqa: BLE001 - a runtime-only server has no compiler functions
            raise TvmvizError(f"the device {self.key!r} cannot say its CPU ({e}); give its target with --target, "
                              'e.g. {"kind":"llvm","mtriple":"aarch64-linux-gnu","mcpu":"cortex-a72"}') from None
        return resolve_target({"kind": "llvm", "mtriple": triple, "mcpu": cpu})

    def load(self, executable, entry: str):
        self._n += 1
        name = f"tvmviz_{os.getpid()}_{self._n}.tar"
        path = os.path.join(self._tmp.name, name)
        executable.export_library(path)  # .tar: objects, linked by the server (tvm.support.tar)
        self.session.upload(path)
        return self.session.load_module(name)

    def close(self) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            tmp.cleanup()
            self._tmp = None
        self.session = None


def open_device(rpc_tracker: str | None = None, rpc_key: str | None = None, target=None,
                timeout_s: float = DEFAULT_TIMEOUT_S):
    """LocalDevice unless a tracker is given; never the one instead of the other."""
    if rpc_tracker:
        return RemoteDevice(rpc_tracker, rpc_key or "", target, timeout_s)
    if rpc_key:
        raise TvmvizError("--rpc-key needs --rpc-tracker HOST:PORT")
    return LocalDevice(target)
