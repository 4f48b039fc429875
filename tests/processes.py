"""Servers the tests start for real (Streamlit, tvmviz serve, the OIDC provider): ports, readiness, stopping."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


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


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
