"""The dashboard in a real browser: Debian's Chromium driven by Playwright against `streamlit run`.

Upload a log, click a node on the graph, pin another x on What-if and see the diff, download the report.
Screenshots of every page go to test-artifacts/screenshots/. Skipped when /usr/bin/chromium is missing,
except under CI=true, where that is a failure (scripts/test.sh installs it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tests.paths import ORACLE_EXAMPLE, RESNET50_LOG
from tests.processes import CHROMIUM, LAUNCH_ARGS, choose_files, free_port, stop

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-artifacts" / "screenshots"
ORACLE_LOG = ORACLE_EXAMPLE / "tuning.log"
SAMPLE = ROOT / "sample_logs" / "resnet18"
PAGES = ["", "search_space", "graph", "layer", "whatif", "profile", "reality", "compare", "report"]

if not os.path.exists(CHROMIUM):
    pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium", pytrace=False)

import playwright.sync_api as playwright  # noqa: E402


def start_app(tmp: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, TVMVIZ_DB=str(tmp / "app.duckdb"), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None:
            raise RuntimeError(proc.stdout.read().decode(errors="replace"))
    proc.kill()
    raise RuntimeError("streamlit did not start within 90 s")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    port = free_port()
    proc = start_app(tmp_path_factory.mktemp("app"), port)
    yield f"http://127.0.0.1:{port}"
    stop(proc)


@pytest.fixture(scope="module")
def page(app_url):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1800}, accept_downloads=True)
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def settle(pg):
    """Wait until Streamlit has finished running the script."""
    pg.wait_for_selector("[data-testid=stAppViewContainer]")
    pg.wait_for_timeout(700)  # the running indicator shows a moment after the page's first elements
    pg.wait_for_function("!document.querySelector('[data-testid=stStatusWidget]')", timeout=60_000)
    pg.wait_for_timeout(500)


def wait_for_charts(pg):
    """Every Vega chart on the page has drawn its marks (Streamlit draws charts after the script ends)."""
    charts = pg.locator("[data-testid=stVegaLiteChart]")
    for i in range(charts.count()):
        charts.nth(i).locator("svg.marks, canvas.marks").first.wait_for(state="visible")
        charts.nth(i).locator("svg.marks g, canvas.marks").first.wait_for(state="attached")
    pg.wait_for_timeout(300)  # the last marks' transition


def shoot(pg, name: str):
    wait_for_charts(pg)
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def goto(pg, url: str, text: str, timeout_ms: float = 30_000):
    pg.goto(url)
    pg.get_by_text(text, exact=False).first.wait_for(timeout=timeout_ms)
    settle(pg)


def test_upload_a_log(page, app_url):
    goto(page, app_url, "Stored uploads")
    choose_files(page, ORACLE_LOG)
    page.get_by_role("button", name="Ingest").click()
    lines = len([ln for ln in ORACLE_LOG.read_text().splitlines() if ln.strip()])
    page.get_by_text(f"autotvm, {lines} rows stored").wait_for()
    shoot(page, "data")


def test_click_a_node_on_the_graph(page, app_url):
    from tvmviz.graph.layout import layout_graph
    from tvmviz.graph.load import load_graph

    goto(page, f"{app_url}/graph", "click a conv to explain it")
    chart = page.locator("[data-testid=stVegaLiteChart]").first
    chart.locator("path.background").first.wait_for()
    page.wait_for_timeout(2000)  # vega-embed attaches its listeners after drawing
    shoot(page, "graph")
    graph = load_graph(SAMPLE / "resnet18.onnx")
    name = "layer2.0.conv1_14"
    layout = layout_graph(graph, max_width_px=900)  # the Graph page's default width
    node = layout.nodes[graph.by_name(name).index]
    # the chart's x / y scales map [0, width + 16] x [0, height] onto the plot area, which Streamlit fits
    plot = chart.locator("path.background").first.bounding_box()
    page.mouse.click(plot["x"] + node.x * plot["width"] / (layout.width + 16),
                     plot["y"] + node.y * plot["height"] / layout.height)
    page.get_by_text("(reads NCHW64c, writes NCHW16c)", exact=False).wait_for()  # its subheader
    page.get_by_text("Why NCHW16c and not", exact=False).first.wait_for()  # the inequality panel
    settle(page)
    shoot(page, "graph_clicked")


def test_pin_another_x_on_whatif(page, app_url):
    goto(page, f"{app_url}/whatif", "Layers that changed x")
    page.get_by_text("Same layouts as the baseline").wait_for()
    sidebar = page.locator("[data-testid=stSidebar]")
    layer = "layer1.0.conv1_4"
    sidebar.get_by_label("Layer", exact=True).click()
    page.get_by_role("option", name=layer, exact=True).click()
    settle(page)
    sidebar.get_by_label(f"Candidate for {layer}").click()
    page.get_by_role("option", name="64c→16c", exact=True).click()
    settle(page)
    metric = page.locator("[data-testid=stMetric]").filter(has_text="Layers that changed x")
    metric.get_by_text("0", exact=True).wait_for(state="detached")
    assert "s=s1" in page.url  # the scenario is in the link
    assert page.locator("[data-testid=stDataFrame]").count() >= 1  # the diff table
    page.locator("[data-testid=stVegaLiteChart]").first.wait_for()
    shoot(page, "whatif_pinned")


def test_download_the_report(page, app_url):
    goto(page, f"{app_url}/report", "Layout selection report")
    with page.expect_download() as dl:
        page.get_by_role("button", name="report.md").click()
    text = Path(dl.value.path()).read_text()
    assert text.startswith("# Layout selection report") and "layer2.0.conv1_14" in text
    with page.expect_download() as dl:
        page.get_by_role("button", name="schedule.log", exact=True).click()
    lines = Path(dl.value.path()).read_text().splitlines()
    assert len(lines) == 20 and all(json.loads(ln)["input"][1] == "conv2d_NCHWc.x86" for ln in lines)
    shoot(page, "report")


def test_screenshot_every_page(page, app_url):
    """Every page at the narrowest and widest screens the style guide covers (docs/style.md)."""
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 1200})
        for name in PAGES:
            page.goto(f"{app_url}/{name}")
            page.locator("h1").first.wait_for()
            settle(page)
            assert page.locator("[data-testid=stException]").count() == 0, name
            shoot(page, f"page_{name or 'data'}_{width}")
    page.set_viewport_size({"width": 1600, "height": 1800})


def test_a_foreign_log_in_one_session_leaves_a_new_sessions_run_working(page, app_url):
    """A teammate uploads a third-party ResNet-50 log (another machine, no model): it starts its own run and
    the uploader's session says what it lacks; a second, new session still opens a complete run, whose Graph,
    Layer, What-if and Report pages work."""
    goto(page, app_url, "Stored uploads")
    choose_files(page, RESNET50_LOG)
    page.get_by_role("button", name="Ingest").click()
    page.get_by_text("Lacks: no model graph: upload the ONNX this log was tuned for").wait_for()
    settle(page)
    foreign_run = page.url.split("run=")[1].split("&")[0]
    shoot(page, "data_foreign_run")
    goto(page, f"{app_url}/graph?run={foreign_run}", "No model graph in this run")
    assert page.locator("[data-testid=stException]").count() == 0

    context = page.context.browser.new_context(viewport={"width": 1600, "height": 1800})
    fresh = context.new_page()
    fresh.set_default_timeout(60_000)
    try:
        goto(fresh, f"{app_url}/graph", "click a conv to explain it")
        run = fresh.url.split("run=")[1].split("&")[0]
        assert run != foreign_run
        fresh.locator("[data-testid=stVegaLiteChart]").first.wait_for()
        checks = {"layer": "Every candidate in words", "whatif": "Layers that changed x",
                  "report": "Layout selection report"}
        for name, text in checks.items():
            goto(fresh, f"{app_url}/{name}?run={run}", text)
            assert fresh.locator("[data-testid=stException]").count() == 0, name
            assert fresh.locator("[data-testid=stAlertContentError]").count() == 0, name
            assert f"run={run}" in fresh.url
        shoot(fresh, "report_second_session")
    finally:
        context.close()


def test_a_shared_whatif_link_on_a_fresh_server(page, tmp_path):
    """Opened first on a just-started server, a link must still go through app.py's navigation and
    reproduce its scenario (Streamlit alone would run pages/whatif.py straight from the folder)."""
    from tvmviz.select import Scenario

    scenario = Scenario(pins={"layer1.0.conv1_4": (64, 16)}).to_string()
    port = free_port()
    proc = start_app(tmp_path, port)
    try:
        pg = page.context.new_page()  # the browser is shared; the server is new
        # a fresh server first stores and validates the sample logs: on a busy machine that is slow
        goto(pg, f"http://127.0.0.1:{port}/whatif?s={scenario}", "Layers that changed x", timeout_ms=120_000)
        nav = pg.locator("[data-testid=stSidebarNav]").inner_text()
        assert "Search space" in nav and "Profile vs tuned" in nav and "common" not in nav
        assert pg.get_by_text("Pinned: layer1.0.conv1_4 → 64c→16c").count() == 1
        assert f"s={scenario}" in pg.url
        shoot(pg, "whatif_shared_link")
        pg.close()
    finally:
        proc.terminate()
        proc.wait(10)
