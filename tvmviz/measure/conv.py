"""Benchmark conv2d_NCHWc.x86 workloads for given (ic_bn, oc_bn) with a small schedule sweep.

The compute is ``topi.nn.conv2d_NCHWc`` on pre-packed data / kernel (what AutoTVM times while tuning);
the schedule is TVM's x86 template (topi/x86/conv2d_avx_common.py and conv2d_avx_1x1.py, v0.19)
rewritten for ``tvm.s_tir.Schedule``: an accumulator tile per output-width chunk (3x3) or per
output-row chunk (1x1), vectorized over oc_block, unrolled over the width tile, rows parallel.
Knobs and config indices are AutoTVM's, so records read like any tuning log.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from tvmviz.errors import TvmvizError
from tvmviz.graph.model import CONV_TASK, ConvAttrs, workload_key
from tvmviz.measure.timing import CONV_TIMING, TimingPolicy, import_tvm, resolve_target, time_function
from tvmviz.records import FAILED_COST, TuningRecord

DEFAULT_TRIALS = 8


# ---- workload -------------------------------------------------------------------------------------


def conv_attrs(workload) -> ConvAttrs:
    """ConvAttrs of a logged conv2d_NCHWc.x86 workload (the list [task, *args], or its JSON key)."""
    import json

    wl = json.loads(workload) if isinstance(workload, str) else list(workload)
    try:
        task, data, kernel, strides, padding, dilation, layout, out_layout, out_dtype = wl
        if task != CONV_TASK or layout != "NCHW" or data[0] != "TENSOR" or kernel[0] != "TENSOR":
            raise ValueError
        attrs = ConvAttrs(tuple(data[1]), tuple(kernel[1]), tuple(strides), tuple(padding), tuple(dilation),
                          data[2], out_dtype)
        if len(attrs.data_shape) != 4 or len(attrs.kernel_shape) != 4 or len(attrs.padding) != 4:
            raise ValueError
    except (ValueError, TypeError, IndexError):
        raise TvmvizError(f"not a {CONV_TASK} workload tvmviz can measure: {workload_key(wl)}") from None
    if attrs.kernel_shape[1] != attrs.data_shape[1]:
        raise TvmvizError(f"{workload_key(wl)}: grouped / depthwise convs are not measured (kernel I != data C)")
    return attrs


def _is_1x1(attrs: ConvAttrs) -> bool:
    return attrs.kernel_shape[2] == 1 and attrs.kernel_shape[3] == 1


# ---- AutoTVM's config space (topi/x86/conv2d.py _create_tuning_space) ------------------------------


def _factors(n: int) -> list[int]:
    return sorted({d for i in range(1, math.isqrt(n) + 1) if n % i == 0 for d in (i, n // i)})


def _ow_space(ow: int) -> list[int]:
    """tile_ow's last factors in AutoTVM's order: policy "verbose" enumerates list(set(factors) |
    set(pow2s)) (CPython's set order for small ints, reproduced by doing the same), keeps f < ow or
    f | ow, then the filter size[-1] <= 64."""
    pow2s = [2**x for x in range(math.floor(math.log2(ow)) + 1)]
    candidates = list(set(_factors(ow)) | set(pow2s))
    return [f for f in candidates if f <= ow and (ow % f == 0 or f < ow) and f <= 64]


@dataclass(frozen=True)
class ConvKnobs:
    ic_bn: int
    oc_bn: int
    tile_ow: int  # reg_n: last factor of tile_ow
    unroll_kw: bool | None = None  # 3x3 (any non-1x1) template
    tile_oh: int | None = None  # 1x1 template

    def entity(self) -> list:
        last = ["unroll_kw", "ot", bool(self.unroll_kw)] if self.tile_oh is None else ["tile_oh", "ot", self.tile_oh]
        return [["tile_ic", "sp", [-1, self.ic_bn]], ["tile_oc", "sp", [-1, self.oc_bn]],
                ["tile_ow", "sp", [-1, self.tile_ow]], last]

    def label(self) -> str:
        last = f"unroll_kw={self.unroll_kw}" if self.tile_oh is None else f"tile_oh={self.tile_oh}"
        return f"ic_bn={self.ic_bn} oc_bn={self.oc_bn} tile_ow={self.tile_ow} {last}"


@dataclass(frozen=True)
class ConvSpace:
    ic: list[int]
    oc: list[int]
    ow: list[int]
    last_name: str  # "unroll_kw" or "tile_oh"
    last: list

    @classmethod
    def of(cls, attrs: ConvAttrs) -> "ConvSpace":
        _, ow = attrs.output_hw()
        oh, _ = attrs.output_hw()
        if _is_1x1(attrs):
            return cls(_factors(attrs.data_shape[1]), _factors(attrs.kernel_shape[0]), _ow_space(ow), "tile_oh",
                       [1, 2] if oh > 1 else [1])
        return cls(_factors(attrs.data_shape[1]), _factors(attrs.kernel_shape[0]), _ow_space(ow), "unroll_kw",
                   [True, False])

    def index(self, k: ConvKnobs) -> int:
        """ConfigSpace index: the first knob varies fastest (ConfigSpace.get)."""
        last = k.tile_oh if self.last_name == "tile_oh" else k.unroll_kw
        digits = [(self.ic, k.ic_bn), (self.oc, k.oc_bn), (self.ow, k.tile_ow), (self.last, last)]
        index, scale = 0, 1
        for values, v in digits:
            if v not in values:
                raise TvmvizError(f"{k.label()} is outside AutoTVM's config space for this workload")
            index += values.index(v) * scale
            scale *= len(values)
        return index

    def __len__(self) -> int:
        return len(self.ic) * len(self.oc) * len(self.ow) * len(self.last)


def sweep(attrs: ConvAttrs, ic_bn: int, oc_bn: int, trials: int = DEFAULT_TRIALS) -> list[ConvKnobs]:
    """Up to ``trials`` schedules for (ic_bn, oc_bn): the width tiles nearest TVM's fallback first
    (largest divisor of OW up to 31), divisors before tail-making tiles, each with both values of
    the last knob."""
    space = ConvSpace.of(attrs)
    c, o = attrs.data_shape[1], attrs.kernel_shape[0]
    if c % ic_bn or o % oc_bn:
        raise TvmvizError(f"ic_bn={ic_bn} / oc_bn={oc_bn} do not divide the channels {c} -> {o} of "
                          f"{attrs.workload_key()}")
    _, ow = attrs.output_hw()
    fallback = max(d for d in range(1, 32) if ow % d == 0)
    ranked = sorted(space.ow, key=lambda f: (ow % f != 0, abs(math.log2(f) - math.log2(fallback)), -f))
    out = []
    for f in ranked:
        for last in space.last:
            if space.last_name == "tile_oh":
                out.append(ConvKnobs(ic_bn, oc_bn, f, tile_oh=last))
            else:
                out.append(ConvKnobs(ic_bn, oc_bn, f, unroll_kw=last))
    return out[:max(1, trials)]


# ---- the kernel ---------------------------------------------------------------------------------


def _packed_shapes(attrs: ConvAttrs, k: ConvKnobs) -> tuple:
    n, c, h, w = attrs.data_shape
    o, _, kh, kw = attrs.kernel_shape
    oh, ow = attrs.output_hw()
    return ((n, c // k.ic_bn, h, w, k.ic_bn), (o // k.oc_bn, c // k.ic_bn, kh, kw, k.ic_bn, k.oc_bn),
            (n, o // k.oc_bn, oh, ow, k.oc_bn))


def conv_primfunc(attrs: ConvAttrs, k: ConvKnobs, name: str = "main"):
    """conv2d_NCHWc with TVM's x86 schedule for these knobs, as a named PrimFunc."""
    tvm = import_tvm()
    from tvm import te, topi

    dshape, kshape, _ = _packed_shapes(attrs, k)
    with resolve_target():  # topi.nn.conv2d_NCHWc asks for a current target
        data = te.placeholder(dshape, dtype=attrs.dtype, name="data")
        kernel = te.placeholder(kshape, dtype=attrs.dtype, name="kernel")
        out = topi.nn.conv2d_NCHWc(data, kernel, list(attrs.strides), list(attrs.padding), list(attrs.dilation),
                                   f"NCHW{k.ic_bn}c", f"NCHW{k.oc_bn}c", attrs.out_dtype)
    sch = tvm.s_tir.Schedule(te.create_prim_func([data, kernel, out]))
    if k.tile_oh is None:
        _schedule_common(sch, k)
    else:
        _schedule_1x1(sch, k)
    _schedule_pad(sch, k)
    return sch.mod["main"].with_attr("global_symbol", name)


def _schedule_pad(sch, k: ConvKnobs) -> None:
    try:
        pad = sch.get_sblock("data_pad")
    except Exception:  # noqa: BLE001 - no padding, no pad stage
        return
    n, icc, ih, _, icb = sch.get_loops(pad)
    if k.ic_bn > 1:
        sch.vectorize(icb)
    sch.parallel(sch.fuse(n, icc, ih))


def _write_back(sch, cc, at_loop, oc_bn: int) -> None:
    """Accumulate into a tile and write it back under ``at_loop`` (TE's cache_write + compute_at)."""
    wb = sch.cache_write(cc, 0, "global")
    sch.reverse_compute_at(wb, at_loop, preserve_unit_loops=True)
    if oc_bn > 1:
        sch.vectorize(sch.get_loops(wb)[-1])


def _schedule_common(sch, k: ConvKnobs) -> None:
    """conv2d_avx_common._schedule_conv_NCHWc."""
    cc = sch.get_sblock("conv2d_NCHWc")
    n, occ, oh, ow, ocb, ic, kh, kw = sch.get_loops(cc)
    owc, owb = sch.split(ow, [None, k.tile_ow])
    icc, icb = sch.split(ic, [None, k.ic_bn])
    if k.unroll_kw:
        sch.reorder(n, occ, oh, owc, icc, kh, icb, kw, owb, ocb)
    else:
        sch.reorder(n, occ, oh, owc, icc, kh, kw, icb, owb, ocb)
    sch.parallel(sch.fuse(n, occ, oh))
    if k.oc_bn > 1:
        sch.vectorize(ocb)
    sch.unroll(owb)
    if k.unroll_kw:
        sch.unroll(kw)
    _write_back(sch, cc, owc, k.oc_bn)
    sch.decompose_reduction(cc, icc)


def _schedule_1x1(sch, k: ConvKnobs) -> None:
    """conv2d_avx_1x1._schedule_conv_NCHWc."""
    cc = sch.get_sblock("conv2d_NCHWc")
    n, occ, oh, ow, ocb, ic, kh, kw = sch.get_loops(cc)
    oho, ohi = sch.split(oh, [None, k.tile_oh])
    owo, owi = sch.split(ow, [None, k.tile_ow])
    icc, icb = sch.split(ic, [None, k.ic_bn])
    sch.reorder(n, occ, oho, owo, icc, icb, kh, kw, ohi, owi, ocb)
    par = sch.fuse(n, occ, oho)
    sch.parallel(par)
    if k.oc_bn > 1:
        sch.vectorize(ocb)
    sch.unroll(owi)
    sch.unroll(ohi)
    _write_back(sch, cc, par, k.oc_bn)
    sch.decompose_reduction(cc, icc)


# ---- the NumPy reference ----------------------------------------------------------------------------


def reference_conv(attrs: ConvAttrs, data: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """NCHW conv2d in float64: one matrix product per kernel tap."""
    n, c, h, w = attrs.data_shape
    o, _, kh, kw = attrs.kernel_shape
    pt, pl, pb, pr = attrs.padding
    sh, sw = attrs.strides
    dh, dw = attrs.dilation
    oh, ow = attrs.output_hw()
    padded = np.pad(data.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    out = np.zeros((n, o, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = padded[:, :, i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw]
            out += np.einsum("nchw,oc->nohw", patch, kernel[:, :, i, j].astype(np.float64), optimize=True)
    return out


def pack_data(data: np.ndarray, b: int) -> np.ndarray:
    n, c, h, w = data.shape
    return np.ascontiguousarray(data.reshape(n, c // b, b, h, w).transpose(0, 1, 3, 4, 2))


def pack_kernel(kernel: np.ndarray, ic_bn: int, oc_bn: int) -> np.ndarray:
    o, i, kh, kw = kernel.shape
    return np.ascontiguousarray(kernel.reshape(o // oc_bn, oc_bn, i // ic_bn, ic_bn, kh, kw).transpose(0, 2, 4, 5, 3, 1))


def unpack_output(out: np.ndarray) -> np.ndarray:
    n, o1, h, w, b = out.shape
    return out.transpose(0, 1, 4, 2, 3).reshape(n, o1 * b, h, w)


@dataclass
class ConvReference:
    """Random inputs of one workload and the exact output, computed once and shared by its candidates."""

    attrs: ConvAttrs
    data: np.ndarray
    kernel: np.ndarray
    want: np.ndarray
    bound: np.ndarray  # conv of |data| and |kernel|: scales the float32 rounding tolerance

    @classmethod
    def of(cls, attrs: ConvAttrs, seed: int = 0) -> "ConvReference":
        rng = np.random.default_rng(seed)
        data = rng.uniform(-1, 1, attrs.data_shape).astype(attrs.dtype)
        kernel = rng.uniform(-1, 1, attrs.kernel_shape).astype(attrs.dtype)
        return cls(attrs, data, kernel, reference_conv(attrs, data, kernel),
                   reference_conv(attrs, np.abs(data), np.abs(kernel)))


RTOL = 1e-4  # relative to the sum of |products|; float32 accumulation stays far below it


def check_conv_output(ref: ConvReference, knobs: ConvKnobs, got_packed: np.ndarray) -> None:
    """Raise a TvmvizError when TVM's output differs from the NumPy conv beyond float32 rounding."""
    got = unpack_output(got_packed)
    if got.shape != ref.want.shape:
        raise TvmvizError(f"{ref.attrs.workload_key()} {knobs.label()}: TVM's output has shape {list(got.shape)}, "
                          f"expected {list(ref.want.shape)}")
    err = np.abs(got - ref.want)
    tol = RTOL * ref.bound + 1e-6
    if not np.all(err <= tol):
        worst = np.unravel_index(np.argmax(err - tol), err.shape)
        raise TvmvizError(
            f"{ref.attrs.workload_key()} {knobs.label()}: TVM's result differs from the NumPy reference "
            f"(max abs error {err.max():.3g} at NCHW index {list(map(int, worst))}, tolerance there "
            f"{tol[worst]:.3g}; {int((err > tol).sum())} of {err.size} outputs wrong): the compiled kernel is "
            "wrong, its time would be meaningless"
        )


# ---- measuring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvMeasurement:
    workload: list  # [task, *args] as logged (NCHW)
    knobs: ConvKnobs
    config_index: int
    costs: tuple[float, ...]  # seconds per run: [median of repeats, *repeats]; (1e9,) on failure
    error_no: int  # AutoTVM MeasureErrorNo: 0 ok, 1 schedule, 2 compile, 4 runtime
    all_cost: float  # seconds: compile + check + timing
    timestamp: float
    error: str = ""

    @property
    def cost0(self) -> float:
        return self.costs[0]

    @property
    def gflops(self) -> float:
        return conv_attrs(self.workload).flops() / self.cost0 / 1e9 if self.error_no == 0 else 0.0

    def to_tuning_record(self, seq: int, target: str = "", tvm_version: str = "") -> TuningRecord:
        import json

        return TuningRecord(workload_key(self.workload), self.knobs.ic_bn, self.knobs.oc_bn, tuple(self.costs),
                            self.error_no, json.dumps(self.knobs.entity(), separators=(",", ":")), seq,
                            target or "llvm", self.config_index, self.all_cost, self.timestamp, tvm_version)


@dataclass(frozen=True)
class ConvTask:
    """One (workload, ic_bn, oc_bn) to sweep."""

    workload: tuple  # as logged, lists turned into tuples so tasks can be deduplicated
    ic_bn: int
    oc_bn: int

    @classmethod
    def of(cls, workload, ic_bn: int, oc_bn: int) -> "ConvTask":
        """From a workload list or its JSON key."""
        import json

        wl = json.loads(workload) if isinstance(workload, str) else workload
        return cls(_frozen(wl), int(ic_bn), int(oc_bn))


def _frozen(x):
    return tuple(_frozen(v) for v in x) if isinstance(x, (list, tuple)) else x


def _thawed(x):
    return [_thawed(v) for v in x] if isinstance(x, (list, tuple)) else x


def _error_text(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[-1] if text else type(e).__name__


def measure_convs(tasks, trials: int = DEFAULT_TRIALS, target=None, progress=None,
                  policy: TimingPolicy | None = None, seed: int = 0, device=None) -> list[ConvMeasurement]:
    """Sweep each task's schedules; ``progress(done, total, label)`` is called per candidate.

    ``device``: a tvmviz.measure.rpc LocalDevice (default, for ``target``) or RemoteDevice.
    A schedule / compile / run failure becomes a record with error_no 1 / 2 / 4 and cost 1e9; a wrong
    result raises TvmvizError (a wrong kernel makes every time meaningless).
    """
    from tvmviz.measure.rpc import LocalDevice

    tvm = import_tvm()
    device = device or LocalDevice(target)
    policy = policy or CONV_TIMING
    plans = []
    for t in tasks:
        attrs = conv_attrs(_thawed(t.workload))
        plans.append((t, attrs, sweep(attrs, t.ic_bn, t.oc_bn, trials)))
    total = sum(len(p[2]) for p in plans)
    dev = device.dev
    refs: dict = {}
    out: list[ConvMeasurement] = []
    done = 0
    for task, attrs, knobs_list in plans:
        space = ConvSpace.of(attrs)
        if attrs not in refs:
            refs[attrs] = ConvReference.of(attrs, seed)
        ref = refs[attrs]
        dshape, kshape, oshape = _packed_shapes(attrs, knobs_list[0])
        data = tvm.runtime.tensor(pack_data(ref.data, task.ic_bn), dev)
        kernel = tvm.runtime.tensor(pack_kernel(ref.kernel, task.ic_bn, task.oc_bn), dev)
        result = tvm.runtime.empty(oshape, attrs.out_dtype, dev)
        for knobs in knobs_list:
            if progress:
                progress(done, total, f"{_short(attrs)} {knobs.label()}")
            out.append(_measure_candidate(_thawed(task.workload), attrs, knobs, space.index(knobs), ref,
                                          (data, kernel, result), device, policy))
            done += 1
    if progress:
        progress(total, total, "")
    return out


def measure_conv(workload, ic_bn: int, oc_bn: int, trials: int = DEFAULT_TRIALS, target=None, progress=None,
                 policy: TimingPolicy | None = None, device=None) -> list[ConvMeasurement]:
    """The schedule sweep of one workload (list or JSON key) for one (ic_bn, oc_bn)."""
    return measure_convs([ConvTask.of(workload, ic_bn, oc_bn)], trials, target, progress, policy, device=device)


def _short(attrs: ConvAttrs) -> str:
    n, c, h, w = attrs.data_shape
    o, _, kh, kw = attrs.kernel_shape
    return f"conv {c}x{h}x{w}->{o} k{kh}x{kw}/s{attrs.strides[0]}"


def compile_candidate(attrs: ConvAttrs, knobs: ConvKnobs, target=None):
    """The compiled module (function "main") of one candidate."""
    tvm = import_tvm()
    func = conv_primfunc(attrs, knobs)
    module = tvm.compile(tvm.IRModule({"main": func}), target=resolve_target(target)).mod
    module["main"]  # JIT now, so compile time is not charged to the first run
    return module


def _measure_candidate(workload, attrs, knobs, index, ref, args, device, policy) -> ConvMeasurement:
    tvm = import_tvm()
    t0 = time.perf_counter()

    def failed(error_no, stage, e):
        return ConvMeasurement(workload, knobs, index, (FAILED_COST,), error_no, time.perf_counter() - t0, time.time(),
                               f"{stage}: {_error_text(e)}")

    dev = device.dev
    try:
        func = conv_primfunc(attrs, knobs)
    except TvmvizError:
        raise
    except Exception as e:  # noqa: BLE001 - a schedule TVM refuses is a failed trial
        return failed(1, "schedule", e)
    try:
        executable = tvm.compile(tvm.IRModule({"main": func}), target=device.target)
        module = None if device.remote else device.load(executable, "main")  # the local JIT is compiling too
    except Exception as e:  # noqa: BLE001
        return failed(2, "compile", e)
    module = module or device.load(executable, "main")
    try:
        module["main"](*args)
    except Exception as e:  # noqa: BLE001
        return failed(4, "run", e)
    check_conv_output(ref, knobs, args[2].numpy())
    try:
        timing = time_function(module, "main", args, dev, policy)
    except Exception as e:  # noqa: BLE001
        return failed(4, "run", e)
    return ConvMeasurement(workload, knobs, index, timing.costs, 0, time.perf_counter() - t0, time.time())
