"""Altair chart builders for the dashboard and the report: pure functions from tvmviz objects to charts.

Each chart is built from a small table (``*_frame``; the graph from plain rows, ``graph_rows``) so tests can
check the data without pixels and the report can reuse the same table. No Streamlit here.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter

import altair as alt
import pandas as pd

from tvmviz import style
from tvmviz.graph.layout import GraphLayout, layout_graph
from tvmviz.graph.model import LayoutGraph

alt.data_transformers.disable_max_rows()  # a 500-node graph is well under any real limit

NODE_PICK = "node_pick"  # the click selection's name; Streamlit reports it under this key
CELL_PICK = "cell_pick"  # a search-space cell clicked


def _ms(seconds) -> float | None:
    return None if seconds is None else float(seconds) * 1e3


def conv_summary(conv) -> str:
    """'64×56×56 → 128, 3×3 /2' for a ConvAttrs."""
    _, c, h, w = conv.data_shape
    o, _, kh, kw = conv.kernel_shape
    stride = f" /{conv.strides[0]}" if conv.strides[0] != 1 else ""
    return f"{c}×{h}×{w} → {o}, {kh}×{kw}{stride}"


# ------------------------------------------------------------------------------------------- graph


def _origin(graph: LayoutGraph, j: int) -> int:
    """The producer the selector names for a tensor: walk back through single-input non-conv ops."""
    while graph.nodes[j].op != "conv2d" and len(graph.nodes[j].inputs) == 1:
        j = graph.nodes[j].inputs[0]
    return j


STUB_PX = 16  # length of the stubs that stand for an edge into a later band
EDGE_COLUMNS = ["edge", "seq", "src", "dst", "part", "x", "y", "wraps", "transform_ms", "transform", "layouts",
                "source", "hot", "problem"]
LABEL_COLUMNS = ["edge", "src", "dst", "x", "y", "text", "transform", "source", "layouts", "hot", "problem", "stub"]


def _edge_costs(selection, origins) -> dict:
    """(producer, consumer) -> (summed cost s, sorted source labels, transforms) of the non-identity transforms."""
    from tvmviz.report import source_label

    out: dict = {}
    if selection is None:
        return out
    for e in selection.edges:
        if e.identity:
            continue
        cost, sources, what = out.get((e.src, e.dst), (0.0, set(), []))
        sources.add(source_label(e, origins))
        what.append(style.transform(e.src_layout, e.dst_layout))
        out[(e.src, e.dst)] = (cost + e.cost_s, sources, what)
    return out


def _block_rows(graph, layout, choice, key, pos) -> dict:
    name = pos.block
    members = layout.blocks.get(name, [])
    convs = [graph.nodes[i].name for i in members if graph.nodes[i].op == "conv2d"]
    xs = Counter(choice[c].oc_bn for c in convs if c in choice)
    kernel = sum(choice[c].kernel_cost_s for c in convs if c in choice)
    summary = ", ".join(f"{style.short(x)} ×{n}" for x, n in sorted(xs.items()))
    return {"name": key, "op": "block", "is_conv": False, "is_block": True, "x_block": None,
            "label": f"+ {name} · {len(convs)} conv2d", "shape": "", "workload": f"{len(members)} ops (click to expand)",
            "reads": "", "writes": summary, "kernel_ms": kernel * 1e3 if convs else None}


def graph_rows(graph: LayoutGraph, layout: GraphLayout, selection=None, changed=(), picked: str | None = None,
                origins: dict | None = None):
    """(nodes, edges, labels) rows (dicts) for graph_spec: node positions, chosen x, kernel and transform costs;
    one row per point of each edge's polyline; the texts drawn on edges.

    An edge into a later band becomes two short stubs ("leave" under its producer, labelled "→ consumer"
    with its cost; "arrive" over its consumer, labelled "from producer") instead of a line across the
    picture. ``origins`` (report.transform_origins) tells logged from measured-here transforms.
    """
    choice = {n.name: n for n in selection.nodes} if selection is not None else {}
    costs = _edge_costs(selection, origins)
    changed = set(changed)
    t_in: dict[str, float] = {}
    for (_, dst), (cost, _, _) in costs.items():
        t_in[dst] = t_in.get(dst, 0.0) + cost
    edges, labels = [], []
    pending: list = []  # (label row, the edge's polyline): placed once every node label is known
    leave: dict = {}
    arrive: dict = {}
    for k, e in enumerate(layout.edges):
        cost, sources, what = 0.0, set(), []
        for s, d in e.pairs:
            c, src_set, w = costs.get((graph.nodes[_origin(graph, s)].name, graph.nodes[d].name), (0.0, set(), []))
            cost, sources, what = cost + c, sources | src_set, what + w
        source = ", ".join(sorted(sources))
        problem = "missing" in sources
        text = style.ms(cost) if cost else ("cost missing" if problem else "")
        common = {"edge": k, "src": _key_name(graph, e.src), "dst": _key_name(graph, e.dst), "wraps": e.wraps,
                  "transform_ms": cost * 1e3, "transform": text, "layouts": ", ".join(dict.fromkeys(what)),
                  "source": source, "hot": bool(sources), "problem": problem}
        if not e.wraps:
            for seq, (x, y) in enumerate(e.points):
                edges.append({**common, "part": "edge", "seq": seq, "x": x, "y": y})
            if text:
                pending.append(({**common, "text": text, "stub": False}, e.points))
            continue
        (x, y), (x2, y2) = e.points[0], e.points[-1]
        edges += [{**common, "part": "leave", "seq": 0, "x": x, "y": y},
                  {**common, "part": "leave", "seq": 1, "x": x, "y": y + STUB_PX}]
        edges += [{**common, "edge": k + 0.5, "part": "arrive", "seq": 0, "x": x2, "y": y2 - STUB_PX},
                  {**common, "edge": k + 0.5, "part": "arrive", "seq": 1, "x": x2, "y": y2}]
        leave.setdefault(e.src, ({**common, "x": x + 5, "y": y + STUB_PX + 3, "stub": True}, []))[1].append(
            f"→ {common['dst']}" + (f" · {text}" if text else ""))
        arrive.setdefault(e.dst, ({**common, "x": x2 + 5, "y": y2 - STUB_PX - 2, "stub": True}, []))[1].append(
            f"from {common['src']}")
    for row, texts in (*leave.values(), *arrive.values()):  # one short label per spot
        labels.append({**row, "text": texts[0] + (f" (+{len(texts) - 1} more)" if len(texts) > 1 else "")})
    rows = []
    for key, p in layout.nodes.items():
        if p.block is not None:
            rows.append({**_block_rows(graph, layout, choice, key, p), "x": p.x, "y": p.y, "transform_in_ms": None,
                         "changed": False, "picked": False})
            continue
        n = graph.nodes[key]
        c = choice.get(n.name)
        rows.append({
            "name": n.name, "op": n.op, "x": p.x, "y": p.y, "is_conv": n.op == "conv2d", "is_block": False,
            "shape": "×".join(map(str, n.shape)),
            "workload": conv_summary(n.conv) if n.conv is not None else "",
            "x_block": c.oc_bn if c else None,
            "reads": c.in_layout if c else "", "writes": c.out_layout if c else "",
            "label": f"{n.name} · {style.pair(c.ic_bn, c.oc_bn)}" if c else (n.name if n.op == "conv2d" else ""),
            "kernel_ms": c.kernel_cost_s * 1e3 if c else None,
            "transform_in_ms": t_in.get(n.name, 0.0) * 1e3 if c else None,
            "changed": n.name in changed, "picked": n.name == picked,
        })
    labels += _place_edge_labels(pending, layout, rows, labels)
    return rows, _project(edges, EDGE_COLUMNS), _project(labels, LABEL_COLUMNS)


def _project(rows: list, columns: list) -> list:
    return [{c: r.get(c) for c in columns} for r in rows]


# Text boxes as drawn: the names' 12-px and the edges' 11-px font, generous average character widths
NODE_LABEL_DX, NODE_CHAR_PX, EDGE_CHAR_PX, HALF_LINE_PX = 12, 6.2, 5.8, 7
LABEL_CELL_PX = 48  # grid of the collision index


def text_box(x: float, y: float, text: str, char_px: float) -> tuple:
    """(x1, y1, x2, y2) of a left-aligned, vertically centred label."""
    return x, y - HALF_LINE_PX, x + char_px * len(text), y + HALF_LINE_PX


def segment_crosses_box(a, b, box) -> bool:
    """Whether the segment a-b passes through the box (Liang-Barsky clipping)."""
    (x1, y1), (x2, y2) = a, b
    bx1, by1, bx2, by2 = box
    t0, t1 = 0.0, 1.0
    for p, q in ((x1 - x2, x1 - bx1), (x2 - x1, bx2 - x1), (y1 - y2, y1 - by1), (y2 - y1, by2 - y1)):
        if p == 0:
            if q < 0:
                return False
        elif p < 0:
            t0 = max(t0, q / p)
        else:
            t1 = min(t1, q / p)
        if t0 > t1:
            return False
    return True


class _Occupied:
    """What is drawn so far (edge segments, label boxes), bucketed in a grid so a test looks only nearby."""

    def __init__(self):
        self.cells: dict = {}

    def _keys(self, x1, y1, x2, y2):
        c = LABEL_CELL_PX
        return [(i, j) for i in range(int(min(x1, x2) // c), int(max(x1, x2) // c) + 1)
                for j in range(int(min(y1, y2) // c), int(max(y1, y2) // c) + 1)]

    def add(self, item: tuple) -> None:  # ("seg", a, b) or ("box", box)
        bounds = (*item[1], *item[2]) if item[0] == "seg" else item[1]
        for key in self._keys(*bounds):
            self.cells.setdefault(key, []).append(item)

    def free(self, box: tuple) -> bool:
        for key in self._keys(*box):
            for item in self.cells.get(key, ()):
                if item[0] == "seg" and segment_crosses_box(item[1], item[2], box):
                    return False
                if item[0] == "box" and not (item[1][2] <= box[0] or box[2] <= item[1][0] or item[1][3] <= box[1]
                                             or box[3] <= item[1][1]):
                    return False
        return True


def _place_edge_labels(pending: list, layout: GraphLayout, nodes: list, fixed: list) -> list:
    """Each edge's cost label at the first spot that no edge crosses and no other label covers: beside the
    middle, then a third of the way along, of its longest segment first, above, below or level, to the right
    then to the left; failing that, above the middle of the longest segment."""
    occupied = _Occupied()
    for e in layout.edges:
        points = e.points if not e.wraps else ((e.x, e.y), (e.x, e.y + STUB_PX), (e.x2, e.y2 - STUB_PX), (e.x2, e.y2))
        for a, b in zip(points, points[1:]):
            if not e.wraps or a[0] == b[0]:  # a wrapping edge is drawn as its two vertical stubs only
                occupied.add(("seg", a, b))
    for r in nodes:
        if r["label"]:
            occupied.add(("box", text_box(r["x"] + NODE_LABEL_DX, r["y"], r["label"], NODE_CHAR_PX)))
    for r in fixed:
        occupied.add(("box", text_box(r["x"], r["y"], r["text"], EDGE_CHAR_PX)))
    out = []
    for row, points in pending:
        width = EDGE_CHAR_PX * len(row["text"])
        segments = sorted(zip(points, points[1:]), key=lambda ab: -math.dist(*ab))
        spots = [(x1 + t * (x2 - x1) + dx, y1 + t * (y2 - y1) + dy) for (x1, y1), (x2, y2) in segments
                 for t in (0.5, 1 / 3, 2 / 3) for dx in (6, -6 - width) for dy in (-9, 9, 0)]
        x, y = next((p for p in spots if occupied.free(text_box(*p, row["text"], EDGE_CHAR_PX))), spots[0])
        occupied.add(("box", text_box(x, y, row["text"], EDGE_CHAR_PX)))
        out.append({**row, "x": x, "y": y})
    return out


def _key_name(graph, key) -> str:
    return key if isinstance(key, str) else graph.nodes[key].name


def graph_spec(graph: LayoutGraph, selection=None, changed=(), picked: str | None = None, condensed=None,
               layout: GraphLayout | None = None, x_domain=None, max_width_px: float = 1400.0,
               origins: dict | None = None, collapsed=()) -> dict:
    """The model as a layered DAG, as a Vega-Lite spec: convs coloured by chosen x (the same colour in every
    run) and sized by kernel cost, other ops small and grey, transforms the tuner pays for as thick dark
    edges (red when their cost is missing), changed layers ringed; click a conv to pick it, a block to
    expand it. The chart's encodings are built once per size and x set (Altair's schema work is most of
    the time); the tables go in as the spec's datasets."""
    if condensed is None:
        condensed = len(graph.nodes) > 150
    layout = layout or layout_graph(graph, condensed=condensed, max_width_px=max_width_px, collapsed=collapsed)
    nodes, edges, labels = graph_rows(graph, layout, selection, changed, picked, origins)
    domain, colors = style.x_scale({r["x_block"] for r in nodes if r["x_block"] is not None} | set(x_domain or ()))
    spec = json.loads(_graph_template(float(layout.width + 16), float(layout.height), tuple(domain), tuple(colors)))
    spec["datasets"] = {"nodes": nodes, "edges": edges, "labels": labels}  # plain rows: no DataFrame round trip
    return spec


