"""What-if: pin layers, exclude x, scale costs, switch solver; see what changes. The scenario is in the URL."""

import pandas as pd
import streamlit as st

from pages.common import cached_selection, current_analysis, graph_and_selection, ms
from tvmviz.charts import graph_chart
from tvmviz.errors import TvmvizError
from tvmviz.select import Scenario, diff_selections
from tvmviz.select.explain import label
from tvmviz.store import default_db_path

FREE = "free (solver decides)"

st.title("What-if")
analysis = current_analysis()
graph, base_sel = graph_and_selection(analysis)
if graph is None or base_sel is None:
    st.stop()
problem = base_sel.problem
conv_names = [problem.name(c) for c in problem.convs]
cands = {problem.name(c): [(x.ic_bn, x.oc_bn) for x in problem.candidates[c]] for c in problem.convs}
all_x = sorted({v for pairs in cands.values() for pair in pairs for v in pair})

# The URL's scenario seeds the widgets once per session; afterwards the widgets write the URL. Widget
# state is dropped when the user visits another page, so it is re-seeded from the last scenario.
if "wi_scenario" not in st.session_state:
    try:
        st.session_state.wi_scenario = Scenario.from_string(st.query_params["s"]) if "s" in st.query_params \
            else Scenario()
    except TvmvizError as e:
        st.error(f"The scenario in this link could not be read: {e}")
        st.session_state.wi_scenario = Scenario()
    seed = st.session_state.wi_scenario
    st.session_state.wi_pins = {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in seed.pins.items()}
seed = st.session_state.wi_scenario
scales = set(seed.kernel_scale.values())
for key, value in {
    "wi_exclude": sorted(x for x in seed.exclude_x if x in all_x),
    "wi_tscale": float(seed.transform_scale),
    "wi_kscale": float(scales.pop()) if len(scales) == 1 else 1.0,
    "wi_solver": seed.solver or base_sel.solver,
    "wi_max": int(seed.max_sch_num or analysis.base.max_sch_num),
}.items():
    if key not in st.session_state:
        st.session_state[key] = value

pins: dict = st.session_state.wi_pins
with st.sidebar:
    st.header("Scenario")
    layer = st.selectbox("Layer to pin", conv_names, key="wi_layer")
    options = [FREE] + [label(*p) for p in cands[layer]]
    current = pins.get(layer)
    cur_label = label(*current) if isinstance(current, tuple) else FREE
    choice = st.selectbox(f"Candidate for {layer}", options, index=options.index(cur_label) if cur_label in options else 0,
                          key=f"wi_pin_{layer}")
    if choice == FREE:
        pins.pop(layer, None)
    else:
        pins[layer] = cands[layer][options.index(choice) - 1]
    if pins:
        st.caption("Pinned: " + ", ".join(f"{k} → {label(*v) if isinstance(v, tuple) else f'{v}c'}" for k, v in pins.items()))
        if st.button("Clear pins"):
            pins.clear()
            for key in [k for k in st.session_state if str(k).startswith("wi_pin_")]:
                del st.session_state[key]
            st.rerun()
    st.multiselect("Exclude x (no candidate reads or writes NCHW{x}c)", all_x, key="wi_exclude")
    st.slider("Scale transform costs", 0.0, 4.0, step=0.25, key="wi_tscale")
    st.slider("Scale every kernel cost", 0.25, 4.0, step=0.25, key="wi_kscale")
    st.radio("Solver", ["dp", "pbqp", "exact"], key="wi_solver", horizontal=True)
    st.number_input("max_sch_num (candidates kept per layer)", 1, 200, key="wi_max")

scenario = Scenario(
    pins=dict(pins),
    exclude_x=frozenset(st.session_state.wi_exclude),
    transform_scale=st.session_state.wi_tscale,
    kernel_scale={n: st.session_state.wi_kscale for n in conv_names} if st.session_state.wi_kscale != 1.0 else {},
    max_sch_num=st.session_state.wi_max if st.session_state.wi_max != analysis.base.max_sch_num else None,
    solver=st.session_state.wi_solver if st.session_state.wi_solver != analysis.base.solver else None,
)
st.session_state.wi_scenario = scenario
code = scenario.to_string() if scenario.to_json() else ""
if code:
    st.query_params["s"] = code
elif "s" in st.query_params:
    del st.query_params["s"]

try:
    after = cached_selection(default_db_path(), analysis.model, analysis.ids, analysis.base, code)
except TvmvizError as e:
    st.error(f"This scenario has no solution: {e}")
    st.stop()
diff = diff_selections(base_sel, after)

c1, c2, c3 = st.columns(3)
c1.metric("Total before", ms(diff.total_before_s))
c2.metric("Total after", ms(diff.total_after_s),
          delta=f"{diff.delta_s * 1e3:+.4g} ms ({100 * diff.delta_s / diff.total_before_s:+.1f}%)" if diff.total_before_s
          else None, delta_color="inverse")
c3.metric("Layers that changed x", len(diff.changed))
for w in after.warnings:
    st.warning(w)
if code:
    st.caption("This page's link reproduces the scenario.")

if diff.changed:
    st.dataframe(pd.DataFrame([{
        "layer": c.name, "before": label(*c.before) if None not in c.before else "–", "after": label(*c.after),
        "kernel before ms": c.kernel_before_s * 1e3, "kernel after ms": c.kernel_after_s * 1e3,
        "kernel Δ ms": (c.kernel_after_s - c.kernel_before_s) * 1e3, "pinned": c.name in pins,
    } for c in diff.changed]).style.format(precision=4), hide_index=True, width="stretch", key="wi_diff")
else:
    st.success("Same layouts as the baseline.")


@st.fragment
def changed_graph(graph, after, changed):
    st.altair_chart(graph_chart(graph, after, changed=changed, condensed=len(graph.nodes) > 150), width="content")


st.subheader("Scenario on the graph (changed layers ringed red)")
changed_graph(graph, after, diff.x_changed)
