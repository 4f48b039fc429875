"""Altair chart builders for the dashboard and the report: pure functions from tvmviz objects to charts.

Each chart is built from a small table (``*_frame``) so tests can check the data without pixels and the
report can reuse the same table. No Streamlit here.
"""

from __future__ import annotations

import json

import altair as alt
import pandas as pd

from tvmviz.graph.layout import ROW_PX, GraphLayout, layout_graph
from tvmviz.graph.model import LayoutGraph

alt.data_transformers.disable_max_rows()  # a 500-node graph is well under any real limit

NODE_PICK = "node_pick"  # the click selection's name; Streamlit reports it under this key
TRANSFORM_COLOR = "#e45756"
CHANGED_COLOR = "#d62728"


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


def _edge_sources(selection, origins) -> dict:
    """(producer, consumer) -> (summed cost s, sorted source labels) of the non-identity transforms."""
    from tvmviz.report import source_label

    out: dict = {}
    if selection is None:
        return out
    for e in selection.edges:
        if e.identity:
            continue
        cost, sources = out.get((e.src, e.dst), (0.0, set()))
        sources.add(source_label(e, origins))
        out[(e.src, e.dst)] = (cost + e.cost_s, sources)
    return {k: (c, ", ".join(sorted(v))) for k, (c, v) in out.items()}


def graph_frames(graph: LayoutGraph, layout: GraphLayout, selection=None, changed=(), picked: str | None = None,
                 origins: dict | None = None):
    """(nodes, edges) tables for graph_chart: node positions, chosen x, kernel and transform costs.

    An edge into a later band becomes two short stubs ("leave" under its producer, labelled "→ consumer"
    with its cost; "arrive" over its consumer, labelled "from producer") instead of a line across the
    picture. ``origins`` (report.transform_origins) tells logged from measured-here transforms.
    """
    choice = {n.name: n for n in selection.nodes} if selection is not None else {}
    by_pair = _edge_sources(selection, origins)
    changed = set(changed)
    t_in: dict[str, float] = {}
    edges = []
    leave_labels: dict = {}
    arrive_labels: dict = {}
    edge_labels: dict = {}
    for e in layout.edges:
        src_name = graph.nodes[_origin(graph, e.src)].name
        dst_name = graph.nodes[e.dst].name
        cost, source = by_pair.pop((src_name, dst_name), (0.0, ""))
        t_in[dst_name] = t_in.get(dst_name, 0.0) + cost
        text = f"{cost * 1e3:.3g} ms" if cost else ("missing" if source == "missing" else "")
        common = {"src": graph.nodes[e.src].name, "dst": dst_name, "wraps": e.wraps, "transform_ms": cost * 1e3,
                  "transform": text, "source": source, "hot": bool(source), "edge_label": "", "stub_label": ""}
        if not e.wraps:
            # labelled just above the consumer, where a long or diagonal edge is unambiguous
            edges.append({**common, "part": "edge", "x": e.x, "y": e.y, "x2": e.x2, "y2": e.y2,
                          "mx": e.x2 + 4, "my": e.y2 - ROW_PX / 2})
            if text:
                edge_labels.setdefault(e.dst, (len(edges) - 1, []))[1].append(text)
            continue
        leave_labels.setdefault(e.src, (len(edges), []))[1].append(f"→ {dst_name}" + (f" · {text}" if text else ""))
        edges.append({**common, "part": "leave", "x": e.x, "y": e.y, "x2": e.x, "y2": e.y + STUB_PX,
                      "mx": e.x + 5, "my": e.y + STUB_PX + 2})
        arrive_labels.setdefault(e.dst, (len(edges), []))[1].append(f"from {src_name}")
        edges.append({**common, "part": "arrive", "x": e.x2, "y": e.y2 - STUB_PX, "x2": e.x2, "y2": e.y2,
                      "mx": e.x2 + 5, "my": e.y2 - STUB_PX - 1})
    # one label per spot: several edges into one consumer, or leaving / arriving at one node, share it
    for row, texts in edge_labels.values():
        edges[row]["edge_label"] = " + ".join(texts)
    for row, texts in (*leave_labels.values(), *arrive_labels.values()):
        edges[row]["stub_label"] = ", ".join(texts)
    # a transform label of an edge out of the same node sits where the stub's text would: move the text right
    labelled_src = {e["src"] for e in edges if e["part"] == "edge" and e["transform"]}
    for row, _ in leave_labels.values():
        if edges[row]["src"] in labelled_src:
            edges[row]["mx"] += 70
    rows = []
    for idx, p in layout.nodes.items():
        n = graph.nodes[idx]
        c = choice.get(n.name)
        rows.append({
            "name": n.name, "op": n.op, "x": p.x, "y": p.y, "is_conv": n.op == "conv2d",
            "shape": "×".join(map(str, n.shape)),
            "workload": conv_summary(n.conv) if n.conv is not None else "",
            "x_block": c.oc_bn if c else None, "ic_bn": c.ic_bn if c else None,
            "layout": f"{c.in_layout} → {c.out_layout}" if c else "",
            "label": f"{n.name} · {c.ic_bn}→{c.oc_bn}" if c else (n.name if n.op == "conv2d" else ""),
            "kernel_ms": c.kernel_cost_s * 1e3 if c else None,
            "transform_in_ms": t_in.get(n.name, 0.0),
            "changed": n.name in changed, "picked": n.name == picked,
        })
    return pd.DataFrame(rows), pd.DataFrame(edges, columns=[
        "src", "dst", "part", "x", "y", "x2", "y2", "mx", "my", "wraps", "transform_ms", "transform", "source", "hot",
        "edge_label", "stub_label"])