def graph_chart(*args, **kwargs) -> alt.LayerChart:
    """graph_spec as an Altair chart (for callers that compose or save charts)."""
    return alt.LayerChart.from_dict(graph_spec(*args, **kwargs), validate=False)


@functools.lru_cache(maxsize=32)
def _graph_template(width: float, height: float, domain: tuple, colors: tuple) -> str:
    x_scale = alt.Scale(domain=[0, width], nice=False, zero=False)
    y_scale = alt.Scale(domain=[0, height], reverse=True, nice=False, zero=False)
    xs = alt.X("x:Q", axis=None, scale=x_scale)
    ys = alt.Y("y:Q", axis=None, scale=y_scale)
    line = {"detail": "edge:N", "order": "seq:Q"}
    edge_tip = [alt.Tooltip("src:N", title="from"), alt.Tooltip("dst:N", title="to"),
                alt.Tooltip("layouts:N", title="layout transform"),
                alt.Tooltip("transform_ms:Q", title="transform (ms)", format=style.D3_MS),
                alt.Tooltip("source:N", title="cost source")]
    base_e = alt.Chart(alt.NamedData("edges"))
    dashed = alt.condition("datum.wraps", alt.value([3, 2]), alt.value([1, 0]))
    plain = base_e.transform_filter("!datum.hot").mark_line(strokeWidth=1.5, color=style.MUTED).encode(
        xs, ys, strokeDash=dashed, **line)
    paid = base_e.transform_filter("datum.hot").mark_line(strokeWidth=4).encode(
        xs, ys, strokeDash=dashed, **line,
        color=alt.condition("datum.problem", alt.value(style.PROBLEM), alt.value(style.TRANSFORM)))
    # a wide, nearly invisible copy of every edge: what the pointer hovers
    hover = base_e.mark_line(strokeWidth=14, opacity=0.01, color="white").encode(xs, ys, tooltip=edge_tip, **line)
    edge_text = alt.Chart(alt.NamedData("labels")).mark_text(fontSize=11, align="left", baseline="middle").encode(
        xs, ys, text="text:N", tooltip=edge_tip,
        color=alt.condition("datum.problem", alt.value(style.PROBLEM), alt.value(style.TRANSFORM)))
    node_data = alt.NamedData("nodes")
    others = alt.Chart(node_data).transform_filter("!datum.is_conv && !datum.is_block").mark_square(
        size=40, color=style.MUTED).encode(
        xs, ys, tooltip=[alt.Tooltip("name:N"), alt.Tooltip("op:N"), alt.Tooltip("shape:N")])
    pick = alt.selection_point(name=NODE_PICK, fields=["name"], on="click", clear="dblclick")
    node_tip = [alt.Tooltip("name:N", title="layer"), alt.Tooltip("workload:N"), alt.Tooltip("reads:N"),
                alt.Tooltip("writes:N"), alt.Tooltip("kernel_ms:Q", title="kernel (ms)", format=style.D3_MS),
                alt.Tooltip("transform_in_ms:Q", title="transforms in (ms)", format=style.D3_MS)]
    conv_marks = alt.Chart(node_data).transform_filter("datum.is_conv").mark_circle(
        opacity=1, stroke="white", strokeWidth=1, cursor="pointer").encode(
        xs, ys,
        color=alt.Color("x_block:O", title="chosen x (writes NCHW{x}c)", legend=alt.Legend(labelExpr="datum.label + 'c'"),
                        scale=alt.Scale(domain=list(domain), range=list(colors)) if domain else alt.Undefined),
        size=alt.Size("kernel_ms:Q", title="kernel (ms)", scale=alt.Scale(range=[60, 520], zero=False),
                      legend=alt.Legend(format=style.D3_MS)),
        tooltip=node_tip,
    ).add_params(pick)
    block_marks = alt.Chart(node_data).transform_filter("datum.is_block").mark_square(
        size=420, color="#eceff1", stroke=style.NEUTRAL, strokeWidth=1.5, opacity=1, cursor="pointer").encode(
        xs, ys, tooltip=[alt.Tooltip("label:N", title="block"), alt.Tooltip("workload:N", title="holds"),
                         alt.Tooltip("writes:N", title="chosen x"),
                         alt.Tooltip("kernel_ms:Q", title="kernels (ms)", format=style.D3_MS)]).add_params(pick)
    names = alt.Chart(node_data).transform_filter("datum.is_conv || datum.is_block").mark_text(
        align="left", dx=12, fontSize=12, color=style.TEXT_DARK).encode(xs, ys, text="label:N")
    rings = alt.Chart(node_data).transform_filter("datum.changed").mark_circle(
        size=760, filled=False, stroke=style.CHANGED, strokeWidth=2.5, strokeDash=[4, 2]).encode(xs, ys)
    picked_ring = alt.Chart(node_data).transform_filter("datum.picked").mark_square(
        size=900, filled=False, stroke=style.CHANGED, strokeWidth=2.5).encode(xs, ys)
    chart = alt.layer(plain, paid, hover, edge_text, others, rings, picked_ring, block_marks, conv_marks,
                      names).properties(width=width, height=height).configure_view(stroke=None).configure_legend(
        orient="top", direction="horizontal", labelFontSize=12, titleFontSize=12, titleLimit=0, labelLimit=0)
    return json.dumps(chart.to_dict())  # validated once per template


