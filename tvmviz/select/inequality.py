"""The seed's question for one conv and one x, as the graph tuner's authors state it:

    Latency(NCHW16c) + T(32c→16c) + T(16c→8c)   vs   Latency(NCHW64c) + T(32c→64c) + T(64c→8c)

with this model's numbers: the alternative's kernel and the transforms to and from its neighbours (as the
selection chose them) against the chosen candidate's, each term with where its number comes from, and the
term that decides. Then whether x was measured at all (trials, failures by error name, pruned by
``max_sch_num``, excluded) and what forcing x does once the neighbours are re-chosen.

An x the problem holds no candidate for (pruned, excluded, failed out of the true model) is priced by
pinning it in a copy of the problem, so every x AutoTVM ever timed can be asked about.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from tvmviz import style
from tvmviz.errors import TvmvizError
from tvmviz.records import FAILED_COST, error_name
from tvmviz.select.api import Selection
from tvmviz.select.costmodel import ESTIMATED, IDENTITY, MEASURED, MISSING, Problem, build_problem
from tvmviz.select.exact import clique_tree

# where a number comes from
LOGGED, MEASURED_HERE, ESTIMATED_SRC, MISSING_SRC = "logged", "measured here", "estimated", "missing"
SAME_LAYOUT, PROFILED = "same layout", "profiled"


@dataclass(frozen=True)
class Term:
    kind: str  # "kernel" | "in" | "out"
    text: str  # "Latency(NCHW16c)" | "T(32c→16c)"
    neighbour: str  # producer ("in") or consumer ("out"); "" for the kernel
    cost_s: float
    source: str  # logged | measured here | estimated | missing | profiled | logged ×k | same layout
    shape: tuple = ()


@dataclass(frozen=True)
class Side:
    ic_bn: int
    oc_bn: int
    terms: tuple  # Term: the kernel first, then transforms in, then out

    @property
    def label(self) -> str:
        return style.pair(self.ic_bn, self.oc_bn)

    @property
    def total_s(self) -> float:
        return sum(t.cost_s for t in self.terms)

    def expression(self) -> str:
        return " + ".join(t.text for t in self.terms)


@dataclass(frozen=True)
class Row:
    """One line of the comparison: the same role (kernel, or the transform to one neighbour) on both sides."""

    what: str  # "kernel" | "in from layer1.0.conv2" | "out to layer2.0.conv1"
    alternative: Term | None
    chosen: Term | None

    @property
    def delta_s(self) -> float:
        return (self.alternative.cost_s if self.alternative else 0.0) - (self.chosen.cost_s if self.chosen else 0.0)


@dataclass(frozen=True)
class Coverage:
    """Whether AutoTVM measured x for this conv's workload at all."""

    x: int
    trials: int  # trials writing NCHW{x}c
    failed: int
    failures: tuple  # (error name, count), most first
    pairs: tuple  # (ic_bn, oc_bn) tried with oc_bn == x
    best_cost_s: float | None  # best successful trial
    rank: int | None  # 1-based rank of x's best pair among the workload's pairs (what max_sch_num cuts)
    pairs_total: int
    max_sch_num: int
    status: str  # candidate | pruned | excluded | all failed | never measured | not a divisor
    text: str


@dataclass(frozen=True)
class NeighbourChange:
    name: str
    before: tuple  # (ic_bn, oc_bn)
    after: tuple


@dataclass(frozen=True)
class Inequality:
    node: str
    x: int
    chosen: Side
    alternative: Side | None  # None: x is the chosen layout, or x was never measured
    rows: tuple  # Row
    coverage: Coverage
    forced_total_s: float | None  # best total with x forced here and every other layer re-chosen
    selection_total_s: float
    rechosen: tuple  # NeighbourChange of that best total
    verdict: str
    pinned: bool = False  # the scenario pins this layer

    @property
    def local_delta_s(self) -> float | None:
        return None if self.alternative is None else self.alternative.total_s - self.chosen.total_s

    @property
    def forced_delta_s(self) -> float | None:
        return None if self.forced_total_s is None else self.forced_total_s - self.selection_total_s

    @property
    def deciding(self) -> Row | None:
        """The row where the alternative loses the most (None when it loses nowhere)."""
        if self.alternative is None:
            return None
        worst = max(self.rows, key=lambda r: r.delta_s)
        return worst if worst.delta_s > 0 else None

    def formula(self) -> str:
        """'Latency(NCHW16c) + T(32c→16c) = 0.41 ms  >  Latency(NCHW64c) + T(32c→64c) = 0.30 ms'."""
        right = f"{self.chosen.expression()} = {style.ms(self.chosen.total_s)}"
        if self.alternative is None:
            return right
        left = f"{self.alternative.expression()} = {style.ms(self.alternative.total_s)}"
        d = self.local_delta_s
        op = ">" if d > 5e-10 else ("<" if d < -5e-10 else "=")
        return f"{left}  {op}  {right}"


