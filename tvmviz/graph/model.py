"""LayoutGraph: the model graph the selector works on.

Nodes are kept in TVM's node order (Relay ``post_order_visit``: graph inputs first, then a depth-first
post-order from the outputs, arguments left to right; COST_MODEL.md §1), because the graph tuner's
pair reuse, ties and output order all depend on it. Only data tensors are edges: weights, biases and
constants are not nodes.

Op names follow Relay where Relay has one ("conv2d", "add", "concatenate", "relu", "max_pool2d",
"batch_flatten", "reshape", ...); graph inputs have op "input". Which ops are boundaries, merges or
walked through is the cost model's business (tvmviz/select), not the graph's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

CONV_TASK = "conv2d_NCHWc.x86"


@dataclass(frozen=True)
class ConvAttrs:
    """A conv2d in the NCHW form AutoTVM logs its workload in."""

    data_shape: tuple[int, int, int, int]  # N, C, H, W
    kernel_shape: tuple[int, int, int, int]  # O, I, KH, KW
    strides: tuple[int, int]
    padding: tuple[int, int, int, int]  # top, left, bottom, right
    dilation: tuple[int, int] = (1, 1)
    dtype: str = "float32"
    out_dtype: str = "float32"
    groups: int = 1

    def workload(self) -> list:
        """The task name followed by its args, exactly as AutoTVM logs them."""
        return [
            CONV_TASK,
            ["TENSOR", list(self.data_shape), self.dtype],
            ["TENSOR", list(self.kernel_shape), self.dtype],
            list(self.strides),
            list(self.padding),
            list(self.dilation),
            "NCHW",
            "NCHW",
            self.out_dtype,
        ]

    def workload_key(self) -> str:
        return workload_key(self.workload())

    def output_hw(self, in_h: int | None = None, in_w: int | None = None) -> tuple[int, int]:
        """OH, OW of this conv applied to an input of (in_h, in_w) (default: its own input)."""
        h = self.data_shape[2] if in_h is None else in_h
        w = self.data_shape[3] if in_w is None else in_w
        kh, kw = self.kernel_shape[2], self.kernel_shape[3]
        pt, pl, pb, pr = self.padding
        dh, dw = self.dilation
        sh, sw = self.strides
        oh = (h + pt + pb - ((kh - 1) * dh + 1)) // sh + 1
        ow = (w + pl + pr - ((kw - 1) * dw + 1)) // sw + 1
        return oh, ow

    def flops(self) -> int:
        n, _, _, _ = self.data_shape
        o, i, kh, kw = self.kernel_shape
        oh, ow = self.output_hw()
        return 2 * n * o * oh * ow * i * kh * kw


def workload_key(workload: list) -> str:
    """Canonical text of a workload ([task, *args]): compact JSON, the form the store keys records by."""
    return json.dumps(workload, separators=(",", ":"))


def part_name(base: str, op: str, used: set) -> str:
    """``<base>/<op>`` for an op that is part of the node named ``base`` (``_1``, ``_2``... when taken);
    the name is added to ``used``."""
    name, k = f"{base}/{op}", 1
    while name in used:
        name, k = f"{base}/{op}_{k}", k + 1
    used.add(name)
    return name


def post_order(roots, args_of, done=()) -> list:
    """Relay ``post_order_visit`` from ``roots``: every item after its args, args left to right, items in
    ``done`` (and repeats) left out. Iterative: deep nets exceed Python's recursion limit."""
    seen = set(done)
    order = []
    for root in roots:
        stack = [(root, False)]
        while stack:
            item, expanded = stack.pop()
            if item in seen:
                continue
            if expanded:
                seen.add(item)
                order.append(item)
                continue
            stack.append((item, True))
            stack.extend((a, False) for a in reversed(args_of(item)) if a not in seen)
    return order


@dataclass(frozen=True)
class Node:
    index: int  # position in TVM's node order
    name: str  # ONNX node name, or "<op>_<k>" for an unnamed node
    op: str
    inputs: tuple[int, ...]  # data inputs (node indices) in argument order
    shape: tuple[int, ...]  # output shape, NCHW for 4-D tensors
    dtype: str = "float32"
    conv: ConvAttrs | None = None  # set exactly when op == "conv2d"
    attrs: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class LayoutGraph:
    nodes: tuple[Node, ...]  # nodes[i].index == i
    outputs: tuple[int, ...]  # node indices of the graph outputs, in order
    source: str = ""  # where it came from (file name), for messages

    def __post_init__(self):
        for i, node in enumerate(self.nodes):
            if node.index != i:
                raise ValueError(f"node {node.name!r} has index {node.index}, expected {i}")
            for j in node.inputs:
                if not 0 <= j < i:
                    raise ValueError(f"node {node.name!r} reads node {j}, which does not come before it")

    def convs(self) -> list[Node]:
        return [n for n in self.nodes if n.op == "conv2d"]

    def by_name(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def consumers(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.nodes]
        for n in self.nodes:
            for j in n.inputs:
                out[j].append(n.index)
        return out