# ------------------------------------------------------------------------------------------- search space


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def search_space_frame(best: pd.DataFrame, channels: int, out_channels: int, flops: int) -> pd.DataFrame:
    """Every (ic_bn, oc_bn) AutoTVM could split into, with the best cost, trials and failures where
    tried; 'status' says never tried / all failed / ok."""
    tried = {(int(r.ic_bn), int(r.oc_bn)): r for r in best.itertuples() if pd.notna(r.ic_bn)}
    rows = []
    for ic in sorted(set(_divisors(channels)) | {k[0] for k in tried}):
        for oc in sorted(set(_divisors(out_channels)) | {k[1] for k in tried}):
            r = tried.get((ic, oc))
            cost = float(r.best_cost_s) if r is not None and pd.notna(r.best_cost_s) else None
            trials = int(r.trials) if r is not None else 0
            failed = int(r.failed) if r is not None else 0
            status = "never tried" if r is None else ("all failed" if cost is None else "ok")
            rows.append({
                "ic_bn": ic, "oc_bn": oc, "best_ms": cost * 1e3 if cost else None,
                "gflops": flops / cost / 1e9 if cost else None,
                "best_all_cost_s": float(r.best_all_cost_s) if r is not None and pd.notna(r.best_all_cost_s) else None,
                "trials": trials, "failed": failed, "status": status,
                "text": "–" if r is None else (f"{trials}✗" if cost is None else str(trials)),
            })
    return pd.DataFrame(rows)


