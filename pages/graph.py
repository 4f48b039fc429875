"""Graph: the model as a layered DAG, convs coloured by chosen x; click a conv to see why."""

import streamlit as st

from pages.common import current_analysis, graph_and_selection, ms, route_through_app, transform_origins_of
from tvmviz.charts import NODE_PICK, graph_chart
from tvmviz.errors import TvmvizError
from tvmviz.select import explain_node
from tvmviz.text import markdown_text

route_through_app()

st.title("Graph")
analysis = current_analysis()
graph, sel = graph_and_selection(analysis)
if graph is None:
    st.stop()


@st.fragment
def graph_panel(graph, sel, origins):
    big = len(graph.nodes) > 150
    view = st.radio("Show", ["all ops", "convs and merges only"], index=1 if big else 0, horizontal=True,
                    help="Single-input ops between convs (bias, relu, pooling) cost nothing in the graph tuner's model.")
    if sel is not None:
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Total (kernels + transforms)", ms(sel.total_cost_s))
        c2.metric("Kernels", ms(sel.kernel_cost_s))
        c3.metric("Layout transforms", ms(sel.transform_cost_s))
        c4.metric(f"Solver: {sel.solver}", "optimal" if sel.optimal else ("not proven" if sel.optimal is None
                                                                         else f"+{ms(sel.gap_s)} from optimum"))
        for w in sel.warnings:
            st.warning(markdown_text(w))
    picked = st.session_state.get("picked_node")
    chart = graph_chart(graph, sel, picked=picked, condensed=view != "all ops", origins=origins)
    st.caption(f"{len(graph.nodes)} nodes, {len(graph.convs())} conv2d · click a conv to explain it · red edges: "
               "layout transforms the tuner pays for (hover: cost and its source) · dashed stubs: an edge into the "
               "next column, labelled with its other end · grey squares: other ops")
    event = st.altair_chart(chart, on_select="rerun", selection_mode=NODE_PICK, key="graph_chart", width="content")
    hits = (event.selection or {}).get(NODE_PICK) or [] if event else []
    if hits and hits[0].get("name") and hits[0]["name"] != picked:
        st.session_state.picked_node = picked = hits[0]["name"]
        st.rerun(scope="fragment")
    if picked and sel is not None:
        try:
            exp = explain_node(sel, picked)
        except TvmvizError as e:
            st.error(markdown_text(e))
            return
        choice = sel.node(picked)
        st.subheader(f"{picked}: {choice.in_layout} → {choice.out_layout}")
        st.write(f"Kernel {ms(choice.kernel_cost_s)} · {choice.n_candidates} candidates.")
        for sentence in exp.sentences[:3]:
            st.markdown(f"- {markdown_text(sentence)}")
        st.page_link("pages/layer.py", label="Every candidate of this layer", icon=":material/layers:")


graph_panel(graph, sel, transform_origins_of(analysis))
