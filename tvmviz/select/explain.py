"""Why a layer got its layout: per candidate kernel cost, transforms in / out given the rest of the
solution, and regret (best total with the layer forced to that candidate, minus the optimum)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tvmviz import style
from tvmviz.errors import TvmvizError
from tvmviz.select.api import Selection
from tvmviz.select.costmodel import SOURCE_NAMES, Problem, Term
from tvmviz.select.exact import clique_tree


@dataclass(frozen=True)
class TransformCost:
    src: str
    dst: str
    shape: tuple
    src_layout: str
    dst_layout: str
    cost_s: float
    source: str


@dataclass(frozen=True)
class CandidateExplanation:
    index: int
    ic_bn: int
    oc_bn: int
    label: str
    kernel_s: float
    transform_in_s: float
    transform_out_s: float
    local_total_s: float  # kernel + in + out, everything else as chosen
    local_delta_s: float  # vs the chosen candidate
    regret_s: float | None  # best total with this candidate minus the optimum (None: not computable)
    chosen: bool
    transforms_in: tuple = ()
    transforms_out: tuple = ()
    # the best whole solution with this candidate forced, vs the selection: kernel and transform deltas,
    # and the other layers it re-chooses (None when regret is not computable)
    forced_kernel_delta_s: float | None = None
    forced_transform_delta_s: float | None = None
    forced_changes: tuple = ()


@dataclass(frozen=True)
class LayerExplanation:
    node: str
    workload: list
    chosen: int
    optimum_s: float | None
    total_s: float
    candidates: tuple  # CandidateExplanation, in candidate order
    sentences: tuple = field(default=())  # one per non-chosen candidate, best regret first

    def candidate(self, label_or_index) -> CandidateExplanation:
        for c in self.candidates:
            if c.index == label_or_index or c.label == label_or_index:
                return c
        raise KeyError(label_or_index)

    def why_not(self, label_or_index) -> str:
        return _sentence(self, self.candidate(label_or_index))


@dataclass(frozen=True)
class RegretTable:
    optimum_s: float
    nodes: tuple  # node names, TVM order
    labels: tuple  # per node: candidate labels
    regret_s: tuple  # per node: tuple of regrets (seconds) per candidate
    chosen: tuple  # per node: chosen candidate index


def label(ic_bn: int, oc_bn: int) -> str:
    """A candidate in the one layout notation (tvmviz.style): '16c', or '32c→16c' (reads 32c, writes 16c)."""
    return style.pair(ic_bn, oc_bn)


def _marginals(problem: Problem):
    tree = clique_tree(problem)
    if tree is None:
        return None
    return tree.marginals()


def regret_table(sel: Selection) -> RegretTable:
    p = _problem(sel)
    marg = _marginals(p)
    if marg is None:
        raise TvmvizError("the graph is too entangled for a full regret table (its clique tree is too large)")
    optimum = min(float(m.min()) for m in marg.values())
    names, labels, regrets, chosen = [], [], [], []
    for c in p.convs:
        names.append(p.name(c))
        labels.append(tuple(label(x.ic_bn, x.oc_bn) for x in p.candidates[c]))
        regrets.append(tuple(float(max(0.0, r - optimum)) for r in marg[c]))
        chosen.append(sel.assignment[c])
    return RegretTable(optimum, tuple(names), tuple(labels), tuple(regrets), tuple(chosen))


def _problem(sel: Selection) -> Problem:
    if sel.problem is None:
        raise TvmvizError("this selection carries no cost model to explain (it was loaded, not solved)")
    return sel.problem


def _cost(problem: Problem, t: Term, a: int, b: int, in_side: bool) -> TransformCost:
    shape, sl, dl = t.table.key(a, b)
    code = int(t.table.source[a, b])
    return TransformCost(problem.name(t.src), problem.name(t.dst), tuple(shape), sl, dl,
                         float(t.table.costs[a, b]), "measured" if code == 0 else SOURCE_NAMES[code])


def explain_node(sel: Selection, name: str) -> LayerExplanation:
    p = _problem(sel)
    try:
        v = p.conv_index(name)
    except KeyError:
        raise TvmvizError(f"explain: no conv2d named {name!r}; conv2d nodes are: "
                          + ", ".join(p.name(c) for c in p.convs[:12])) from None
    marg = _marginals(p)
    optimum = min(float(m.min()) for m in marg.values()) if marg is not None else sel.optimum_s
    assign = dict(sel.assignment)
    terms = [t for t in p.terms() if v in (t.src_var, t.dst_var)]
    rows = []
    for k, cand in enumerate(p.candidates[v]):
        assign[v] = k
        t_in, t_out = [], []
        for t in terms:
            a, b = assign[t.src_var], assign[t.dst_var]
            tc = _cost(p, t, a, b, in_side=t.dst_var == v)
            (t_in if t.dst_var == v else t_out).append(tc)
        kernel = float(p.kernel[v][k])
        tin = sum(x.cost_s for x in t_in)
        tout = sum(x.cost_s for x in t_out)
        regret = float(max(0.0, marg[v][k] - optimum)) if marg is not None else None
        rows.append([k, cand, kernel, tin, tout, regret, tuple(t_in), tuple(t_out)])
    chosen = sel.assignment[v]
    forced = {}
    if marg is not None:
        k0, t0 = p.evaluate(sel.assignment)
        for k in range(len(p.candidates[v])):
            if k == chosen:
                continue
            tree = clique_tree(p, forced={v: k})
            alt = tree.decode()
            k1, t1 = p.evaluate(alt)
            changes = tuple(p.name(c) for c in p.convs if c != v and alt[c] != sel.assignment[c])
            forced[k] = (k1 - k0, t1 - t0, changes)
    base_local = rows[chosen][2] + rows[chosen][3] + rows[chosen][4]
    cands = tuple(
        CandidateExplanation(k, c.ic_bn, c.oc_bn, label(c.ic_bn, c.oc_bn), kern, tin, tout, kern + tin + tout,
                             kern + tin + tout - base_local, regret, k == chosen, ti, to,
                             *forced.get(k, (None, None, ())))
        for k, c, kern, tin, tout, regret, ti, to in rows
    )
    exp = LayerExplanation(name, p.graph.nodes[v].conv.workload(), chosen, optimum, sel.total_cost_s, cands)
    others = sorted((c for c in cands if not c.chosen),
                    key=lambda c: (c.regret_s if c.regret_s is not None else c.local_delta_s, c.index))
    return LayerExplanation(exp.node, exp.workload, exp.chosen, exp.optimum_s, exp.total_s, exp.candidates,
                            tuple(_sentence(exp, c) for c in others))


def _sentence(exp: LayerExplanation, c: CandidateExplanation) -> str:
    base = exp.candidates[exp.chosen]
    if c.chosen:
        return f"{exp.node}: {c.label} is the chosen candidate ({style.ms(c.local_total_s)} kernel + transforms)."
    worse = c.regret_s if c.regret_s is not None else c.local_delta_s
    pct = 100.0 * worse / base.local_total_s if base.local_total_s > 0 else float("nan")
    if c.forced_changes and c.forced_kernel_delta_s is not None:
        dk, dt = c.forced_kernel_delta_s, c.forced_transform_delta_s
        shown = ", ".join(c.forced_changes[:4]) + (" ..." if len(c.forced_changes) > 4 else "")
        return (f"{exp.node}: {c.label} was {style.ms(worse)} ({pct:+.0f}%) worse than {base.label} because, even with "
                f"{len(c.forced_changes)} other layer(s) re-chosen ({shown}), kernels cost {style.ms_delta(dk)} and "
                f"transforms {style.ms_delta(dt)} (with the other layers kept: {style.ms_delta(c.local_delta_s)}).")
    dk = c.kernel_s - base.kernel_s
    dt_in = c.transform_in_s - base.transform_in_s
    dt_out = c.transform_out_s - base.transform_out_s
    dt = dt_in + dt_out
    text = (f"{exp.node}: {c.label} was {style.ms(worse)} ({pct:+.0f}%) worse than {base.label} because its kernel is "
            f"{style.ms(abs(dk))} {'slower' if dk >= 0 else 'faster'} and its transforms cost {style.ms(abs(dt))} "
            f"{'more' if dt >= 0 else 'less'} (in {style.ms_delta(dt_in)}, out {style.ms_delta(dt_out)})")
    return text + "."