def _color_position(values: pd.Series, reverse: bool) -> pd.Series:
    """Where each value sits on a log colour scale, 0..1 (1 = the bright end), for choosing the text colour."""
    import numpy as np

    logs = np.log(values.astype(float))
    lo, hi = logs.min(), logs.max()
    pos = (logs - lo) / (hi - lo) if hi > lo else logs * 0 + 0.5
    return 1 - pos if reverse else pos


NEXT_TOOLTIP = (("selector", "N", "for the selector"), ("break_even", "N", "chosen below"),
                ("estimate_ms", "Q", "estimated ms"), ("gain_ms", "Q", "potential gain ms"))


def next_frame(candidates) -> pd.DataFrame:
    """tvmviz.next candidates as rows (ms), in ranking order: the 'what to measure next' table."""
    def ms_or_none(x):
        return float("nan") if x is None else x * 1e3

    return pd.DataFrame([{
        "cell": c.label, "ic_bn": c.ic_bn, "oc_bn": c.oc_bn, "selector": c.status_text(),
        "kernel_ms": ms_or_none(c.kernel_s),
        "break_even": "never" if c.break_even_s is None else style.ms(c.break_even_s),
        "estimate_ms": ms_or_none(c.estimated_kernel_s), "gain_ms": ms_or_none(c.potential_gain_s),
        "convs": ", ".join(c.nodes), "chosen by": ", ".join(c.chosen_by),
    } for c in candidates], columns=["cell", "ic_bn", "oc_bn", "selector", "kernel_ms", "break_even", "estimate_ms",
                                     "gain_ms", "convs", "chosen by"])


