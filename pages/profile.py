"""Profile vs tuned: the debug executor's measured time per conv against the tuned kernel cost."""

import streamlit as st

from pages.common import EXEC_GRAPH_KINDS, PROFILE_KINDS, current_analysis, get_store, route_through_app, selection_or_stop
from tvmviz import style
from tvmviz.charts import ratio_chart
from tvmviz.report import RATIO_FLAG, profile_comparison
from tvmviz.text import markdown_text

route_through_app()

st.title("Profile vs tuned")
store = get_store()
analysis = current_analysis()
graph, sel = selection_or_stop(analysis)
exec_graphs = analysis.of(*EXEC_GRAPH_KINDS)
profiles = analysis.of(*PROFILE_KINDS)
if not exec_graphs:
    st.info("No built graph in the current analysis: upload the debug executor's _tvmdbg_graph_dump.json (or the "
            "graph-executor JSON) and its profile (the printed table or the Chrome trace) on the Data page.")
    st.stop()
names = {u.upload_id: f"{u.upload_id}: {u.file_name.rsplit('/', 1)[-1]}" for u in store.uploads()}
exec_upload = st.selectbox("Built graph", exec_graphs, format_func=names.get)
run_plans = set(analysis.of("tvmviz_run_plan"))
# a Reality check result is its own profile; several in a run name the same convs, so never mix them
profiles = (exec_upload,) if exec_upload in run_plans else tuple(i for i in profiles if i not in run_plans)
cmp = profile_comparison(store.con, graph, sel, exec_upload, profiles)
layers = cmp.layers
if layers.empty:
    st.warning("No conv of the built graph matches the model's convs by output shape: is it the same model?")
    st.stop()
measured = layers.dropna(subset=["ratio"])
if measured.empty:
    st.warning("The built graph matched, but no profile times were found: upload the debug profile table or trace.")
else:
    c1, c2, c3 = st.columns(3)
    c1.metric("Convs tuned (sum)", style.ms(measured["tuned_ms"].sum() / 1e3))
    c2.metric("Convs profiled (sum)", style.ms(measured["profiled_ms"].sum() / 1e3))
    c3.metric(f"Layers over {RATIO_FLAG}×", int(measured["flagged"].sum()))
    st.altair_chart(ratio_chart(measured, RATIO_FLAG), width="stretch")
MS = {c: st.column_config.NumberColumn(c.replace("_ms", " (ms)"), format="%.4g") for c in
      ("tuned_ms", "profiled_ms", "ms")} | {"ratio": st.column_config.NumberColumn("profiled / tuned", format="%.2f")}
st.dataframe(layers, hide_index=True, width="stretch", column_config=MS, column_order=[  # numbers first
    "layer", "chosen", "built", "same layout", "tuned_ms", "profiled_ms", "ratio", "flagged", "built node"])
if cmp.unmatched:
    st.caption(markdown_text("No built conv with the same output shape for: " + ", ".join(cmp.unmatched)))

st.subheader("Usual causes that apply")
if cmp.causes:
    for cause, why in cmp.causes:
        st.markdown(f"- **{markdown_text(cause)}**: {markdown_text(why)}")
else:
    st.write("None: profiled times are within the expected range of the tuned ones.")

st.subheader("Layout transforms: inserted vs predicted")
inner = cmp.inserted[~cmp.inserted["at graph input"]] if len(cmp.inserted) else cmp.inserted
total = float(inner["profiled_ms"].sum()) / 1e3 if len(inner) else 0.0
predicted = float(cmp.predicted["ms"].sum()) / 1e3
verdict = st.warning if total > 1.5 * predicted and total > 0 else st.info
verdict(f"The {len(inner)} transforms the build inserted inside the model took {style.ms(total)} (profiled); the "
        f"selection predicted {len(cmp.predicted)} transforms costing {style.ms(predicted)}"
        + (f": {total / predicted:.1f}× the prediction." if predicted > 0 else "."))
st.write(f"Inserted by the build: {len(cmp.inserted)} ({len(inner)} not at the graph input)")
st.dataframe(cmp.inserted.rename(columns={"profiled_ms": "ms"}), hide_index=True, width="stretch", column_config=MS,
             column_order=["transform", "ms", "shape", "at graph input", "node"])
st.write(f"Predicted by the selection: {len(cmp.predicted)}")
st.dataframe(cmp.predicted, hide_index=True, width="stretch", column_config=MS,
             column_order=["transform", "ms", "source", "shape", "from", "to", "kind"])
