"""Servers the tests start for real (Streamlit, tvmviz serve, the OIDC provider, TVM's RPC tracker and server):
ports, readiness, stopping."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


def choose_files(page, *paths: Path) -> None:
    """Put files in the page's uploader and wait until their upload has finished: Streamlit hands a form the
    files only then, so an Ingest clicked earlier submits none."""
    page.locator("input[type=file]").set_input_files([str(p) for p in paths])
    page.get_by_test_id("stFileChip").nth(len(paths) - 1).wait_for()  # a long name is shown shortened
    page.get_by_test_id("stFileChipIconSpinner").first.wait_for(state="detached")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    """Until ``url`` answers at all; fails with the process's output if it exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace")[-3000:] if proc.stdout else ""
            raise RuntimeError(f"{proc.args} exited: {out}")
    proc.kill()
    raise RuntimeError(f"{url} did not answer within {seconds} s")


OIDC_DIR = Path(__file__).resolve().parent / "oidc"


def oidc_secrets(app_url: str, oidc_port: int, client_id: str, admins=()) -> str:
    """A team server's secrets.toml for the test OIDC provider (tests/oidc/provider.mjs) on ``oidc_port``.
    ``prompt = "login"``: every sign-in asks who you are, so two browser contexts can be two people."""
    admin_list = ", ".join(f'"{a}"' for a in admins)
    return f"""[auth]
redirect_uri = "{app_url}/oauth2callback"
cookie_secret = "{os.urandom(24).hex()}"
client_id = "{client_id}"
client_secret = "{os.urandom(12).hex()}"
server_metadata_url = "http://127.0.0.1:{oidc_port}/.well-known/openid-configuration"
client_kwargs = {{ prompt = "login" }}

[tvmviz]
admins = [{admin_list}]
"""


def start_oidc(secrets_toml: str, oidc_port: int) -> subprocess.Popen:
    """The real OIDC provider (npm's oidc-provider on node) for the client these secrets describe, ready."""
    import tomllib

    auth = tomllib.loads(secrets_toml)["auth"]
    proc = subprocess.Popen(["node", "provider.mjs", str(oidc_port), auth["client_id"], auth["client_secret"],
                             auth["redirect_uri"]], cwd=OIDC_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{oidc_port}/.well-known/openid-configuration", proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


RPC_START_S = 120  # TVM imports on a loaded 2-core machine


def start_group(args: list) -> subprocess.Popen:
    """``python -m ARGS`` in a process group of its own (TVM's RPC server forks workers)."""
    return subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def rpc_tracker(device_key: str | None = None):
    """A real ``python -m tvm.exec.rpc_tracker`` on 127.0.0.1 (and, with ``device_key``, one ``rpc_server``
    registered under that key), yielding its HOST:PORT once it answers (and the device is free)."""
    from tvmviz.errors import TvmvizError
    from tvmviz.measure.rpc import tracker_devices

    port = free_port()
    procs = [start_group(["tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port", str(port), "--port-end",
                          str(port + 1)])]
    address = f"127.0.0.1:{port}"
    try:
        if device_key:
            server_port = free_port()
            procs.append(start_group(["tvm.exec.rpc_server", "--host", "127.0.0.1", "--port", str(server_port),
                                      "--port-end", str(server_port + 1), "--tracker", address, "--key", device_key]))
        deadline = time.monotonic() + RPC_START_S
        while True:
            try:
                devices = tracker_devices(address, timeout_s=2)
                if not device_key or any(d.key == device_key and d.free for d in devices):
                    break
            except TvmvizError:
                pass  # not listening yet
            assert all(p.poll() is None for p in procs), "the tracker or server exited"
            assert time.monotonic() < deadline, f"{address} not ready after {RPC_START_S} s"
            time.sleep(0.5)
        yield address
    finally:
        for p in reversed(procs):
            stop_group(p)
