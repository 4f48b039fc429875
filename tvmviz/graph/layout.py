"""A layered-DAG layout for drawing a LayoutGraph, computed by igraph's Sugiyama layout.

igraph layers the DAG, orders each layer to cut crossings and routes edges that skip layers through
control points, in C: 0.04 s for the 506 nodes of ``tvmviz.synth.random_dag(200, seed=1)``, where grandalf
(pure Python) took 1.0-1.7 s and Graphviz ``dot`` 0.3-0.7 s (and needs a system package). The layers are then
wrapped into side-by-side bands, so a 170-layer ResNet-50 fits a screen instead of one 5000-pixel
column; an edge into a later band is drawn as two labelled stubs.

Blocks: nodes sharing a name prefix (``layer3.0.conv1`` → ``layer3``, ``stage2_unit1_conv1`` →
``stage2``), with the unnamed ops between two nodes of one block counted in it, can be drawn collapsed
into one node, as Google's Model Explorer does. ``condense`` keeps only what decides layouts (convs,
merges, inputs, outputs).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from tvmviz.graph.model import LayoutGraph

ROW_PX = 34  # vertical distance between layers
SLOT_PX = 200  # horizontal unit of the layout: room for a "name · 32c→16c" label
BAND_GAP_PX = 40
TOP_PX = 30  # room above a band's first row for the "from …" of an edge arriving from the previous band
BOTTOM_PX = 30  # room below a band's last row for the "→ …" of an edge leaving for the next band
PORT_PX = 10  # edges leave and enter a node vertically for this long: clear of the label right of the node
MIN_BLOCK_NODES = 3


@dataclass(frozen=True)
class NodePos:
    key: int | str  # graph node index, or "block:<name>" for a collapsed block
    layer: int
    x: float  # pixels, left to right
    y: float  # pixels, top to bottom

    @property
    def block(self) -> str | None:
        return self.key[len("block:"):] if isinstance(self.key, str) else None


@dataclass(frozen=True)
class EdgePos:
    src: int | str  # NodePos keys
    dst: int | str
    points: tuple  # ((x, y), ...) from src to dst through the layout's control points
    wraps: bool  # crosses into a later band: drawn as two stubs, not a line across the picture
    pairs: tuple  # the graph's (producer index, consumer index) edges this drawn edge stands for

    @property
    def x(self):
        return self.points[0][0]

    @property
    def y(self):
        return self.points[0][1]

    @property
    def x2(self):
        return self.points[-1][0]

    @property
    def y2(self):
        return self.points[-1][1]


@dataclass(frozen=True)
class GraphLayout:
    nodes: dict  # key -> NodePos (only the drawn nodes)
    edges: tuple  # EdgePos
    width: float
    height: float
    bands: int
    rows_per_band: int
    blocks: dict  # block name -> member node indices (every block of the graph, collapsed or not)


_DOTTED = re.compile(r"^/?([^./]+)[./]")
_NUMBERED = re.compile(r"^([A-Za-z]+\d+)_")


def _prefix(name: str) -> str | None:
    m = _DOTTED.match(name) or _NUMBERED.match(name)
    return m.group(1) if m else None


def blocks(graph: LayoutGraph) -> dict[str, list[int]]:
    """block name -> node indices: the nodes named with the prefix, and the unnamed ops lying between two of
    them (a relu between two convs of layer3, the add closing its first unit), so that a closed block is
    convex: no path leaves it and comes back."""
    own = {n.index: _prefix(n.name) for n in graph.nodes}
    counts: dict = {}
    for b in own.values():
        if b is not None:
            counts[b] = counts.get(b, 0) + 1
    own = {i: (b if b is not None and counts[b] >= MIN_BLOCK_NODES else None) for i, b in own.items()}
    consumers: dict[int, list[int]] = {n.index: [] for n in graph.nodes}
    for n in graph.nodes:
        for j in n.inputs:
            consumers[j].append(n.index)

    def reach(start, step):
        seen, todo = set(start), list(start)
        while todo:
            for j in step(todo.pop()):
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
        return seen

    named: dict[str, list[int]] = {}
    for i, b in own.items():
        if b is not None:
            named.setdefault(b, []).append(i)
    between: dict[int, set] = {}
    for b, members in named.items():
        hull = reach(members, lambda i: consumers[i]) & reach(members, lambda i: graph.nodes[i].inputs)
        for i in hull:
            if own[i] is None:
                between.setdefault(i, set()).add(b)
    out = {b: list(members) for b, members in named.items()}
    for i, bs in between.items():
        if len(bs) == 1:
            out[next(iter(bs))].append(i)
    return {b: sorted(members) for b, members in out.items()}


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


def _sugiyama(n: int, edges: list[tuple[int, int]]):
    """(coords per vertex, control points per edge) in layout units: y = layer, x = position."""
    import igraph

    g = igraph.Graph(n=n, edges=edges, directed=True)
    lay = g.layout_sugiyama(hgap=1, vgap=1, maxiter=40)
    return [tuple(c) for c in lay.coords], [tuple(map(tuple, pts)) for pts in lay.edge_routing]


def _spread(coords: list, layer: list) -> list:
    """At least one unit between the nodes of a layer (igraph packs them closer around long edges'
    control points), so every node keeps room for its label."""
    out = list(coords)
    by_layer: dict = {}
    for i, lay in enumerate(layer):
        by_layer.setdefault(lay, []).append(i)
    for members in by_layer.values():
        members.sort(key=lambda i: coords[i][0])
        for a, b in zip(members, members[1:]):
            if out[b][0] < out[a][0] + 1:
                out[b] = (out[a][0] + 1, out[b][1])
    return out


def layered_layout(nodes: list, edges: list, pairs: list | None = None, max_width_px: float = 1400.0,
                   min_rows_per_band: int = 24, block_members: dict | None = None,
                   labelled: set | None = None) -> GraphLayout:
    """Positions for ``nodes`` (keys, topologically sorted) joined by ``edges`` (src key, dst key);
    ``pairs[i]`` lists the graph edges drawn edge i stands for (default: itself); ``labelled``: the nodes
    drawn with a label on their right (default: all), which edges leave and enter vertically."""
    index = {k: i for i, k in enumerate(nodes)}
    coords, routing = _sugiyama(len(nodes), [(index[s], index[d]) for s, d in edges]) if nodes else ([], [])
    layer = [int(round(y)) for _, y in coords]
    coords = _spread(coords, layer)
    n_layers = 1 + max(layer, default=0)
    x_min = min((x for x, _ in coords), default=0.0)
    widest = max((x for x, _ in coords), default=0.0) - x_min + 1
    band_w = widest * SLOT_PX + BAND_GAP_PX
    max_bands = max(1, int(max_width_px // band_w))
    rows = max(min_rows_per_band, math.ceil(n_layers / max_bands))
    bands = math.ceil(n_layers / rows)

    def place(x: float, lay: float) -> tuple[float, float]:
        band, row = divmod(int(round(lay)), rows)
        return 16 + band * band_w + (x - x_min) * SLOT_PX, TOP_PX + row * ROW_PX

    pos = {k: NodePos(k, layer[i], *place(*coords[i])) for k, i in index.items()}
    edge_pos = []
    for e, (s, d) in enumerate(edges):
        wraps = pos[s].layer // rows != pos[d].layer // rows
        through = () if wraps else tuple(place(x, y) for x, y in routing[e])
        points = ((pos[s].x, pos[s].y), *through, (pos[d].x, pos[d].y))
        if not wraps:
            points = _ports(points, labelled is None or s in labelled, labelled is None or d in labelled)
        edge_pos.append(EdgePos(s, d, points, wraps, tuple(pairs[e]) if pairs else ((s, d),)))
    height = TOP_PX + (min(rows, n_layers) - 1) * ROW_PX + BOTTOM_PX
    return GraphLayout(pos, tuple(edge_pos), bands * band_w, height, bands, rows, dict(block_members or {}))


def _ports(points: tuple, head: bool, tail: bool) -> tuple:
    """The polyline with a vertical first (``head``) and last (``tail``) PORT_PX where it would leave or enter
    its node slanted to the right, through the node's label. Only there: every point costs the browser time on
    a big graph (a port on every edge of a 500-node graph cost it ~0.8 s a visit)."""
    (x1, y1), (x2, y2) = points[0], points[-1]
    start = ((x1, y1 + PORT_PX),) if head and points[1][0] > x1 else ()
    end = ((x2, y2 - PORT_PX),) if tail and points[-2][0] > x2 else ()
    return (points[0], *start, *points[1:-1], *end, points[-1])


def block_key(name: str) -> str:
    return f"block:{name}"


def layout_graph(graph: LayoutGraph, condensed: bool = False, max_width_px: float = 1400.0,
                 collapsed=()) -> GraphLayout:
    """The drawn graph: every op (or only convs and merges), with the named blocks in ``collapsed`` drawn
    as one node each."""
    if condensed:
        nodes, edges = condense(graph)
    else:
        nodes = [n.index for n in graph.nodes]
        edges = [(j, n.index) for n in graph.nodes for j in n.inputs]
    members = blocks(graph)
    owner = {i: key for b in collapsed if b in members for key in [block_key(b)] for i in members[b]}
    drawn = list(dict.fromkeys(owner.get(n, n) for n in nodes))
    grouped: dict = {}
    for s, d in edges:
        a, b = owner.get(s, s), owner.get(d, d)
        if a != b:
            grouped.setdefault((a, b), []).append((s, d))
    labelled = {k for k in drawn if isinstance(k, str) or graph.nodes[k].op == "conv2d"}  # as graph_spec names them
    return layered_layout(drawn, list(grouped), list(grouped.values()), max_width_px, block_members=members,
                          labelled=labelled)
