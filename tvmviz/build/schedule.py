"""A default CPU schedule for the plans' other ops (bias / batch-norm adds, relu, pools, dense).

Relax's CPU pipeline legalizes and fuses them (LegalizeOps, FuseOps, FuseTIR) but leaves each fused
function as naive loops with an intermediate buffer per fused op, one thread. TVM 0.27's dlight has CPU
rules only for GEMV and softmax-like reductions (``s_tir.dlight.cpu``). GEMV is tried first; every
other function gets ``CPUFallback``: the GPU fallback's recipe (inline every block it can) with the
spatial loops fused and run in parallel, the innermost one (the channel block) vectorized. dlight's
Reduction rule is left out: it takes a dense whose weight is (K, N) (ONNX Gemm) and reads the weight
down its columns: 1.1 ms for ResNet-18's classifier at 1 thread, the fallback's vectors along N 0.5 ms.
"""

from __future__ import annotations

VECTOR_MAX = 64  # lanes: NCHW[x]c blocks go to 64; a wider inner loop is split by its largest divisor <= this


def schedule_ops(mod, target):
    """``mod`` with every PrimFunc not yet scheduled given a CPU schedule (dlight's GEMV, else
    ``CPUFallback``)."""
    from tvm.s_tir import dlight

    with target:
        return dlight.ApplyDefaultSchedule(dlight.cpu.GEMV(), cpu_fallback())(mod)


def cpu_fallback():
    from tvm import s_tir, tirx
    from tvm.s_tir.dlight.analysis import normalize_prim_func
    from tvm.s_tir.dlight.base import try_inline
    from tvm.s_tir.dlight.cpu.base import CPUScheduleRule

    class CPUFallback(CPUScheduleRule):
        """Inline what can be inlined, then schedule every remaining block (``_parallel_vectorized``)."""

        def apply(self, func, target, _tunable):
            if not isinstance(func, tirx.PrimFunc) or not self.is_target_available(target):
                return None
            sch = s_tir.Schedule(func)
            blocks = normalize_prim_func(sch)
            if blocks is None:
                return None
            for info in try_inline(sch, blocks):
                _parallel_vectorized(sch, info)
            return sch

    return CPUFallback()


def _parallel_vectorized(sch, info) -> None:
    """Loops (outer spatial..., reduction..., vector): the spatial loops but a vector-wide part of the
    innermost fused and parallel, the reductions inside them (so a pool or a dense reads its inputs
    once per output vector), the innermost spatial part vectorized (the channel block of NCHW[x]c)."""
    loops = sch.get_loops(info.block_rv)
    kinds = info.dom_kind()
    spatial = [loop for loop, kind in zip(loops, kinds) if kind == "S"]
    reduction = [loop for loop, kind in zip(loops, kinds) if kind != "S"]
    if not spatial or len(kinds) != len(loops) or set(kinds) - {"S", "R"}:
        return  # opaque iterations: left as they are
    inner = int(sch.get(spatial[-1]).extent)
    lanes = max(d for d in range(1, min(inner, VECTOR_MAX) + 1) if inner % d == 0)
    rest, vector = sch.split(spatial[-1], [None, lanes])
    sch.reorder(*spatial[:-1], rest, *reduction, vector)
    sch.parallel(sch.fuse(*spatial[:-1], rest))
    sch.vectorize(vector)  # before decomposing: the update block alone is no longer a reduction block
    if reduction:
        sch.decompose_reduction(info.block_rv, reduction[0])
