"""Benchmark layout transforms between NCHW[x]c layouts, the way TVM's graph tuner keys them.

A key is (input shape in the source layout, src, dst, dtype), as in a ``layout_transform`` record.
Like TVM 0.19's graph-tuner template the kernel is ``topi.layout_transform`` with every output axis
fused into one loop (``topi.generic.schedule_injective``): no threads, no explicit vectors, so the
numbers are comparable with the graph tuner's own logs.

Speed comes from compiling many transforms as one module (one ``tvm.compile`` per batch of distinct
keys, each transform an internal function behind one packed entry per pair of ranks), compiling the
next batch on a second core while this one is timed, and timing in-process (or on the RPC device) with
an adaptive ``number``.
"""

from __future__ import annotations

import math
import re
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from tvmviz import style
from tvmviz.errors import TvmvizError
from tvmviz.measure.timing import TRANSFORM_TIMING, TimingPolicy, import_tvm, time_function
from tvmviz.records import FAILED_COST, TransformRecord

_LAYOUT = re.compile(r"^NCHW(?:([1-9][0-9]*)c)?$")
DEFAULT_BATCH = 32  # functions per module: fewer compiles and uploads
FIRST_BATCH = 4  # the one batch whose compile nothing overlaps


@dataclass(frozen=True)
class TransformKey:
    shape: tuple[int, ...]  # input shape, in the source layout
    src: str  # "NCHW" or "NCHW{x}c"
    dst: str
    dtype: str = "float32"

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        for layout in (self.src, self.dst):
            if not _LAYOUT.match(layout):
                raise TvmvizError(f"layout_transform {self.label()}: {layout!r} is not NCHW or NCHW<x>c")
        if len(self.shape) != (4 if self.src == "NCHW" else 5):
            raise TvmvizError(f"layout_transform {self.label()}: shape {list(self.shape)} does not fit {self.src}")

    @classmethod
    def of(cls, record) -> "TransformKey":
        """The key of a TransformRecord (or anything with shape / src / dst / dtype)."""
        return cls(tuple(record.shape), record.src, record.dst, getattr(record, "dtype", "float32"))

    def args(self) -> list:
        """The task args as a layout_transform record logs them."""
        return [["TENSOR", list(self.shape), self.dtype], self.src, self.dst]

    def label(self) -> str:
        return style.transform_of(self.src, self.dst, self.shape, self.dtype)

    @property
    def channels(self) -> int:
        return self.shape[1] * (self.shape[4] if len(self.shape) == 5 else 1)

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    def out_shape(self) -> tuple[int, ...]:
        n, _, h, w = self.shape[:4]
        block = _block(self.dst)
        return (n, self.channels, h, w) if block is None else (n, -(-self.channels // block), h, w, block)

    @property
    def keeps_elements(self) -> bool:
        """False when dst's block does not divide the channels (TVM then calls the transform invalid)."""
        return math.prod(self.out_shape()) == self.elements


@dataclass(frozen=True)
class TransformMeasurement:
    key: TransformKey
    costs: tuple[float, ...]  # seconds per run: [median of repeats, *repeats]; (1e9,) on failure
    error_no: int  # AutoTVM MeasureErrorNo: 0 ok, 2 compile, 4 runtime
    all_cost: float  # seconds spent on it: its share of the batch compile + check + timing
    timestamp: float
    number: int = 0  # runs per repeat
    checked: bool = False  # output compared with the NumPy transform
    error: str = ""

    @property
    def cost0(self) -> float:
        return self.costs[0]

    def to_transform_record(self, seq: int) -> TransformRecord:
        return TransformRecord(self.key.shape, self.key.src, self.key.dst, self.cost0, seq, self.key.dtype, self.error_no)


def _block(layout: str) -> int | None:
    m = _LAYOUT.match(layout)
    return int(m.group(1)) if m and m.group(1) else None


def to_nchw(x: np.ndarray, layout: str) -> np.ndarray:
    if _block(layout) is None:
        return x
    n, c1, h, w, b = x.shape
    return x.transpose(0, 1, 4, 2, 3).reshape(n, c1 * b, h, w)


def from_nchw(x: np.ndarray, layout: str) -> np.ndarray:
    b = _block(layout)
    if b is None:
        return x
    n, c, h, w = x.shape
    return x.reshape(n, c // b, b, h, w).transpose(0, 1, 3, 4, 2)


def reference_transform(data: np.ndarray, key: TransformKey) -> np.ndarray:
    """The transform in NumPy (only for keys that keep the element count)."""
    return np.ascontiguousarray(from_nchw(to_nchw(data, key.src), key.dst))


def transform_primfunc(key: TransformKey, name: str = "main"):
    """topi.layout_transform with every output axis fused, as a named PrimFunc."""
    tvm = import_tvm()
    from tvm import te, topi

    data = te.placeholder(key.shape, dtype=key.dtype, name="data")
    out = topi.layout_transform(data, key.src, key.dst)
    sch = tvm.s_tir.Schedule(te.create_prim_func([data, out]))
    block = sch.get_sblock(out.op.name)
    loops = sch.get_loops(block)
    if len(loops) > 1:
        sch.fuse(*loops)
    return sch.mod["main"].with_attr("global_symbol", name)


def check_transform_output(key: TransformKey, data: np.ndarray, got: np.ndarray) -> None:
    """Raise a TvmvizError when TVM's output is not exactly the NumPy transform (a copy is exact)."""
    want = reference_transform(data, key)
    if got.shape != want.shape or not np.array_equal(got, want):
        bad = "shape " + str(list(got.shape)) if got.shape != want.shape else f"{int((got != want).sum())} elements"
        raise TvmvizError(
            f"layout_transform {key.label()}: TVM's result differs from the NumPy reference ({bad} differ); "
            "the compiled kernel is wrong, its time would be meaningless"
        )


def _private_kernel(key: TransformKey):
    """The transform as an internal function of pointers: no packed-API wrapper of its own.

    The wrapper (argument and shape checks with their messages) cost LLVM more than the loop itself: 26 of
    the 41 ms each transform took to compile. The loop is the same TIR, so its code and time are the same.
    """
    tvm = import_tvm()
    from tvm import tirx

    func = transform_primfunc(key).without_attr("global_symbol")
    pointers = [tirx.Var(name, tvm.ir.PointerType(tvm.ir.PrimType(key.dtype), "global")) for name in ("src", "dst")]
    body = tirx.SeqStmt([*(tirx.DeclBuffer(buf, data=ptr) for buf, ptr in zip(func.params, pointers)), func.body])
    return tirx.PrimFunc(pointers, body, attrs=func.attrs)


def _entry(key: TransformKey) -> str:
    """The packed function that runs a batch's transforms of this key's ranks, chosen by index."""
    return f"run_{len(key.shape)}d_{len(key.out_shape())}d_{key.dtype}"


def _dispatcher(entry: str, example: TransformKey, kernels: list):
    """One packed function ``entry(src, dst, index)`` calling kernel ``index`` of ``kernels``.

    Its tensors have symbolic shapes (each kernel knows its own); ``kernels`` is [(index, GlobalVar)].
    """
    tvm = import_tvm()
    from tvm import tirx

    buffers = [tirx.decl_buffer([tirx.Var(f"{name}_{d}", "int64") for d in range(rank)], example.dtype, name=name)
               for name, rank in (("src", len(example.shape)), ("dst", len(example.out_shape())))]
    index = tirx.Var("index", "int32")
    body = tirx.Evaluate(tirx.const(0, "int32"))
    for i, kernel in reversed(kernels):
        call = tvm.ir.Call(kernel, [b.data for b in buffers], ret_ty="int32")
        body = tirx.IfThenElse(index == i, tirx.Evaluate(call), body)
    return tirx.PrimFunc([*buffers, index], body).with_attr("global_symbol", entry)


def _batch_module(batch: list):
    """An IRModule with every key of ``batch`` ([(index, key)]) as a kernel, and one entry per pair of ranks."""
    tvm = import_tvm()
    funcs, by_entry = {}, {}
    for i, key in batch:
        kernel = tvm.ir.GlobalVar(f"lt{i}")
        funcs[kernel] = _private_kernel(key)
        by_entry.setdefault(_entry(key), (key, []))[1].append((i, kernel))
    for entry, (example, kernels) in by_entry.items():
        funcs[tvm.ir.GlobalVar(entry)] = _dispatcher(entry, example, kernels)
    return tvm.IRModule(funcs)


def _compile_batch(batch: list, device) -> tuple[dict, dict]:
    """{index: executable holding its key's entry}, {index: error text}; a failing batch is split to find the culprit."""
    tvm = import_tvm()
    try:
        executable = tvm.compile(_batch_module(batch), target=device.target)
    except Exception as e:  # noqa: BLE001 - TVM raises many types; isolate the bad key below
        if len(batch) == 1:
            return {}, {batch[0][0]: f"compile failed: {str(e).strip().splitlines()[-1] if str(e).strip() else e}"}
        half = len(batch) // 2
        mods, errs = _compile_batch(batch[:half], device)
        mods2, errs2 = _compile_batch(batch[half:], device)
        return {**mods, **mods2}, {**errs, **errs2}
    return {i: executable for i, _ in batch}, {}


def _load(compiled: tuple, batch: list, device) -> tuple[dict, dict]:
    """The compiled batch as modules on the device (one upload per batch for a remote one)."""
    executables, errors = compiled
    keys = dict(batch)
    modules: dict = {}
    for ex in {id(e): e for e in executables.values()}.values():
        mine = [i for i, e in executables.items() if e is ex]
        module = device.load(ex, _entry(keys[mine[0]]))
        modules.update({i: module for i in mine})
    return modules, errors


def measure_transforms(keys, target=None, progress=None, policy: TimingPolicy | None = None,
                       batch_size: int = DEFAULT_BATCH, check: bool = True, seed: int = 0,
                       device=None, overlap: bool = True) -> list[TransformMeasurement]:
    """Measure each distinct key once, in the order given; duplicates are measured once.

    ``device``: a tvmviz.measure.rpc LocalDevice (default, for ``target``) or RemoteDevice. With ``overlap``
    batches compile on a second thread while earlier ones are timed (TVM's compiler releases the GIL), so
    compiling and timing overlap on two cores (see _Batches). ``progress(done, total, label)`` is called
    before each key and once at the end. A key whose compile or run fails gets error_no 2 / 4 and cost 1e9;
    a wrong result raises TvmvizError.
    """
    from tvmviz.measure.rpc import LocalDevice

    import_tvm()
    device = device or LocalDevice(target)
    policy = policy or TRANSFORM_TIMING
    unique = list(dict.fromkeys(TransformKey.of(k) if not isinstance(k, TransformKey) else k for k in keys))
    rng = np.random.default_rng(seed)
    out: list[TransformMeasurement] = []
    total = len(unique)
    chunks = _chunks(list(enumerate(unique)), max(1, batch_size))

    def compile_chunk(chunk):
        t0 = time.perf_counter()
        compiled = _compile_batch(chunk, device)
        if not device.remote:  # JIT on the compile thread too; a remote session is used from one thread
            compiled = _load(compiled, chunk, device)
        return compiled, time.perf_counter() - t0

    batches = _Batches(chunks, compile_chunk)
    compiler = threading.Thread(target=batches.compile_all, name="tvmviz-compile", daemon=True) if overlap else None
    if compiler:
        compiler.start()
    try:
        for n, chunk in enumerate(chunks):
            if progress:
                progress(chunk[0][0], total, f"compiling {len(chunk)} transforms")
            compiled, seconds = batches.get(n)
            t0 = time.perf_counter()
            modules, errors = _load(compiled, chunk, device) if device.remote else compiled
            compile_share = (seconds + time.perf_counter() - t0) / len(chunk)
            for i, key in chunk:
                if progress:
                    progress(i, total, key.label())
                if i in errors:
                    out.append(TransformMeasurement(key, (FAILED_COST,), 2, compile_share, time.time(),
                                                    error=errors[i]))
                    continue
                out.append(_measure_one(modules[i], _entry(key), i, key, device.dev, policy, check, rng, compile_share))
    finally:
        batches.stop()
        if compiler:
            compiler.join()
    if progress:
        progress(total, total, "")
    return out


class _Batches:
    """Batches compiled in order by whichever thread is free: the compile thread, and the timing thread whenever
    the batch it needs next is not ready (it compiles a later one meanwhile: compiling costs more than timing,
    and a core that waits is lost). At most two threads work, so timing never shares a core."""

    def __init__(self, chunks: list, compile_chunk):
        self._chunks, self._compile = chunks, compile_chunk
        self._results = [Future() for _ in chunks]
        self._next, self._lock = 0, threading.Lock()

    def _compile_next(self) -> bool:
        with self._lock:
            n = self._next
            if n >= len(self._chunks):
                return False
            self._next += 1
        try:
            self._results[n].set_result(self._compile(self._chunks[n]))
        except BaseException as e:  # noqa: BLE001 - raised again by get(n), on the timing thread
            self._results[n].set_exception(e)
        return True

    def compile_all(self) -> None:
        while self._compile_next():
            pass

    def get(self, n: int):
        while not self._results[n].done() and self._compile_next():
            pass
        return self._results[n].result()

    def stop(self) -> None:
        """No batch starts compiling after this (the one under way finishes)."""
        with self._lock:
            self._next = len(self._chunks)


def _chunks(items: list, size: int) -> list[list]:
    """Batches of ``size``, the first one smaller: timing waits only for that one to compile."""
    first = min(size, FIRST_BATCH)
    return [items[:first]] + [items[start:start + size] for start in range(first, len(items), size)] if items else []


def _measure_one(module, entry, index, key, dev, policy, check, rng, compile_share) -> TransformMeasurement:
    tvm = import_tvm()
    t0 = time.perf_counter()
    data_np = rng.uniform(-1, 1, key.shape).astype(key.dtype)
    try:
        data = tvm.runtime.tensor(data_np, dev)
        result = tvm.runtime.empty(key.out_shape(), key.dtype, dev)
        module[entry](data, result, index)  # also the warm-up run
        checked = False
        if check and key.keeps_elements:
            check_transform_output(key, data_np, result.numpy())
            checked = True
        timing = time_function(module, entry, (data, result, index), dev, policy)
    except TvmvizError:
        raise
    except Exception as e:  # noqa: BLE001 - a runtime failure is a failed measurement, not a crash
        return TransformMeasurement(key, (FAILED_COST,), 4, compile_share + time.perf_counter() - t0, time.time(),
                                    error=f"run failed: {e}")
    return TransformMeasurement(key, timing.costs, 0, compile_share + time.perf_counter() - t0, time.time(),
                                timing.number, checked)
