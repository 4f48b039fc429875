"""Compiling what plans run: conv / transform kernels shared by every plan of the process, on every core.

A kernel is named by what it computes: a conv by (target, workload, ic_bn, oc_bn, schedule knobs), a
transform by (target, TransformKey); its symbol is a digest of that. The plan builder calls kernels by
symbol (``call_dps_packed``), so a plan's Relax module holds only its other ops. ``KernelLibrary`` keeps
every kernel compiled in this process: plans sharing a layer's layout share its kernel, and building the
same plans again compiles no kernel.

``compile_all`` splits the work over the cores. TVM's compiler holds the GIL and its JSON / TVMScript
round trips of TIR do not work in 0.27, so the shares beyond this process's go to child processes
(``python -m tvmviz.build.kernels``) that rebuild their kernels from the kernel specs and return shared
libraries; this process compiles the plans' other ops (and the rest of the kernels) meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass

from tvmviz.errors import TvmvizError
from tvmviz.measure.timing import import_tvm

SYMBOL_PREFIX = "tvmviz_kernel_"
MAX_KERNELS = 2048  # compiled kernels kept per process (a ResNet-50 sweep of 5 plans needs a few hundred)
MAX_WORKERS = 4
# CPU seconds to compile one (ResNet-18's, on this project's machine, batched as compile_all does: a conv
# with its unrolled tiles, a transform, a scheduled fused op) and a child's start (its TVM import, linking
# its .so), to split the work evenly: the child, not this process, was the one left compiling
COST = {"conv": 0.2, "transform": 0.06, "op": 0.09}
CHILD_START = 2.5

# topi keeps its tag scope in a class attribute: TE / topi (schedules, Relax legalization) one thread at a time
TOPI_LOCK = threading.Lock()


@dataclass(frozen=True)
class Kernel:
    """A kernel a plan calls: its symbol and what it computes, as JSON-able fields."""

    symbol: str
    kind: str  # "conv" / "transform"
    spec: str  # JSON: conv {"attrs": ConvAttrs, "knobs": ConvKnobs}, transform {TransformKey's fields}

    def primfunc(self):
        return make_primfunc(self.kind, json.loads(self.spec), self.symbol)


def conv_kernel(target_key: str, attrs, knobs) -> Kernel:
    return _kernel("conv", target_key, {"attrs": asdict(attrs), "knobs": asdict(knobs)})


def transform_kernel(target_key: str, key) -> Kernel:
    return _kernel("transform", target_key, asdict(key))


def _kernel(kind: str, target_key: str, spec: dict) -> Kernel:
    text = json.dumps(spec, sort_keys=True)
    digest = hashlib.sha1(f"{target_key}|{kind}|{text}".encode()).hexdigest()[:16]
    return Kernel(f"{SYMBOL_PREFIX}{kind}_{digest}", kind, text)


def make_primfunc(kind: str, spec: dict, symbol: str):
    from tvmviz.graph.model import ConvAttrs
    from tvmviz.measure.conv import ConvKnobs, conv_primfunc
    from tvmviz.measure.transform import TransformKey, transform_primfunc

    if kind == "conv":
        attrs = ConvAttrs(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec["attrs"].items()})
        return conv_primfunc(attrs, ConvKnobs(**spec["knobs"]), symbol)
    return transform_primfunc(TransformKey(tuple(spec["shape"]), spec["src"], spec["dst"], spec["dtype"]), symbol)


def compile_workers() -> int:
    from tvmviz.build.run import available_cores

    return max(1, min(available_cores(), MAX_WORKERS))


class KernelLibrary:
    """The process's compiled kernels (least recently used dropped past ``limit``), thread-safe."""

    def __init__(self, limit: int = MAX_KERNELS):
        self.limit = limit
        self._modules: OrderedDict = OrderedDict()  # symbol -> runtime module holding it
        self._lock = threading.Lock()
        self.compiled = 0  # kernels compiled into this library (tests and the bench read it)

    def missing(self, kernels) -> list[Kernel]:
        with self._lock:
            return list({k.symbol: k for k in kernels if k.symbol not in self._modules}.values())

    def add(self, compiled: list) -> None:
        """``compiled``: (symbols, runtime module holding them) pairs, as compile_all returns them."""
        with self._lock:
            for symbols, module in compiled:
                for s in symbols:
                    self._modules[s] = module
                    self._modules.move_to_end(s)
                    self.compiled += 1
            while len(self._modules) > self.limit:
                self._modules.popitem(last=False)  # executables importing the module keep it alive

    def modules_for(self, symbols) -> list:
        """The distinct modules holding these kernels (each must be in the library)."""
        with self._lock:
            out = {}
            for s in symbols:
                module = self._modules[s]
                self._modules.move_to_end(s)
                out[id(module)] = module
            return list(out.values())

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._modules

    def __len__(self) -> int:
        return len(self._modules)


