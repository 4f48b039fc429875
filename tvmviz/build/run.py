"""Build plans with TVM, check their numerics, and time them here: end to end and per layer in place.

End to end: ``time_evaluator`` on the Relax VM, R runs of one inference each (median and every run).
Per layer: the same VM with an instrument that stamps the clock before and after every call, over R
runs (median per call): each conv2d_NCHWc and each layout transform is its own function, so its time
is that kernel's, in the graph, with the caches the previous layer left. Everything at ``threads``
threads, then again at 1 thread (contention shows as a N-thread time far from the 1-thread time / N).

Numerics: the first output on a random input against ``onnx.reference.ReferenceEvaluator`` (NumPy,
independent of TVM) with the same weights; a max relative error above ``REL_ERR_LIMIT`` is an error.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from tvmviz.errors import TvmvizError
from tvmviz.measure.timing import import_tvm, resolve_target, target_string, tvm_version

REL_ERR_LIMIT = 1e-3  # max |tvm - reference| / max |reference|: float32 reassociation stays ~1e-6
MAX_REPEAT = 1000
DEFAULT_REPEAT = 10


# ---- threads ----------------------------------------------------------------------------------------


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def allow_all_cores() -> None:
    """Let TVM's thread pool use every core (by default it takes half, assuming hyper-threads). Only
    effective before TVM first runs a parallel kernel in this process; ``set_threads`` reports what it got."""
    os.environ.setdefault("TVM_NUM_THREADS", str(available_cores()))


def set_threads(n: int) -> int:
    """Resize TVM's thread pool to ``n`` threads; returns the count TVM actually runs with."""
    import_tvm()
    import tvm_ffi

    tvm_ffi.get_global_func("runtime.config_threadpool")(1, int(n))  # 1: kBig, every (big) core
    return int(tvm_ffi.get_global_func("runtime.NumThreads")())


# ---- results ----------------------------------------------------------------------------------------


@dataclass
class LayerTiming:
    name: str
    ic_bn: int
    oc_bn: int
    predicted_s: float
    measured_s: float
    measured_1t_s: float | None = None
    shape: list = field(default_factory=list)  # additive: the conv's NCHW output shape


@dataclass
class TransformTiming:
    src: str
    dst: str
    src_layout: str
    dst_layout: str
    predicted_s: float | None  # None: inserted by the build, not in the graph tuner's objective
    measured_s: float | None  # None: predicted, but the build needed none here
    measured_1t_s: float | None = None
    shape: list = field(default_factory=list)  # additive: the input shape in src_layout


@dataclass
class PlanRun:
    plan: str
    predicted_s: float
    measured_s: float
    measured_runs_s: list
    max_rel_err: float
    layers: list  # LayerTiming
    transforms: list  # TransformTiming
    # beyond the contract, additive: the same at 1 thread, and what the objective leaves out
    measured_1t_s: float | None = None
    measured_1t_runs_s: list = field(default_factory=list)
    other_ops_s: float = 0.0  # in-place time of every other op (pools, adds, relu, dense...), N threads
    build_s: float = 0.0  # building + compiling
    warnings: list = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class RunReport:
    target: str
    cpu: str
    threads: int
    tvm_version: str
    plans: list  # PlanRun

    def to_json(self) -> dict:
        return {"target": self.target, "cpu": self.cpu, "threads": self.threads, "tvm_version": self.tvm_version,
                "plans": [p.to_json() for p in self.plans]}


# ---- running ----------------------------------------------------------------------------------------


def load_model(path):
    import onnx

    try:
        return onnx.load(os.fspath(path))
    except Exception as e:  # protobuf raises several unrelated types
        raise TvmvizError(f"{os.path.basename(os.fspath(path))}: building a plan needs the ONNX model "
                          f"(weights and op attributes), and this is not one ({type(e).__name__})") from None


@dataclass
class _Reference:
    inputs: dict  # data input name -> array
    weights: dict
    want: np.ndarray


def _reference(model, graph, seed: int) -> _Reference:
    from onnx.reference import ReferenceEvaluator

    from tvmviz.build.model import data_input_names, model_weights, random_inputs

    data = data_input_names(graph)
    weights = model_weights(model, data, seed)
    inputs = random_inputs(model, data, seed + 1)
    try:
        want = ReferenceEvaluator(_inference_batch_norm(model, weights)).run(None, {**inputs, **weights})[0]
    except Exception as e:  # the reference raises whatever NumPy raises
        raise TvmvizError(f"onnx.reference could not run the model ({type(e).__name__}: {e})") from None
    return _Reference(inputs, weights, np.asarray(want))