def _kernel_source(problem: Problem, conv: int, k: int, here_tvm: str | None) -> str:
    cand = problem.candidates[conv][k]
    name = problem.name(conv)
    opts = problem.options
    override = opts.kernel_override.get(name, {})
    if any(tuple(int(v) for v in (key.lower().split("x") if isinstance(key, str) else key)) ==
           (cand.ic_bn, cand.oc_bn) for key in override):
        return PROFILED
    base = MEASURED_HERE if here_tvm and cand.record.tvm_version == here_tvm else LOGGED
    if cand.logged_cost_s >= FAILED_COST:
        base = f"failed trial ({error_name(cand.record.error_no)})"
    scale = float(opts.kernel_scale.get(name, 1.0))
    return base if scale == 1.0 else f"{base} ×{scale:g}"


def _transform_source(code: int, key: tuple, origins: dict | None) -> str:
    if code == IDENTITY:
        return SAME_LAYOUT
    if code == MEASURED:
        return (origins or {}).get((tuple(key[0]), key[1], key[2]), LOGGED)
    return {ESTIMATED: ESTIMATED_SRC, MISSING: MISSING_SRC}[code]


def _side(problem: Problem, conv: int, assignment: dict, origins, here_tvm) -> Side:
    k = assignment[conv]
    cand = problem.candidates[conv][k]
    kernel_text = (f"Latency({style.layout(cand.oc_bn)})" if cand.ic_bn == cand.oc_bn
                   else f"Latency({style.layout(cand.ic_bn)}{style.ARROW}{style.layout(cand.oc_bn)})")
    terms = [Term("kernel", kernel_text, "", float(problem.kernel[conv][k]),
                  _kernel_source(problem, conv, k, here_tvm))]
    ins, outs = [], []
    for t in problem.terms():
        if conv not in (t.src_var, t.dst_var):
            continue
        a, b = assignment[t.src_var], assignment[t.dst_var]
        key = t.table.key(a, b)
        code = int(t.table.source[a, b])
        inward = t.dst_var == conv
        neighbour = problem.name(t.src if inward else t.dst)
        term = Term("in" if inward else "out", f"T({style.transform(key[1], key[2])})", neighbour,
                    float(t.table.costs[a, b]), _transform_source(code, key, origins), tuple(key[0]))
        (ins if inward else outs).append(term)
    return Side(cand.ic_bn, cand.oc_bn, tuple(terms + ins + outs))


def _rows(alt: Side, chosen: Side) -> tuple:
    def keyed(side):
        return {("kernel", "") if t.kind == "kernel" else (t.kind, t.neighbour): t for t in side.terms}

    a, c = keyed(alt), keyed(chosen)
    order = list(dict.fromkeys([*c, *a]))
    return tuple(Row("kernel" if kind == "kernel" else f"{kind} {'from' if kind == 'in' else 'to'} {nb}",
                     a.get((kind, nb)), c.get((kind, nb))) for kind, nb in order)


