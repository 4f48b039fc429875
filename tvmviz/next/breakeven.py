"""Break-even kernel times, exactly, for every cell of a workload at once.

A cell z = (workload W, ic_bn, oc_bn) measured at kernel time t enters W's ranked records; while t is
below ``cap`` (the ``max_sch_num``-th best of the others) it is in the top k, next to ``B`` (the best
k-1 others; or all others when there are fewer than k). Every conv of W then picks from B + {z}; every
other conv keeps its logged candidates. The objective is affine in t for each assignment (slope = how
many convs of W use z, PBQP counting a merge's lead twice), so its optimum f(t) over assignments that
use z is concave, piecewise linear and increasing; z is chosen iff f(t) < A, the optimum without z. The
break-even is the root of f(t) = A (capped by ``cap``), found by Newton steps from t = 0: each step solves
at t, takes the line of the optimal assignment and jumps to where that line meets A; it ends in at most
(convs of W) + 1 steps, exactly (float64).

One solve handles every cell of W together: a variable Z (which cell) joins W's convs, whose domain is
B's slots plus one slot X = "the cell Z" (its kernel t_Z, its transforms those of Z's layouts); Z is
eliminated last, so the clique tree's root belief is, per cell, the optimum at its own t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tvmviz.errors import TvmvizError
from tvmviz.select.costmodel import Problem
from tvmviz.select.exact import CliqueTree, elimination_order

Z_VAR = -1  # the cell variable's id (conv ids are graph node indices >= 0)
MAX_TABLE = 20_000_000  # entries of the largest clique table one batched solve may build
RTOL = 1e-12  # "chosen" means strictly below the optimum without the cell, beyond float64 noise


@dataclass(frozen=True)
class CellBounds:
    """What the solver would do with one cell: its break-even, and the total at a given kernel time."""

    break_even_s: float | None  # None: never chosen (or, with no other candidate, always)
    total_at_s: float | None  # J of the choice with the cell at the asked kernel time (None: not asked)


@dataclass
class WorkloadFactors:
    """The objective with W's convs over (B slots + X) and everything else as logged, for the cells Z."""

    convs: list  # W's convs (graph node indices)
    kept: list  # W's kept candidate indices in the extended problem (the slots)
    cells: list  # (ic_bn, oc_bn) per Z value
    cell_index: np.ndarray  # per Z value: its candidate index in the extended problem
    mask: np.ndarray  # (slots, Z): 0 where the slot is in that cell's B, inf elsewhere
    cap: np.ndarray  # per Z value
    weight: dict  # conv -> how often the objective counts its kernel (PBQP: 1 + merges it leads)
    unary: dict  # static unary vectors (W's convs and Z: zeros)
    pairwise: dict
    three: list  # ((u, v, Z), table) with Z last
    slot_unary: dict  # W conv -> (slots + 1, Z) without the X kernel
    order: list
    kern_slots: np.ndarray  # kernel costs of the slots (for J under PBQP's weights)
    dom_kern: dict  # other convs: their kernel costs over their logged candidates
    tree: CliqueTree | None = None  # the last solve: its cliques without Z are the same in every solve


def _slot_table(m, x_in, y_in, rk, ez, dom_x, dom_y):
    """Pairwise matrix m (over extended candidates) as a (x, y, Z) table; x_in / y_in: the var is W's."""
    k = len(rk)
    if x_in and y_in:
        t = np.empty((k + 1, k + 1, len(ez)))
        t[:k, :k] = m[np.ix_(rk, rk)][:, :, None]
        t[k, :k] = m[np.ix_(ez, rk)].T
        t[:k, k] = m[np.ix_(rk, ez)]
        t[k, k] = m[ez, ez]
    elif x_in:
        t = np.empty((k + 1, len(dom_y), len(ez)))
        t[:k] = m[np.ix_(rk, dom_y)][:, :, None]
        t[k] = m[np.ix_(ez, dom_y)].T
    else:
        t = np.empty((len(dom_x), k + 1, len(ez)))
        t[:, :k] = m[np.ix_(dom_x, rk)][:, :, None]
        t[:, k] = m[np.ix_(dom_x, ez)]
    return t


def cell_masks(kept_pairs: list, others: list, max_sch_num: int) -> tuple[np.ndarray, np.ndarray]:
    """Per cell (given the ranked others without it): which kept slots stay next to it (0, else inf) and its cap."""
    mask = np.full((len(kept_pairs), len(others)), np.inf)
    cap = np.full(len(others), np.inf)
    for j, rest in enumerate(others):
        base = rest[:max_sch_num - 1] if len(rest) >= max_sch_num else rest
        allowed = {p for p, _ in base}
        mask[[q for q, p in enumerate(kept_pairs) if p in allowed], j] = 0.0
        if len(rest) >= max_sch_num:
            cap[j] = rest[max_sch_num - 1][1]
    return mask, cap