def graph_chart(graph: LayoutGraph, selection=None, changed=(), picked: str | None = None, condensed=None,
                layout: GraphLayout | None = None, x_domain=None, max_width_px: float = 1400.0,
                origins: dict | None = None) -> alt.LayerChart:
    """The model as a layered DAG: convs coloured by chosen x and sized by kernel cost, other ops small,
    transform costs on the edges that carry them, changed layers ringed; click a conv to pick it."""
    if condensed is None:
        condensed = len(graph.nodes) > 150
    layout = layout or layout_graph(graph, condensed=condensed, max_width_px=max_width_px)
    nodes, edges = graph_frames(graph, layout, selection, changed, picked, origins)
    x_scale = alt.Scale(domain=[0, layout.width + 16], nice=False, zero=False)
    y_scale = alt.Scale(domain=[0, layout.height], reverse=True, nice=False, zero=False)
    xs = alt.X("x:Q", axis=None, scale=x_scale)
    ys = alt.Y("y:Q", axis=None, scale=y_scale)
    mxs = alt.X("mx:Q", axis=None, scale=x_scale)
    mys = alt.Y("my:Q", axis=None, scale=y_scale)
    x_values = sorted({int(v) for v in nodes["x_block"].dropna()} | set(x_domain or ()))
    base_e = alt.Chart(edges)
    dashed = alt.condition("datum.wraps", alt.value([3, 2]), alt.value([1, 0]))
    edge_rule = base_e.mark_rule(strokeWidth=1, color="#9a9a9a").encode(xs, ys, x2="x2:Q", y2="y2:Q",
                                                                       strokeDash=dashed)
    edge_tip = [alt.Tooltip("src:N", title="from"), alt.Tooltip("dst:N", title="to"),
                alt.Tooltip("transform:N", title="layout transform"), alt.Tooltip("source:N", title="cost source")]
    hot = base_e.transform_filter("datum.hot")
    edge_hot = hot.mark_rule(strokeWidth=2.5, color=TRANSFORM_COLOR).encode(
        xs, ys, x2="x2:Q", y2="y2:Q", strokeDash=dashed, tooltip=edge_tip)
    edge_text = base_e.transform_filter("datum.edge_label != ''").mark_text(
        fontSize=10, color=TRANSFORM_COLOR, align="left", dx=4, dy=-2).encode(mxs, mys, text="edge_label:N",
                                                                             tooltip=edge_tip)
    stub_text = base_e.transform_filter("datum.stub_label != ''").mark_text(
        fontSize=10, align="left", baseline="middle", fontStyle="italic").encode(
        mxs, mys, text="stub_label:N", tooltip=edge_tip,
        color=alt.condition("datum.hot", alt.value(TRANSFORM_COLOR), alt.value("#666666")))
    others = alt.Chart(nodes).transform_filter("!datum.is_conv").mark_square(size=36, color="#bdbdbd").encode(
        xs, ys, tooltip=[alt.Tooltip("name:N"), alt.Tooltip("op:N"), alt.Tooltip("shape:N")])
    pick = alt.selection_point(name=NODE_PICK, fields=["name"], on="click", clear="dblclick")
    convs = alt.Chart(nodes).transform_filter("datum.is_conv")
    conv_marks = convs.mark_circle(opacity=1, stroke="white", strokeWidth=1, cursor="pointer").encode(
        xs, ys,
        color=alt.Color("x_block:O", title="chosen x (oc_bn)",
                        scale=alt.Scale(domain=x_values, scheme="tableau10") if x_values else alt.Undefined),
        size=alt.Size("kernel_ms:Q", title="kernel ms", scale=alt.Scale(range=[60, 520], zero=False)),
        tooltip=[alt.Tooltip("name:N"), alt.Tooltip("workload:N"), alt.Tooltip("layout:N"),
                 alt.Tooltip("kernel_ms:Q", title="kernel ms", format=".4f"),
                 alt.Tooltip("transform_in_ms:Q", title="transform in ms", format=".4f")],
    ).add_params(pick)
    labels = convs.mark_text(align="left", dx=10, fontSize=11).encode(xs, ys, text="label:N")
    rings = alt.Chart(nodes).transform_filter("datum.changed").mark_circle(
        size=700, filled=False, stroke=CHANGED_COLOR, strokeWidth=2.5).encode(xs, ys)
    picked_ring = alt.Chart(nodes).transform_filter("datum.picked").mark_square(
        size=900, filled=False, stroke="black", strokeWidth=2).encode(xs, ys)
    return alt.layer(edge_rule, edge_hot, edge_text, stub_text, others, rings, picked_ring, conv_marks,
                     labels).properties(width=layout.width + 16, height=layout.height).configure_view(
        stroke=None).configure_legend(orient="top", direction="horizontal")  # a side legend falls off wide graphs


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