def heatmap_chart(cells: pd.DataFrame, metric: str = "time", chosen=None, baseline=None) -> alt.LayerChart:
    """Best cost over (ic_bn × oc_bn): tried cells on a log viridis scale (bright = fast) with their trial
    counts in a colour that reads on the cell; failed cells light red with 'n✗'; never-tried cells grey
    with '–'; the graph tuner's choice boxed black, oneDNN's blocks boxed orange."""
    field, title = ("best_ms", "best (ms)") if metric == "time" else ("gflops", "GFLOPS")
    reverse = metric == "time"  # bright = good in both
    cells = cells.copy()
    ok = cells["status"] == "ok"
    cells["text_color"] = style.NEUTRAL
    if ok.any():
        bright = _color_position(cells.loc[ok, field], reverse) > 0.55  # viridis' light half: yellow, green
        cells.loc[ok, "text_color"] = [style.TEXT_DARK if b else style.TEXT_LIGHT for b in bright]
    cells.loc[cells["status"] == "all failed", "text_color"] = style.PROBLEM
    order_ic = sorted(cells["ic_bn"].unique())
    order_oc = sorted(cells["oc_bn"].unique())
    axis = {"labelAngle": 0, "labelOverlap": False, "labelFontSize": 12, "titleFontSize": 12, "titlePadding": 8,
            "labelExpr": "datum.label + 'c'"}
    x = alt.X("oc_bn:O", title="oc_bn: writes NCHW{x}c", sort=order_oc, axis=alt.Axis(orient="top", **axis))
    y = alt.Y("ic_bn:O", title="ic_bn: reads NCHW{x}c", sort=order_ic, axis=alt.Axis(**axis))
    base = alt.Chart(cells)
    tip = [alt.Tooltip("ic_bn:O", title="ic_bn (reads)"), alt.Tooltip("oc_bn:O", title="oc_bn (writes)"),
           alt.Tooltip("status:N"), alt.Tooltip("best_ms:Q", title="best (ms)", format=style.D3_MS),
           alt.Tooltip("gflops:Q", title="GFLOPS", format=",.1f"), alt.Tooltip("trials:Q"),
           alt.Tooltip("failed:Q", title="failed trials")]
    tip += [alt.Tooltip(f"{col}:{kind}", title=title) for col, kind, title in NEXT_TOOLTIP if col in cells]
    never = base.transform_filter("datum.status == 'never tried'").mark_rect(color="#f0f0f0", stroke="white").encode(
        x, y, tooltip=tip)
    failed = base.transform_filter("datum.status == 'all failed'").mark_rect(
        color=style.FAILED_CELL, stroke="white").encode(x, y, tooltip=tip)
    filled = base.transform_filter("datum.status == 'ok'").mark_rect(stroke="white").encode(
        x, y, color=alt.Color(f"{field}:Q", title=title, scale=alt.Scale(type="log", scheme="viridis", reverse=reverse),
                              legend=alt.Legend(format=style.D3_MS if metric == "time" else ",.0f", orient="bottom",
                                                gradientLength=220, titleLimit=0, labelLimit=0)),
        tooltip=tip)
    text = base.mark_text(fontSize=12).encode(x, y, text="text:N", tooltip=tip,
                                               color=alt.Color("text_color:N", scale=None, legend=None))
    # an invisible rect over every cell: what a click picks (ask the inequality for that cell's x)
    hit = base.mark_rect(opacity=0.001, cursor="pointer").encode(x, y, tooltip=tip).add_params(
        alt.selection_point(name=CELL_PICK, fields=["ic_bn", "oc_bn"], on="click", clear="dblclick"))
    layers = [never, failed, filled, text, hit]
    marks = []
    if chosen is not None:
        marks.append({"ic_bn": chosen[0], "oc_bn": chosen[1], "what": "chosen by the graph tuner"})
    if baseline is not None:
        marks.append({"ic_bn": baseline[0], "oc_bn": baseline[1], "what": "oneDNN's blocks"})
    marks = [m for m in marks if m["ic_bn"] in order_ic and m["oc_bn"] in order_oc]
    if marks:
        layers.append(alt.Chart(pd.DataFrame(marks)).mark_rect(filled=False, strokeWidth=3).encode(
            x, y,
            stroke=alt.Stroke("what:N", title=None, scale=alt.Scale(
                domain=["chosen by the graph tuner", "oneDNN's blocks"], range=["black", "#e69f00"]),
                legend=alt.Legend(orient="bottom", labelLimit=0)),
            tooltip=["what:N"]))
    return alt.layer(*layers).resolve_scale(color="independent").properties(
        width=max(320, 58 * len(order_oc)), height=max(200, 36 * len(order_ic)))