def workload_factors(ext: Problem, convs: list, dom: dict, kept: list, cells: list, cell_index: list,
                     others: list, max_sch_num: int, weight: dict, diag: dict, pairwise: dict) -> WorkloadFactors:
    """``dom``: conv -> its logged candidates' indices in ``ext``; ``others``: per cell, the ranked
    ((pair, cost), ...) of W without it; ``diag`` / ``pairwise``: ext.factors(kernel=False)."""
    in_w = set(convs)
    k = len(kept)
    ez = np.asarray(cell_index, dtype=np.intp)
    mask, cap = cell_masks([(ext.candidates[convs[0]][i].ic_bn, ext.candidates[convs[0]][i].oc_bn) for i in kept],
                           others, max_sch_num)
    unary: dict = {Z_VAR: np.zeros(len(cells))}
    slot_unary: dict = {}
    dom_kern: dict = {}
    for c in ext.convs:
        kern = np.asarray(ext.kernel[c], dtype=float)
        if c in in_w:
            unary[c] = np.zeros(k + 1)
            u = np.empty((k + 1, len(cells)))
            u[:k] = (weight[c] * kern[kept] + diag[c][kept])[:, None] + mask
            u[k] = diag[c][ez]
            slot_unary[c] = u
        else:
            unary[c] = weight[c] * kern[dom[c]] + diag[c][dom[c]]
            dom_kern[c] = kern[dom[c]]
    pw: dict = {}
    three: list = []
    for (u, v), m in pairwise.items():
        if u not in in_w and v not in in_w:
            pw[(u, v)] = m[np.ix_(dom[u], dom[v])]
        else:
            three.append(((u, v, Z_VAR), _slot_table(m, u in in_w, v in in_w, kept, ez, dom.get(u), dom.get(v))))
    scopes = [s for s, _ in three] + [(c, Z_VAR) for c in convs]
    order = elimination_order(unary, pw, tuple(scopes), last=(Z_VAR,))
    sizes = {**unary}
    if CliqueTree.max_table(sizes, pw, order, tuple(scopes)) > MAX_TABLE:
        raise TvmvizError(f"the break-even solve for a workload of {len(convs)} convs with {len(cells)} cells would "
                          f"build clique tables over {MAX_TABLE:,} entries; this graph is too interconnected for "
                          "the exact break-even")
    kern_slots = np.asarray(ext.kernel[convs[0]], dtype=float)[kept]
    return WorkloadFactors(list(convs), list(kept), list(cells), ez, mask, cap, weight, unary, pw, three,
                           slot_unary, order, kern_slots, dom_kern)


@dataclass
class _Eval:
    best: np.ndarray  # per selected cell: the optimum (solver's objective)
    uses: np.ndarray  # weighted count of W's convs on slot X in that optimum
    total: np.ndarray  # J of that optimum (== best unless PBQP's weights)


def evaluate(wf: WorkloadFactors, t: np.ndarray, sel: np.ndarray) -> _Eval:
    """One batched solve: each selected cell with its kernel at its own t (inf: the cell is not offered)."""
    k = len(wf.kept)
    unary = dict(wf.unary)
    unary[Z_VAR] = np.zeros(len(sel))
    factors = [(scope, table[..., sel]) for scope, table in wf.three]
    x_kern = np.where(np.isinf(t), np.inf, t)
    for c in wf.convs:
        u = wf.slot_unary[c][:, sel].copy()
        u[k] = u[k] + wf.weight[c] * x_kern
        factors.append(((c, Z_VAR), u))
    tree = wf.tree = CliqueTree(unary, wf.pairwise, wf.order, tuple(factors), marginals=False, reuse=(wf.tree, Z_VAR))
    best, assign = tree.decode_given(Z_VAR)
    uses = np.zeros(len(sel))
    extra = np.zeros(len(sel))
    for c in wf.convs:
        on_x = assign[c] == k
        uses += wf.weight[c] * on_x
        if wf.weight[c] != 1:
            kern = np.where(on_x, x_kern, wf.kern_slots[np.minimum(assign[c], k - 1)] if k else 0.0)
            extra += (wf.weight[c] - 1) * kern
    for c, kern in wf.dom_kern.items():
        if wf.weight[c] != 1:
            extra += (wf.weight[c] - 1) * kern[assign[c]]
    return _Eval(best, uses, best - extra)


