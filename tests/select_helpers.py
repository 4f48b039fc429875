"""Helpers for the selector tests: real logs through the store, and random small graphs with records."""

from __future__ import annotations

import itertools
import json

from tvmviz.graph.model import ConvAttrs, LayoutGraph, Node
from tvmviz.records import TransformRecord, TuningRecord



def load_logs(tuning_paths, transform_paths=()):
    from tvmviz.store import Store

    store = Store.open(":memory:")
    t_ids = [r.upload_id for r in store.ingest_paths(list(tuning_paths))]
    x_ids = [r.upload_id for r in store.ingest_paths(list(transform_paths))] if transform_paths else []
    tuning = store.tuning_records(upload_ids=t_ids)
    transforms = store.transform_records(upload_ids=x_ids) if x_ids else []
    store.close()
    return tuning, transforms


class GraphMaker:
    """Builds a LayoutGraph node by node (creation order is a valid tuner order)."""

    def __init__(self, input_shape=(1, 8, 8, 8)):
        self.nodes: list[Node] = []
        self.add("input", (), input_shape, name="data")

    def add(self, op, inputs, shape, conv=None, name=None):
        idx = len(self.nodes)
        self.nodes.append(Node(idx, name or f"{op}_{idx}", op, tuple(inputs), tuple(shape), conv=conv))
        return idx

    def conv(self, x, oc, k=3, stride=1, pad=None, name=None):
        n, c, h, w = self.nodes[x].shape
        pad = (k // 2) if pad is None else pad
        attrs = ConvAttrs((n, c, h, w), (oc, c, k, k), (stride, stride), (pad,) * 4)
        oh, ow = attrs.output_hw()
        return self.add("conv2d", [x], (n, oc, oh, ow), conv=attrs, name=name)

    def relu(self, x):
        return self.add("relu", [x], self.nodes[x].shape)

    def pool(self, x):
        n, c, h, w = self.nodes[x].shape
        return self.add("max_pool2d", [x], (n, c, h // 2, w // 2))

    def add_(self, a, b):
        return self.add("add", [a, b], self.nodes[a].shape)

    def concat(self, a, b):
        n, c1, h, w = self.nodes[a].shape
        return self.add("concatenate", [a, b], (n, c1 + self.nodes[b].shape[1], h, w))

    def graph(self, outputs=None):
        consumed = {j for n in self.nodes for j in n.inputs}
        outs = outputs or tuple(n.index for n in self.nodes if n.index not in consumed and n.op != "input")
        return LayoutGraph(tuple(self.nodes), tuple(outs), source="test")


def tuning_record(workload: list, ic_bn, oc_bn, cost, seq, error_no=0) -> TuningRecord:
    entity = [["tile_ic", "sp", [-1, ic_bn]], ["tile_oc", "sp", [-1, oc_bn]], ["tile_ow", "sp", [-1, 2]],
              ["unroll_kw", "ot", True]]
    return TuningRecord(json.dumps(workload, separators=(",", ":")), ic_bn, oc_bn, (cost,), error_no,
                        json.dumps(entity, separators=(",", ":")), seq)


def brute_force(problem, fixed=None):
    """min J over every assignment (optionally with some convs fixed): (value, assignment)."""
    convs = problem.convs
    ranges = [[fixed[c]] if fixed and c in fixed else range(len(problem.candidates[c])) for c in convs]
    best = None
    for combo in itertools.product(*ranges):
        a = dict(zip(convs, combo))
        v = problem.total(a)
        if best is None or v < best[0]:
            best = (v, a)
    return best


def divisors(c):
    return [d for d in (1, 2, 4, 8, 16) if c % d == 0]


def transform_record(shape, src, dst, cost, seq):
    return TransformRecord(tuple(shape), src, dst, cost, seq)
