"""Layer: the seed's inequality for one conv first, then every candidate sorted by regret with why it lost."""

import streamlit as st

from pages.common import (
    current_analysis, inequality_panel, measure_next_panel, ms, next_ranking, pick_conv, route_through_app,
    selection_or_stop, transform_origins_of,
)
from tvmviz import style
from tvmviz.charts import candidate_bars, candidate_frame, conv_summary
from tvmviz.errors import TvmvizError
from tvmviz.report import source_label
from tvmviz.select import explain_node
from tvmviz.text import markdown_text

route_through_app()

st.title("Layer")
analysis = current_analysis()
graph, sel = selection_or_stop(analysis)
name = pick_conv(graph)
if name is None:
    st.stop()
try:
    exp = explain_node(sel, name)
except TvmvizError as e:
    st.error(markdown_text(e))
    st.stop()

choice = sel.node(name)
st.markdown(f"**{conv_summary(graph.by_name(name).conv)}** · chosen **{style.pair(choice.ic_bn, choice.oc_bn)}** "
            f"(reads {choice.in_layout}, writes {choice.out_layout}; kernel {ms(choice.kernel_cost_s)}) of "
            f"{len(exp.candidates)} candidates")
inequality_panel(analysis, sel, name, key="layer_x", default_x=st.session_state.get("asked_x"))
with st.container():
    frame = candidate_frame(exp).drop(columns=["ic_bn", "oc_bn"])
    st.dataframe(frame, hide_index=True, width="stretch", column_config={
        c: st.column_config.NumberColumn(c.replace("_ms", " (ms)"), format="%.4g") for c in frame.columns
        if c.endswith("_ms")} | {"other_layers_rechosen": st.column_config.NumberColumn("other layers re-chosen")})
    st.caption("Sorted by regret: how much worse the whole model gets with this candidate forced and every other "
               "layer re-chosen. local_delta: the same with the neighbours kept as chosen.")
    st.altair_chart(candidate_bars(exp), width="stretch")
    st.caption("Kernel in the candidate's x colour, then transforms in (dark) and out (light); the chosen one "
               "outlined.")
with st.expander("Every candidate in words"):
    for sentence in exp.sentences:
        st.text(f"• {sentence}")
with st.expander("Transforms of the chosen candidate"):
    chosen = exp.candidates[exp.chosen]
    origins = transform_origins_of(analysis)
    rows = [{"side": side, "from": t.src, "to": t.dst, "shape": str(list(t.shape)),
             "transform": style.transform(t.src_layout, t.dst_layout),
             "ms": style.ms_value(t.cost_s), "source": source_label(t, origins) or "same layout"}
            for side, ts in (("in", chosen.transforms_in), ("out", chosen.transforms_out)) for t in ts]
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    else:
        st.write("None: every neighbour agrees with its layouts.")

st.subheader("What to measure next for this layer")
ranking = next_ranking(analysis)
if ranking is not None:
    measure_next_panel(analysis, ranking.for_node(name), "layer_next")
