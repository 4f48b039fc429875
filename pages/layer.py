"""Layer: every candidate of one conv with kernel, transforms in / out and regret, and why it lost."""

import streamlit as st

from pages.common import (
    current_analysis, measure_next_panel, ms, next_ranking, pick_conv, route_through_app, selection_or_stop,
    transform_origins_of,
)
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
st.markdown(f"**{conv_summary(graph.by_name(name).conv)}** · chosen **{choice.in_layout} → {choice.out_layout}** "
            f"(kernel {ms(choice.kernel_cost_s)}) of {len(exp.candidates)} candidates")
if exp.sentences:
    st.info(markdown_text(exp.sentences[0]))
left, right = st.columns([3, 2])
with left:
    frame = candidate_frame(exp)
    st.dataframe(frame.style.format(precision=4, na_rep="–"), hide_index=True, width="stretch")
with right:
    st.altair_chart(candidate_bars(exp), width="stretch")
with st.expander("Every candidate in words"):
    for sentence in exp.sentences:
        st.markdown(f"- {markdown_text(sentence)}")
with st.expander("Transforms of the chosen candidate", expanded=True):
    chosen = exp.candidates[exp.chosen]
    origins = transform_origins_of(analysis)
    rows = [{"side": side, "from": t.src, "to": t.dst, "shape": str(list(t.shape)), "layouts": f"{t.src_layout} → {t.dst_layout}",
             "ms": t.cost_s * 1e3, "source": source_label(t, origins) or "same layout"}
            for side, ts in (("in", chosen.transforms_in), ("out", chosen.transforms_out)) for t in ts]
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
        st.caption("Source: logged (an uploaded benchmark), measured here (by tvmviz on this machine), estimated "
                   "(TVM's infer_layout average) or missing (priced at 0); What-if measures the last two.")
    else:
        st.write("None: every neighbour agrees with its layouts.")

st.subheader("What to measure next for this layer")
ranking = next_ranking(analysis)
if ranking is not None:
    measure_next_panel(analysis, ranking.for_node(name), "layer_next")
