"""The problem TVM's graph tuner solves, built from a LayoutGraph and records (COST_MODEL.md).

Every quirk of the legacy tuner lives here and nowhere else: which nodes it sees and in what order,
TVM's in-list reduction (including its list-mutation bug), candidates by costs[0], the shapes a
transform is keyed by, first-registration-wins pair reuse, per-element estimation and the invalid
rule. The ``true`` model uses the same graph with real tensor shapes, merge transforms into the
lead's output layout, no pair reuse and no failed records. Solvers only see a ``Problem``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from tvmviz import style
from tvmviz.errors import MissingTransformsError, TvmvizError
from tvmviz.graph.model import CONV_TASK, LayoutGraph, workload_key
from tvmviz.graph.tuner_view import match_padding
from tvmviz.records import TransformRecord, TuningRecord
from tvmviz.select.options import SelectOptions

INVALID_LAYOUT_TIME = 1e10  # TVM's cost for a transform that changes the element count
MAX_OUTPUT_NODES = 16  # above this DPTuner gives every node candidate 0

# graph_tuner/utils.is_boundary_node (+ Relax spellings of the same ops)
_BOUNDARY_OPS = {
    "input", "batch_flatten", "transpose", "reshape", "multibox_prior", "multibox_transform_loc",
    "where", "non_max_suppression", "strided_slice", "permute_dims", "flatten",
}

SOURCE_NAMES = ("identity", "measured", "estimated", "missing")
IDENTITY, MEASURED, ESTIMATED, MISSING = range(4)


def _base_op(op: str) -> str:
    return op.split(".", 1)[1] if op.startswith(("nn.", "vision.")) else op


@dataclass(frozen=True)
class Candidate:
    record: TuningRecord
    ic_bn: int
    oc_bn: int
    cost_s: float  # what the model uses (costs[0], scaled or overridden)
    logged_cost_s: float  # costs[0] as logged

    @property
    def in_layout(self) -> str:
        return f"NCHW{self.ic_bn}c"

    @property
    def out_layout(self) -> str:
        return f"NCHW{self.oc_bn}c"


@dataclass(eq=False)
class TransformTable:
    """Costs of one transform pair over (producer candidates) x (consumer candidates)."""

    src: int  # graph node indices of the pair as TVM keys it
    dst: int
    costs: np.ndarray  # float64, seconds
    strong: np.ndarray  # bool: entries TVM holds as numpy float64 (estimates), not Python floats
    source: np.ndarray  # int8 codes into SOURCE_NAMES
    shapes: list  # per producer candidate: the key shape (source layout)
    src_layouts: list  # per producer candidate
    dst_layouts: list  # per consumer candidate

    def key(self, a: int, b: int) -> tuple:
        return self.shapes[a], self.src_layouts[a], self.dst_layouts[b]


@dataclass(eq=False)
class Term:
    """One transform counted in the objective."""

    kind: str  # "conv": producer -> conv; "merge": non-lead input -> merge
    src: int  # producing key node (conv or merge)
    dst: int  # consuming conv, or the merge
    lead: int  # for a merge: its lead input (the pair is keyed (src, lead)); else == dst
    table: TransformTable
    src_var: int  # conv whose candidate indexes the rows
    dst_var: int  # conv whose candidate indexes the columns
    reused: bool = False  # tvm: the matrix registered first for this pair (a conv edge)


@dataclass(frozen=True)
class _Wkl:
    """The parts of a conv workload conv2d_infer_layout looks at."""

    n: int
    h: int
    w: int
    oc: int
    kh: int
    kw: int
    sh: int
    sw: int
    pads: tuple
    dh: int
    dw: int
    dtype: str

    def with_data(self, shape) -> "_Wkl":
        if len(shape) != 4:
            raise TvmvizError(f"a merge feeding a conv2d must have a 4-D output, got shape {list(shape)}")
        return _Wkl(shape[0], shape[2], shape[3], self.oc, self.kh, self.kw, self.sh, self.sw, self.pads,
                    self.dh, self.dw, self.dtype)

    def out_shape(self, oc_bn: int) -> tuple:
        pt, pl, pb, pr = self.pads
        oh = (self.h + pt + pb - ((self.kh - 1) * self.dh + 1)) // self.sh + 1
        ow = (self.w + pl + pr - ((self.kw - 1) * self.dw + 1)) // self.sw + 1
        return (self.n, self.oc // oc_bn, oh, ow, oc_bn)


@dataclass(eq=False)
class Problem:
    graph: LayoutGraph
    options: SelectOptions
    cost_model: str
    keys: list  # key node indices (convs and merges the tuner sees), ascending
    in_lists: dict  # key -> in(x) after TVM's reduction (may hold boundary indices)
    out_nodes: dict  # TVM's out_nodes_dict: key or boundary -> consumers
    boundary: set  # indices TVM treats as boundaries (incl. merges it dropped)
    owner: dict  # key -> conv whose candidate it takes
    candidates: dict  # conv -> list[Candidate]
    kernel: dict  # conv -> np.ndarray of model kernel costs
    pairs: dict  # (i, o) -> TransformTable, in registration order (what TVM's cost dict holds)
    conv_terms: dict  # conv -> Term (its producer edge), absent when the producer is a boundary
    merge_terms: dict  # merge -> list[Term] for its non-lead inputs, in input order
    warnings: list = field(default_factory=list)

    # ---- structure ------------------------------------------------------------------------------

    @property
    def convs(self) -> list[int]:
        return [k for k in self.keys if k in self.candidates]

    @property
    def merges(self) -> list[int]:
        return [k for k in self.keys if k not in self.candidates]

    def is_merge(self, idx: int) -> bool:
        return idx in self.in_lists and idx not in self.candidates

    def lead(self, merge: int) -> int:
        return next(x for x in self.in_lists[merge] if x not in self.boundary)

    def n_cand(self, idx: int) -> int:
        return len(self.candidates[self.owner[idx]])

    def name(self, idx: int) -> str:
        return self.graph.nodes[idx].name

    def terms(self) -> list[Term]:
        out = []
        for k in self.keys:
            if k in self.conv_terms:
                out.append(self.conv_terms[k])
            out.extend(self.merge_terms.get(k, ()))
        return out

    def conv_index(self, name: str) -> int:
        for c in self.convs:
            if self.graph.nodes[c].name == name:
                return c
        raise KeyError(name)

    # ---- objective ------------------------------------------------------------------------------

    def evaluate(self, assignment: dict) -> tuple[float, float]:
        """(kernel total, transform total) of an assignment conv -> candidate index, float64."""
        kernel = sum(float(self.kernel[c][assignment[c]]) for c in self.convs)
        transform = sum(float(t.table.costs[assignment[t.src_var], assignment[t.dst_var]]) for t in self.terms())
        return kernel, transform

    def total(self, assignment: dict) -> float:
        k, t = self.evaluate(assignment)
        return k + t

    def factors(self, kernel: bool = True) -> tuple[dict, dict]:
        """The objective as unary vectors per conv and pairwise matrices per (u, v), u < v.
        ``kernel=False``: the unary vectors hold only the transforms a conv pays to itself."""
        unary = {c: np.array(self.kernel[c], dtype=float) if kernel else np.zeros(len(self.kernel[c]))
                 for c in self.convs}
        pairwise: dict = {}
        for t in self.terms():
            u, v, m = t.src_var, t.dst_var, t.table.costs
            if u == v:
                unary[u] = unary[u] + np.diag(m)
            elif u < v:
                pairwise[(u, v)] = pairwise[(u, v)] + m if (u, v) in pairwise else m.astype(float)
            else:
                pairwise[(v, u)] = pairwise[(v, u)] + m.T if (v, u) in pairwise else m.T.astype(float)
        return unary, pairwise


# ---- building -------------------------------------------------------------------------------------


class TableCache:
    """Transform tables kept across the problems of one (graph, tuning, transforms): a what-if scenario
    re-prices only the tables whose candidates or pricing it changes (a pin: the pinned layer's edges)."""

    MAX_TABLES = 4096  # a long session's scenarios: the oldest tables go first

    def __init__(self, graph: LayoutGraph, tuning: list, transforms: list):
        self.inputs = (graph, tuning, transforms)
        self.tables: dict = {}  # key -> (TransformTable, its missing entries in pricing order)
        self.derived: dict = {}  # what the inputs alone determine (tuner graph, rankings, transform costs)

    def put(self, key: tuple, value: tuple) -> None:
        while len(self.tables) >= self.MAX_TABLES:
            self.tables.pop(next(iter(self.tables)), None)
        self.tables[key] = value

    def check(self, graph, tuning, transforms) -> None:
        if any(a is not b for a, b in zip(self.inputs, (graph, tuning, transforms))):
            raise ValueError("a TableCache serves the graph and records it was made for, no others")


def _derived(tables: TableCache | None, key, make):
    """make(), computed once per TableCache (its inputs never change); every time without one. Callers
    only read the value."""
    if tables is None:
        return make()
    if key not in tables.derived:
        tables.derived[key] = make()
    return tables.derived[key]


def _tuner_structure(graph: LayoutGraph, tuning: list) -> tuple:
    graph = match_padding(graph, {r.workload for r in tuning})  # a built graph's inferred paddings
    return graph, *tuner_graph(graph)


def build_problem(graph: LayoutGraph, tuning: list, transforms: list, opts: SelectOptions,
                  tables: TableCache | None = None) -> Problem:
    if tables is not None:
        tables.check(graph, tuning, transforms)
    graph, keys, in_lists, out_nodes, boundary, warnings = _derived(
        tables, "structure", lambda: _tuner_structure(graph, tuning))
    warnings = list(warnings)  # the problem's own: solvers and builders add to it
    convs = [k for k in keys if graph.nodes[k].op == "conv2d"]
    if not convs:
        where = f" in {graph.source}" if graph.source else ""
        raise TvmvizError(f"the graph{where} has no conv2d the graph tuner can choose a layout for")
    _check_names(graph, convs, opts)
    rankings = _derived(tables, ("rankings", opts.cost_model), lambda: _rankings(tuning, opts.cost_model))
    candidates = _candidates(graph, convs, rankings, opts)
    kernel = {c: np.array([cand.cost_s for cand in candidates[c]], dtype=float) for c in convs}

    owner: dict = {}
    for k in keys:
        owner[k] = k if k in candidates else owner[next(x for x in in_lists[k] if x not in boundary)]

    problem = Problem(graph, opts, opts.cost_model, keys, in_lists, out_nodes, boundary, owner, candidates,
                      kernel, {}, {}, {}, warnings)
    _TransformBuilder(problem, transforms, tables).build()
    return problem


def _is_boundary(node) -> bool:
    return _base_op(node.op) in _BOUNDARY_OPS


def tuner_graph(graph: LayoutGraph):
    """TVM's get_in_nodes / get_out_nodes: key nodes, their in-lists, consumers and boundaries."""
    nodes = graph.nodes
    for n in nodes:
        if n.op == "conv2d" and len(n.inputs) != 1:
            raise TvmvizError(
                f"{graph.source or 'graph'}: conv {n.name} has {len(n.inputs)} data inputs (an add fused into it by "
                "a build?); the graph tuner works on the model before the build: load a built graph with "
                "tvmviz.graph.load.load_graph (or tuner_view), or give the ONNX model or a layout-graph JSON"
            )
    boundary = {n.index for n in nodes if _is_boundary(n)}
    is_target = [n.op == "conv2d" for n in nodes]
    is_multi = [len(n.inputs) >= 2 for n in nodes]  # data inputs are calls or graph inputs
    memo: dict = {}

    def ancestors(i: int) -> list:
        if i in memo:
            return memo[i]
        if i in boundary:
            return [i]
        out: list = []
        for j in nodes[i].inputs:
            if is_target[j] or is_multi[j]:
                out.append(j)
            else:
                for t in ancestors(j):
                    if t not in out:
                        out.append(t)
        memo[i] = out
        return out

    for n in nodes:  # ascending, so every recursion hits the memo at once
        if n.index not in boundary:
            ancestors(n.index)
    in_lists = {k: memo[k] for k in sorted(memo) if is_target[k] or is_multi[k]}
    out_before = _out_nodes(in_lists)

    # Boundary reduction, bug for bug: TVM removes items from the list it is iterating, and marks a
    # merge as a boundary when its first examined entry is a boundary or not a key node.
    while True:
        dropped = []
        for key, val in in_lists.items():
            if is_target[key]:
                continue
            still_boundary = True
            pos = 0
            while pos < len(val):
                x = val[pos]
                pos += 1
                if x not in boundary and x in in_lists:
                    still_boundary = False
                else:
                    val.remove(x)
                if still_boundary:
                    dropped.append(key)
        if not dropped:
            break
        for k in dropped:
            in_lists.pop(k, None)
    while True:
        empty = [k for k, v in in_lists.items() if not v]
        if not empty:
            break
        for k in empty:
            del in_lists[k]
            for o in out_before.get(k, ()):
                if o in in_lists and k in in_lists[o]:
                    in_lists[o].remove(k)

    warnings = []
    for k, val in in_lists.items():
        for x in val:
            if x not in boundary and x not in in_lists:
                boundary.add(x)  # TVM 0.19 would raise a KeyError here; treat it as a boundary
                warnings.append(
                    f"{nodes[k].name}: its input {nodes[x].name} ({nodes[x].op}) starts with a graph input or "
                    "boundary, so TVM's graph tuner drops it (and would fail); treated as a boundary"
                )
    keys = list(in_lists)
    return keys, in_lists, _out_nodes(in_lists), boundary, warnings


def _out_nodes(in_lists: dict) -> dict:
    out = {k: [] for k in in_lists}
    for k, val in in_lists.items():
        for x in val:
            out.setdefault(x, []).append(k)
    return out


def _check_names(graph, convs, opts):
    names = {graph.nodes[c].name: c for c in convs}
    all_names = {n.name: n for n in graph.nodes}
    for what, mapping in (("pin", opts.pins), ("kernel scale", opts.kernel_scale),
                          ("kernel override", opts.kernel_override)):
        for name in mapping:
            if name not in names:
                if name in all_names:
                    raise TvmvizError(f"{what} names node {name!r}, which is a {all_names[name].op}, not a conv2d")
                raise TvmvizError(f"{what} names unknown node {name!r}; conv2d nodes are: "
                                  + ", ".join(list(names)[:12]) + (" ..." if len(names) > 12 else ""))


def rank_records(records, cost_model: str = "tvm") -> list:
    """One workload's records (in log order) as _fetch_cfg ranks them: the best record per (ic_bn, oc_bn) by
    costs[0] (strict <), stably sorted by it (first-seen order on ties); the ``true`` model skips failed ones."""
    winners: dict = {}
    for rec in records:
        if rec.ic_bn is None or rec.oc_bn is None or not rec.costs:
            continue
        if cost_model == "true" and rec.failed:
            continue
        pair = (rec.ic_bn, rec.oc_bn)
        if pair not in winners or rec.cost0 < winners[pair].cost0:
            winners[pair] = rec
    return sorted(winners.values(), key=lambda r: r.cost0)


def _rankings(tuning: list, cost_model: str) -> dict:
    """workload key (of every workload with a record) -> its records ranked as rank_records does."""
    by_workload: dict = {}
    for rec in sorted(tuning, key=lambda r: r.seq):
        by_workload.setdefault(rec.workload, []).append(rec)
    return {wkey: rank_records(recs, cost_model) for wkey, recs in by_workload.items()}


def _candidates(graph, convs, rankings: dict, opts) -> dict:
    """_fetch_cfg: best record per (ic_bn, oc_bn) by costs[0] (strict <), stable sort, top max_sch_num."""
    excluded = {int(x) for x in opts.exclude_x}
    out = {}
    for c in convs:
        node = graph.nodes[c]
        wkey = node.conv.workload_key()
        ranked = rankings.get(wkey, ())
        if not ranked:
            valid = " valid" if opts.cost_model == "true" and wkey in rankings else ""
            inferred = (f" (its strides and padding were inferred from a built graph; no record has any of its "
                        f"{len(node.attrs.get('padding_alternatives', []))} other paddings either)"
                        if "inferred" in node.attrs else "")
            raise TvmvizError(f"conv2d {node.name!r}: no{valid} tuning record for workload {wkey}{inferred}")
        allowed = [r for r in ranked if r.ic_bn not in excluded and r.oc_bn not in excluded] if excluded else ranked
        pin = opts.pins.get(node.name)
        if pin is not None:
            chosen = [r for r in allowed if _pin_matches(pin, r)]
            if not chosen:
                have = sorted({(r.ic_bn, r.oc_bn) for r in ranked})
                raise TvmvizError(f"pin {node.name}={_pin_text(pin)} matches no candidate (excluded x: "
                                  f"{sorted(excluded) or 'none'}); its (ic_bn, oc_bn) pairs are {have}")
        else:
            chosen = allowed[: int(opts.max_sch_num)]
        if not chosen:
            raise TvmvizError(f"conv2d {node.name!r}: every candidate uses an excluded x {sorted(excluded)}")
        scale = float(opts.kernel_scale.get(node.name, 1.0))
        overrides = {_pair_key(k): float(v) for k, v in opts.kernel_override.get(node.name, {}).items()}
        out[c] = [
            Candidate(r, r.ic_bn, r.oc_bn, overrides.get((r.ic_bn, r.oc_bn), r.cost0) * scale, r.cost0)
            for r in chosen
        ]
    return out


def _pair_key(k) -> tuple[int, int]:
    if isinstance(k, str):
        a, b = k.lower().split("x")
        return int(a), int(b)
    return int(k[0]), int(k[1])


def _pin_matches(pin, rec) -> bool:
    if isinstance(pin, (tuple, list)):
        return (rec.ic_bn, rec.oc_bn) == (int(pin[0]), int(pin[1]))
    return rec.oc_bn == int(pin)


def _pin_text(pin) -> str:
    return f"{pin[0]}x{pin[1]}" if isinstance(pin, (tuple, list)) else str(pin)


def _conv_wkl(node) -> _Wkl:
    a = node.conv
    n, _, h, w = a.data_shape
    return _Wkl(n, h, w, a.kernel_shape[0], a.kernel_shape[2], a.kernel_shape[3], a.strides[0], a.strides[1],
                tuple(a.padding), a.dilation[0], a.dilation[1], a.dtype)


def _measured_costs(transforms: list, tvm: bool) -> tuple[dict, float]:
    """((shape, src, dst, dtype) -> cost s of its last record, TVM's per-element average over every record)."""
    recs = sorted(transforms, key=lambda r: r.seq)
    measured: dict = {}
    for r in recs:
        if not tvm and r.error_no != 0:
            continue
        measured[(tuple(r.shape), r.src, r.dst, r.dtype)] = float(r.cost0)  # last one wins
    total_time, num_elems = 0.0, 0
    for r in recs:  # TVM: over every given record, used or not
        num_elems += math.prod(r.shape)
        total_time += float(r.cost0)
    return measured, total_time / num_elems if num_elems > 0 else 0.0


class _TransformBuilder:
    def __init__(self, problem: Problem, transforms: list, cache: TableCache | None = None):
        self.p = problem
        self.cache = cache
        self.tvm = problem.cost_model == "tvm"
        opts = problem.options
        self.measured, self.avg = _derived(cache, ("measured", self.tvm), lambda: _measured_costs(transforms, self.tvm))
        self.estimate = opts.estimate_transforms
        self.scale = float(opts.transform_scale)
        self.missing: list = []  # needed entries without record or estimate, each once, in pricing order
        self.missing_seen: set = set()
        self.entry_cache: dict = {}
        self.wkl: dict = {}  # key node -> W(x)

    def entry(self, shape: tuple, src: str, dst: str, dtype: str):
        key = (shape, src, dst, dtype)
        hit = self.entry_cache.get(key)
        if hit is not None:
            return hit
        if src == dst:
            val = (0.0, False, IDENTITY)
        elif key in self.measured:
            val = (self.measured[key], False, MEASURED)
        elif self.estimate:
            block = int(dst[4:-1])
            if (shape[1] * shape[4]) % block != 0:
                val = (INVALID_LAYOUT_TIME, False, ESTIMATED)
            else:
                val = (math.prod(shape) * self.avg, True, ESTIMATED)
        else:
            val = (0.0, False, MISSING)
        if self.scale != 1.0 and val[2] != IDENTITY and val[0] < INVALID_LAYOUT_TIME:
            val = (val[0] * self.scale, val[1], val[2])
        self.entry_cache[key] = val
        return val

    def table(self, site: tuple, src: int, dst: int, src_var: int, dst_var: int, shape_of, dst_layout_of,
              dtype) -> TransformTable:
        """The table of one edge ``site``; with a cache, reused when its candidates and pricing are unchanged."""
        srcs, dsts = self.p.candidates[src_var], self.p.candidates[dst_var]
        key = (site, src, dst, src_var, dst_var, dtype, self.p.cost_model, self.estimate, self.scale,
               tuple((c.ic_bn, c.oc_bn) for c in srcs), tuple((c.ic_bn, c.oc_bn) for c in dsts))
        hit = self.cache.tables.get(key) if self.cache is not None else None
        if hit is None:
            hit = self._price(src, dst, srcs, dsts, shape_of, dst_layout_of, dtype)
            if self.cache is not None:
                self.cache.put(key, hit)
        table, missing = hit
        for k in missing:
            if k not in self.missing_seen:
                self.missing_seen.add(k)
                self.missing.append(k)
        return table

    def _price(self, src, dst, srcs, dsts, shape_of, dst_layout_of, dtype) -> tuple:
        shapes = [shape_of(c) for c in srcs]
        src_layouts = [c.out_layout for c in srcs]
        dst_layouts = [dst_layout_of(c) for c in dsts]
        # An entry depends only on (shape, source layout) x destination layout: price each distinct pair once.
        rows = {k: i for i, k in enumerate(dict.fromkeys(zip(shapes, src_layouts)))}
        cols = {k: i for i, k in enumerate(dict.fromkeys(dst_layouts))}
        small = np.array([[self.entry(shape, sl, dl, dtype) for dl in cols] for shape, sl in rows], dtype=object)
        ri = np.array([rows[k] for k in zip(shapes, src_layouts)], dtype=np.intp)
        ci = np.array([cols[k] for k in dst_layouts], dtype=np.intp)
        pick = np.ix_(ri, ci)
        costs = np.array(small[..., 0], dtype=float).reshape(len(rows), len(cols))[pick]
        strong = np.array(small[..., 1], dtype=bool).reshape(len(rows), len(cols))[pick]
        source = np.array(small[..., 2], dtype=np.int8).reshape(len(rows), len(cols))[pick]
        missing = [(shape, sl, dl, dtype) for (shape, sl), row in zip(rows, small) for dl, v in zip(cols, row)
                   if v[2] == MISSING]
        return TransformTable(src, dst, costs, strong, source, shapes, src_layouts, dst_layouts), missing

    def build(self) -> None:
        p = self.p
        nodes = p.graph.nodes
        for k in p.keys:
            if k in p.candidates:
                self.wkl[k] = _conv_wkl(nodes[k])
            else:
                lead = p.lead(k)
                self.wkl[k] = self.wkl[lead].with_data(nodes[k].shape)
        for k in p.keys:  # ascending: TVM's registration order
            if k in p.candidates:
                self._conv_edge(k)
            else:
                self._merge_edges(k)
        if self.missing and not p.options.allow_missing_transforms:
            shape, src, dst, dtype = self.missing[0]
            why = ("" if self.tvm else " (the true cost model keys transforms by real tensor shapes, which TVM's "
                   "graph tuner never benchmarks, so its layout_transform log rarely has them)")
            count, example = len(set(self.missing)), style.transform_of(src, dst, shape, dtype)
            raise MissingTransformsError(
                f"{count} needed layout transforms have no record, e.g. layout_transform {example}{why}; estimate "
                f"them per element (--estimate-transforms), measure them here (python -m tvmviz measure --transforms "
                f"missing --cost-model {p.cost_model} ...) or give a layout_transform log that has them "
                "(--transform-log)",
                count, example)

    def _conv_edge(self, c: int) -> None:
        p = self.p
        src = p.in_lists[c][0]
        if src in p.boundary:
            return
        dtype = p.graph.nodes[c].conv.dtype
        if self.tvm:
            if (src, c) in p.pairs:
                table = p.pairs[(src, c)]
            else:
                w = self.wkl[src]
                table = self.table(("conv", c), src, c, p.owner[src], c, lambda a: w.out_shape(a.oc_bn),
                                   lambda b: b.in_layout, dtype)
                p.pairs[(src, c)] = table
        else:
            n, ch, h, w_ = p.graph.nodes[c].conv.data_shape
            table = self.table(("conv", c), src, c, p.owner[src], c, lambda a: _real_shape(n, ch, h, w_, a.oc_bn),
                               lambda b: b.in_layout, dtype)
            p.pairs[(src, c)] = table
        p.conv_terms[c] = Term("conv", src, c, c, table, p.owner[src], c)

    def _merge_edges(self, m: int) -> None:
        p = self.p
        val = p.in_lists[m]
        lead_pos = next(i for i, x in enumerate(val) if x not in p.boundary)
        lead = val[lead_pos]
        node = p.graph.nodes[m]
        terms = []
        for i in range(lead_pos + 1, len(val)):
            x = val[i]
            if x in p.boundary:
                continue
            dtype = self.wkl[x].dtype
            reused = False
            if self.tvm:
                if (x, lead) in p.pairs:
                    table = p.pairs[(x, lead)]
                    reused = True
                else:
                    w = self.wkl[x].with_data(node.shape)
                    table = self.table(("merge", m, x), x, lead, p.owner[x], p.owner[lead],
                                       lambda a: w.out_shape(a.oc_bn), lambda b: b.out_layout, dtype)
                    p.pairs[(x, lead)] = table
            else:
                shape = _input_shape(p.graph, m, x, p.boundary)
                table = self.table(("merge", m, x), x, m, p.owner[x], p.owner[lead],
                                   lambda a: _real_shape(shape[0], shape[1], shape[2], shape[3], a.oc_bn),
                                   lambda b: b.out_layout, dtype)
            terms.append(Term("merge", x, m, lead, table, p.owner[x], p.owner[lead], reused))
        p.merge_terms[m] = terms


def _real_shape(n, c, h, w, block) -> tuple:
    # A layout whose block does not divide the channels cannot hold the tensor: keyed with c // block
    # like TVM, and the estimate rule then prices it as invalid.
    return (n, c // block, h, w, block)


def _input_shape(graph: LayoutGraph, m: int, x: int, boundary: set) -> tuple:
    """The real shape of the tensor by which ancestor x reaches merge m (through walked-through ops)."""
    nodes = graph.nodes
    for j in nodes[m].inputs:
        k = j
        while True:
            if k == x:
                return tuple(nodes[j].shape)
            node = nodes[k]
            if node.op == "conv2d" or len(node.inputs) != 1 or k in boundary:
                break
            k = node.inputs[0]
    return tuple(nodes[m].shape)


def workload_of(problem: Problem, conv: int) -> list:
    return json.loads(problem.graph.nodes[conv].conv.workload_key())


__all__ = ["Problem", "Candidate", "TransformTable", "TableCache", "Term", "build_problem", "tuner_graph", "INVALID_LAYOUT_TIME",
           "MAX_OUTPUT_NODES", "SOURCE_NAMES", "CONV_TASK", "workload_key"]