def _coverage(problem: Problem, conv: int, x: int, tuning) -> Coverage:
    node = problem.graph.nodes[conv]
    wkey = node.conv.workload_key()
    recs = [r for r in tuning if r.workload == wkey and r.oc_bn is not None and r.ic_bn is not None and r.costs]
    mine = [r for r in recs if r.oc_bn == x]
    failures = Counter(error_name(r.error_no) for r in mine if r.failed)
    ok = [r.cost0 for r in mine if not r.failed]
    # the ranking _candidates keeps: cheapest record per pair, sorted by costs[0]
    best: dict = {}
    for r in recs:
        if problem.cost_model == "true" and r.failed:
            continue
        pair = (r.ic_bn, r.oc_bn)
        if pair not in best or r.cost0 < best[pair]:
            best[pair] = r.cost0
    excluded = {int(v) for v in problem.options.exclude_x}
    ranked = sorted((p for p in best if p[0] not in excluded and p[1] not in excluded), key=lambda p: best[p])
    rank = next((i + 1 for i, p in enumerate(ranked) if p[1] == x), None)
    max_sch = int(problem.options.max_sch_num)
    channels = node.conv.kernel_shape[0]
    in_cands = any(c.oc_bn == x for c in problem.candidates[conv])
    name = style.layout(x)
    counted = f"{len(mine)} trials of {name}" + (f", {len(mine) - len(ok)} failed (" + ", ".join(
        f"{e} {n}" for e, n in failures.most_common()) + ")" if failures else "")
    if not mine:
        if channels % x:
            status, text = "not a divisor", f"{x} does not divide {channels} output channels: {name} is not in " \
                                            "AutoTVM's search space for this conv."
        else:
            status, text = "never measured", f"AutoTVM never measured {name} for this workload (0 of " \
                                             f"{len(recs)} trials): the tuner could not choose it."
    elif x in excluded:
        status, text = "excluded", f"{counted}; excluded by the scenario."
    elif not ok and problem.cost_model == "true":
        status, text = "all failed", f"{counted}: every trial failed, so the true cost model has no candidate."
    elif in_cands:
        status = "candidate" if ok else "all failed"
        text = (f"{counted}; best pair ranks {rank} of {len(ranked)}, within max_sch_num={max_sch}." if ok else
                f"{counted}: every trial failed, so the tuner prices it at 1e9 s.")
    elif rank is not None and rank > max_sch:
        status, text = "pruned", f"{counted}; its best pair ranks {rank} of {len(ranked)}, so max_sch_num=" \
                                 f"{max_sch} pruned it before the graph tuner looked."
    else:
        status, text = "candidate", f"{counted}."
    return Coverage(x, len(mine), len(mine) - len(ok), tuple(failures.most_common()),
                    tuple(sorted({(r.ic_bn, r.oc_bn) for r in mine})), min(ok) if ok else None, rank, len(ranked),
                    max_sch, status, text)


def _local_best(problem: Problem, conv: int, assignment: dict, ks) -> int:
    def local(k):
        a = {**assignment, conv: k}
        return sum(t.cost_s for t in _side(problem, conv, a, None, None).terms)

    return min(ks, key=lambda k: (local(k), k))


def _forced(problem: Problem, conv: int, k: int, base_assignment: dict):
    tree = clique_tree(problem, forced={conv: k})
    if tree is None:
        return None, ()
    alt = tree.decode()
    changes = tuple(
        NeighbourChange(problem.name(c), (problem.candidates[c][base_assignment[c]].ic_bn,
                                          problem.candidates[c][base_assignment[c]].oc_bn),
                        (problem.candidates[c][alt[c]].ic_bn, problem.candidates[c][alt[c]].oc_bn))
        for c in problem.convs if c != conv and alt[c] != base_assignment[c])
    return problem.total(alt), changes


def _pinned_problem(sel: Selection, name: str, pair: tuple, tuning, transforms) -> Problem:
    p = sel.problem
    opts = replace(p.options, pins={**p.options.pins, name: pair}, allow_missing_transforms=True)
    return build_problem(p.graph, tuning, transforms, opts)