def _inference_batch_norm(model, weights: dict):
    """A copy with every one-output BatchNormalization spelled out as the spec's inference formula
    s * (x - mean) / sqrt(var + eps) + b in elementary ops: onnx.reference's BatchNormalization_9 (opsets
    9-13) fills in the default momentum and then runs the *training* formula on the batch statistics."""
    from onnx import helper, numpy_helper

    if not any(n.op_type == "BatchNormalization" and len([o for o in n.output if o]) == 1 for n in model.graph.node):
        return model
    out = type(model)()
    out.CopyFrom(model)
    nodes = []
    for k, n in enumerate(model.graph.node):
        if n.op_type != "BatchNormalization" or len([o for o in n.output if o]) != 1:
            nodes.append(n)
            continue
        eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5)
        x, *params = n.input[:5]
        p = f"_tvmviz_bn{k}"
        rank = next((len(vi.type.tensor_type.shape.dim) for vi in [*model.graph.value_info, *model.graph.input]
                     if vi.name == x), 4)
        for name, suffix in zip(params, ("s", "b", "m", "v")):
            value = weights[name].reshape((-1,) + (1,) * max(rank - 2, 2))
            if suffix == "v":
                value = value + np.asarray(eps, value.dtype)
            out.graph.initializer.append(numpy_helper.from_array(value, f"{p}_{suffix}"))
        nodes += [helper.make_node("Sub", [x, f"{p}_m"], [f"{p}_c"]),
                  helper.make_node("Sqrt", [f"{p}_v"], [f"{p}_d"]),
                  helper.make_node("Div", [f"{p}_c", f"{p}_d"], [f"{p}_n"]),
                  helper.make_node("Mul", [f"{p}_n", f"{p}_s"], [f"{p}_y"]),
                  helper.make_node("Add", [f"{p}_y", f"{p}_b"], [n.output[0]])]
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    return out


def run_plans(model, graph, plans, threads: int | None = None, repeat: int = DEFAULT_REPEAT,
              single_thread: bool = True, progress=None, seed: int = 0, target=None) -> RunReport:
    """Build, check and time every plan (tvmviz.build.plans.Plan) of ``model`` (an onnx.ModelProto or
    its path) whose layout graph is ``graph``. ``progress(done, total, label)`` is called per step."""
    if not 1 <= int(repeat) <= MAX_REPEAT:
        raise TvmvizError(f"--repeat must be between 1 and {MAX_REPEAT}, got {repeat}")
    cores = available_cores()
    threads = cores if threads is None else int(threads)
    if threads < 1:
        raise TvmvizError(f"--threads must be at least 1, got {threads}")
    if not plans:
        raise TvmvizError("no plan to run")
    if not hasattr(model, "graph"):
        model = load_model(model)
    allow_all_cores()
    tvm = import_tvm()
    target = resolve_target(target)
    steps_per_plan = 4 + int(single_thread)
    total = 1 + steps_per_plan * len(plans)
    say = progress or (lambda done, total, label: None)
    say(0, total, "onnx.reference on a random input")
    ref = _reference(model, graph, seed)
    actual = set_threads(threads)
    warnings = []
    if actual != threads:
        warnings.append(f"asked for {threads} threads, TVM runs {actual} (its pool was sized before; set "
                        f"TVM_NUM_THREADS={threads} before starting)")
    dev = tvm.cpu(0)
    runs = []
    for k, plan in enumerate(plans):
        base = 1 + k * steps_per_plan
        runs.append(_run_plan(plan, model, graph, ref, target, dev, actual, repeat, single_thread,
                              lambda step, label, base=base: say(base + step, total, f"{plan.name}: {label}")))
        runs[-1].warnings[:0] = warnings
    set_threads(actual)
    say(total, total, "")
    return RunReport(target_string(target), _cpu_name(target), actual, tvm_version(), runs)


def _cpu_name(target) -> str:
    mcpu = target.attrs.get("mcpu") if hasattr(target, "attrs") else None
    return str(mcpu) if mcpu else "unknown"


