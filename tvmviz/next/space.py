"""The candidate space of each conv workload and each cell's status in the log.

The x86 ``conv2d_NCHWc`` template splits the input and output channels with ``tile_ic`` / ``tile_oc``
over every factor, so a workload's cells are (factor of C) x (factor of O). A cell is

- ``kept``: a measured pair in the graph tuner's top ``max_sch_num`` (what the solver sees);
- ``pruned``: measured, but cut by that top-k before the solver;
- ``failed``: every trial of the pair failed (error names kept, e.g. BUILD_TIMEOUT);
- ``untried``: no record.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from tvmviz.records import error_name
from tvmviz.select.costmodel import rank_records

STATUSES = ("kept", "pruned", "failed", "untried")
ESTIMATE_METHOD = ("geometric mean of the best measured costs[0] of the nearest measured cells of the same workload "
                   "in its (ic_bn, oc_bn) grid (Chebyshev distance over the sorted factor lists)")


@dataclass(frozen=True)
class SpaceCell:
    workload: str  # workload key (compact JSON [task, *args])
    ic_bn: int
    oc_bn: int
    status: str  # one of STATUSES
    kernel_s: float | None  # best successful costs[0]; None when never measured successfully
    trials: int
    errors: tuple = ()  # ((error name, count), ...) of the failed trials
    estimated_kernel_s: float | None = None  # failed / untried only: from the measured neighbours

    @property
    def pair(self) -> tuple[int, int]:
        return self.ic_bn, self.oc_bn

    def status_text(self) -> str:
        if self.status == "failed":
            return "failed: " + ", ".join(f"{name} x{n}" for name, n in self.errors)
        return self.status


@dataclass(frozen=True)
class WorkloadSpace:
    workload: str
    ic: tuple  # factors of the input channels, ascending
    oc: tuple  # factors of the output channels
    cells: dict  # (ic_bn, oc_bn) -> SpaceCell, every cell of the grid
    ranked: tuple  # winners in the tuner's order: ((ic_bn, oc_bn), costs[0]), ...


def _factors(n: int) -> tuple:
    return tuple(sorted({d for i in range(1, math.isqrt(n) + 1) if n % i == 0 for d in (i, n // i)}))


def workload_space(workload: str, channels: tuple[int, int], records: list, max_sch_num: int,
                   cost_model: str = "tvm") -> WorkloadSpace:
    """One workload's grid; ``records`` are its tuning records in log order."""
    ic, oc = _factors(channels[0]), _factors(channels[1])
    ranked = rank_records(records, cost_model)
    kept = {(r.ic_bn, r.oc_bn) for r in ranked[:max_sch_num] if not r.failed}
    trials: Counter = Counter()
    errors: dict = {}
    best: dict = {}
    for r in records:
        if r.ic_bn is None or r.oc_bn is None:
            continue
        pair = (r.ic_bn, r.oc_bn)
        trials[pair] += 1
        if r.failed:
            errors.setdefault(pair, Counter())[error_name(r.error_no)] += 1
        elif pair not in best or r.cost0 < best[pair]:
            best[pair] = r.cost0
    cells = {}
    for i in ic:
        for o in oc:
            pair = (i, o)
            if pair in best:
                status = "kept" if pair in kept else "pruned"
            else:
                status = "failed" if pair in errors else "untried"
            cells[pair] = SpaceCell(workload, i, o, status, best.get(pair), trials[pair],
                                    tuple(sorted(errors.get(pair, Counter()).items())))
    cells = _with_estimates(cells, ic, oc)
    return WorkloadSpace(workload, ic, oc, cells, tuple(((r.ic_bn, r.oc_bn), r.cost0) for r in ranked))


def _with_estimates(cells: dict, ic: tuple, oc: tuple) -> dict:
    measured = [(ic.index(c.ic_bn), oc.index(c.oc_bn), c.kernel_s) for c in cells.values() if c.kernel_s is not None]
    if not measured:
        return cells
    out = {}
    for pair, cell in cells.items():
        if cell.kernel_s is None:
            i, j = ic.index(cell.ic_bn), oc.index(cell.oc_bn)
            dist = [max(abs(i - a), abs(j - b)) for a, b, _ in measured]
            near = min(dist)
            logs = [math.log(k) for d, (_, _, k) in zip(dist, measured) if d == near]
            cell = SpaceCell(**{**cell.__dict__, "estimated_kernel_s": math.exp(sum(logs) / len(logs))})
        out[pair] = cell
    return out


def candidate_space(graph, tuning: list, max_sch_num: int = 20, cost_model: str = "tvm") -> dict:
    """workload key -> WorkloadSpace, for every conv2d workload of ``graph``, in first-conv order."""
    by_workload: dict = {}
    for rec in sorted(tuning, key=lambda r: r.seq):
        by_workload.setdefault(rec.workload, []).append(rec)
    out: dict = {}
    for node in graph.convs():
        key = node.conv.workload_key()
        if key not in out:
            channels = (node.conv.data_shape[1], node.conv.kernel_shape[0])
            out[key] = workload_space(key, channels, by_workload.get(key, []), int(max_sch_num), cost_model)
    return out
