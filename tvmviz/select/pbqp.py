"""PBQPTuner-equivalent: TVM's PBQP reduction (RI, RII exact; RN greedy) on the tuner's graph.

Reproduced as TVM runs it, quirks included: a merge node's vector is its lead's kernel costs (the lead
is counted once more per merge), lead<->merge edges are 0 on the diagonal and 1e10 elsewhere, the
non-lead edge reuses the (input, lead) matrix object (so in-place RII updates reach both keys), the
reverse matrices are built after that and overwrite a forward key when both directions exist, every
minimum starts at 1e10, and ties go to the first candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tvmviz.errors import TvmvizError
from tvmviz.select.costmodel import INVALID_LAYOUT_TIME, Problem


@dataclass
class PBQPResult:
    choice: dict  # key node -> candidate index
    reached_optimal: bool  # TVM's own flag: no RN reduction was needed


def pbqp_objective(problem: Problem, assignment: dict) -> float:
    """What PBQP minimizes: J plus each merge's lead kernel cost once more."""
    extra = sum(float(problem.kernel[problem.owner[m]][assignment[problem.owner[m]]]) for m in problem.merges)
    return problem.total(assignment) + extra


def solve_pbqp(problem: Problem) -> PBQPResult:
    return _PBQP(problem).run()


class _PBQP:
    def __init__(self, p: Problem):
        self.p = p
        bset = p.boundary
        # in-lists without boundaries (PBQPTuner.__init__)
        self.in_nodes = {k: list(v) for k, v in p.in_lists.items()}
        for idx, outs in p.out_nodes.items():
            if idx in bset:
                for o in outs:
                    self.in_nodes[o].remove(idx)
        self.adj = {k: list(self.in_nodes[k]) + list(p.out_nodes[k]) for k in self.in_nodes}
        self.cost = {k: [float(x) for x in p.kernel[p.owner[k]]] for k in self.in_nodes}
        self.degree = {k: len(self.adj[k]) for k in self.in_nodes}
        self.max_degree = max(self.degree.values(), default=-1)
        self.buckets = [[] for _ in range(self.max_degree + 2)]
        for k in sorted(self.in_nodes):
            self.buckets[len(self.adj[k])].append(k)
        self.stack: list = []
        self.optimal: dict = {}
        self.is_optimal = True
        self.ltf = self._matrices()

    def _matrices(self) -> dict:
        p = self.p
        copies: dict = {}

        def arr(table):  # one numpy copy per TVM list object, so aliasing is kept
            if id(table) not in copies:
                copies[id(table)] = table.costs.astype(np.float64).copy()
            return copies[id(table)]

        ltf = {pair: arr(t) for pair, t in p.pairs.items()}
        temp: dict = {}
        for m in p.merges:
            val = p.in_lists[m]
            lead = next(x for x in val if x not in p.boundary)
            n = p.n_cand(lead)
            diag = np.full((n, n), INVALID_LAYOUT_TIME)
            np.fill_diagonal(diag, 0.0)
            temp[(lead, m)] = diag
            for term in p.merge_terms[m]:
                # tvm: the very object held under (input, lead), so in-place updates reach both keys
                temp[(term.src, m)] = arr(term.table)
        ltf.update(temp)
        reverse = {(b, a): m.T.copy() for (a, b), m in ltf.items()}
        ltf.update(reverse)
        return ltf

    # ---- bookkeeping, as PBQPTuner does it ----

    def _reorder(self, node: int) -> None:
        for a in self.adj[node]:
            cur, prev = len(self.adj[a]), self.degree[a]
            if prev != cur:
                self.buckets[prev].remove(a)
                self.buckets[cur].insert(0, a)
                self.degree[a] = cur

    def _remove(self, node: int) -> None:
        self.buckets[len(self.adj[node])].remove(node)
        for a in self.adj[node]:
            self.adj[a].remove(node)

    def _insert_edge(self, x: int, y: int, mat: np.ndarray) -> None:
        self.ltf[(x, y)] = mat
        self.ltf[(y, x)] = mat.T.copy()
        self.adj[x].append(y)
        self.adj[y].append(x)

    # ---- reductions ----

    def _ri(self, node: int) -> None:
        a = self.adj[node][0]
        m = self.ltf[(a, node)]
        mins = np.minimum(INVALID_LAYOUT_TIME, (m + np.asarray(self.cost[node])[None, :]).min(axis=1))
        self.cost[a] = [c + d for c, d in zip(self.cost[a], mins.tolist())]
        self._finish(node)

    def _rii(self, node: int) -> None:
        x, y = self.adj[node]
        mx, my = self.ltf[(x, node)], self.ltf[(y, node)]
        r = np.asarray(self.cost[node])
        delta = np.minimum(INVALID_LAYOUT_TIME, (mx[:, None, :] + my[None, :, :] + r).min(axis=2))
        if x == y:
            self.cost[x] = [c + delta[i, i] for i, c in enumerate(self.cost[x])]
        elif x in self.adj[y]:
            self.ltf[(x, y)] += delta
            self.ltf[(y, x)] += delta.T
        else:
            self._insert_edge(x, y, delta)
        self._finish(node)

    def _rn(self, node: int) -> None:
        rc = np.asarray(self.cost[node], dtype=np.float64)
        total = rc.copy()
        for a in self.adj[node]:
            m = self.ltf[(node, a)]
            total = total + (np.asarray(self.cost[a])[None, :] + m).min(axis=1)
        below = np.nonzero(total < INVALID_LAYOUT_TIME)[0]
        if below.size == 0:
            raise TvmvizError(f"TVM's PBQP finds no solution for node {self.p.name(node)} (every option costs "
                              f">= {INVALID_LAYOUT_TIME:g})")
        best = int(below[np.argmin(total[below])])
        self.optimal[node] = best
        self.is_optimal = False
        for a in self.adj[node]:
            row = self.ltf[(node, a)][best]
            self.cost[a] = [c + d for c, d in zip(self.cost[a], row.tolist())]
        self._finish(node)

    def _finish(self, node: int) -> None:
        self._remove(node)
        self._reorder(node)
        self.stack.append(node)

    def run(self) -> PBQPResult:
        b = self.buckets
        while True:
            if b[1]:
                self._ri(b[1][0])
            elif self.max_degree >= 2 and b[2]:
                self._rii(b[2][0])
            elif self.max_degree >= 3:
                node = next((b[i][0] for i in range(self.max_degree, 2, -1) if b[i]), None)
                if node is None:
                    break
                self._rn(node)
            else:
                break
        for node in b[0]:
            costs = self.cost[node]
            self.optimal[node] = costs.index(min(costs))
        for node in reversed(self.stack):
            for a in self.adj[node]:
                self.adj[a].append(node)
            if node not in self.optimal:
                costs = list(self.cost[node])
                for a in self.adj[node]:
                    col = self.ltf[(node, a)][:, self.optimal[a]].tolist()
                    costs = [c + d for c, d in zip(costs, col)]
                self.optimal[node] = costs.index(min(costs))
        return PBQPResult(dict(self.optimal), self.is_optimal)