def _run_plan(plan, model, graph, ref: _Reference, target, dev, threads, repeat, single_thread, step) -> PlanRun:
    tvm = import_tvm()
    from tvm import relax

    from tvmviz.build.model import build_module

    step(0, "building the Relax module")
    t0 = time.perf_counter()
    built = build_module(model, graph, plan.choices(), ref.weights, label=f"plan {plan.name}")
    step(1, f"compiling {len(built.convs)} convs, {len(built.transforms)} transforms")
    try:
        executable = tvm.compile(built.mod, target=target, relax_pipeline=relax.get_default_pipeline(target))
    except Exception as e:  # noqa: BLE001 - TVM raises many types
        text = str(e).strip().splitlines()
        raise TvmvizError(f"plan {plan.name}: TVM could not compile the module ({text[-1] if text else e})") from None
    build_s = time.perf_counter() - t0
    args = [tvm.runtime.tensor(ref.inputs[name], dev) for name, _, _ in built.inputs]
    vm = relax.VirtualMachine(executable, dev)
    step(2, "checking numerics against onnx.reference")
    got = vm["main"](*args)
    got = (got[0] if isinstance(got, (list, tuple)) or not hasattr(got, "numpy") else got).numpy()
    rel_err = check_numerics(got, ref.want, f"plan {plan.name}")
    step(3, f"timing at {threads} threads")
    runs, per_call = _measure(vm, executable, dev, args, repeat)
    result = PlanRun(plan.name, plan.predicted_s, statistics.median(runs), runs, rel_err, [], [], build_s=build_s,
                     warnings=list(plan.selection.warnings))
    runs_1t, per_call_1t = [], {}
    if single_thread and threads != 1:
        step(4, "timing at 1 thread")
        set_threads(1)
        runs_1t, per_call_1t = _measure(vm, executable, dev, args, repeat)
        set_threads(threads)
    elif single_thread:
        runs_1t, per_call_1t = runs, per_call
    if runs_1t:
        result.measured_1t_s, result.measured_1t_runs_s = statistics.median(runs_1t), runs_1t
    _attribute(result, plan, built, per_call, per_call_1t)
    return result


def check_numerics(got: np.ndarray, want: np.ndarray, label: str) -> float:
    """max |got - want| / max |want|; a TvmvizError above REL_ERR_LIMIT (or on another shape)."""
    if got.shape != want.shape:
        raise TvmvizError(f"{label}: the built model's output has shape {list(got.shape)}, onnx.reference's "
                          f"{list(want.shape)}")
    scale = float(np.max(np.abs(want))) or 1.0
    rel_err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) / scale
    if not rel_err <= REL_ERR_LIMIT:
        raise TvmvizError(f"{label}: the built model's output differs from onnx.reference (max relative error "
                          f"{rel_err:.3g} > {REL_ERR_LIMIT:g}): the build is wrong, its times would mean nothing")
    return rel_err


def _measure(vm, executable, dev, args, repeat: int) -> tuple[list, dict]:
    """(end-to-end seconds per run, {function: median seconds per call in place})."""
    import tvm_ffi
    from tvm import relax

    evaluator = vm.time_evaluator("main", dev, number=1, repeat=repeat)
    runs = [float(x) for x in evaluator(*args).results]
    probe = relax.VirtualMachine(executable, dev)
    samples: dict = {}
    started: dict = {}

    def instrument(func, symbol, before, ret, *call_args):
        now = time.perf_counter()
        if symbol.startswith("vm.builtin"):
            return 0
        if before:
            started[symbol] = now
        else:
            samples.setdefault(symbol, []).append(now - started.pop(symbol))
        return 0

    probe.set_instrument(tvm_ffi.convert(instrument))
    probe["main"](*args)  # warm-up
    samples.clear()
    for _ in range(repeat):
        probe["main"](*args)
    return runs, {k: statistics.median(v) for k, v in samples.items()}


def _attribute(result: PlanRun, plan, built, per_call: dict, per_call_1t: dict) -> None:
    """Per-layer and per-transform rows: measured kernels beside the plan's predicted costs."""
    for conv, node in zip(_in_plan_order(built.convs, plan), plan.selection.nodes):
        result.layers.append(LayerTiming(node.name, node.ic_bn, node.oc_bn, node.kernel_cost_s,
                                         per_call.get(conv.func, float("nan")), per_call_1t.get(conv.func),
                                         list(conv.out_shape)))
    inserted = list(built.transforms)
    for edge in plan.selection.edges:
        if edge.identity:
            continue
        match = next((t for t in inserted if (t.src, t.dst) == (edge.src, edge.dst)), None)
        if match is not None:
            inserted.remove(match)
        result.transforms.append(TransformTiming(
            edge.src, edge.dst, match.src_layout if match else edge.src_layout,
            match.dst_layout if match else edge.dst_layout, edge.cost_s,
            per_call.get(match.func) if match else None, per_call_1t.get(match.func) if match else None,
            list(match.shape if match else edge.shape)))
    for t in inserted:
        result.transforms.append(TransformTiming(t.src, t.dst, t.src_layout, t.dst_layout, None,
                                                 per_call.get(t.func), per_call_1t.get(t.func), list(t.shape)))
    mine = built.func_names()
    result.other_ops_s = float(sum(v for k, v in per_call.items() if k not in mine))


def _in_plan_order(convs, plan) -> list:
    by_name = {c.name: c for c in convs}
    return [by_name[n.name] for n in plan.selection.nodes]