NEXT_TOOLTIP = (("selector", "N", "for the selector"), ("break_even", "N", "chosen below"),
                ("estimate_ms", "Q", "estimated ms"), ("gain_ms", "Q", "potential gain ms"))


def next_frame(candidates) -> pd.DataFrame:
    """tvmviz.next candidates as rows (ms), in ranking order: the 'what to measure next' table."""
    def ms_or_none(x):
        return float("nan") if x is None else x * 1e3

    return pd.DataFrame([{
        "cell": c.label, "ic_bn": c.ic_bn, "oc_bn": c.oc_bn, "selector": c.status_text(),
        "kernel_ms": ms_or_none(c.kernel_s),
        "break_even": "never" if c.break_even_s is None else f"{c.break_even_s * 1e3:.4f} ms",
        "estimate_ms": ms_or_none(c.estimated_kernel_s), "gain_ms": ms_or_none(c.potential_gain_s),
        "convs": ", ".join(c.nodes), "chosen by": ", ".join(c.chosen_by),
    } for c in candidates], columns=["cell", "ic_bn", "oc_bn", "selector", "kernel_ms", "break_even", "estimate_ms",
                                     "gain_ms", "convs", "chosen by"])


def heatmap_chart(cells: pd.DataFrame, metric: str = "time", chosen=None, baseline=None) -> alt.LayerChart:
    """Best cost over (ic_bn × oc_bn); never-tried cells grey with '–', trial counts as text; the chosen
    pair boxed black, the oneDNN baseline's blocks boxed dashed."""
    field, title, scheme = ("best_ms", "best ms", "viridis") if metric == "time" else ("gflops", "GFLOPS", "viridis")
    reverse = metric == "time"  # bright = good in both
    order_ic = sorted(cells["ic_bn"].unique())
    order_oc = sorted(cells["oc_bn"].unique())
    x = alt.X("oc_bn:O", title="oc_bn (out-layout x)", sort=order_oc)
    y = alt.Y("ic_bn:O", title="ic_bn (in-layout x)", sort=order_ic)
    base = alt.Chart(cells)
    tip = [alt.Tooltip("ic_bn:O"), alt.Tooltip("oc_bn:O"), alt.Tooltip("status:N"),
           alt.Tooltip("best_ms:Q", format=".4f"), alt.Tooltip("gflops:Q", format=".1f"),
           alt.Tooltip("trials:Q"), alt.Tooltip("failed:Q")]
    tip += [alt.Tooltip(f"{col}:{kind}", title=title) for col, kind, title in NEXT_TOOLTIP if col in cells]
    empty = base.transform_filter("datum.status != 'ok'").mark_rect(color="#eeeeee", stroke="white").encode(
        x, y, tooltip=tip)
    filled = base.transform_filter("datum.status == 'ok'").mark_rect(stroke="white").encode(
        x, y, color=alt.Color(f"{field}:Q", title=title, scale=alt.Scale(type="log", scheme=scheme, reverse=reverse)),
        tooltip=tip)
    text = base.mark_text(fontSize=10).encode(
        x, y, text="text:N",
        color=alt.condition("datum.status == 'ok'", alt.value("white"), alt.value("#777777")))
    layers = [empty, filled, text]
    marks = []
    if chosen is not None:
        marks.append({"ic_bn": chosen[0], "oc_bn": chosen[1], "what": "chosen by the graph tuner"})
    if baseline is not None:
        marks.append({"ic_bn": baseline[0], "oc_bn": baseline[1], "what": "oneDNN's blocks"})
    marks = [m for m in marks if m["ic_bn"] in order_ic and m["oc_bn"] in order_oc]
    if marks:
        layers.append(alt.Chart(pd.DataFrame(marks)).mark_rect(filled=False, strokeWidth=3).encode(
            x, y,
            stroke=alt.Stroke("what:N", title="", scale=alt.Scale(
                domain=["chosen by the graph tuner", "oneDNN's blocks"], range=["black", "#ff7f0e"])),
            tooltip=["what:N"]))
    return alt.layer(*layers).properties(width=max(240, 44 * len(order_oc)), height=max(160, 30 * len(order_ic)))


