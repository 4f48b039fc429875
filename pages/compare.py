"""Compare: two uploads or two teammates side by side: best cost per workload and chosen x per layer."""

from dataclasses import replace

import pandas as pd
import streamlit as st

from pages.common import cached_graph, cached_selection, current_analysis, get_store, route_through_app
from tvmviz import style
from tvmviz.charts import compare_chart
from tvmviz.errors import TvmvizError
from tvmviz.report import compare_best
from tvmviz.select import diff_selections
from tvmviz.select.explain import label
from tvmviz.store import default_db_path

route_through_app()

st.title("Compare")
store = get_store()
analysis = current_analysis()
tuning = [u for u in store.uploads() if u.kind == "autotvm"]
if len(tuning) < 1:
    st.info("Upload at least two AutoTVM logs (or logs from two teammates) on the Data page.")
    st.stop()

runs: dict[str, tuple] = {}
for u in tuning:
    runs[f"upload {u.upload_id}: {u.file_name.rsplit('/', 1)[-1]}" + (f" ({u.label})" if u.label else "")] = (u.upload_id,)
for who in sorted({u.uploader for u in tuning if u.uploader}):
    runs[f"teammate {who}: all their logs"] = tuple(u.upload_id for u in tuning if u.uploader == who)
names = list(runs)
c1, c2 = st.columns(2)
a = c1.selectbox("Run A", names, index=0)
b = c2.selectbox("Run B", names, index=min(1, len(names) - 1))
if a == b:
    st.info("Pick two different runs.")

wa, wb = store.workloads(list(runs[a])), store.workloads(list(runs[b]))
graph = None
db = default_db_path()
if analysis.model is not None:
    try:
        graph = cached_graph(db, analysis.model)
    except TvmvizError as e:
        st.error(str(e))
frame = compare_best(graph, wa, wb)
conv = frame[frame["workload"].str.contains("conv2d_NCHWc")]
st.subheader("Best cost per workload")
st.caption("b / a > 1: run B's best is slower. Empty: the run has no successful trial of that workload.")
COUNTS = {c: st.column_config.NumberColumn(c.replace("_", " "), format="%d") for c in
          ("trials_a", "trials_b", "failed_a", "failed_b")}
MS = {c: st.column_config.NumberColumn(c.replace("_ms", " (ms)"), format="%.4g") for c in ("a_ms", "b_ms")} | {
    "b / a": st.column_config.NumberColumn("b / a", format="%.2f")}
st.dataframe(conv.drop(columns=["workload"]).fillna({"layers": "–"}), hide_index=True, width="stretch",
             column_config=COUNTS | MS)
if len(conv):
    st.altair_chart(compare_chart(conv.fillna({"a_ms": 0, "b_ms": 0}), "A", "B"), width="stretch")

st.subheader("Chosen x per layer")
if graph is None:
    st.info("Choose a model graph on the Data page to compare the layouts each run leads to.")
    st.stop()
shared = tuple(i for i in analysis.ids if i not in {u.upload_id for u in tuning})  # transforms, model, profiles


def both(base):
    return (cached_selection(db, analysis.model, tuple(sorted(shared + runs[a])), base, ""),
            cached_selection(db, analysis.model, tuple(sorted(shared + runs[b])), base, ""))


try:
    try:
        sel_a, sel_b = both(analysis.base)
    except TvmvizError as e:
        if "layout transform" not in str(e) or analysis.base.estimate_transforms:
            raise
        # another run's candidates need transforms nobody benchmarked: price all of them the same way
        sel_a, sel_b = both(replace(analysis.base, estimate_transforms=True))
        st.info("Some transforms one run needs were never benchmarked, so both runs are priced with TVM's "
                "per-element transform estimate (infer_layout=True).")
except TvmvizError as e:
    st.error(f"Cannot select layouts for both runs: {e}")
    st.stop()
diff = diff_selections(sel_a, sel_b)
c1, c2, c3 = st.columns(3)
c1.metric("Total A", style.ms(sel_a.total_cost_s))
c2.metric("Total B", style.ms(sel_b.total_cost_s), delta=style.ms_delta(diff.delta_s) if abs(diff.delta_s) > 5e-10
          else None, delta_color="inverse")
c3.metric("Layers with another x", len(diff.changed))
by_b = {n.name: n for n in sel_b.nodes}
st.dataframe(pd.DataFrame([{
    "layer": n.name, "A": label(n.ic_bn, n.oc_bn), "B": label(by_b[n.name].ic_bn, by_b[n.name].oc_bn),
    "differs": (n.ic_bn, n.oc_bn) != (by_b[n.name].ic_bn, by_b[n.name].oc_bn),
    "kernel A (ms)": style.ms_value(n.kernel_cost_s), "kernel B (ms)": style.ms_value(by_b[n.name].kernel_cost_s),
} for n in sel_a.nodes if n.name in by_b]), hide_index=True, width="stretch")
