"""Run TVM 0.19's real graph tuner (DPTuner, PBQPTuner) on ONNX models and write what it chose.

Runs INSIDE the legacy venv (.oracle-venv: tvm 0.19 with Relay and autotvm.graph_tuner, onnx <= 1.16):
imports only tvm, onnx, numpy and the standard library, never tvmviz.

    python run_tuner.py keys JOBS.json OUT.json   # the layout_transform keys each model needs
    python run_tuner.py run  JOBS.json OUT.json   # DP + PBQP choices and objectives per job
    python run_tuner.py run1 MODEL TUNING LAYOUT {measured|inferred} OUT.json [--max-sch-num N]
    python run_tuner.py serve                     # the same as JSON lines on stdin/stdout, models kept

JOBS.json is a list of {"id", "model", "tuning_log", "layout_log" (run only), "mode" (run only),
"max_sch_num" (default 20), "input_name" (default: the first graph input), "input_shape" (default: its
declared shape)}. OUT.json is a list of results in the same order; a job that fails gets {"id", "error"}
(the batch goes on), so the caller reports it.

Modes: "measured" runs benchmark_layout_transform(infer_layout=False) after checking that the layout log
holds every key the tuner will ask for, so nothing is ever benchmarked (a missing key is an error);
"inferred" runs it with infer_layout=True.

The objective of a choice is recomputed from the tuner's own internals: the chosen records' costs[0] and
the ``_layout_transform_interlayer_cost`` matrices, summed over exactly the edges DPStage sums (COST_MODEL.md
§4); for DP it is cross-checked against the minimum of its float32 output-state tables. "pbqp_objective_s"
is what PBQP minimizes (the lead's kernel counted once more per merge, COST_MODEL.md §7).

Every tuner is the real class, constructed and run unmodified; the only shortcut is that expr2graph's node
list (one relay.build per conv, most of the construction time) is computed once per model and replayed to the
later tuners of that model (Model.new_tuner).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
import traceback

os.environ.setdefault("TOPHUB_LOCATION", "NONE")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import tvm  # noqa: E402
from tvm import autotvm, relay, topi  # noqa: E402
from tvm.autotvm.graph_tuner import DPTuner, PBQPTuner  # noqa: E402
from tvm.autotvm.graph_tuner import base_graph_tuner  # noqa: E402
from tvm.autotvm.graph_tuner.dynamic_programming_stage import DPStage  # noqa: E402
from tvm.autotvm.graph_tuner.utils import has_multiple_inputs, is_boundary_node  # noqa: E402
from tvm.autotvm.record import load_from_file  # noqa: E402

TARGET = "llvm"
DTYPE = "float32"
MODES = ("measured", "inferred")


class OracleError(RuntimeError):
    pass


def _plain(x):
    """TVM workload tuples -> JSON lists."""
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    return x


# ----------------------------------------------------------------------------------------- model


class Model:
    """An ONNX file imported through Relay, plus the names the tuner needs."""

    def __init__(self, path: str, input_name: str | None = None, input_shape=None):
        proto = onnx.load(path)
        init_names = {i.name for i in proto.graph.initializer}
        graph_inputs = [i for i in proto.graph.input if i.name not in init_names]
        if not graph_inputs:
            raise OracleError(f"{path}: no graph input")
        inp = graph_inputs[0] if input_name is None else next(i for i in graph_inputs if i.name == input_name)
        if input_shape is None:
            input_shape = tuple(d.dim_value for d in inp.type.tensor_type.shape.dim)
        self.path = path
        self.input_name = inp.name
        self.input_shape = tuple(int(d) for d in input_shape)
        self.mod, self.params = relay.frontend.from_onnx(proto, {self.input_name: self.input_shape})
        self.onnx_convs = [n.name for n in proto.graph.node if n.op_type == "Conv"]

        self._node_list = None  # expr2graph's output for this model, replayed for later tuners

    def new_tuner(self, cls, tuning_log: str, max_sch_num: int, log_file: str):
        """A tuner on this model. expr2graph (one relay.build per conv, most of the construction time) runs
        for the first tuner only; later tuners get a copy of the node list it produced for the same function,
        taken before any tuner touched it."""
        real = base_graph_tuner.expr2graph

        def capture(expr, target_ops, node_dict, node_list, tvm_target):
            real(expr, target_ops, node_dict, node_list, tvm_target)
            self._node_list = [_copy_entry(e) for e in node_list]

        def replay(_expr, _target_ops, _node_dict, node_list, _tvm_target):
            node_list.extend(_copy_entry(e) for e in self._node_list)

        base_graph_tuner.expr2graph = capture if self._node_list is None else replay
        try:
            return cls(self.mod["main"], {self.input_name: self.input_shape}, tuning_log,
                       [relay.op.get("nn.conv2d")], TARGET, max_sch_num=max_sch_num, dtype=DTYPE,
                       verbose=False, log_file=log_file, log_level=logging.WARNING)
        finally:
            base_graph_tuner.expr2graph = real


def _copy_entry(entry: dict) -> dict:
    return {k: list(v) if isinstance(v, list) else v for k, v in entry.items()}


def _span_name(expr) -> str | None:
    span = getattr(expr, "span", None)
    if span is None or span.source_name is None:
        return None
    return str(span.source_name.name)


# ----------------------------------------------------------------------------------------- keys


def needed_transforms(tuner) -> list[dict]:
    """Every layout_transform key the tuner asks for (src != dst), in the order it asks, deduplicated, with
    whether topi.layout_transform keeps the element count (else TVM's inferred cost is INVALID_LAYOUT_TIME)."""
    keys: dict = {}

    def _collect(_i, _o, _m, _n, args):
        data, src, dst = args
        if src != dst:
            wkl = autotvm.task.args_to_workload(args, "layout_transform")
            if wkl not in keys:
                shape = tuple(int(v) for v in data.shape)
                out = topi.layout_transform(data, src, dst)
                out_elems = int(np.prod([int(v) for v in out.shape]))
                keys[wkl] = {"shape": list(shape), "src": src, "dst": dst,
                             "valid": out_elems == int(np.prod(shape))}

    tuner._iterate_layout_transform(_collect)
    return list(keys.values())


def _layout_log_keys(path: str) -> set:
    return {rec[0].task.workload for rec in load_from_file(path)}


def _require_all_measured(tuner, layout_log: str) -> None:
    have = _layout_log_keys(layout_log)
    missing = []
    for k in needed_transforms(tuner):
        wkl = ("layout_transform", ("TENSOR", tuple(k["shape"]), DTYPE), k["src"], k["dst"])
        if wkl not in have:
            missing.append(k)
    if missing:
        raise OracleError(f"{layout_log}: {len(missing)} needed layout_transform records missing (measured mode "
                          f"would benchmark them), first: {missing[0]}")


# ----------------------------------------------------------------------------------------- objective


class CostView:
    """The tuner's nodes, candidates and transform matrices, snapshotted before run() (PBQP edits them)."""

    def __init__(self, tuner):
        self.node_list = tuner._node_list
        self.in_nodes = {k: list(v) for k, v in tuner._in_nodes_dict.items()}
        self.out_nodes = {k: list(v) for k, v in tuner._out_nodes_dict.items()}
        self.input_names = set(tuner._input_shapes.keys())
        self.matrices = {k: [list(row) for row in v] for k, v in tuner._layout_transform_interlayer_cost.items()}
        self.target_ops = tuner._target_ops
        self.conv_nodes = sorted(k for k in self.in_nodes if self.node_list[k]["op"] in self.target_ops)

    def is_conv(self, idx) -> bool:
        return self.node_list[idx]["op"] in self.target_ops

    def is_merge(self, idx) -> bool:
        return has_multiple_inputs(self.node_list, idx, self.input_names, base_graph_tuner.OPT_OUT_OP)

    def boundary(self, idx) -> bool:
        return is_boundary_node(self.node_list[idx], self.input_names)

    def lead(self, idx) -> int:
        return next(i for i in self.in_nodes[idx] if not self.boundary(i))

    def sch(self, idx, choice: dict) -> int:
        while not self.is_conv(idx):
            idx = self.lead(idx)
        return int(choice[idx])

    def kernel_cost(self, idx, cand) -> float:
        return float(self.node_list[idx]["record_candidates"][cand][1].costs[0])

    def objective(self, choice: dict) -> dict:
        """J(s) of COST_MODEL.md, summed over the edges DPStage sums; plus PBQP's variant (lead kernels once
        more per merge)."""
        kernels = sum(self.kernel_cost(c, choice[c]) for c in self.conv_nodes)
        transforms = 0.0
        lead_kernels = 0.0
        for key in sorted(self.in_nodes):
            ins = [i for i in self.in_nodes[key] if not self.boundary(i)]
            if self.is_conv(key):
                if ins:
                    p = ins[0]
                    transforms += self.matrices[(p, key)][self.sch(p, choice)][self.sch(key, choice)]
            elif self.is_merge(key) and ins:
                lead = ins[0]
                for x in ins[1:]:
                    transforms += self.matrices[(x, lead)][self.sch(x, choice)][self.sch(lead, choice)]
                lc = lead
                while not self.is_conv(lc):
                    lc = self.lead(lc)
                lead_kernels += self.kernel_cost(lc, choice[lc])
        return {"total_s": kernels + transforms, "kernel_s": kernels, "transform_s": transforms,
                "pbqp_objective_s": kernels + transforms + lead_kernels}


def dp_table_min(tuner) -> float | None:
    """The DP's own optimum: the minimum over output states of the summed float32 tables (as _backward)."""
    outputs = [k for k, v in tuner._out_nodes_dict.items() if not v]
    if len(outputs) > 16:
        return None
    states_list, _ = DPStage.align_states(outputs, tuner._stage_dict, tuner._node_list)
    total = np.zeros(states_list[0][3].size, dtype=np.float32)
    for s in states_list:
        total = total + s[3].flatten()
    return float(np.min(total))


# ----------------------------------------------------------------------------------------- run


def _choice_entries(view: CostView, model: Model, choice: dict) -> list[dict]:
    entries = []
    for k, idx in enumerate(view.conv_nodes):
        node = view.node_list[idx]
        cand = int(choice[idx])
        inp, res = node["record_candidates"][cand]
        cfg = inp.config
        name = _span_name(node["node"])
        entries.append({
            "workload": _plain(node["workloads"][0]),
            "ic_bn": int(cfg["tile_ic"].size[-1]),
            "oc_bn": int(cfg["tile_oc"].size[-1]),
            "entity": _plain(cfg.to_json_dict()["entity"]),
            "conv_index": k,
            "node_index": idx,
            "onnx_node_name": name,
            "conv_ordinal": model.onnx_convs.index(name) if name in model.onnx_convs else None,
            "cost_s": float(res.costs[0]),
            "candidate_index": cand,
            "num_candidates": len(node["record_candidates"]),
        })
    return entries


def _prepare(model: Model, cls, job: dict, log_file: str):
    tuner = model.new_tuner(cls, job["tuning_log"], job.get("max_sch_num", 20), log_file)
    mode = job["mode"]
    if mode == "measured":
        _require_all_measured(tuner, job["layout_log"])
        tuner.benchmark_layout_transform(layout_records=job["layout_log"], infer_layout=False)
    elif mode == "inferred":
        tuner.benchmark_layout_transform(layout_records=job["layout_log"], infer_layout=True)
    else:
        raise OracleError(f"mode must be one of {MODES}, not {mode!r}")
    return tuner


def run_job(job: dict, model: Model, log_file: str) -> dict:
    times = {}
    t0 = time.perf_counter()
    dp = _prepare(model, DPTuner, job, log_file)
    times["dp_construct_s"] = time.perf_counter() - t0
    view = CostView(dp)
    t0 = time.perf_counter()
    dp.run()
    times["dp_run_s"] = time.perf_counter() - t0
    dp_choice = dict(dp._optimal_record_dict)

    t0 = time.perf_counter()
    pbqp = _prepare(model, PBQPTuner, job, log_file)
    times["pbqp_construct_s"] = time.perf_counter() - t0
    pview = CostView(pbqp)
    if pview.matrices != view.matrices:
        raise OracleError("DPTuner and PBQPTuner built different transform matrices")
    t0 = time.perf_counter()
    pbqp.run()
    times["pbqp_run_s"] = time.perf_counter() - t0
    pbqp_choice = dict(pbqp._optimal_record_dict)

    # the order get_optimal_records() returns must be ours
    for tuner, choice in ((dp, dp_choice), (pbqp, pbqp_choice)):
        got = [r[0].config.to_json_dict()["entity"] for r in tuner.get_optimal_records()]
        want = [view.node_list[i]["record_candidates"][int(choice[i])][0].config.to_json_dict()["entity"]
                for i in view.conv_nodes]
        if got != want:
            raise OracleError("get_optimal_records() disagrees with _optimal_record_dict")

    dp_obj = view.objective(dp_choice)
    pbqp_obj = view.objective(pbqp_choice)
    table_min = dp_table_min(dp)
    if table_min is not None and not np.isclose(table_min, dp_obj["total_s"], rtol=1e-5, atol=0):
        raise OracleError(f"DP table minimum {table_min} != recomputed objective {dp_obj['total_s']}")
    ltf = dp.layout_transform_perf_records
    return {
        "id": job.get("id"),
        "model": job["model"],
        "mode": job["mode"],
        "max_sch_num": job.get("max_sch_num", 20),
        "input_name": model.input_name,
        "input_shape": list(model.input_shape),
        "target": TARGET,
        "dtype": DTYPE,
        "dp": _choice_entries(view, model, dp_choice),
        "pbqp": _choice_entries(view, model, pbqp_choice),
        "dp_cost_s": dp_obj["total_s"],
        "dp_kernel_cost_s": dp_obj["kernel_s"],
        "dp_transform_cost_s": dp_obj["transform_s"],
        "dp_table_min_s": table_min,
        "pbqp_cost_s": pbqp_obj["total_s"],
        "pbqp_kernel_cost_s": pbqp_obj["kernel_s"],
        "pbqp_transform_cost_s": pbqp_obj["transform_s"],
        "pbqp_objective_s": pbqp_obj["pbqp_objective_s"],
        "pbqp_equals_dp": all(int(pbqp_choice[i]) == int(dp_choice[i]) for i in view.conv_nodes),
        "pbqp_is_optimal": bool(pbqp._is_optimal),
        "dp_fallback": len([k for k, v in dp._out_nodes_dict.items() if not v]) > 16,
        "layout_records_needed": len(needed_transforms(dp)),
        "layout_transform_costs": [
            {"shape": list(w[1][1]), "src": w[2], "dst": w[3], "cost_s": float(r[1].costs[0])}
            for w, r in ltf.items()
        ],
        "matrices": [{"from": k[0], "to": k[1], "costs": v} for k, v in sorted(view.matrices.items())],
        "times": times,
        "legacy_tuner": f"tvm.autotvm.graph_tuner DPTuner/PBQPTuner, TVM {tvm.__version__}",
    }


def keys_job(job: dict, model: Model, log_file: str) -> dict:
    tuner = model.new_tuner(DPTuner, job["tuning_log"], job.get("max_sch_num", 20), log_file)
    return {"id": job.get("id"), "model": job["model"], "input_name": model.input_name,
            "input_shape": list(model.input_shape), "keys": needed_transforms(tuner)}


def run_batch(jobs: list[dict], fn, log_file: str, models: dict | None = None) -> list[dict]:
    models = {} if models is None else models
    out = []
    for job in jobs:
        try:
            with open(job["model"], "rb") as f:  # the same path may hold a new model
                digest = hashlib.sha256(f.read()).hexdigest()
            key = (job["model"], digest, job.get("input_name"), tuple(job.get("input_shape") or ()))
            if key not in models:
                models[key] = Model(job["model"], job.get("input_name"), job.get("input_shape"))
            out.append(fn(job, models[key], log_file))
        except Exception as e:  # noqa: BLE001 - reported per job, the batch goes on
            out.append({"id": job.get("id"), "model": job.get("model"), "error": f"{type(e).__name__}: {e}",
                        "traceback": traceback.format_exc()})
    return out


def serve() -> int:
    """JSON lines in ({"cmd": "keys"|"run", **job}), one JSON line out per request; models stay imported (and
    their expr2graph output cached) for the life of the process."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # nothing but answers on the real stdout
    models: dict = {}
    log_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"tvmviz_oracle_{os.getpid()}.log")
    print(json.dumps({"ready": True, "tvm": tvm.__version__, "onnx": onnx.__version__}), file=out, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        fn = {"keys": keys_job, "run": run_job}.get(req.get("cmd"))
        if fn is None:
            res = {"id": req.get("id"), "error": f"unknown cmd {req.get('cmd')!r}"}
        else:
            res = run_batch([req], fn, log_file, models)[0]
        print(json.dumps(res), file=out, flush=True)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[1] == "serve":
        return serve()
    if len(argv) < 2 or argv[1] not in ("keys", "run", "run1"):
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "run1":
        model, tuning, layout, mode, out_path = argv[2:7]
        max_sch = int(argv[argv.index("--max-sch-num") + 1]) if "--max-sch-num" in argv else 20
        jobs = [{"id": 0, "model": model, "tuning_log": tuning, "layout_log": layout, "mode": mode,
                 "max_sch_num": max_sch}]
        fn = run_job
    else:
        jobs = json.load(open(argv[2]))
        out_path = argv[3]
        fn = run_job if cmd == "run" else keys_job
    log_file = os.path.join(os.path.dirname(os.path.abspath(out_path)), "graph_tuner.log")
    results = run_batch(jobs, fn, log_file)
    with open(out_path, "w") as f:
        json.dump(results[0] if cmd == "run1" else results, f, indent=1)
    failed = [r for r in results if "error" in r]
    for r in failed:
        print(f"job {r['id']} ({r['model']}): {r['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
