"""Graph: the model as a layered DAG, convs coloured by chosen x; click a conv to see why, a block to open it."""

import streamlit as st

from pages.common import (
    current_analysis, graph_and_selection, inequality_panel, ms, route_through_app, spec_chart, transform_origins_of,
)
from tvmviz import style
from tvmviz.charts import NODE_PICK, graph_spec
from tvmviz.graph.layout import blocks
from tvmviz.text import markdown_text

route_through_app()

st.title("Graph")
analysis = current_analysis()
graph, sel = graph_and_selection(analysis)
if graph is None:
    st.stop()


@st.cache_resource(max_entries=16, show_spinner=False)
def _blocks(model_id: int, _graph) -> dict:
    return blocks(_graph)


@st.fragment
def graph_panel(graph, sel, origins):
    big = len(graph.nodes) > 150
    all_blocks = _blocks(analysis.model, graph)
    if "graph_collapsed" not in st.session_state:
        # a big model opens with its blocks closed, except the one holding the picked layer
        picked_now = st.session_state.get("picked_node")
        st.session_state.graph_collapsed = {b for b, members in all_blocks.items()
                                            if big and not any(graph.nodes[i].name == picked_now for i in members)}
    c1, c2, c3 = st.columns([2, 3, 1])
    width = c3.selectbox("Graph width (px)", [900, 1200, 1500], key="graph_width",
                         help="900 fits a 1280-px screen beside the sidebar; wider screens can take more columns.")
    view = c1.radio("Show", ["all ops", "convs and merges only"], index=1 if big else 0, horizontal=True,
                    help="Single-input ops between convs (bias, relu, pooling) cost nothing in the graph tuner's model.")
    if all_blocks:
        closed = c2.multiselect("Closed blocks (click a block to open it)", sorted(all_blocks),
                                default=sorted(st.session_state.graph_collapsed & set(all_blocks)),
                                help="Blocks are nodes sharing a name prefix, as in Google's Model Explorer.")
        st.session_state.graph_collapsed = set(closed)
    if sel is not None:
        m = st.columns(4)
        m[0].metric("Total (kernels + transforms)", ms(sel.total_cost_s))
        m[1].metric("Kernels", ms(sel.kernel_cost_s))
        m[2].metric("Layout transforms", ms(sel.transform_cost_s))
        m[3].metric(f"Solver: {sel.solver}", "optimal" if sel.optimal else ("not proven" if sel.optimal is None
                                                                           else f"+{ms(sel.gap_s)} from optimum"))
        for w in sel.warnings:
            st.warning(markdown_text(w))
    picked = st.session_state.get("picked_node")
    spec = graph_spec(graph, sel, picked=picked, condensed=view != "all ops", origins=origins, max_width_px=width,
                      collapsed=tuple(sorted(st.session_state.graph_collapsed)))
    st.caption(f"{len(graph.nodes)} nodes, {len(graph.convs())} conv2d · click a conv to explain it · thick dark "
               "edges: layout transforms the tuner pays for (hover: cost and its source), red: no cost known · "
               "dashed stubs: an edge into the next column, labelled with its other end · grey squares: other ops")
    event = spec_chart(spec, on_select="rerun", selection_mode=NODE_PICK, key="graph_chart", width="content")
    hits = (event.selection or {}).get(NODE_PICK) or [] if event else []
    hit = hits[0].get("name") if hits else None
    if hit and hit.startswith("block:"):
        st.session_state.graph_collapsed.discard(hit[len("block:"):])
        st.rerun(scope="fragment")
    if hit and hit != picked:
        st.session_state.picked_node = picked = hit
        st.rerun(scope="fragment")
    if picked and sel is not None:
        try:
            choice = sel.node(picked)
        except KeyError:
            return  # the picked node is not a conv of this selection
        st.subheader(markdown_text(f"{picked}: {style.pair(choice.ic_bn, choice.oc_bn)} "
                                   f"(reads {choice.in_layout}, writes {choice.out_layout})"))
        st.write(f"Kernel {ms(choice.kernel_cost_s)} · {choice.n_candidates} candidates.")
        if choice.n_candidates > 1:
            inequality_panel(analysis, sel, picked, key="graph_x", default_x=st.session_state.get("asked_x"))
        st.page_link("pages/layer.py", label="Every candidate of this layer", icon=":material/layers:")


graph_panel(graph, sel, transform_origins_of(analysis))

if sel is not None:
    from tvmviz.export import model_explorer

    files = model_explorer.files(model_explorer.node_data(sel))
    st.download_button("Open in Model Explorer: node data (chosen x)", files["tvmviz_chosen_x.json"],
                       "tvmviz_chosen_x.json", "application/json",
                       help="Load it in Google's Model Explorer (model-explorer your_model.onnx, then 'Load node "
                            "data'): each conv, keyed by its ONNX node name, in this page's colour of its x. The "
                            "report zip holds kernel ms and regret too.")
