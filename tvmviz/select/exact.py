"""Provably optimal assignments of the cost model's objective J, on any DAG.

Two engines over the same factors (unary kernel vectors, pairwise transform matrices):

- variable elimination on a min-fill clique tree: exact, and with a second pass it gives every
  node x candidate min-marginal (the regret table) at the price of one solve; used when the largest
  clique table is small (tree-like graphs: ResNets, Inception-style blocks);
- a MILP (scipy.optimize.milp / HiGHS) with the pairwise terms linearized over layout classes (the
  local-polytope constraints, exact with binary x), for graphs whose cliques would be too large.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tvmviz.select.costmodel import Problem

VE_MAX_TABLE = 4_000_000  # entries of the largest clique table VE may build
HUGE = 1e8  # costs at or above this (failed kernels 1e9, invalid transforms 1e10) are penalties


@dataclass
class ExactResult:
    assignment: dict  # conv -> candidate index
    optimum: float  # J at the assignment (float64), or the proven bound's incumbent
    optimal: bool
    gap_s: float  # 0.0 when proven optimal
    method: str  # "ve" | "milp"


# ---- variable elimination / clique tree ------------------------------------------------------------


@dataclass
class _Clique:
    var: int
    scope: tuple  # var first
    psi: np.ndarray  # sum of original factors assigned here, over scope
    children: list
    parent: int | None = None
    up: np.ndarray | None = None  # message to the parent, over scope[1:]
    total: np.ndarray | None = None  # psi + the children's messages, over scope
    down: np.ndarray | None = None  # message from the parent, over scope[1:]


def _expand(vars_f: tuple, table: np.ndarray, scope: tuple) -> np.ndarray:
    order = [v for v in scope if v in vars_f]
    arr = np.transpose(table, [vars_f.index(v) for v in order])
    return arr.reshape([table.shape[vars_f.index(v)] if v in vars_f else 1 for v in scope])


class CliqueTree:
    """Min-sum clique tree of the objective; ``marginals`` are exact min-marginals."""

    def __init__(self, unary: dict, pairwise: dict, order: list, factors: tuple = (), marginals: bool = True,
                 reuse: tuple = (None, None)):
        """``factors``: more (vars, table) terms of any arity, e.g. a variable joined to many convs.
        ``marginals=False``: only decoding follows, so each clique's own factors are not kept apart (one pass
        less over the tables). ``reuse=(tree, var)``: ``tree`` had the same factor scopes and order, and only
        the tables touching ``var`` differ; its cliques without ``var`` are taken as they are."""
        self.unary, self.pairwise, self.order = unary, pairwise, order
        self.sizes = {v: len(u) for v, u in unary.items()}
        pos = {v: i for i, v in enumerate(order)}
        factors = ([((v,), u) for v, u in unary.items()] + [((a, b), m) for (a, b), m in pairwise.items()]
                   + list(factors))
        bucket: dict = {v: [] for v in order}
        for vars_f, table in factors:
            bucket[min(vars_f, key=pos.__getitem__)].append((vars_f, table))
        self.cliques: dict = {}
        incoming: dict = {v: [] for v in order}  # child cliques whose message lands here
        for v in order:
            scope_set = {v}
            for vars_f, _ in bucket[v]:
                scope_set.update(vars_f)
            for c in incoming[v]:
                scope_set.update(self.cliques[c].scope[1:])
            scope = (v,) + tuple(sorted(scope_set - {v}, key=pos.__getitem__))
            old_tree, vary = reuse
            if old_tree is not None and vary not in scope_set:  # neither it nor its subtree sees var
                clique = self.cliques[v] = old_tree.cliques[v]
                if clique.parent is not None:
                    incoming[clique.parent].append(v)
                continue
            shape = tuple(self.sizes[x] for x in scope)
            psi = np.zeros(shape)
            for vars_f, table in bucket[v]:
                psi += _expand(vars_f, table, scope)  # in place: these tables can be large
            clique = _Clique(v, scope, psi, list(incoming[v]))
            total = psi
            for i, c in enumerate(clique.children):
                msg = _expand(self.cliques[c].scope[1:], self.cliques[c].up, scope)
                if i == 0 and marginals:
                    total = psi + msg  # a new array: psi stays as it is for calibrate
                else:
                    total += msg
            clique.total = total
            clique.up = total.min(axis=0)
            if len(scope) > 1:
                clique.parent = scope[1]  # the first of the rest to be eliminated
                incoming[scope[1]].append(v)
            self.cliques[v] = clique

    @staticmethod
    def max_table(unary: dict, pairwise: dict, order: list, scopes: tuple = ()) -> int:
        """Largest clique table VE would build with this order (symbolic elimination)."""
        nbrs = _neighbours(unary, pairwise, scopes)
        eliminated: set = set()
        worst = 1
        for v in order:
            live = nbrs[v] - eliminated
            size = len(unary[v])
            for x in live:
                size *= len(unary[x])
            worst = max(worst, size)
            for x in live:
                nbrs[x] |= live - {x}
            eliminated.add(v)
        return worst

    def _belief(self, v: int, skip_child: int | None = None) -> np.ndarray:
        cl = self.cliques[v]
        total = cl.psi
        for c in cl.children:
            if c != skip_child:
                ch = self.cliques[c]
                total = total + _expand(ch.scope[1:], ch.up, cl.scope)
        if cl.down is not None:
            total = total + _expand(cl.scope[1:], cl.down, cl.scope)
        return total

    def _send_down(self, v: int, c: int) -> None:
        """The message from clique v to its child c (v's own message from its parent is there already)."""
        cl, ch = self.cliques[v], self.cliques[c]
        belief = self._belief(v, skip_child=c)
        sep = ch.scope[1:]
        drop = tuple(i for i, x in enumerate(cl.scope) if x not in sep)
        msg = belief.min(axis=drop) if drop else belief
        kept = [x for x in cl.scope if x in sep]
        ch.down = np.transpose(msg, [kept.index(x) for x in sep])

    def calibrate(self) -> None:
        for v in reversed(self.order):  # parents before children
            for c in self.cliques[v].children:
                self._send_down(v, c)

    def _min_marginal(self, v: int) -> np.ndarray:
        """Needs the messages from the root down to v's clique."""
        root = v
        while self.cliques[root].parent is not None:
            root = self.cliques[root].parent
        others = sum(float(self.cliques[r].up) for r in self.order
                     if self.cliques[r].parent is None and r != root)  # the other components' optima
        b = self._belief(v)
        return b.reshape(b.shape[0], -1).min(axis=1) + others

    def marginals(self) -> dict:
        """var -> vector: the best total with the var forced to each candidate."""
        self.calibrate()
        return {v: self._min_marginal(v) for v in self.cliques}

    def marginal(self, var: int) -> np.ndarray:
        """``marginals()[var]`` alone: messages are sent only on the path from the root to var's clique."""
        path = [var]
        while self.cliques[path[-1]].parent is not None:
            path.append(self.cliques[path[-1]].parent)
        for child, parent in reversed(list(zip(path, path[1:]))):
            self._send_down(parent, child)
        return self._min_marginal(var)

    def optimum(self) -> float:
        return sum(float(self.cliques[v].up) for v in self.order if self.cliques[v].parent is None)

    def decode(self) -> dict:
        assign: dict = {}
        for v in reversed(self.order):
            cl = self.cliques[v]
            idx = (slice(None),) + tuple(assign[x] for x in cl.scope[1:])
            assign[v] = int(np.argmin(cl.total[idx]))
        return assign

    def decode_given(self, var: int) -> tuple[np.ndarray, dict]:
        """For each value of ``var`` (eliminated last, so the root of its tree): the best total with var at
        that value, and the assignment reaching it (var -> array over var's values), all at once."""
        n = self.sizes[var]
        best = self.cliques[var].total.reshape(n) + sum(
            float(self.cliques[r].up) for r in self.order if self.cliques[r].parent is None and r != var)
        assign: dict = {var: np.arange(n)}
        for v in reversed(self.order):
            if v == var:
                continue
            cl = self.cliques[v]
            total = cl.total
            if len(cl.scope) == 1:
                assign[v] = np.full(n, int(np.argmin(total)))
            else:
                assign[v] = np.argmin(total[(slice(None),) + tuple(assign[x] for x in cl.scope[1:])], axis=0)
        return best, assign


def _neighbours(unary: dict, pairwise: dict, scopes: tuple = ()) -> dict:
    nbrs = {v: set() for v in unary}
    for scope in list(pairwise) + list(scopes):
        for a in scope:
            nbrs[a].update(x for x in scope if x != a)
    return nbrs


def elimination_order(unary: dict, pairwise: dict, scopes: tuple = (), last: tuple = ()) -> list:
    """Greedy min-fill (ties: smaller table, then node index); the vars in ``last`` go last, in that order."""
    nbrs = _neighbours(unary, pairwise, scopes)
    remaining = set(unary) - set(last)

    def key(v):
        live = nbrs[v]
        fill = sum(1 for x in live for y in live if x < y and y not in nbrs[x])
        size = len(unary[v])
        for x in live:
            size *= len(unary[x])
        return (fill, size, v)

    keys = {v: key(v) for v in remaining}
    order = []
    while remaining:
        best = min(remaining, key=keys.__getitem__)
        live = nbrs[best]
        for x in live:
            nbrs[x] |= live - {x}
            nbrs[x].discard(best)
        remaining.discard(best)
        order.append(best)
        # only these keys changed: the live vars' neighbours, and vars next to two of them (new edges)
        for v in (live | {y for x in live for y in nbrs[x]}) & remaining:
            keys[v] = key(v)
    return order + list(last)


def clique_tree(problem: Problem, forced: dict | None = None):
    """The clique tree of J (None when it would be too large). ``forced``: var -> candidate."""
    unary, pairwise = problem.factors()
    if forced:
        for v, k in forced.items():
            u = np.full(len(unary[v]), np.inf)
            u[k] = unary[v][k]
            unary[v] = u
    order = elimination_order(unary, pairwise)
    if CliqueTree.max_table(unary, pairwise, order) > VE_MAX_TABLE:
        return None
    return CliqueTree(unary, pairwise, order)


# ---- MILP ------------------------------------------------------------------------------------------


def _classes(mat: np.ndarray, axis: int):
    uniq, inverse = np.unique(mat if axis == 0 else mat.T, axis=0, return_inverse=True)
    return uniq, inverse.reshape(-1)


def solve_milp(problem: Problem, time_limit_s: float = 20.0) -> ExactResult:
    from scipy.optimize import LinearConstraint, milp
    from scipy.sparse import coo_matrix

    unary, pairwise = problem.factors()
    vars_ = list(unary)
    offset, n = {}, 0
    for v in vars_:
        offset[v] = n
        n += len(unary[v])
    finite = [u[u < HUGE] for u in unary.values()] + [m[m < HUGE] for m in pairwise.values()]
    penalty = 10.0 * sum(float(x.max()) if x.size else 0.0 for x in finite) + 1.0
    scale = 1e6  # seconds -> microseconds, so HiGHS's absolute tolerances are negligible

    obj = [np.where(unary[v] < HUGE, unary[v], penalty) for v in vars_]
    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0
    for v in vars_:  # one candidate per conv
        for a in range(len(unary[v])):
            rows.append(r), cols.append(offset[v] + a), vals.append(1.0)
        lo.append(1.0), hi.append(1.0)
        r += 1
    y_obj = []
    for (u, v), mat in pairwise.items():
        _, row_cls = _classes(mat, 0)
        _, col_cls = _classes(mat, 1)
        nr, nc = row_cls.max() + 1, col_cls.max() + 1
        rep_r = [int(np.nonzero(row_cls == i)[0][0]) for i in range(nr)]
        rep_c = [int(np.nonzero(col_cls == j)[0][0]) for j in range(nc)]
        comp = mat[np.ix_(rep_r, rep_c)]
        base = n + len(y_obj)
        y_obj.extend(np.where(comp < HUGE, comp, penalty).reshape(-1).tolist())
        for i in range(nr):  # sum_j y_ij = sum of x_u in row class i
            for j in range(nc):
                rows.append(r), cols.append(base + i * nc + j), vals.append(1.0)
            for a in np.nonzero(row_cls == i)[0]:
                rows.append(r), cols.append(offset[u] + int(a)), vals.append(-1.0)
            lo.append(0.0), hi.append(0.0)
            r += 1
        for j in range(nc):
            for i in range(nr):
                rows.append(r), cols.append(base + i * nc + j), vals.append(1.0)
            for b in np.nonzero(col_cls == j)[0]:
                rows.append(r), cols.append(offset[v] + int(b)), vals.append(-1.0)
            lo.append(0.0), hi.append(0.0)
            r += 1
    total_vars = n + len(y_obj)
    c = np.concatenate([np.concatenate(obj), np.asarray(y_obj, dtype=float)]) * scale
    integrality = np.concatenate([np.ones(n), np.zeros(len(y_obj))])
    a = coo_matrix((vals, (rows, cols)), shape=(r, total_vars)).tocsr()
    started = time.perf_counter()
    res = milp(c, integrality=integrality, bounds=(0, 1), constraints=LinearConstraint(a, lo, hi),
               options={"time_limit": float(time_limit_s), "mip_rel_gap": 1e-12})
    if res.x is None:
        from tvmviz.errors import TvmvizError

        raise TvmvizError(f"the exact solver found no solution within {time_limit_s:g} s ({res.message})")
    x = res.x
    assignment = {v: int(np.argmax(x[offset[v]: offset[v] + len(unary[v])])) for v in vars_}
    value = problem.total(assignment)
    bound = getattr(res, "mip_dual_bound", None)
    used_penalty = any(unary[v][assignment[v]] >= HUGE for v in vars_) or any(
        m[assignment[u], assignment[v]] >= HUGE for (u, v), m in pairwise.items()
    )
    proven = res.status == 0 and not used_penalty
    gap = 0.0
    if not proven:
        gap = max(0.0, value - bound / scale) if bound is not None and np.isfinite(bound) else float("nan")
    del started
    return ExactResult(assignment, value, proven, gap, "milp")


def solve_exact(problem: Problem, time_limit_s: float = 20.0, method: str = "auto") -> ExactResult:
    if method in ("auto", "ve"):
        tree = clique_tree(problem)
        if tree is not None:
            assignment = tree.decode()
            return ExactResult(assignment, problem.total(assignment), True, 0.0, "ve")
        if method == "ve":
            from tvmviz.errors import TvmvizError

            raise TvmvizError("the graph's clique tree is too large for variable elimination; use the MILP")
    return solve_milp(problem, time_limit_s)
