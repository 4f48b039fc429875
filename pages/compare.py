"""Compare: two runs of the same model side by side: their machines, best cost per workload, and per layer
the chosen x, the kernel costs and the transform bill of each."""

from dataclasses import replace

import pandas as pd
import streamlit as st

from pages.common import (
    cached_graph, cached_selection, current_analysis, get_store, in_words, route_through_app, runs_with_status,
)
from tvmviz import style
from tvmviz.charts import compare_chart
from tvmviz.errors import MissingTransformsError, TvmvizError
from tvmviz.report import compare_best
from tvmviz.runs import needs_same_model
from tvmviz.select import SelectOptions, diff_selections
from tvmviz.select.explain import label
from tvmviz.store import default_db_path
from tvmviz.text import markdown_text

route_through_app()

st.title("Compare")
store = get_store()
analysis = current_analysis()
runs = [r for r in runs_with_status() if r.model_upload is not None and r.machine is not None]
if len(runs) < 2:
    st.info("Compare needs two runs that each have a model graph and tuning records: upload a teammate's run "
            "(its model, tuning log and layout-transform benchmarks) on the Data page.")
    st.stop()

by_id = {r.run_id: r for r in runs}
ids = list(by_id)
first = analysis.run.run_id if analysis is not None and analysis.run.run_id in by_id else ids[-1]
# default partner: the newest other run of the same model
same = [i for i in reversed(ids) if i != first and needs_same_model(store, by_id[first], by_id[i]) is None]
second = (same or [i for i in reversed(ids) if i != first])[0]
c1, c2 = st.columns(2)
a = by_id[c1.selectbox("Run A", ids, index=ids.index(first), format_func=lambda i: by_id[i].name(), key="cmp_a")]
b = by_id[c2.selectbox("Run B", ids, index=ids.index(second), format_func=lambda i: by_id[i].name(), key="cmp_b")]
if a.run_id == b.run_id:
    st.info("Pick two different runs.")
    st.stop()

FIELDS = {"uploader": lambda r: r.uploader or "–", "target": lambda r: r.target or "–", "CPU": lambda r: r.cpu or "–",
          "TVM version": lambda r: r.tvm_version or "–", "model": lambda r: r.model or "–",
          "uploads": lambda r: str(len(r.uploads)), "complete": lambda r: "yes" if r.complete else "no"}
st.table(pd.DataFrame({"": list(FIELDS), "A": [f(a) for f in FIELDS.values()], "B": [f(b) for f in FIELDS.values()]})
         .set_index(""))
differ = [k for k in ("CPU", "target", "TVM version") if FIELDS[k](a) != FIELDS[k](b)]
if differ:
    st.warning(markdown_text(
        f"The runs differ in {', '.join(differ)}: {a.machine.describe()} (TVM {a.tvm_version}) vs "
        f"{b.machine.describe()} (TVM {b.tvm_version}). Their costs come from different machines: compare the "
        "choices and the ratios, not one run's times against the other's."))

db = default_db_path()
graph = cached_graph(db, a.model_upload)
wa = store.workloads(list(a.uploads), machine=a.machine)
wb = store.workloads(list(b.uploads), machine=b.machine)
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
why = needs_same_model(store, a, b)
if why:
    st.error(markdown_text(f"These runs cannot be compared layer by layer: {why}. Pick two runs of the same model."))
    st.stop()
base = analysis.base if analysis is not None else SelectOptions()


def both(options):
    return tuple(cached_selection(db, (r.run_id, r.uploads, (), ()), options, "") for r in (a, b))


try:
    try:
        sel_a, sel_b = both(base)
    except TvmvizError as e:
        if not isinstance(e, MissingTransformsError) or base.estimate_transforms:
            raise
        # one run lacks benchmarks of transforms its candidates need: price both the same way
        sel_a, sel_b = both(replace(base, estimate_transforms=True))
        st.info("Some transforms a run needs were never benchmarked in that run, so both runs are priced with "
                "TVM's per-element transform estimate of their own benchmarks (infer_layout=True).")
except TvmvizError as e:
    st.error(markdown_text(f"Cannot select layouts for both runs: {in_words(e)}"))
    st.stop()
diff = diff_selections(sel_a, sel_b)
c1, c2, c3 = st.columns(3)
c1.metric("Total A", style.ms(sel_a.total_cost_s))
c2.metric("Total B", style.ms(sel_b.total_cost_s), delta=style.ms_delta(diff.delta_s) if abs(diff.delta_s) > 5e-10
          else None, delta_color="inverse")
c3.metric("Layers with another x", len(diff.changed))
c1, c2, c3, c4 = st.columns(4)
for col, name, sel in ((c1, "A", sel_a), (c3, "B", sel_b)):
    paid = [e for e in sel.edges if not e.identity]
    col.metric(f"Transform bill {name}", style.ms(sel.transform_cost_s), help="layout transforms it pays for")
    (c2 if name == "A" else c4).metric(f"Transforms paid {name}", len(paid))
by_b = {n.name: n for n in sel_b.nodes}
t_in = {name: {} for name in "AB"}
for name, sel in (("A", sel_a), ("B", sel_b)):
    for e in sel.edges:
        t_in[name][e.dst] = t_in[name].get(e.dst, 0.0) + e.cost_s
st.dataframe(pd.DataFrame([{
    "layer": n.name, "A": label(n.ic_bn, n.oc_bn), "B": label(by_b[n.name].ic_bn, by_b[n.name].oc_bn),
    "differs": (n.ic_bn, n.oc_bn) != (by_b[n.name].ic_bn, by_b[n.name].oc_bn),
    "kernel A (ms)": style.ms_value(n.kernel_cost_s), "kernel B (ms)": style.ms_value(by_b[n.name].kernel_cost_s),
    "transforms in A (ms)": style.ms_value(t_in["A"].get(n.name, 0.0)),
    "transforms in B (ms)": style.ms_value(t_in["B"].get(n.name, 0.0)),
} for n in sel_a.nodes if n.name in by_b]), hide_index=True, width="stretch")