def cost_scatter(records: pd.DataFrame) -> alt.Chart:
    """cost (kernel, costs[0]) vs all_cost (with compile and overheads) per successful trial."""
    ok = records[records["error_no"] == 0].assign(cost_ms=lambda d: d["cost0"] * 1e3)
    return alt.Chart(ok).mark_circle(size=40, opacity=0.7).encode(
        x=alt.X("cost_ms:Q", title="cost (costs[0]) ms", scale=alt.Scale(zero=False)),
        y=alt.Y("all_cost:Q", title="all_cost s", scale=alt.Scale(zero=False)),
        color=alt.Color("oc_bn:O", title="oc_bn"),
        tooltip=["ic_bn", "oc_bn", alt.Tooltip("cost_ms:Q", format=".4f"), alt.Tooltip("all_cost:Q", format=".3f"),
                 "config_index"],
    ).properties(height=260)


# ------------------------------------------------------------------------------------------- layer


def candidate_frame(exp) -> pd.DataFrame:
    """One row per candidate of a LayerExplanation (costs in ms), in candidate order."""
    return pd.DataFrame([{
        "candidate": c.label, "ic_bn": c.ic_bn, "oc_bn": c.oc_bn, "chosen": c.chosen,
        "kernel_ms": c.kernel_s * 1e3, "transform_in_ms": c.transform_in_s * 1e3,
        "transform_out_ms": c.transform_out_s * 1e3, "local_total_ms": c.local_total_s * 1e3,
        "local_delta_ms": c.local_delta_s * 1e3, "regret_ms": _ms(c.regret_s),
        "other_layers_rechosen": len(c.forced_changes),
    } for c in exp.candidates])


