"""The team server under load: does the dashboard stay responsive while the API ingests a large upload?

    python bench/server.py [--lines 800000] [--switches 6]

Starts a real OIDC provider (tests/oidc) and `tvmviz serve`, signs in with Chromium, and times a page's
round trip (click a page in the navigation until its script has finished and its title is drawn):
first with nothing else going on (the baseline, same run), then while `tvmviz ingest --server` pushes a
generated AutoTVM log of --lines lines (800,000 lines ≈ 400 MB). Then 8 clients post at once.
Prints the medians, their ratio, the upload's own time and rate, and how many of the 8 were stored once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.ingest import generate  # noqa: E402
from tests.processes import CHROMIUM, LAUNCH_ARGS, free_port, oidc_secrets, start_oidc, stop, wait_http  # noqa: E402

USER = "bench@example.com"


def start_team(tmp: Path):
    db = tmp / "team.duckdb"
    token = subprocess.run([sys.executable, "-m", "tvmviz", "token", "create", "--db", str(db), "--user", USER],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()[-1]
    oidc_port, port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    secrets = oidc_secrets(url, oidc_port, "bench")
    (tmp / "secrets.toml").write_text(secrets)
    oidc = start_oidc(secrets, oidc_port)
    server = subprocess.Popen([sys.executable, "-m", "tvmviz", "serve", "--db", str(db), "--port", str(port),
                               "--secrets", str(tmp / "secrets.toml")], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    wait_http(f"{url}/_stcore/health", server)
    return url, token, [server, oidc]


def settle(page):
    page.wait_for_function("!document.querySelector('[data-testid=stStatusWidget]')", timeout=120_000)


def switch(page, title: str) -> float:
    t = time.perf_counter()
    page.locator("[data-testid=stSidebarNav] a", has_text=title).first.click()
    page.get_by_role("heading", name=title).first.wait_for(timeout=120_000)
    settle(page)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=800_000, help="lines of the generated log (800k ≈ 400 MB)")
    ap.add_argument("--switches", type=int, default=6, help="page switches per phase")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from tvmviz.server.client import push_file

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "big_tuning.log"
        generate(log, args.lines)
        size_mb = log.stat().st_size / 2**20
        url, token, procs = start_team(tmp)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
                page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
                page.set_default_timeout(120_000)
                page.goto(url)
                page.get_by_role("button", name="Sign in").click()
                page.fill("input[name=login]", USER)
                page.fill("input[name=password]", "x")
                page.get_by_role("button", name="Sign-in").click()
                page.get_by_role("button", name="Continue").click()
                page.get_by_text(f"Signed in as {USER}").wait_for()
                settle(page)  # first start: the sample logs are stored here
                titles = ["Search space", "Data"]
                for t in titles:
                    switch(page, t)  # warm
                quiet = [switch(page, titles[k % 2]) for k in range(args.switches)]

                upload: dict = {}

                def push():
                    t = time.perf_counter()
                    upload["reports"] = push_file(url, token, log)
                    upload["s"] = time.perf_counter() - t

                pusher = threading.Thread(target=push)
                pusher.start()
                time.sleep(0.5)
                loaded = []
                while pusher.is_alive() or len(loaded) < 2:
                    loaded.append(switch(page, titles[len(loaded) % 2]))
                pusher.join()
                browser.close()

            parts = [tmp / f"part{k}.log" for k in range(8)]
            for k, part in enumerate(parts):
                generate(part, 5000, seed=k + 1)  # distinct files
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda f: push_file(url, token, f)[0], parts))
            stored = {a["upload_id"] for a in answers if a["upload_id"] is not None and not a["duplicate"]}
        finally:
            for proc in procs:
                stop(proc)

    (report,) = upload["reports"]
    q, l = statistics.median(quiet), statistics.median(loaded)
    print(f"page round trip, quiet:            median {q * 1000:.0f} ms (n={len(quiet)}, max {max(quiet) * 1000:.0f} ms)")
    print(f"page round trip, during the upload: median {l * 1000:.0f} ms (n={len(loaded)}, max {max(loaded) * 1000:.0f} ms)")
    print(f"ratio during/quiet: {l / q:.2f}x")
    print(f"upload of {size_mb:.0f} MB ({report['rows']:,} records): {upload['s']:.1f} s end to end, "
          f"{report['rows'] / upload['s']:,.0f} records/s")
    print(f"8 clients at once: {len(stored)} of 8 distinct files stored, each once")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (wall-clock figures on a shared machine)")


if __name__ == "__main__":
    main()
