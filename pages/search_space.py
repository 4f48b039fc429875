"""Search space: per workload, what AutoTVM tried over (ic_bn × oc_bn), what failed, and oneDNN's pick."""

import pandas as pd
import streamlit as st

from pages.common import (
    current_analysis, get_store, graph_and_selection, inequality_panel, measure_next_panel, next_ranking,
    route_through_app, show_run,
)
from tvmviz import style
from tvmviz.charts import CELL_PICK, cost_scatter, heatmap_chart, next_frame, search_space_frame, workload_label
from tvmviz.runs import get_run
from tvmviz.ingest.onednn import onednn_convs
from tvmviz.text import markdown_text

route_through_app()

st.title("Search space")
store = get_store()
analysis = current_analysis()
if analysis is None:
    st.info("Nothing stored yet: upload logs on the Data page.")
    st.stop()
# one heatmap is always one machine: the run's own records, or one cost source's
shown = analysis.run
if analysis.cost_sources:
    others = [get_run(store, r, status=False) for r in analysis.cost_sources]
    shown = st.radio("Records of", [analysis.run] + others, format_func=lambda r: r.name() + (
        f" ({r.machine.describe()})" if r.machine else ""), horizontal=True)
scope = dict(upload_ids=list(shown.uploads), machine=shown.machine)
workloads = store.workloads(**scope) if shown.machine else store.workloads([])
workloads = workloads[workloads["task"] == "conv2d_NCHWc.x86"].reset_index(drop=True)
if analysis.model is None or workloads.empty:
    show_run(analysis)
if workloads.empty:
    st.info(markdown_text(f"No conv2d_NCHWc.x86 tuning records in {shown.name()}: upload an AutoTVM log on the Data page."))
    st.stop()

graph, sel = graph_and_selection(analysis) if analysis.model is not None else (None, None)
layers: dict[str, list[str]] = {}
if graph is not None:
    for n in graph.convs():
        layers.setdefault(n.conv.workload_key(), []).append(n.name)
picked_layer = st.session_state.get("picked_node")
keys = list(workloads["workload"])
default = next((i for i, k in enumerate(keys) if picked_layer in layers.get(k, [])), 0)


def describe(i: int) -> str:
    key = keys[i]
    names = layers.get(key, [])
    return workload_label(key) + (f"  ({', '.join(names[:3])}{' …' if len(names) > 3 else ''})" if names else "")


i = st.selectbox("Workload", range(len(keys)), index=default, format_func=describe)
w = workloads.iloc[i]
key = keys[i]
c, o, kh, kw, h = int(w["c"]), int(w["o"]), int(w["kh"]), int(w["kw"]), int(w["h"])
flops = 2 * int(w["n"]) * o * c * kh * kw * ((h + 2 * int(w["pad"]) - kh) // int(w["stride"]) + 1) * (
    (int(w["w"]) + 2 * int(w["pad"]) - kw) // int(w["stride"]) + 1)
metric = st.radio("Colour", ["time", "GFLOPS"], horizontal=True)

best = store.best_per_pair(key, **scope)
cells = search_space_frame(best, c, o, flops)
chosen = None
if sel is not None and layers.get(key):
    choice = sel.node(layers[key][0])
    chosen = (choice.ic_bn, choice.oc_bn)
baseline = None
onednn = [b for b in onednn_convs(store.con, list(analysis.of("onednn_verbose"))) if b.workload_key == key]
if onednn:
    baseline = (onednn[0].src_block, onednn[0].dst_block)

ranking = next_ranking(analysis) if sel is not None else None
ranked_here = ranking.for_workload(key) if ranking is not None else []
if ranked_here:  # the selector's status and break-even of each cell, in its tooltip
    cells = cells.merge(next_frame(ranked_here)[["ic_bn", "oc_bn", "selector", "break_even", "estimate_ms", "gain_ms"]],
                        on=["ic_bn", "oc_bn"], how="left")
left, right = st.columns([3, 2])
with left:
    event = st.altair_chart(heatmap_chart(cells, "time" if metric == "time" else "gflops", chosen, baseline),
                            on_select="rerun", selection_mode=CELL_PICK, key="heatmap")
    cell = ((event.selection or {}).get(CELL_PICK) or [None])[0] if event else None
    st.caption("Numbers: trials per cell · '–' (grey): never tried · 'n✗' (light red): tried, every trial "
               "failed. Black box: the graph tuner's choice; orange: oneDNN's blocks for the same problem.")
with right:
    tried = cells[cells["status"] != "never tried"]
    st.metric("Cells tried", f"{len(tried)} of {len(cells)}")
    st.metric("Trials", int(w["trials"]))
    st.caption(f"{int(w['failed'])} failed" if int(w["failed"]) else "none failed")
    records = store.records_of_workload(key, **scope)
    failed = records[records["error_no"] != 0]
    if len(failed):
        st.write("Failures by error")
        st.dataframe(failed.groupby(["error_no", "error_name"]).size().reset_index(name="trials"), hide_index=True)
    if onednn:
        st.write("oneDNN for the same problem")
        st.dataframe(pd.DataFrame([{
            "src": b.src_tag, "dst": b.dst_tag, "blocks": style.pair(b.src_block, b.dst_block),
            "implementation": b.implementation, "median ms": b.median_ms, "runs": b.count} for b in onednn]),
            hide_index=True)
        ok = cells[cells["status"] == "ok"]
        if baseline is not None and len(ok):
            same = ok[(ok["ic_bn"] == baseline[0]) & (ok["oc_bn"] == baseline[1])]
            best_ms = ok["best_ms"].min()
            if len(same):
                st.write(f"AutoTVM's best at oneDNN's {style.pair(*baseline)}: "
                         f"{style.ms(same['best_ms'].iloc[0] / 1e3)}; its best anywhere: {style.ms(best_ms / 1e3)}.")
            else:
                st.warning(f"AutoTVM never measured oneDNN's blocks {style.pair(*baseline)} for this workload.")

if sel is not None and layers.get(key):
    layer = picked_layer if picked_layer in layers[key] else layers[key][0]
    st.subheader(f"{layer}: why this x?")
    st.caption("Click a cell to ask about its x (the cell's oc_bn); the same inequality as on Layer and Graph.")
    inequality_panel(analysis, sel, layer, key="search_x", default_x=int(cell["oc_bn"]) if cell else
                     st.session_state.get("asked_x"))

if ranking is not None:
    st.subheader("What to measure next")
    everywhere = st.toggle("Every workload", key="ss_next_all")
    measure_next_panel(analysis, ranking.candidates if everywhere else ranked_here, "ss_next")

st.subheader("cost vs all_cost")
st.caption("cost = costs[0], the kernel time the graph tuner uses; all_cost adds compilation and measurement overhead.")
st.altair_chart(cost_scatter(records), width="stretch")