_LIBRARY = KernelLibrary()


def library() -> KernelLibrary:
    """The process-wide library (a Streamlit server shares it between sessions)."""
    return _LIBRARY


# ---- compiling on every core -----------------------------------------------------------------------------


def compile_all(kernels: list[Kernel], ops: dict, target, workers: int | None = None) -> tuple[list, list]:
    """Compile ``kernels`` and ``ops`` (name -> PrimFunc, the plans' other ops) over ``workers`` cores:
    ((kernel symbols, module) pairs, (op names, module) pairs). This process takes the ops and, where
    it has room, kernels; child processes take the other kernels."""
    workers = max(1, workers or compile_workers())
    loads = [COST["op"] * len(ops)] + [CHILD_START] * (workers - 1)
    shares: list[list] = [[] for _ in range(workers)]
    for k in sorted(kernels, key=lambda k: -COST[k.kind]):  # biggest first onto the least loaded core
        w = min(range(workers), key=loads.__getitem__)
        shares[w].append(k)
        loads[w] += COST[k.kind]
    out_kernels, out_ops = [], []
    with tempfile.TemporaryDirectory(prefix="tvmviz-compile-") as tmp:
        children = [_start_child(share, target, tmp, w) for w, share in enumerate(shares[1:], 1) if share]
        try:
            if ops:
                out_ops.append((list(ops), compile_here(ops, target)))
            if shares[0]:
                with TOPI_LOCK:
                    funcs = {k.symbol: k.primfunc() for k in shares[0]}
                out_kernels.append((list(funcs), compile_here(funcs, target)))
        finally:
            for child in children:
                out_kernels.append(_finish_child(child, target))
    return out_kernels, out_ops


def compile_here(funcs: dict, target):
    """One module of ``funcs`` (name -> PrimFunc); a function TVM refuses is named."""
    tvm = import_tvm()
    try:
        module = tvm.tirx.build(tvm.IRModule(funcs), target=target)
    except Exception as e:  # noqa: BLE001 - TVM raises many types: split the batch to find the culprit
        if len(funcs) == 1:
            text = str(e).strip().splitlines()
            raise TvmvizError(f"TVM could not compile {next(iter(funcs))} "
                              f"({text[-1] if text else type(e).__name__})") from None
        items = list(funcs.items())
        compile_here(dict(items[: len(items) // 2]), target)
        compile_here(dict(items[len(items) // 2:]), target)
        raise TvmvizError("TVM could not compile a batch of functions that compile one by one") from None
    module[next(iter(funcs))]  # the LLVM JIT runs on first lookup: charge it to compiling
    return module


@dataclass
class _Child:
    proc: subprocess.Popen
    kernels: list
    out: str  # .so path


def _start_child(kernels: list[Kernel], target, tmp: str, w: int) -> _Child:
    request, out = os.path.join(tmp, f"w{w}.json"), os.path.join(tmp, f"w{w}.so")
    with open(request, "w") as f:
        json.dump({"target": str(target), "out": out,
                   "kernels": [{"symbol": k.symbol, "kind": k.kind, "spec": k.spec} for k in kernels]}, f)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # where tvmviz/ is
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-m", "tvmviz.build.kernels", request], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return _Child(proc, kernels, out)


def _finish_child(child: _Child, target) -> tuple[list, object]:
    """(symbols, module) of a child's kernels; those of a child that failed are compiled here, naming
    what TVM refuses."""
    tvm = import_tvm()
    symbols = [k.symbol for k in child.kernels]
    if child.proc.wait() == 0 and os.path.exists(child.out):
        module = tvm.runtime.load_module(child.out)
        module[symbols[0]]
        return symbols, module
    with TOPI_LOCK:
        funcs = {k.symbol: k.primfunc() for k in child.kernels}
    return symbols, compile_here(funcs, target)


def _child_main(request_path: str) -> int:
    """``python -m tvmviz.build.kernels REQUEST.json``: {"target", "out": .so path, "kernels": [{"symbol",
    "kind", "spec"}]}: the kernels built, compiled into one module and exported."""
    tvm = import_tvm()
    with open(request_path) as f:
        request = json.load(f)
    funcs = {k["symbol"]: make_primfunc(k["kind"], json.loads(k["spec"]), k["symbol"]) for k in request["kernels"]}
    tvm.tirx.build(tvm.IRModule(funcs), target=tvm.target.Target(request["target"])).export_library(request["out"])
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