def cost_scatter(records: pd.DataFrame) -> alt.Chart:
    """cost (kernel, costs[0]) vs all_cost (with compile and overheads) per successful trial, coloured by x."""
    ok = records[records["error_no"] == 0].assign(cost_ms=lambda d: d["cost0"] * 1e3)
    domain, colors = style.x_scale(ok["oc_bn"].dropna()) if len(ok) else ([], [])
    return alt.Chart(ok).mark_circle(size=44, opacity=0.8).encode(
        x=alt.X("cost_ms:Q", title="cost: costs[0] (ms)", scale=alt.Scale(zero=False)),
        y=alt.Y("all_cost:Q", title="all_cost (s)", scale=alt.Scale(zero=False)),
        color=alt.Color("oc_bn:O", title="writes NCHW{x}c", scale=alt.Scale(domain=domain, range=colors),
                        legend=alt.Legend(labelExpr="datum.label + 'c'")),
        tooltip=[alt.Tooltip("ic_bn:O", title="ic_bn"), alt.Tooltip("oc_bn:O", title="oc_bn"),
                 alt.Tooltip("cost_ms:Q", title="cost (ms)", format=style.D3_MS),
                 alt.Tooltip("all_cost:Q", title="all_cost (s)", format=".3f"),
                 alt.Tooltip("config_index:Q", title="config index")],
    ).properties(height=260)


