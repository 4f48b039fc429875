"""Ingest's resources per input class and size: peak RSS and time against the file's own size.

    python bench/ingest_limits.py [--sizes 50,200]   (MiB)

Each case runs in a fresh process (its peak RSS, VmHWM). Classes: an AutoTVM log, the same log after one blank
line (the line-number map), gzip of it, a zip of it, and an ONNX model with inline weights. Memory
should stay flat as the file grows (the issue's target: a 2 GB log within ~2x of a 400 MB one).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def make_log(path: Path, mib: int) -> None:
    import ingest as bench_ingest  # bench/ingest.py's generator

    sample = path.with_suffix(".sample")
    bench_ingest.generate(sample, 20_000)
    chunk = sample.read_bytes()
    with open(path, "wb") as f:
        while f.tell() < mib * 2**20:
            f.write(chunk)
    sample.unlink()


def make_onnx(path: Path, mib: int) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    c = 256
    k = max(1, int(mib * 2**20 / (c * c * 9 * 4)))
    nodes, inits, x = [], [], "data"
    for i in range(k):
        w = numpy_helper.from_array(np.zeros((c, c, 3, 3), np.float32), f"w{i}")
        inits.append(w)
        nodes.append(helper.make_node("Conv", [x, f"w{i}"], [f"y{i}"], pads=[1, 1, 1, 1], name=f"conv{i}"))
        x = f"y{i}"
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, c, 14, 14])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, c, 14, 14])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def run(path: Path, db: Path) -> tuple[float, float, str]:
    code = ("import sys, time, json; sys.path.insert(0, %r); from tvmviz.store import Store; s = Store.open(%r); "
            "t = time.perf_counter(); r = s.ingest_paths([%r]); "
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
            "print(json.dumps([time.perf_counter() - t, int(hwm) / 1024, [x.error or x.kind for x in r]]))"
            ) % (str(ROOT), str(db), str(path))
    # VmHWM of the child's own image: ru_maxrss would carry this (large) process's RSS over the fork
    out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, check=True).stdout
    seconds, rss, outcome = json.loads(out)
    return seconds, rss, ", ".join(outcome)[:60]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50,200", help="file sizes in MiB (default: %(default)s)")
    args = parser.parse_args()
    print(f"{'input':<22} {'file MiB':>9} {'peak RSS MiB':>13} {'RSS / file':>10} {'seconds':>8}  outcome")
    for mib in map(int, args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            log = tmp / "t.log"
            make_log(log, mib)
            blank = tmp / "blank.log"
            with open(blank, "wb") as f:
                f.write(b"\n")
                with open(log, "rb") as src:
                    shutil.copyfileobj(src, f)
            gz = tmp / "t.log.gz"
            with open(log, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
                shutil.copyfileobj(src, dst)
            zp = tmp / "t.zip"
            with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
                z.write(log, "t.log")
            model = tmp / "m.onnx"
            make_onnx(model, mib)
            for name, path in (("autotvm log", log), ("log after a blank line", blank), ("gzip log", gz),
                               ("zip log", zp), ("onnx, inline weights", model)):
                size = path.stat().st_size / 2**20
                seconds, rss, outcome = run(path, tmp / f"{name.replace(' ', '_')}.duckdb")
                print(f"{name:<22} {size:>9.0f} {rss:>13,.0f} {rss / size:>10.2f} {seconds:>8.1f}  {outcome}")


if __name__ == "__main__":
    main()
