"""rank_next(): graph + records + transforms -> every candidate cell with status, break-even, estimate and
potential gain, ranked ("what to measure next"). The one call pages, the CLI and runs use."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

import numpy as np

from tvmviz.errors import TvmvizError
from tvmviz.graph.model import LayoutGraph
from tvmviz.next.breakeven import break_evens, cell_masks, single_conv_break_evens, workload_factors
from tvmviz.next.space import ESTIMATE_METHOD, SpaceCell, candidate_space
from tvmviz.records import TuningRecord
from tvmviz.select.api import Selection, solve
from tvmviz.select.costmodel import MAX_OUTPUT_NODES, build_problem
from tvmviz.select.options import SelectOptions

GAIN_RTOL = 1e-9  # gains within this fraction of the total are float noise (the DP sums in float32)


@dataclass(frozen=True)
class NextCandidate:
    nodes: tuple  # names of the convs with this workload, TVM order
    workload: list  # [task, *args] as logged
    ic_bn: int
    oc_bn: int
    status: str  # kept | pruned | failed | untried
    kernel_s: float | None  # best measured costs[0]
    break_even_s: float | None  # chosen for at least one conv below this kernel time; None: never
    estimated_kernel_s: float | None  # failed / untried: from the measured neighbours
    potential_gain_s: float | None  # total drop at the estimate (negative: TVM's top-k cut would cost)
    errors: tuple = ()  # failed trials by error name
    chosen_by: tuple = ()  # convs that use it in the logged selection

    def to_json(self) -> dict:
        return {"nodes": list(self.nodes), "workload": self.workload, "ic_bn": self.ic_bn, "oc_bn": self.oc_bn,
                "status": self.status, "kernel_s": self.kernel_s, "break_even_s": self.break_even_s,
                "estimated_kernel_s": self.estimated_kernel_s, "potential_gain_s": self.potential_gain_s}

    @property
    def label(self) -> str:
        return f"{self.ic_bn}x{self.oc_bn}"

    def status_text(self) -> str:
        if self.status == "failed" and self.errors:
            return "failed: " + ", ".join(f"{name} x{n}" for name, n in self.errors)
        return self.status


@dataclass
class NextRanking:
    candidates: list  # NextCandidate, by potential gain (largest first), then those without a gain
    selection: Selection  # the logged selection everything is measured against
    spaces: dict  # workload key -> WorkloadSpace
    method: str
    warnings: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {"candidates": [c.to_json() for c in self.candidates]}

    def for_workload(self, workload_key: str) -> list:
        return [c for c in self.candidates if _key(c.workload) == workload_key]

    def for_node(self, name: str) -> list:
        return [c for c in self.candidates if name in c.nodes]

    def top(self, n: int) -> list:
        """The n best candidates worth measuring: a positive potential gain, not measured yet."""
        return [c for c in self.candidates if c.potential_gain_s is not None and c.potential_gain_s > 0][:n]


def _key(workload) -> str:
    return json.dumps(workload, separators=(",", ":"))


def _check_options(opts: SelectOptions) -> None:
    extra = [name for name, value in (("pins", opts.pins), ("exclude_x", opts.exclude_x),
                                      ("kernel_scale", opts.kernel_scale), ("kernel_override", opts.kernel_override))
             if value] + (["transform_scale"] if opts.transform_scale != 1.0 else [])
    if extra:
        raise TvmvizError(f"what to measure next is computed with everything as logged; these what-if options are "
                          f"not supported here: {', '.join(extra)}")


def rank_next(graph: LayoutGraph, tuning: list, transforms: list, opts: SelectOptions | None = None,
              progress=None) -> NextRanking:
    """Every candidate cell of every conv workload, ranked by potential gain.

    Transforms the logged candidates need follow ``opts`` (missing ones raise as in ``select`` unless
    ``estimate_transforms``); those only an unlogged cell needs are estimated per element as TVM's
    infer_layout does. ``progress(done, total, label)`` is called per workload.
    """
    opts = replace(opts or SelectOptions(), compute_optimum=False)
    _check_options(opts)
    base = build_problem(graph, tuning, transforms, opts)
    selection = solve(base)
    k = int(opts.max_sch_num)
    spaces = candidate_space(graph, tuning, k, opts.cost_model)

    # One problem with every cell of every workload as a candidate: its tables hold every price needed.
    seq = max((r.seq for r in tuning), default=0) + 1
    synthetic = []
    for key, space in spaces.items():
        ranked = {p for p, _ in space.ranked}
        for pair in space.cells:
            if pair not in ranked:
                synthetic.append(TuningRecord(key, pair[0], pair[1], (0.0,), 0, "[]", seq))
                seq += 1
    ext_opts = replace(opts, max_sch_num=10**9, estimate_transforms=True, allow_missing_transforms=False)
    ext = build_problem(graph, list(tuning) + synthetic, transforms, ext_opts)
    index = {}
    for c in ext.convs:
        index[c] = {(cand.ic_bn, cand.oc_bn): i for i, cand in enumerate(ext.candidates[c])}
    workload_of = {c: graph.nodes[c].conv.workload_key() for c in ext.convs}
    dom = {c: np.array([index[c][p] for p, _ in spaces[workload_of[c]].ranked[:k]], dtype=np.intp) for c in ext.convs}
    weight = {c: 1 for c in ext.convs}
    warnings = list(selection.warnings)
    method = ("exact: Newton steps on the optimum of the solver's objective (variable elimination, float64), "
              "every cell of a workload in one batched solve per step")
    if opts.solver == "pbqp":
        for m in base.merges:
            weight[base.owner[m]] += 1
        from tvmviz.select.pbqp import solve_pbqp

        if not solve_pbqp(base).reached_optimal:
            warnings.append("PBQP needed its greedy RN reduction on this graph: break-evens are exact for PBQP's "
                            "objective, PBQP itself may choose otherwise near them")
    outputs = [x for x, v in base.out_nodes.items() if not v]
    fallback = opts.solver == "dp" and len(outputs) > MAX_OUTPUT_NODES
    if fallback:
        method = "DP fallback (more than 16 outputs): every conv takes its fastest candidate"
    diag, pairwise = ext.factors(kernel=False)

    chosen: dict = {}
    for n in selection.nodes:
        chosen.setdefault((_key(n.workload), n.ic_bn, n.oc_bn), []).append(n.name)
    convs_of: dict = {}
    for c in base.convs:
        convs_of.setdefault(workload_of[c], []).append(c)
    out = []
    total = selection.total_cost_s
    for done, (key, space) in enumerate(spaces.items()):
        if progress:
            progress(done, len(spaces), f"workload {done + 1}/{len(spaces)}")
        convs = convs_of[key]
        cells = list(space.cells.values())
        ranked = list(space.ranked)
        others = [[(p, cost) for p, cost in ranked if p != cell.pair] for cell in cells]
        estimate = np.array([c.estimated_kernel_s if c.estimated_kernel_s is not None else np.nan for c in cells])
        if fallback:
            bounds = [float(rest[0][1]) if rest else None for rest in others]  # every conv takes candidate 0
            gains = [None if math.isnan(e) else total - _fallback_total(ext, dom, convs, index, cell.pair, rest, e)
                     for cell, rest, e in zip(cells, others, estimate)]
        elif len(convs) == 1 and opts.solver != "pbqp":  # the plain objective: min-marginals suffice
            kept_pairs = [p for p, _ in ranked[:k]]
            mask, cap = cell_masks(kept_pairs, others, k)
            res = single_conv_break_evens(ext, convs[0], dom, mask, cap, list(dom[convs[0]]),
                                          [index[convs[0]][c.pair] for c in cells], diag, pairwise, estimate, total)
        else:
            wf = workload_factors(ext, convs, dom, list(dom[convs[0]]), [c.pair for c in cells],
                                  [index[convs[0]][c.pair] for c in cells], others, k, weight, diag, pairwise)
            res = break_evens(wf, estimate, total)
        if not fallback:
            bounds = [r.break_even_s for r in res]
            gains = [None if r.total_at_s is None else total - r.total_at_s for r in res]
        names = tuple(base.name(c) for c in convs)
        for cell, be, gain in zip(cells, bounds, gains):
            if gain is not None and abs(gain) <= GAIN_RTOL * max(abs(total), 1e-30):
                gain = 0.0
            out.append(_candidate(cell, names, be, gain, chosen.get((key, cell.ic_bn, cell.oc_bn), ())))
    if progress:
        progress(len(spaces), len(spaces), "")
    out.sort(key=lambda c: (c.potential_gain_s is None, -(c.potential_gain_s or 0.0),
                            -(c.break_even_s or 0.0)))
    return NextRanking(out, selection, spaces, method, warnings)


def _candidate(cell: SpaceCell, names, be, gain, chosen_by) -> NextCandidate:
    return NextCandidate(names, json.loads(cell.workload), cell.ic_bn, cell.oc_bn, cell.status, cell.kernel_s, be,
                         cell.estimated_kernel_s, gain, cell.errors, tuple(chosen_by))


def _fallback_total(ext, dom, convs, index, pair, others, t) -> float:
    """J under DPTuner's fallback (every conv its candidate 0) with the cell at kernel time t."""
    assignment = {c: int(dom[c][0]) for c in ext.convs}
    extra = 0.0
    if not others or t < others[0][1]:
        for c in convs:
            assignment[c] = index[c][pair]
            extra += t - float(ext.kernel[c][assignment[c]])
    return ext.total(assignment) + extra


__all__ = ["rank_next", "NextRanking", "NextCandidate", "ESTIMATE_METHOD"]