def seed_inequality(sel: Selection, node: str, x: int, tuning, transforms=(), origins: dict | None = None,
                    here_tvm: str | None = None, pair: tuple | None = None) -> Inequality:
    """The inequality for conv ``node`` and layout NCHW{x}c (``pair`` picks one (ic_bn, oc_bn) of it; by
    default the candidate with oc_bn == x that is cheapest with the neighbours as chosen). ``tuning`` and
    ``transforms`` are the records the selection was built from (for x outside the candidates, and for
    what AutoTVM measured); ``origins`` (tvmviz.report.transform_origins) tells logged from measured-here
    transforms, ``here_tvm`` is this machine's TVM version (its records were measured here)."""
    p = sel.problem
    if p is None:
        raise TvmvizError("this selection carries no cost model to explain (it was loaded, not solved)")
    try:
        v = p.conv_index(node)
    except KeyError:
        raise TvmvizError(f"no conv2d named {node!r}; conv2d nodes are: "
                          + ", ".join(p.name(c) for c in p.convs[:12])) from None
    x = int(x)
    base = dict(sel.assignment)
    chosen = _side(p, v, base, origins, here_tvm)
    coverage = _coverage(p, v, x, tuning)
    if pair is not None:
        pair = (int(pair[0]), int(pair[1]))
        ks = [k for k, c in enumerate(p.candidates[v]) if (c.ic_bn, c.oc_bn) == pair]
        is_chosen = pair == (chosen.ic_bn, chosen.oc_bn)
    else:
        ks = [k for k, c in enumerate(p.candidates[v]) if c.oc_bn == x]
        is_chosen = chosen.oc_bn == x
    alt, forced_total, rechosen = None, None, ()
    if is_chosen:
        pass
    elif ks:
        k = _local_best(p, v, base, ks)
        alt = _side(p, v, {**base, v: k}, origins, here_tvm)
        forced_total, rechosen = _forced(p, v, k, base)
    else:
        # measured but not a candidate here (pruned, excluded, failed): pin it in a copy of the problem
        wkey = p.graph.nodes[v].conv.workload_key()
        best: dict = {}
        for r in tuning:
            q = (r.ic_bn, r.oc_bn)
            if r.workload == wkey and q in coverage.pairs and (pair is None or q == pair) and r.costs:
                best[q] = min(best.get(q, float("inf")), r.cost0)
        if best:
            q = min(best, key=lambda q: (best[q], q))
            try:
                p2 = _pinned_problem(sel, node, q, tuning, transforms)
            except TvmvizError:
                p2 = None  # the scenario excludes it: coverage says so
            if p2 is not None:
                v2 = p2.conv_index(node)
                alt = _side(p2, v2, {**base, v2: 0}, origins, here_tvm)
                forced_total, rechosen = _forced(p2, v2, 0, base)
    rows = _rows(alt, chosen) if alt is not None else ()
    ineq = Inequality(node, x, chosen, alt, rows, coverage, forced_total, sel.total_cost_s, rechosen, "",
                      node in p.options.pins)
    return replace(ineq, verdict=_verdict(ineq))


def _verdict(q: Inequality) -> str:
    name = style.layout(q.x)
    chosen = q.chosen.label
    if q.alternative is None:
        if q.chosen.oc_bn == q.x:
            return f"{q.node} already writes {name} (chosen {chosen})."
        return f"{q.node} could not take {name}: {q.coverage.text}"
    alt = q.alternative.label
    d = q.local_delta_s
    parts = [f"The scenario pins {q.node} to {chosen}."] if q.pinned else []
    if d > 5e-10:
        row = q.deciding
        what = "its kernel" if row.what == "kernel" else f"the transform {row.what}"
        text = row.alternative.text if row.alternative else row.chosen.text
        parts.append(f"With its neighbours as chosen, {alt} costs {style.ms(d)} more than {chosen}; "
                     f"{what} decides ({text}: {style.ms_delta(row.delta_s)}).")
    else:
        parts.append(f"With its neighbours as chosen, {alt} is {style.ms_delta(d)} against {chosen}: "
                     f"locally no worse, so the solver's choice rests on the rest of the graph.")
    if q.forced_delta_s is not None:
        if q.rechosen:
            shown = ", ".join(f"{c.name} from {style.pair(*c.before)} to {style.pair(*c.after)}"
                              for c in q.rechosen[:4]) + (" …" if len(q.rechosen) > 4 else "")
            parts.append(f"Forcing {alt} and re-choosing the rest changes the total by "
                         f"{style.ms_delta(q.forced_delta_s)} and re-chooses {len(q.rechosen)} other layer(s): "
                         f"{shown}.")
        else:
            parts.append(f"Forcing {alt} changes the total by {style.ms_delta(q.forced_delta_s)}; no other "
                         "layer would change.")
    if q.coverage.status != "candidate":
        parts.append(q.coverage.text)
    return " ".join(parts)


def asked_x_values(sel: Selection, node: str) -> list[int]:
    """The x values worth asking about for a conv: every x among its candidates, the chosen one last."""
    p = sel.problem
    v = p.conv_index(node)
    chosen = p.candidates[v][sel.assignment[v]].oc_bn
    xs = sorted({c.oc_bn for c in p.candidates[v]} - {chosen})
    return xs + [chosen]