def candidate_bars(exp) -> alt.Chart:
    """Stacked kernel + transform in + transform out per candidate, the chosen one outlined."""
    frame = candidate_frame(exp)
    parts = frame.melt(id_vars=["candidate", "chosen", "regret_ms"],
                       value_vars=["kernel_ms", "transform_in_ms", "transform_out_ms"], var_name="part", value_name="ms")
    parts["part"] = parts["part"].map({"kernel_ms": "kernel", "transform_in_ms": "transform in",
                                       "transform_out_ms": "transform out"})
    order = list(frame.sort_values("local_total_ms")["candidate"])
    # a failed or wildly slow candidate would squash the others: cut the axis at 3x the chosen total
    chosen_total = float(frame.loc[frame["chosen"], "local_total_ms"].iloc[0]) if frame["chosen"].any() else 0.0
    limit = min(float(frame["local_total_ms"].max()), 3 * chosen_total) if chosen_total > 0 else None
    cut = limit is not None and limit < float(frame["local_total_ms"].max())
    x_title = "ms (everything else as chosen)" + (", cut at 3× the chosen" if cut else "")
    return alt.Chart(parts).mark_bar(clip=True).encode(
        y=alt.Y("candidate:N", sort=order, title=None),
        x=alt.X("sum(ms):Q", title=x_title, scale=alt.Scale(domain=[0, limit]) if cut else alt.Undefined),
        color=alt.Color("part:N", scale=alt.Scale(domain=["kernel", "transform in", "transform out"],
                                                  range=["#4c78a8", "#f58518", "#e45756"])),
        stroke=alt.condition("datum.chosen", alt.value("black"), alt.value(None)),
        strokeWidth=alt.condition("datum.chosen", alt.value(2), alt.value(0)),
        tooltip=["candidate:N", "part:N", alt.Tooltip("ms:Q", format=".4f"), alt.Tooltip("regret_ms:Q", format=".4f")],
    ).properties(height=max(120, 22 * len(frame)))


# ------------------------------------------------------------------------------------------- profile, compare


def ratio_chart(frame: pd.DataFrame, threshold: float = 1.5) -> alt.LayerChart:
    """Profiled / tuned per layer, bars over the threshold in red, a rule at the threshold."""
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("layer:N", sort=list(frame["layer"]), title=None, axis=alt.Axis(labelAngle=-60)),
        y=alt.Y("ratio:Q", title="profiled / tuned"),
        color=alt.condition(f"datum.ratio > {threshold}", alt.value(TRANSFORM_COLOR), alt.value("#4c78a8")),
        tooltip=["layer", alt.Tooltip("tuned_ms:Q", format=".4f"), alt.Tooltip("profiled_ms:Q", format=".4f"),
                 alt.Tooltip("ratio:Q", format=".2f")],
    )
    rule = alt.Chart(pd.DataFrame({"y": [threshold]})).mark_rule(strokeDash=[4, 4], color="black").encode(y="y:Q")
    return alt.layer(bars, rule).properties(height=280)


def compare_chart(frame: pd.DataFrame, a: str, b: str) -> alt.Chart:
    """Best cost per workload, run A vs run B (grouped bars)."""
    long = frame.melt(id_vars=["workload_label"], value_vars=["a_ms", "b_ms"], var_name="run", value_name="ms")
    long["run"] = long["run"].map({"a_ms": a, "b_ms": b})
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y("workload_label:N", title=None, sort=list(frame["workload_label"])),
        x=alt.X("ms:Q", title="best cost ms"),
        yOffset="run:N",
        color=alt.Color("run:N", title=None),
        tooltip=["workload_label", "run", alt.Tooltip("ms:Q", format=".4f")],
    ).properties(height=max(160, 26 * len(frame)))


def workload_label(workload: str | list) -> str:
    """Short text of a conv workload key: '64×56×56 → 64, 3×3'."""
    w = json.loads(workload) if isinstance(workload, str) else workload
    try:
        (_, c, h, wd), (o, _, kh, kw) = w[1][1], w[2][1]
        stride = f" /{w[3][0]}" if w[3][0] != 1 else ""
        return f"{c}×{h}×{wd} → {o}, {kh}×{kw}{stride}"
    except (IndexError, TypeError, ValueError):
        return str(w)[:60]
