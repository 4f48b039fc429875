"""DPTuner-equivalent: TVM's dynamic programming over the tuner's node order, vectorized.

Same stages, dependency axes, float32 tables (with NumPy 2 scalar promotion: a Python float meets a
float32 state as float32, an estimated numpy.float64 cost promotes to float64), the same tie-breaking
(first strictly smaller output state, or the last candidate when all tie; np.argmin backwards),
the zero table of a merge with a single non-boundary input, and the >16 outputs fallback.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from tvmviz.errors import TvmvizError
from tvmviz.select.costmodel import MAX_OUTPUT_NODES, Problem

WEAK, F32, F64 = 0, 1, 2  # Python scalar, numpy.float32, numpy.float64


@dataclass
class _Typed:
    """Values with the numpy scalar type each would have in TVM's scalar loops."""

    v: np.ndarray
    k: np.ndarray

    @staticmethod
    def of(arr: np.ndarray) -> "_Typed":
        kind = F32 if arr.dtype == np.float32 else F64
        return _Typed(arr.astype(np.float64), np.full(arr.shape, kind, dtype=np.int8))

    @staticmethod
    def weak(arr) -> "_Typed":
        arr = np.asarray(arr, dtype=np.float64)
        return _Typed(arr, np.zeros(arr.shape, dtype=np.int8))


def _add(a: _Typed, b: _Typed) -> _Typed:
    ka, kb = np.broadcast_arrays(a.k, b.k)
    kind = np.where(ka == WEAK, kb, np.where(kb == WEAK, ka, np.maximum(ka, kb)))
    f64 = a.v + b.v
    if np.any(kind == F32):
        f32 = (a.v.astype(np.float32) + b.v.astype(np.float32)).astype(np.float64)
        f64 = np.where(kind == F32, f32, f64)
    return _Typed(f64, kind.astype(np.int8))


def _to_f32(t: _Typed) -> np.ndarray:
    return t.v.astype(np.float32)


@dataclass
class _Stage:
    full: np.ndarray
    states: np.ndarray
    dep: list
    full_idx: list = field(default_factory=list)


@dataclass
class DPResult:
    choice: dict  # key node -> candidate index (convs and merges)
    fallback: bool  # more than 16 outputs: every node got candidate 0
    objective: float  # DP's own minimum (float32 arithmetic), NaN on fallback


def solve_dp(problem: Problem) -> DPResult:
    return _DP(problem).run()


