"""Ingest speed: tvmviz's DuckDB path vs a plain json.loads loop, on the same generated log, in one run.

    python bench/ingest.py [--lines 1000000] [--rounds 2]

Prints records/s for both, the ratio, and each side's peak RSS (each run in its own process). The two
sides alternate for --rounds rounds and each keeps its fastest run: this machine's speed drifts by a
third within minutes, and one run of each can catch different phases of it.
Targets (issue 3): >= 300,000 records/s stored with typed columns, >= 5x the baseline, < 2 GB peak.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (C, H, O, K, stride, pad): ResNet-like conv shapes
SHAPES = [(3, 224, 64, 7, 2, 3), (64, 56, 64, 3, 1, 1), (64, 56, 128, 1, 2, 0), (128, 28, 128, 3, 1, 1),
          (128, 28, 256, 1, 2, 0), (256, 14, 256, 3, 1, 1), (256, 14, 512, 1, 2, 0), (512, 7, 512, 3, 1, 1)]


def factors(n: int) -> list[int]:
    return [f for f in range(1, n + 1) if n % f == 0 and f <= 64]


def generate(path: Path, lines: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w") as f:
        for k in range(lines):
            c, h, o, kernel, stride, pad = SHAPES[(k // 2000) % len(SHAPES)]
            ic, oc, ow = rng.choice(factors(c)), rng.choice(factors(o)), rng.choice([1, 2, 4, 7, 8, 14])
            last = ["unroll_kw", "ot", rng.random() < 0.5] if kernel > 1 else ["tile_oh", "ot", rng.choice([1, 2])]
            failed = rng.random() < 0.02
            costs = [1e9] if failed else [rng.uniform(1e-4, 5e-3) for _ in range(3)]
            record = {
                "input": ["llvm -keys=cpu -mcpu=znver3", "conv2d_NCHWc.x86",
                          [["TENSOR", [1, c, h, h], "float32"], ["TENSOR", [o, c, kernel, kernel], "float32"],
                           [stride, stride], [pad] * 4, [1, 1], "NCHW", "NCHW", "float32"], {}],
                "config": {"index": rng.randrange(10000), "code_hash": None,
                           "entity": [["tile_ic", "sp", [-1, ic]], ["tile_oc", "sp", [-1, oc]],
                                      ["tile_ow", "sp", [-1, ow]], last]},
                "result": [costs, 6 if failed else 0, rng.uniform(0.2, 2.0), 1.7e9 + k],
                "version": 0.2, "tvm_version": "0.19.0",
            }
            f.write(json.dumps(record) + "\n")


def baseline(path: str) -> int:
    """The straightforward way: json.loads per line into the same typed row tuples."""
    rows = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            r = json.loads(line)
            target, task, args, _ = r["input"]
            knobs = {name: value for name, _, value in r["config"]["entity"]}
            costs = r["result"][0]
            data, kernel = args[0][1], args[1][1]
            rows.append((line_no, r["version"], r["tvm_version"], target, task, json.dumps(args), *data, *kernel,
                         *args[2], *args[3], *args[4], args[0][2], args[7], r["config"]["index"],
                         json.dumps(r["config"]["entity"]), knobs["tile_ic"][-1], knobs["tile_oc"][-1], costs,
                         costs[0], sum(costs) / len(costs), min(costs), r["result"][1], r["result"][2], r["result"][3]))
    return len(rows)


def tvmviz_ingest(path: str, db: str) -> int:
    sys.path.insert(0, str(ROOT))
    from tvmviz.store import Store

    store = Store.open(db)
    (report,) = store.ingest_paths([path])
    assert report.error is None, report.error
    return report.rows


def run_side(side: str, path: str, db: str) -> tuple[float, int, float]:
    """Run one side in a fresh process; return (seconds, rows, peak RSS in MiB)."""
    code = (
        "import sys, time, json; sys.path.insert(0, %r); import ingest as b; t = time.perf_counter(); "
        "n = b.%s(*%r); print(json.dumps([time.perf_counter() - t, n]))"
    ) % (str(Path(__file__).parent), side, [path, db] if side == "tvmviz_ingest" else [path])
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read()
    if status != 0:
        raise SystemExit(f"{side} failed")
    seconds, rows = json.loads(out)
    return seconds, rows, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "trials.log"
        t = time.perf_counter()
        generate(log, args.lines)
        print(f"generated {args.lines:,} lines ({log.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f} s")
        os.sync()  # the generated file's writeback would otherwise run during the first side's timing
        runs = {"tvmviz_ingest": [], "baseline": []}
        for k in range(args.rounds):
            for side, results in runs.items():
                results.append(run_side(side, str(log), str(Path(tmp) / f"bench{k}.duckdb")))
    best = {side: min(results) for side, results in runs.items()}
    for name, side in (("tvmviz (DuckDB, stored)", "tvmviz_ingest"), ("baseline (json.loads loop)", "baseline")):
        seconds, rows, rss = best[side]
        each = " / ".join(f"{s:.2f}" for s, _, _ in runs[side])
        print(f"{name:<28} {rows:>9,} records  {seconds:6.2f} s  {rows / seconds:>10,.0f} records/s  peak {rss:,.0f} MiB"
              f"  (runs: {each} s)")
    (ours, ours_rows, _), (base, base_rows, _) = best["tvmviz_ingest"], best["baseline"]
    print(f"ratio tvmviz / baseline: {(ours_rows / ours) / (base_rows / base):.1f}x")


if __name__ == "__main__":
    main()