# ------------------------------------------------------------------------------------------- layer


def candidate_frame(exp) -> pd.DataFrame:
    """One row per candidate of a LayerExplanation (costs in ms), best regret first: the columns that say
    why come first (regret, the local difference, how many other layers re-choose), then the parts."""
    frame = pd.DataFrame([{
        "candidate": c.label, "chosen": c.chosen, "regret_ms": _ms(c.regret_s), "local_delta_ms": c.local_delta_s * 1e3,
        "other_layers_rechosen": len(c.forced_changes), "kernel_ms": c.kernel_s * 1e3,
        "transform_in_ms": c.transform_in_s * 1e3, "transform_out_ms": c.transform_out_s * 1e3,
        "local_total_ms": c.local_total_s * 1e3, "ic_bn": c.ic_bn, "oc_bn": c.oc_bn,
    } for c in exp.candidates])
    for col in ("regret_ms", "local_delta_ms"):  # float noise of the solver's sums is no regret
        frame[col] = frame[col].mask(frame[col].abs() < 1e-9, 0.0)
    key = frame["regret_ms"].where(frame["regret_ms"].notna(), frame["local_delta_ms"])
    return frame.assign(_key=key).sort_values(["_key", "local_total_ms"], kind="stable").drop(columns="_key") \
        .reset_index(drop=True)


def candidate_bars(exp) -> alt.LayerChart:
    """Kernel (in the candidate's x colour) + transform in + transform out per candidate, in the table's
    order (best regret first), the chosen one outlined; every candidate labelled."""
    frame = candidate_frame(exp)
    frame["k0"] = 0.0
    frame["i0"] = frame["kernel_ms"]
    frame["o0"] = frame["kernel_ms"] + frame["transform_in_ms"]
    frame["end"] = frame["local_total_ms"]
    order = list(frame["candidate"])
    # a failed or wildly slow candidate would squash the others: cut the axis at 3x the chosen total
    chosen_total = float(frame.loc[frame["chosen"], "local_total_ms"].iloc[0]) if frame["chosen"].any() else 0.0
    limit = min(float(frame["end"].max()), 3 * chosen_total) if chosen_total > 0 else None
    cut = limit is not None and limit < float(frame["end"].max())
    scale = alt.Scale(domain=[0, limit]) if cut else alt.Undefined
    y = alt.Y("candidate:N", sort=order, title=None, axis=alt.Axis(labelOverlap=False, labelFontSize=12, labelLimit=0))
    tip = [alt.Tooltip("candidate:N"), alt.Tooltip("kernel_ms:Q", title="kernel (ms)", format=style.D3_MS),
           alt.Tooltip("transform_in_ms:Q", title="transforms in (ms)", format=style.D3_MS),
           alt.Tooltip("transform_out_ms:Q", title="transforms out (ms)", format=style.D3_MS),
           alt.Tooltip("regret_ms:Q", title="regret (ms)", format=style.D3_MS)]
    domain, colors = style.x_scale(frame["oc_bn"])
    base = alt.Chart(frame)
    outline = {"stroke": alt.condition("datum.chosen", alt.value("black"), alt.value(None)),
               "strokeWidth": alt.condition("datum.chosen", alt.value(2), alt.value(0))}
    title = "ms with the neighbours as chosen" + (", cut at 3× the chosen" if cut else "")
    kernel = base.mark_bar(clip=True).encode(
        y, alt.X("k0:Q", title=title, scale=scale, axis=alt.Axis(format=style.D3_MS, titleLimit=0)), x2="i0:Q",
        color=alt.Color("oc_bn:O", title="kernel, writes NCHW{x}c", scale=alt.Scale(domain=domain, range=colors),
                        legend=alt.Legend(orient="top", labelExpr="datum.label + 'c'", titleLimit=0, columns=6)),
        tooltip=tip, **outline)
    t_in = base.mark_bar(clip=True, color=style.TRANSFORM).encode(y, alt.X("i0:Q", scale=scale), x2="o0:Q",
                                                                   tooltip=tip)
    t_out = base.mark_bar(clip=True, color="#90a4ae").encode(y, alt.X("o0:Q", scale=scale), x2="end:Q", tooltip=tip)
    return alt.layer(kernel, t_in, t_out).properties(height=max(140, 24 * len(frame)), width="container")


