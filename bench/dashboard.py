"""Dashboard speed: cold start to first page in Chromium, what-if on ResNet-50, a 500-node graph.

    .venv/bin/python bench/dashboard.py [--no-browser]

Targets (issue 5): first paint <= 3 s, what-if <= 0.5 s, 500-node graph <= 2 s.
- cold start: `streamlit run` on a fresh database until the Data page's title and upload form are
  visible in Chromium (first paint), then until sample_logs/ is stored (the uploads table; the page shows
  the ingest's progress meanwhile), then the Graph page. Once as configured in .streamlit/config.toml,
  once with the file watcher polling (the default watcher puts recursive inotify watches on the whole
  checkout, .venv included: about 1 s of the first script run on this machine).
- what-if (library side of the round trip): ResNet-50 (53 convs; the ONNX model zoo's workloads, see
  tvmviz.synth.resnet50_onnx) with the real 1000-trial AutoTVM log; no layout-transform benchmarks exist
  for it, so missing transforms cost 0. One pin -> select + diff + the graph chart's spec.
- 500-node graph: tvmviz.synth.random_dag; layout + chart spec, and an SVG render with vl-convert (the
  same Vega renderer the browser runs), as a browser-free proxy for drawing.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESNET50_LOG = ROOT.parent / "shared" / "data" / "thirdparty" / "resnet50-v2-7_autotvm_tvm0.13.log"
CHROMIUM = "/usr/bin/chromium"


def timed(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def _cold_start(extra_args=()) -> dict:
    """Seconds from navigation to: first paint (the Data page's title and upload form), sample logs stored
    (the uploads table), and a warm Graph page with its chart drawn; plus server start."""
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tempfile.mkdtemp(prefix="tvmviz-bench-")
    env = dict(os.environ, TVMVIZ_DB=os.path.join(tmp, "app.duckdb"), PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true", *extra_args],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = {}
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        out["server"] = time.perf_counter() - t0
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            t1 = time.perf_counter()
            page.goto(url)
            page.locator("h1").filter(has_text="Data").wait_for(timeout=120_000)
            page.locator("[data-testid=stFileUploader]").wait_for(timeout=120_000)
            out["first_paint"] = time.perf_counter() - t1
            page.get_by_text("Stored uploads").wait_for(timeout=120_000)
            out["samples_stored"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            page.goto(url + "/graph")
            page.locator("[data-testid=stVegaLiteChart] svg.marks path.background").first.wait_for(timeout=120_000)
            out["graph"] = time.perf_counter() - t2
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return out


def bench_cold_start() -> None:
    for what, args in (("as configured", ()), ("fileWatcherType=poll", ("--server.fileWatcherType", "poll"))):
        t = _cold_start(args)
        print(f"cold start ({what}): server up {t['server']:.2f} s; first paint (Data page title + upload form) "
              f"{t['first_paint']:.2f} s after navigation, {t['server'] + t['first_paint']:.2f} s from launch "
              f"(target <= 3 s); sample_logs/ stored (uploads table) {t['samples_stored']:.2f} s; "
              f"graph page (ResNet-18, 71 nodes) drawn {t['graph']:.2f} s after navigation")


def bench_whatif() -> None:
    from tvmviz import synth
    from tvmviz.charts import graph_chart
    from tvmviz.graph.onnx_import import onnx_model_to_graph
    from tvmviz.select import Scenario, SelectOptions, diff_selections, select
    from tvmviz.store import Store

    store = Store.open(":memory:")
    store.ingest_paths([RESNET50_LOG])
    graph = onnx_model_to_graph(synth.resnet50_onnx().proto, source="resnet50")
    tuning, transforms = store.tuning_records(), store.transform_records()
    base = SelectOptions(allow_missing_transforms=True)
    t_base, baseline = timed(lambda: select(graph, tuning, transforms, base), 3)
    victim = baseline.nodes[10]
    other = next(c for c in baseline.problem.candidates[victim.index]
                 if (c.ic_bn, c.oc_bn) != (victim.ic_bn, victim.oc_bn))
    scenario = Scenario(pins={victim.name: (other.ic_bn, other.oc_bn)})

    def round_trip():
        after = select(graph, tuning, transforms, scenario.options(base))
        diff = diff_selections(baseline, after)
        graph_chart(graph, after, changed=diff.x_changed).to_dict()
        return diff

    t_rt, diff = timed(round_trip, 5)
    print(f"what-if on ResNet-50 ({len(graph.nodes)} nodes, {len(graph.convs())} convs): baseline select "
          f"{t_base * 1e3:.0f} ms; pin {victim.name} -> select + diff + graph spec {t_rt * 1e3:.0f} ms "
          f"({len(diff.changed)} layers changed) (target <= 500 ms round trip; a seen scenario is cached: ~0 ms)")


def bench_big_graph() -> None:
    from tvmviz import synth
    from tvmviz.charts import graph_chart
    from tvmviz.graph.onnx_import import onnx_model_to_graph
    from tvmviz.report import graph_image

    model = synth.random_dag(200, seed=1)  # 506 nodes
    graph = onnx_model_to_graph(model.proto, source=model.name)
    t_spec, chart = timed(lambda: graph_chart(graph, None, condensed=False), 3)
    t_svg, svg = timed(lambda: graph_image(chart, "svg"), 2)
    print(f"{len(graph.nodes)}-node graph: layout + chart spec {t_spec * 1e3:.0f} ms, SVG render (vl-convert) "
          f"{t_svg * 1e3:.0f} ms, {len(svg) // 1024} KiB (target <= 2 s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    bench_whatif()
    bench_big_graph()
    if not args.no_browser and os.path.exists(CHROMIUM):
        bench_cold_start()
    elif not args.no_browser:
        print(f"cold start: skipped ({CHROMIUM} missing)")


if __name__ == "__main__":
    main()
