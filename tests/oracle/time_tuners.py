"""Time TVM 0.19's DPTuner.run() and PBQPTuner.run() apart from their construction (runs in .oracle-venv).

    python time_tuners.py MODEL TUNING_LOG LAYOUT_LOG {measured|inferred} [--repeat N] [--max-sch-num N]

Prints one JSON object: construction (import of the graph, expr2graph, _fetch_cfg), layout-transform table
building (benchmark_layout_transform with every record given, so nothing is measured) and run() times, each
the list over repeats plus min and median. run() mutates its tuner, so every repeat builds a fresh tuner;
after the first, expr2graph's node list is replayed (see run_tuner.Model.new_tuner), so the construction
time that matters is the first one.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import run_tuner  # noqa: E402
from tvm.autotvm.graph_tuner import DPTuner, PBQPTuner  # noqa: E402


def _stats(xs: list[float]) -> dict:
    return {"all": xs, "min": min(xs), "median": statistics.median(xs)}


def time_tuners(model_path: str, tuning_log: str, layout_log: str, mode: str, repeat: int = 5,
                max_sch_num: int = 20) -> dict:
    t0 = time.perf_counter()
    model = run_tuner.Model(model_path)
    import_s = time.perf_counter() - t0
    log_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"tvmviz_oracle_{os.getpid()}.log")
    job = {"tuning_log": tuning_log, "layout_log": layout_log, "mode": mode, "max_sch_num": max_sch_num}
    out = {"model": model_path, "mode": mode, "max_sch_num": max_sch_num, "relay_import_s": import_s}
    if mode == "measured":  # fail rather than benchmark (outside the timed region)
        run_tuner._require_all_measured(model.new_tuner(DPTuner, tuning_log, max_sch_num, log_file), layout_log)
    for label, cls in (("dp", DPTuner), ("pbqp", PBQPTuner)):
        construct, layout, run = [], [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            tuner = model.new_tuner(cls, tuning_log, max_sch_num, log_file)
            t1 = time.perf_counter()
            tuner.benchmark_layout_transform(layout_records=layout_log, infer_layout=mode == "inferred")
            t2 = time.perf_counter()
            tuner.run()
            t3 = time.perf_counter()
            construct.append(t1 - t0)
            layout.append(t2 - t1)
            run.append(t3 - t2)
        out[label] = {"first_construct_s": construct[0], "construct_s": _stats(construct[1:] or construct),
                      "layout_tables_s": _stats(layout), "run_s": _stats(run),
                      "convs": len([n for n in tuner._node_list if n["op"] in tuner._target_ops])}
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 5
    max_sch = int(argv[argv.index("--max-sch-num") + 1]) if "--max-sch-num" in argv else 20
    print(json.dumps(time_tuners(argv[1], argv[2], argv[3], argv[4], repeat, max_sch), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