def break_evens(wf: WorkloadFactors, estimate: np.ndarray, base_total: float) -> list[CellBounds]:
    """Per cell of ``wf``: break-even (Newton from t = 0, see the module docstring) and the total J with
    the cell at ``estimate`` (NaN: not asked; ``base_total`` where the cell would stay out of the top k)."""
    n = len(wf.cells)
    everything = np.arange(n)
    t = np.zeros(n)
    ev = evaluate(wf, t, everything)  # a cell unused even at zero kernel time is never chosen
    # A, the optimum without the cell, depends on the cell only through which slots it leaves: one solve per
    # distinct mask column (every unkept cell shares one)
    _, rep, inverse = np.unique(wf.mask.T, axis=0, return_index=True, return_inverse=True)
    without = evaluate(wf, np.full(len(rep), np.inf), rep)
    a, a_total = without.best[inverse.reshape(-1)], without.total[inverse.reshape(-1)]
    result = np.full(n, np.nan)  # NaN: never
    cap = wf.cap
    feasible = np.isfinite(a)
    result[~feasible] = cap[~feasible]  # only the cell can be chosen: chosen whenever it is offered
    active = everything[feasible & (cap > 0)]
    ev_active = (ev.best[active], ev.uses[active])
    for _ in range(len(wf.convs) + 3):
        if active.size == 0:
            break
        best, uses = ev_active
        tol = RTOL * np.maximum(np.abs(a[active]), 1e-30)
        chosen = (best < a[active] - tol) & (uses > 0)
        done = active[~chosen]
        later = t[done] > 0
        result[done[later]] = t[done[later]]  # f(t) == A here: t is the root (at t = 0: never)
        go = active[chosen]
        nxt = (a[go] - (best[chosen] - uses[chosen] * t[go])) / uses[chosen]
        stuck = nxt <= t[go] * (1 + RTOL)  # cannot happen for an exact solve; stop rather than loop
        result[go[stuck]] = t[go[stuck]]
        t[go] = nxt
        active = go[~stuck]
        if active.size:
            ev = evaluate(wf, t[active], active)
            ev_active = (ev.best, ev.uses)
    result[active] = t[active]
    return _bounds(cap, np.minimum(result, cap), estimate, base_total, a_total,
                   lambda idx: evaluate(wf, estimate[idx], idx).total)


def _bounds(cap, be, estimate, base_total, without_total, total_at) -> list[CellBounds]:
    """Below the break-even the cell is chosen (total from ``total_at``); between it and cap it only displaces
    the cap-th record (the optimum without it); at or above cap nothing changes."""
    n = len(be)
    total = np.full(n, np.nan)
    ask = np.isfinite(estimate)
    chosen_at = ask & np.isfinite(be) & (estimate < be)
    idx = np.arange(n)[chosen_at]
    if idx.size:
        total[idx] = total_at(idx)
    shut = ask & ~chosen_at & (estimate < cap)
    total[shut] = without_total[shut]
    total[ask & ~chosen_at & ~(estimate < cap)] = base_total
    return [CellBounds(None if not math.isfinite(be[j]) or be[j] <= 0 else float(be[j]),
                       None if math.isnan(total[j]) else float(total[j])) for j in range(n)]


def single_conv_break_evens(ext: Problem, conv: int, dom: dict, mask: np.ndarray, cap: np.ndarray, kept: list,
                            cell_index: list, diag: dict, pairwise: dict, estimate: np.ndarray,
                            base_total: float) -> list[CellBounds]:
    """A workload with one conv and the plain objective: f(t) = t + R(cell), R from one calibrated tree's
    min-marginals over every cell at that conv, so t* = A - R exactly."""
    ez = np.asarray(cell_index, dtype=np.intp)
    cells_all = np.unique(np.concatenate([ez, np.asarray(kept, dtype=np.intp)]))
    pos = {int(i): j for j, i in enumerate(cells_all)}
    doms = {**dom, conv: cells_all}
    unary = {c: (np.asarray(ext.kernel[c], dtype=float)[d] if c != conv else 0.0) + diag[c][d] for c, d in doms.items()}
    pw = {(u, v): m[np.ix_(doms[u], doms[v])] for (u, v), m in pairwise.items()}
    tree = CliqueTree(unary, pw, elimination_order(unary, pw))
    rest = tree.marginal(conv)  # best total without the conv's own kernel, per cell
    kern = np.asarray(ext.kernel[conv], dtype=float)
    with_kernel = rest[[pos[int(i)] for i in kept]] + kern[kept]
    a = (with_kernel[:, None] + mask).min(axis=0)
    r = rest[[pos[int(i)] for i in ez]]
    be = np.where(np.isfinite(a), a - r, cap)
    be = np.where(be > RTOL * np.maximum(np.abs(a), 1e-30), be, np.nan)

    return _bounds(cap, np.minimum(be, cap), estimate, base_total, a,
                   lambda idx: np.minimum(a[idx], estimate[idx] + r[idx]))
