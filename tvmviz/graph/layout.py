"""A layered-DAG layout for drawing a LayoutGraph without Graphviz.

Nodes are layered by longest path from the inputs (nodes arrive topologically sorted), ordered inside
a layer by the barycentre of their neighbours (a few down / up sweeps: few crossings on CNNs), and the
layers are wrapped into side-by-side bands so a 170-layer ResNet-50 fits a screen instead of one
5000-pixel column. ``condense`` keeps only what decides layouts (convs, merges, inputs, outputs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tvmviz.graph.model import LayoutGraph

ROW_PX = 30  # vertical distance between layers
SLOT_PX = 190  # horizontal distance between nodes of a layer: room for a "name · ic→oc" label
BAND_GAP_PX = 40
TOP_PX = 30  # room above a band's first row for the "from …" of an edge arriving from the previous band
BOTTOM_PX = 30  # room below a band's last row for the "→ …" of an edge leaving for the next band


@dataclass(frozen=True)
class NodePos:
    index: int  # node index in the graph
    layer: int
    slot: int  # position inside its layer
    x: float  # pixels, left to right
    y: float  # pixels, top to bottom


@dataclass(frozen=True)
class EdgePos:
    src: int
    dst: int
    x: float
    y: float
    x2: float
    y2: float
    wraps: bool  # crosses into a later band: drawn as two stubs, not a line across the picture


@dataclass(frozen=True)
class GraphLayout:
    nodes: dict  # node index -> NodePos (only the drawn nodes)
    edges: tuple  # EdgePos
    width: float
    height: float
    bands: int
    rows_per_band: int


def condense(graph: LayoutGraph) -> tuple[list[int], list[tuple[int, int]]]:
    """Kept nodes (convs, graph inputs, merges, outputs) and the edges between them, each edge walking
    back from a kept node's input through single-input ops to the kept node that produced it."""
    outputs = set(graph.outputs)
    keep = [n.index for n in graph.nodes
            if n.op in ("conv2d", "input") or len(n.inputs) != 1 or n.index in outputs]
    kept = set(keep)
    edges = []
    for k in keep:
        for j in graph.nodes[k].inputs:
            while j not in kept and len(graph.nodes[j].inputs) == 1:
                j = graph.nodes[j].inputs[0]
            if j in kept:
                edges.append((j, k))
    return keep, edges


def layered_layout(nodes: list[int], edges: list[tuple[int, int]], max_width_px: float = 1400.0,
                   min_rows_per_band: int = 24, sweeps: int = 4) -> GraphLayout:
    """Positions for ``nodes`` (topologically sorted) joined by ``edges`` (src, dst)."""
    preds: dict[int, list[int]] = {n: [] for n in nodes}
    succs: dict[int, list[int]] = {n: [] for n in nodes}
    for s, d in edges:
        preds[d].append(s)
        succs[s].append(d)
    layer = {}
    for n in nodes:
        layer[n] = 1 + max((layer[p] for p in preds[n]), default=-1)
    n_layers = 1 + max(layer.values(), default=0)
    layers: list[list[int]] = [[] for _ in range(n_layers)]
    for n in nodes:
        layers[layer[n]].append(n)
    slot = {n: float(k) for members in layers for k, n in enumerate(members)}
    for sweep in range(sweeps):
        order = range(1, n_layers) if sweep % 2 == 0 else range(n_layers - 2, -1, -1)
        for li in order:
            nbrs = preds if sweep % 2 == 0 else succs
            def key(n):
                around = [slot[m] for m in nbrs[n]]
                return (sum(around) / len(around) if around else slot[n], slot[n])
            layers[li].sort(key=key)
            for k, n in enumerate(layers[li]):
                slot[n] = float(k)
    widest = max((len(m) for m in layers), default=1)
    band_w = widest * SLOT_PX + BAND_GAP_PX
    max_bands = max(1, int(max_width_px // band_w))
    rows = max(min_rows_per_band, math.ceil(n_layers / max_bands))
    bands = math.ceil(n_layers / rows)
    pos = {}
    for li, members in enumerate(layers):
        band, row = divmod(li, rows)
        for k, n in enumerate(members):
            pos[n] = NodePos(n, li, k, 16 + band * band_w + k * SLOT_PX, TOP_PX + row * ROW_PX)
    edge_pos = tuple(
        EdgePos(s, d, pos[s].x, pos[s].y, pos[d].x, pos[d].y, pos[s].layer // rows != pos[d].layer // rows)
        for s, d in edges
    )
    height = TOP_PX + (min(rows, n_layers) - 1) * ROW_PX + BOTTOM_PX
    return GraphLayout(pos, edge_pos, bands * band_w, height, bands, rows)


def layout_graph(graph: LayoutGraph, condensed: bool = False, max_width_px: float = 1400.0) -> GraphLayout:
    if condensed:
        nodes, edges = condense(graph)
    else:
        nodes = [n.index for n in graph.nodes]
        edges = [(j, n.index) for n in graph.nodes for j in n.inputs]
    return layered_layout(nodes, edges, max_width_px)