# ------------------------------------------------------------------------------------------- profile, compare


def ratio_chart(frame: pd.DataFrame, threshold: float = 1.5) -> alt.LayerChart:
    """Profiled / tuned per layer, one labelled bar per layer, red over the threshold, a rule at it."""
    order = list(frame["layer"])
    bars = alt.Chart(frame).mark_bar().encode(
        y=alt.Y("layer:N", sort=order, title=None, axis=alt.Axis(labelOverlap=False, labelLimit=0, labelFontSize=12)),
        x=alt.X("ratio:Q", title="profiled / tuned"),
        color=alt.condition(f"datum.ratio > {threshold}", alt.value(style.PROBLEM), alt.value("#78909c")),
        tooltip=[alt.Tooltip("layer:N"), alt.Tooltip("tuned_ms:Q", title="tuned (ms)", format=style.D3_MS),
                 alt.Tooltip("profiled_ms:Q", title="profiled (ms)", format=style.D3_MS),
                 alt.Tooltip("ratio:Q", title="profiled / tuned", format=style.D3_RATIO)],
    )
    rule = alt.Chart(pd.DataFrame({"x": [threshold]})).mark_rule(strokeDash=[4, 4], color="black").encode(x="x:Q")
    return alt.layer(bars, rule).properties(height=max(160, 22 * len(frame)))


def compare_chart(frame: pd.DataFrame, a: str, b: str) -> alt.Chart:
    """Best cost per workload, run A vs run B (grouped bars); every workload labelled in full."""
    long = frame.melt(id_vars=["workload_label"], value_vars=["a_ms", "b_ms"], var_name="run", value_name="ms")
    long["run"] = long["run"].map({"a_ms": a, "b_ms": b})
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y("workload_label:N", title=None, sort=list(frame["workload_label"]),
                axis=alt.Axis(labelLimit=0, labelOverlap=False, labelFontSize=12)),
        x=alt.X("ms:Q", title="best cost (ms)", axis=alt.Axis(format=style.D3_MS)),
        yOffset="run:N",
        color=alt.Color("run:N", title=None, scale=alt.Scale(range=["#455a64", "#90a4ae"]),
                        legend=alt.Legend(orient="top", labelLimit=0)),
        tooltip=[alt.Tooltip("workload_label:N", title="workload"), alt.Tooltip("run:N"),
                 alt.Tooltip("ms:Q", title="best (ms)", format=style.D3_MS)],
    ).properties(height=max(160, 30 * len(frame)))


def workload_label(workload: str | list) -> str:
    """Short text of a conv workload key: '64×56×56 → 64, 3×3'."""
    w = json.loads(workload) if isinstance(workload, str) else workload
    try:
        (_, c, h, wd), (o, _, kh, kw) = w[1][1], w[2][1]
        stride = f" /{w[3][0]}" if w[3][0] != 1 else ""
        return f"{c}×{h}×{wd} → {o}, {kh}×{kw}{stride}"
    except (IndexError, TypeError, ValueError):
        return str(w)[:60]
