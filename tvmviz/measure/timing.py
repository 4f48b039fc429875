"""Target and timing policy shared by the transform and conv benchmarks.

TVM is imported lazily: tvmviz reads logs without it, only measuring needs apache-tvm.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from tvmviz.errors import TvmvizError


def import_tvm():
    try:
        import tvm
        from tvm import te, topi  # noqa: F401  (fails early when the wheel is incomplete)
    except ImportError as e:
        raise TvmvizError(f"measuring needs apache-tvm (pip install apache-tvm): {e}") from None
    return tvm


def resolve_target(target=None):
    """A tvm.target.Target for this machine's CPU unless one is given.

    The dict form with the LLVM host CPU name: in TVM 0.27 ``-mcpu=native`` is silently ignored.
    """
    tvm = import_tvm()
    if target is None:
        target = {"kind": "llvm", "mcpu": tvm.target.codegen.llvm_get_system_cpu()}
    if isinstance(target, tvm.target.Target):
        return target
    try:
        return tvm.target.Target(target)
    except Exception as e:  # TVM raises its own error types for a bad target
        raise TvmvizError(f"not a TVM target: {target!r} ({e})") from None


def target_string(target) -> str:
    """The target as AutoTVM logs it (``llvm -keys=cpu -mcpu=znver5``), built from the target used.

    TVM 0.27 prints targets as JSON; AutoTVM records and tvmviz's ingest use the legacy string form.
    """
    parts = [str(target.kind.name)]
    keys = list(target.keys)
    if keys:
        parts.append("-keys=" + ",".join(str(k) for k in keys))
    for attr in ("mtriple", "mcpu", "mattr"):
        value = target.attrs.get(attr) if hasattr(target, "attrs") else None
        if value:
            text = ",".join(str(v) for v in value) if not isinstance(value, str) and hasattr(value, "__len__") else str(value)
            if text:
                parts.append(f"-{attr}={text}")
    return " ".join(parts)


def tvm_version() -> str:
    return str(import_tvm().__version__)


@dataclass(frozen=True)
class TimingPolicy:
    """How one compiled function is timed.

    ``number`` runs per repeat are chosen so that one repeat lasts about ``min_repeat_ms`` (from a
    quick calibration run), then ``repeat`` repeats are timed; costs[0] is their median.
    ``cache_flush`` flushes every argument but the first from the CPU caches before each repeat,
    as AutoTVM's LocalRunner(enable_cpu_cache_flush=True) does (then number is kept at 1).
    A disturbed measurement (see ``max_iqr``) is retried.
    """

    repeat: int = 21
    min_repeat_ms: float = 1.0
    cache_flush: bool = False
    max_number: int = 100_000
    # A measurement whose repeats scatter more than this (interquartile range / median) was disturbed
    # (another process took the core): time it again, up to ``retries`` times, keep the calmest.
    max_iqr: float = 0.1
    retries: int = 2

    def __post_init__(self):
        if self.repeat < 1:
            raise TvmvizError(f"repeat must be at least 1, got {self.repeat}")
        if not self.min_repeat_ms >= 0:
            raise TvmvizError(f"min_repeat_ms must be >= 0, got {self.min_repeat_ms}")


# Many short repeats: on a shared machine the median of 21 one-millisecond repeats moved <1% between
# runs where 7 five-millisecond repeats moved up to 60% (bench/measure.py). Half a millisecond is as
# stable as one (run-to-run |ln ratio| p50 0.105 for both, p90 0.355 vs 0.326; the two agree closer than
# two runs of either) and halves the timing floor.
TRANSFORM_TIMING = TimingPolicy(repeat=21, min_repeat_ms=0.5)
CONV_TIMING = TimingPolicy(repeat=7, min_repeat_ms=0.0, cache_flush=True)


@dataclass(frozen=True)
class Timing:
    costs: tuple[float, ...]  # seconds per run: [median, *repeats in measured order]
    number: int
    repeat: int

    @property
    def median_s(self) -> float:
        return self.costs[0]

    @property
    def iqr_ratio(self) -> float:
        """Interquartile range / median of the repeats: how disturbed this measurement was."""
        return iqr_ratio(self.costs[1:] or self.costs)


def iqr_ratio(runs) -> float:
    if len(runs) < 4:
        return 0.0
    q1, _, q3 = statistics.quantiles(runs, n=4)
    med = statistics.median(runs)
    return (q3 - q1) / med if med > 0 else 0.0


def time_function(module, name: str, args, dev, policy: TimingPolicy) -> Timing:
    """Time ``module[name](*args)`` with ``policy``; the caller has already run it once (warm-up)."""
    number = 1
    if policy.cache_flush:
        ev = module.time_evaluator(name, dev, number=1, repeat=policy.repeat, f_preproc="cache_flush_cpu_non_first_arg")
    else:
        if policy.min_repeat_ms > 0:
            probe = module.time_evaluator(name, dev, number=1, repeat=3)
            once = max(min(probe(*args).results), 1e-9)
            number = max(1, min(policy.max_number, math.ceil(policy.min_repeat_ms * 1e-3 / once)))
        ev = module.time_evaluator(name, dev, number=number, repeat=policy.repeat)
    best = None
    for _ in range(1 + max(0, policy.retries)):
        runs = tuple(float(x) for x in ev(*args).results)
        timing = Timing((statistics.median(runs), *runs), number, policy.repeat)
        if best is None or timing.iqr_ratio < best.iqr_ratio:
            best = timing
        if best.iqr_ratio <= policy.max_iqr:
            break
    return best
