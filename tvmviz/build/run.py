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
    """Let TVM's thread pool use every core (by default it takes half, assuming hyper-threads), its workers
    unpinned: TVM binds each worker to one core, and on a shared machine a worker whose core another
    process keeps busy cannot move, so every parallel kernel waits for it at its barrier (ResNet-18 at 2
    threads with a busy core 1: pinned, no inference finished in 12 minutes; unpinned, 0.4 s each, as at 1
    thread). Only effective before TVM starts its pool in this process; ``set_threads`` reports what it got."""
    os.environ.setdefault("TVM_NUM_THREADS", str(available_cores()))
    os.environ.setdefault("TVM_BIND_THREADS", "0")


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
    build_s: float = 0.0  # building its module + its share of compiling (done once for all plans of the call)
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
    # additive: distinct conv / transform kernels the plans call, how many were compiled by this call (the
    # rest were compiled before in this process), and the seconds building and compiling took in all
    kernels: int = 0
    kernels_compiled: int = 0
    compile_s: float = 0.0
    measured_at: str = ""  # local time the call started (every plan of one call shares it)

    def to_json(self) -> dict:
        return {"target": self.target, "cpu": self.cpu, "threads": self.threads, "tvm_version": self.tvm_version,
                "plans": [p.to_json() for p in self.plans], "kernels": self.kernels,
                "kernels_compiled": self.kernels_compiled, "compile_s": self.compile_s,
                "measured_at": self.measured_at}


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
    its path) whose layout graph is ``graph``. ``progress(done, total, label)`` is called per step.

    Every plan's module is built first; the kernels they call are compiled once for all of them (and
    kept for later calls, tvmviz.build.kernels), each plan's other ops are compiled beside them on
    every core; only then is anything timed, one plan after another, so compiling never shares the
    cores with a measurement. Plans with the same layouts everywhere (dp, pbqp and exact often agree)
    are one module: built and timed once, each reported with its own objective and a note saying so."""
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
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    tvm = import_tvm()
    target = resolve_target(target)
    first = first_with_same_layouts(plans)
    distinct = [k for k in range(len(plans)) if first[k] == k]  # indices of the plans built and timed
    steps_per_plan = 2 + int(single_thread)
    total = 3 + steps_per_plan * len(distinct)
    say = progress or (lambda done, total, label: None)
    say(0, total, "onnx.reference on a random input")
    ref = _reference(model, graph, seed)
    compiled = _compile_plans([plans[k] for k in distinct], model, graph, ref, target,
                              lambda step, label: say(1 + step, total, label))
    shared_s = (compiled.compile_s - sum(compiled.build_s)) / len(distinct)
    actual = set_threads(threads)
    warnings = []
    if actual != threads:
        warnings.append(f"asked for {threads} threads, TVM runs {actual} (its pool was sized before; set "
                        f"TVM_NUM_THREADS={threads} before starting)")
    dev = tvm.cpu(0)
    measured = {}  # plan index -> (module, _Measured, build seconds) of the plans built and timed
    for u, k in enumerate(distinct):
        base, plan, built = 3 + u * steps_per_plan, plans[k], compiled.built[u]
        measured[k] = (built, _measure_plan(
            plan, built, compiled.executable, f"plan{u}", ref, dev, actual, repeat, single_thread,
            lambda step, label, base=base, plan=plan: say(base + step, total, f"{plan.name}: {label}")),
            compiled.build_s[u] + shared_s)
    runs = []
    for k, plan in enumerate(plans):
        built, m, build_s = measured[first[k]]
        runs.append(_plan_run(plan, built, m, build_s if first[k] == k else 0.0))
        if first[k] != k:
            runs[-1].warnings.append(f"the same layouts as plan {plans[first[k]].name}: one module, built and "
                                     "measured once; these are its times")
        runs[-1].warnings[:0] = warnings
    set_threads(actual)
    say(total, total, "")
    return RunReport(target_string(target), _cpu_name(target), actual, tvm_version(), runs,
                     kernels=compiled.kernels, kernels_compiled=compiled.kernels_compiled,
                     compile_s=compiled.compile_s, measured_at=started)


def _cpu_name(target) -> str:
    mcpu = target.attrs.get("mcpu") if hasattr(target, "attrs") else None
    return str(mcpu) if mcpu else "unknown"


@dataclass
class _Compiled:
    executable: object  # one executable for every plan: function f"plan{k}" runs plans[k]
    built: list  # BuiltModule per plan
    build_s: list  # seconds building each plan's Relax module
    kernels: int  # distinct kernels the plans call
    kernels_compiled: int  # of which compiled now (the rest were compiled by an earlier call)
    compile_s: float


def _compile_plans(plans, model, graph, ref: _Reference, target, step) -> _Compiled:
    """Every plan's Relax module, all in one executable: the kernels they call compiled once for all
    plans (and kept, tvmviz.build.kernels), their other ops lowered together (the same op in the same
    layout is one function), every function compiled on every core."""
    from tvm import IRModule, relax
    from tvm.tirx import PrimFunc

    from tvmviz.build.kernels import TOPI_LOCK, compile_all, library
    from tvmviz.build.model import build_module
    from tvmviz.build.schedule import schedule_ops

    t0 = time.perf_counter()
    step(0, f"building {len(plans)} Relax modules")
    key = target_string(target)
    built, build_s = [], []
    for plan in plans:
        t = time.perf_counter()
        built.append(build_module(model, graph, plan.choices(), ref.weights, label=f"plan {plan.name}", target_key=key))
        build_s.append(time.perf_counter() - t)
    kernels = list({s: k for b in built for s, k in b.kernels.items()}.values())
    lib = library()
    todo = lib.missing(kernels)
    step(1, f"compiling {len(todo)} kernels ({len(kernels) - len(todo)} compiled before) and the plans' other ops")
    combined = IRModule({f"plan{k}": b.mod["main"].with_attr("global_symbol", f"plan{k}") for k, b in enumerate(built)})
    try:
        with TOPI_LOCK, target:
            lowered = schedule_ops(relax.get_default_pipeline(target)(combined), target)
        ops = {gv.name_hint: f for gv, f in lowered.functions.items() if isinstance(f, PrimFunc)}
        kernel_modules, op_modules = compile_all(todo, ops, target)
        lib.add(kernel_modules)
        vm_part = IRModule({gv: f for gv, f in lowered.functions.items() if not isinstance(f, PrimFunc)},
                           attrs=lowered.attrs)
        executable = relax.build(vm_part, target, relax_pipeline=None)
    except TvmvizError:
        raise
    except Exception as e:  # noqa: BLE001 - TVM raises many types
        text = str(e).strip().splitlines()
        raise TvmvizError(f"TVM could not compile the plans ({text[-1] if text else type(e).__name__})") from None
    for module in [m for _, m in op_modules] + lib.modules_for(k.symbol for k in kernels):
        executable.mod.import_module(module)
    return _Compiled(executable, built, build_s, len(kernels), len(todo), time.perf_counter() - t0)


def first_with_same_layouts(plans) -> list[int]:
    """Per plan, the index of the first plan choosing the same (ic_bn, oc_bn, config) for every conv."""
    seen: dict = {}
    return [seen.setdefault(repr(sorted(plan.choices().items())), k) for k, plan in enumerate(plans)]


@dataclass
class _Measured:
    rel_err: float
    runs: list  # end-to-end seconds per run, N threads
    per_call: dict  # (function, occurrence) -> median seconds in place, N threads
    runs_1t: list
    per_call_1t: dict


def _measure_plan(plan, built, executable, func: str, ref: _Reference, dev, threads, repeat, single_thread,
                  step) -> _Measured:
    tvm = import_tvm()
    from tvm import relax

    args = [tvm.runtime.tensor(ref.inputs[name], dev) for name, _, _ in built.inputs]
    vm = relax.VirtualMachine(executable.mod, dev)
    step(0, "checking numerics against onnx.reference")
    got = vm[func](*args)
    got = (got[0] if isinstance(got, (list, tuple)) or not hasattr(got, "numpy") else got).numpy()
    rel_err = check_numerics(got, ref.want, f"plan {plan.name}")
    step(1, f"timing at {threads} threads")
    runs, per_call = _measure(vm, executable, func, dev, args, repeat)
    runs_1t, per_call_1t = [], {}
    if single_thread and threads != 1:
        step(2, "timing at 1 thread")
        set_threads(1)
        runs_1t, per_call_1t = _measure(vm, executable, func, dev, args, repeat)
        set_threads(threads)
    elif single_thread:
        runs_1t, per_call_1t = runs, per_call
    return _Measured(rel_err, runs, per_call, runs_1t, per_call_1t)


def _plan_run(plan, built, m: _Measured, build_s: float) -> PlanRun:
    result = PlanRun(plan.name, plan.predicted_s, statistics.median(m.runs), m.runs, m.rel_err, [], [],
                     build_s=build_s, warnings=list(plan.selection.warnings))
    if m.runs_1t:
        result.measured_1t_s, result.measured_1t_runs_s = statistics.median(m.runs_1t), m.runs_1t
    _attribute(result, plan, built, m.per_call, m.per_call_1t)
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


def _measure(vm, executable, func: str, dev, args, repeat: int) -> tuple[list, dict]:
    """(end-to-end seconds per run, {(function, occurrence): median seconds per call in place}): a
    function called twice in one inference (a kernel two layers share) is two places."""
    import tvm_ffi
    from tvm import relax

    evaluator = vm.time_evaluator(func, dev, number=1, repeat=repeat)
    runs = [float(x) for x in evaluator(*args).results]
    probe = relax.VirtualMachine(executable.mod, dev)
    samples: dict = {}
    started: dict = {}
    seen: dict = {}  # function -> calls so far in this inference

    clock = time.perf_counter

    def instrument(func, symbol, before, ret, *call_args):
        if before:  # the clock last before the call, first after it: the callback's own time stays out
            if not symbol.startswith("vm.builtin"):
                started[symbol] = clock()
            return 0
        now = clock()
        if symbol in started:
            place = (symbol, seen.get(symbol, 0))
            seen[symbol] = place[1] + 1
            samples.setdefault(place, []).append(now - started.pop(symbol))
        return 0

    probe.set_instrument(tvm_ffi.convert(instrument))
    probe[func](*args)  # warm-up
    samples.clear()
    for _ in range(repeat):
        seen.clear()
        probe[func](*args)
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
