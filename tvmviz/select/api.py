"""select(): graph + records + options -> Selection (the seam every page, report and script uses)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from tvmviz.graph.model import LayoutGraph
from tvmviz.records import TuningRecord
from tvmviz.select.costmodel import SOURCE_NAMES, Problem, TableCache, build_problem
from tvmviz.select.options import SelectOptions

OPTIMAL_RTOL = 1e-9


@dataclass(frozen=True)
class NodeChoice:
    name: str
    workload: list  # [task, *args] as logged
    ic_bn: int
    oc_bn: int
    in_layout: str
    out_layout: str
    entity: list
    kernel_cost_s: float
    record: TuningRecord
    index: int = -1  # graph node index
    candidate: int = 0  # position in the node's candidate list
    n_candidates: int = 0

    def to_json(self) -> dict:
        return {"name": self.name, "workload": self.workload, "ic_bn": self.ic_bn, "oc_bn": self.oc_bn,
                "in_layout": self.in_layout, "out_layout": self.out_layout, "entity": self.entity,
                "kernel_cost_s": self.kernel_cost_s, "candidate": self.candidate,
                "n_candidates": self.n_candidates}


@dataclass(frozen=True)
class EdgeChoice:
    src: str
    dst: str
    shape: list  # the layout_transform key's shape (source layout)
    src_layout: str
    dst_layout: str
    cost_s: float
    source: str  # "measured" | "estimated" | "missing" (an identity transform reports "measured", 0 s)
    kind: str = "conv"  # "conv": producer -> conv; "merge": non-lead input -> merge
    lead: str = ""  # for a merge edge: the lead input, whose layout the input is transformed into
    reused: bool = False  # tvm model: priced with the conv edge matrix of the same pair
    identity: bool = False

    def to_json(self) -> dict:
        return {"src": self.src, "dst": self.dst, "shape": self.shape, "src_layout": self.src_layout,
                "dst_layout": self.dst_layout, "cost_s": self.cost_s, "source": self.source, "kind": self.kind,
                "lead": self.lead or None, "reused_pair": self.reused, "identity": self.identity}


@dataclass
class Selection:
    solver: str
    cost_model: str
    total_cost_s: float
    kernel_cost_s: float
    transform_cost_s: float
    optimal: bool | None
    gap_s: float | None
    nodes: list  # NodeChoice, one per conv in TVM node order
    edges: list  # EdgeChoice, one per counted transform
    assignment: dict = field(default_factory=dict)  # conv node index -> candidate index
    optimum_s: float | None = None
    solver_objective_s: float | None = None  # what the solver itself minimized (PBQP: J + lead kernels)
    exact_method: str | None = None
    warnings: list = field(default_factory=list)
    options: SelectOptions | None = None
    problem: Problem | None = field(default=None, repr=False)

    def node(self, name: str) -> NodeChoice:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def choices(self) -> dict:
        """node name -> (ic_bn, oc_bn)."""
        return {n.name: (n.ic_bn, n.oc_bn) for n in self.nodes}

    def to_json(self) -> dict:
        return {
            "solver": self.solver,
            "cost_model": self.cost_model,
            "total_cost_s": self.total_cost_s,
            "kernel_cost_s": self.kernel_cost_s,
            "transform_cost_s": self.transform_cost_s,
            "optimal": self.optimal,
            "gap_s": self.gap_s,
            "optimum_s": self.optimum_s,
            "solver_objective_s": self.solver_objective_s,
            "nodes": [n.to_json() for n in self.nodes],
            "edges": [e.to_json() for e in self.edges],
            "warnings": list(self.warnings),
        }

    def opt_log_lines(self) -> list[str]:
        """The choice as AutoTVM records, one per conv in node order (what apply_graph_best reads)."""
        return [n.record.to_autotvm_json() for n in self.nodes]


def select(graph: LayoutGraph, tuning: list, transforms: list, opts: SelectOptions | None = None,
           tables: TableCache | None = None) -> Selection:
    """``tables``: a TableCache of these inputs, so what-if scenarios re-price only the edges they change."""
    opts = opts or SelectOptions()
    problem = build_problem(graph, tuning, transforms, opts, tables)
    return solve(problem)


def solve(problem: Problem, solver: str | None = None) -> Selection:
    """Run a solver on an already built problem (what-if reuses problems)."""
    from tvmviz.select.dp import solve_dp
    from tvmviz.select.exact import solve_exact
    from tvmviz.select.pbqp import pbqp_objective, solve_pbqp

    opts = problem.options
    solver = solver or opts.solver
    warnings = list(problem.warnings)
    optimal = gap = optimum = None
    method = None
    if solver == "dp":
        res = solve_dp(problem)
        assignment = {c: res.choice.get(c, 0) for c in problem.convs}
        objective = None if math.isnan(res.objective) else res.objective
        if res.fallback:
            warnings.append(f"more than 16 output nodes: TVM's DPTuner gives every conv candidate 0 "
                            f"(its fastest kernel), and so does this")
        missing = [problem.name(c) for c in problem.convs if c not in res.choice]
        if missing:
            warnings.append("DP assigned no candidate to " + ", ".join(missing) + "; candidate 0 used")
    elif solver == "pbqp":
        res = solve_pbqp(problem)
        assignment = {c: res.choice[c] for c in problem.convs}
        objective = pbqp_objective(problem, assignment)
    else:
        res = solve_exact(problem, opts.exact_time_limit_s)
        assignment = res.assignment
        objective = res.optimum
        method = res.method
        optimal, gap, optimum = res.optimal, (res.gap_s if not res.optimal else 0.0), (
            res.optimum if res.optimal else None)
    kernel, transform = problem.evaluate(assignment)
    total = kernel + transform
    if solver != "exact" and opts.compute_optimum:
        ex = solve_exact(problem, opts.exact_time_limit_s)
        method = ex.method
        if ex.optimal:
            optimum = ex.optimum
            gap = max(0.0, total - optimum)
            optimal = gap <= OPTIMAL_RTOL * max(abs(optimum), 1e-12)
            if optimal:
                gap = 0.0
    return Selection(
        solver=solver,
        cost_model=problem.cost_model,
        total_cost_s=total,
        kernel_cost_s=kernel,
        transform_cost_s=transform,
        optimal=optimal,
        gap_s=gap,
        nodes=_node_choices(problem, assignment),
        edges=edge_choices(problem, assignment),
        assignment=assignment,
        optimum_s=optimum,
        solver_objective_s=objective,
        exact_method=method,
        warnings=warnings,
        options=opts,
        problem=problem,
    )


def _node_choices(problem: Problem, assignment: dict) -> list:
    out = []
    for c in problem.convs:
        k = assignment[c]
        cand = problem.candidates[c][k]
        rec = cand.record
        out.append(NodeChoice(
            name=problem.name(c), workload=json.loads(rec.workload), ic_bn=cand.ic_bn, oc_bn=cand.oc_bn,
            in_layout=cand.in_layout, out_layout=cand.out_layout, entity=json.loads(rec.entity),
            kernel_cost_s=float(problem.kernel[c][k]), record=rec, index=c, candidate=k,
            n_candidates=len(problem.candidates[c]),
        ))
    return out


def edge_choices(problem: Problem, assignment: dict) -> list:
    out = []
    for t in problem.terms():
        a, b = assignment[t.src_var], assignment[t.dst_var]
        shape, src_layout, dst_layout = t.table.key(a, b)
        code = int(t.table.source[a, b])
        out.append(EdgeChoice(
            src=problem.name(t.src), dst=problem.name(t.dst), shape=list(shape), src_layout=src_layout,
            dst_layout=dst_layout, cost_s=float(t.table.costs[a, b]),
            source="measured" if code == 0 else SOURCE_NAMES[code], kind=t.kind,
            lead=problem.name(t.lead) if t.kind == "merge" else "", reused=t.reused, identity=code == 0,
        ))
    return out