class _DP:
    def __init__(self, p: Problem):
        self.p = p
        self.stage: dict = {}
        self.counted: set = set()
        self.dep_dict: dict = {}

    def run(self) -> DPResult:
        p = self.p
        for k in p.keys:
            if k in p.candidates:
                self._op_stage(k)
            else:
                self._multi_stage(k)
        outputs = [k for k, v in p.out_nodes.items() if not v]
        if len(outputs) > MAX_OUTPUT_NODES:
            return DPResult({k: 0 for k in p.keys}, True, float("nan"))
        return self._backward(outputs)

    def _typed_table(self, table, transpose: bool) -> _Typed:
        v, k = table.costs, np.where(table.strong, F64, WEAK).astype(np.int8)
        return _Typed(v.T, k.T) if transpose else _Typed(v, k)

    def _op_stage(self, c: int) -> None:
        p = self.p
        src = p.in_lists[c][0]
        if src in p.boundary:
            full = np.array(p.kernel[c], dtype=np.float64)
            st = _Stage(full, full, [])
        else:
            in_stage = self.stage[src]
            in_dep = list(in_stage.dep)
            extra = in_stage.states.ndim - 1
            kernel = _Typed.weak(p.kernel[c][:, None])
            lt = self._typed_table(p.conv_terms[c].table, transpose=True)  # (n_c, n_src)
            kl = _add(kernel, lt)
            kl = _Typed(kl.v.reshape(kl.v.shape + (1,) * extra), kl.k.reshape(kl.k.shape + (1,) * extra))
            shape = (len(p.kernel[c]),) + in_stage.states.shape
            if src in self.counted:
                total = _Typed(np.broadcast_to(kl.v, shape), np.broadcast_to(kl.k, shape))
            else:
                total = _add(kl, _Typed.of(in_stage.states[None]))
                self.counted.add(src)
            full = _to_f32(total)
            if len(p.out_nodes[src]) == 1:
                st = _Stage(full, np.amin(full, axis=1), in_dep, [c, src] + in_dep)
            else:
                st = _Stage(full, full, [src] + in_dep, [c, src] + in_dep)
        self.stage[c] = st
        self._update_deps(c, st.dep)

    def _update_deps(self, idx: int, dep: list) -> None:
        outs = self.p.out_nodes[idx]
        for d in dep:
            try:
                self.dep_dict[d].remove(idx)
            except KeyError:
                raise TvmvizError(f"TVM's DPTuner fails on this graph (dependency bookkeeping at "
                                  f"{self.p.name(idx)})") from None
            self.dep_dict[d].update(outs)
        if len(outs) > 1:
            self.dep_dict[idx] = set(outs)

    def _align(self, inputs: list):
        aligned = list(inputs)
        for x in inputs:
            for d in self.stage[x].dep:
                if d not in aligned:
                    aligned.append(d)
        shape = tuple(self.p.n_cand(x) for x in aligned)
        out = []
        for x in inputs:
            own = [x] + list(self.stage[x].dep)
            order = [a for a in aligned if a in own]
            arr = np.transpose(self.stage[x].states, [own.index(a) for a in order])
            arr = arr.reshape([shape[i] if a in own else 1 for i, a in enumerate(aligned)])
            axis = aligned.index(x)
            out.append((x, axis, int(np.prod(shape[axis + 1:], dtype=np.int64)), np.broadcast_to(arr, shape)))
        return out, aligned, shape

    def _multi_stage(self, m: int) -> None:
        p = self.p
        inputs = [x for x in p.in_lists[m] if x not in p.boundary]
        if len(set(inputs)) != len(inputs):
            twice = next(x for x in inputs if inputs.count(x) > 1)
            raise TvmvizError(f"TVM's DPTuner fails on {p.name(m)}: it reaches {p.name(twice)} by two paths "
                              "(its state alignment cannot transpose them); use --solver pbqp or exact")
        states_list, aligned, shape = self._align(inputs)
        counted = [x in self.counted for x in inputs]
        lead, lead_axis = states_list[0][0], states_list[0][1]
        acc = None if counted[0] else _Typed.of(states_list[0][3])
        terms = p.merge_terms[m]
        if len(terms) != len(inputs) - 1:
            raise TvmvizError(f"merge {p.name(m)}: unsupported input structure for the DP")
        for (x, axis, _, src_states), term, was_counted in zip(states_list[1:], terms, counted[1:]):
            lt = self._typed_table(term.table, transpose=False)  # rows: x, cols: lead
            lt = _Typed(_place(lt.v, axis, lead_axis, shape), _place(lt.k, axis, lead_axis, shape))
            t = lt if was_counted else _add(lt, _Typed.of(src_states))
            acc = t if acc is None else _add(acc, t)
        if len(inputs) == 1:
            full = np.zeros(shape, dtype=np.float32)  # TVM assigns states inside the input loop only
        else:
            full = _to_f32(acc)
            full = np.broadcast_to(full, shape).copy()
        for x, c in zip(inputs, counted):
            if not c:
                self.counted.add(x)
        order = [lead_axis] + [i for i in range(len(shape)) if i != lead_axis]
        deps_in_order = [aligned[i] for i in order[1:]]
        reduced = np.transpose(full, order)
        dep: list = []
        shift = 0
        for i, d in enumerate(deps_in_order):
            if d not in self.dep_dict or len(self.dep_dict[d]) == 1:
                self.dep_dict.pop(d, None)
                reduced = np.amin(reduced, axis=i + 1 - shift)
                shift += 1
            else:
                dep.append(d)
        st = _Stage(full, reduced, dep, list(aligned))
        self.stage[m] = st
        self._update_deps(m, dep)

    def _backward(self, outputs: list) -> DPResult:
        p = self.p
        states_list, aligned, shape = self._align(outputs)
        max_sum = None
        cur = None
        for _, _, _, st in states_list:
            t = _Typed.of(np.asarray(np.amax(st)).reshape(()))
            max_sum = t if max_sum is None else _add(max_sum, t)
            f = _Typed.of(st)
            cur = f if cur is None else _add(cur, f)
        flat = cur.v.reshape(-1)
        best = float(flat.min())
        min_pos = int(np.argmin(flat)) if best < float(max_sum.v) else -1
        choice: dict = {}
        for x, axis, mult, _ in states_list:
            choice[x] = (min_pos % (mult * shape[axis])) // mult
        for i in range(len(states_list), len(aligned)):
            mult = int(np.prod(shape[i + 1:], dtype=np.int64))
            choice[aligned[i]] = (min_pos // mult) % shape[i]

        queue = deque(outputs)
        visited: set = set()
        processed: dict = {}  # node -> the choice it was processed with
        while queue:
            node = queue.popleft()
            # TVM queues a node again for every path reaching it before it is popped: exponential on
            # stacked diamonds. Processing it again with the same choice changes nothing, so skip it.
            if processed.get(node, -1) == choice.get(node):
                continue
            processed[node] = choice.get(node)
            visited.add(node)
            if node in p.boundary:
                continue
            opt = choice[node]
            st = self.stage[node]
            if node in p.candidates:
                src = p.in_lists[node][0]
                if src in p.boundary:
                    continue
                if src not in visited:
                    queue.append(src)
                    if src not in choice:
                        idx = (opt,) + tuple(choice[d] for d in st.dep)
                        choice[src] = int(np.argmin(st.full, axis=1)[idx])
            else:
                ins = p.in_lists[node]
                choice[ins[0]] = opt
                tmp = st.full[opt]
                seen_idx, seen_pos, new_idx, new_pos = [], [], [], []
                for i in range(1, len(st.full_idx)):
                    if st.full_idx[i] in choice:
                        seen_idx.append(st.full_idx[i])
                        seen_pos.append(i - 1)
                    else:
                        new_idx.append(st.full_idx[i])
                        new_pos.append(i - 1)
                if seen_idx:
                    tmp = np.transpose(tmp, seen_pos + new_pos)[tuple(choice[i] for i in seen_idx)]
                pos = int(np.argmin(tmp))
                mult = 1
                for q in new_pos:
                    mult *= st.full.shape[q + 1]
                for q, idx in zip(new_pos, new_idx):
                    mult //= st.full.shape[q + 1]
                    choice[idx] = pos // mult
                    pos %= mult
                for x in ins:
                    if x not in visited:
                        queue.append(x)
        return DPResult({k: int(v) for k, v in choice.items()}, False, best)


def _place(mat: np.ndarray, row_axis: int, col_axis: int, shape: tuple) -> np.ndarray:
    """A (rows x cols) matrix broadcast over ``shape`` with its axes at row_axis / col_axis."""
    if row_axis == col_axis:
        raise TvmvizError("a merge that reads the same node twice is not supported")
    dims = [1] * len(shape)
    dims[row_axis], dims[col_axis] = shape[row_axis], shape[col_axis]
    arr = mat if row_axis < col_axis else mat.T
    return np.broadcast_to(arr.reshape(dims), shape)
