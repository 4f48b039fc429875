"""What-if: pin layers, exclude x, scale costs (all layers or one), use profiled times, switch solver; see
what changes; measure missing transforms here. The scenario is in the URL."""

import time
from collections import Counter
from dataclasses import replace

import pandas as pd
import streamlit as st

from pages.common import (
    EXEC_GRAPH_KINDS, PROFILE_KINDS, cached_profile_overrides, cached_selection, current_analysis,
    current_identity, in_words, measure_device_choice, measure_here, ms, prefetch_selections, route_through_app,
    selection_or_stop, spec_chart, transform_origins_of,
)
from tvmviz import style
from tvmviz.charts import graph_spec
from tvmviz.errors import MissingTransformsError, TvmvizError
from tvmviz.report import ESTIMATED, MISSING, transform_table
from tvmviz.server.accounts import may_measure
from tvmviz.select import Scenario, diff_selections
from tvmviz.select.explain import label
from tvmviz.store import default_db_path
from tvmviz.text import markdown_text

route_through_app()

FREE = "free (solver decides)"
PAINT_FIRST_S = 0.03  # see scenario_results
UNMEASURED = (MISSING, ESTIMATED)

st.title("What-if")
analysis = current_analysis()
graph, base_sel = selection_or_stop(analysis)
problem = base_sel.problem
conv_names = [problem.name(c) for c in problem.convs]
cands = {problem.name(c): [(x.ic_bn, x.oc_bn) for x in problem.candidates[c]] for c in problem.convs}
all_x = sorted({v for pairs in cands.values() for pair in pairs for v in pair})
db = default_db_path()


def split_kernel_scale(scales: dict) -> tuple[float, dict]:
    """A scenario's kernel_scale as (global factor, per-layer factors on top of it)."""
    if len(scales) == len(conv_names) and scales:
        common = Counter(scales.values()).most_common(1)[0][0]
        return common, {n: v / common for n, v in scales.items() if v != common}
    return 1.0, dict(scales)


# The URL's scenario seeds the widgets once per session; afterwards the widgets write the URL. Widget
# state is dropped when the user visits another page, so it is re-seeded from the last scenario.
if "wi_scenario" not in st.session_state:
    try:
        st.session_state.wi_scenario = Scenario.from_string(st.query_params["s"]) if "s" in st.query_params \
            else Scenario()
    except TvmvizError as e:
        st.error(markdown_text(f"The scenario in this link could not be read: {e}"))
        st.session_state.wi_scenario = Scenario()
    seed = st.session_state.wi_scenario
    st.session_state.wi_pins = {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in seed.pins.items()}
    st.session_state.wi_lscales = split_kernel_scale(seed.kernel_scale)[1]
    st.session_state.wi_link_overrides = dict(seed.kernel_override)
seed = st.session_state.wi_scenario
for key, value in {
    "wi_exclude": sorted(x for x in seed.exclude_x if x in all_x),
    "wi_tscale": float(seed.transform_scale),
    "wi_kscale": float(split_kernel_scale(seed.kernel_scale)[0]),
    "wi_profiled": bool(seed.kernel_override),
    "wi_solver": seed.solver or base_sel.solver,
    "wi_max": int(seed.max_sch_num or analysis.base.max_sch_num),
}.items():
    if key not in st.session_state:
        st.session_state[key] = value

# profiled times: the debug executor's time of each conv, for the layout it was built with
exec_graphs, profiles = analysis.of(*EXEC_GRAPH_KINDS), analysis.of(*PROFILE_KINDS)
profiled: dict = {}
if exec_graphs and profiles:
    try:
        profiled = cached_profile_overrides(db, analysis.key, analysis.model, analysis.base, exec_graphs[0], profiles)
    except TvmvizError as e:
        st.warning(markdown_text(f"Profiled times unavailable: {e}"))
link_overrides = {n: v for n, v in st.session_state.wi_link_overrides.items() if n in cands}


def _drop_exclusion(x: int) -> None:
    st.session_state.wi_exclude = [v for v in st.session_state.wi_exclude if v != x]


def _unpin(layer: str) -> None:
    st.session_state.wi_pins.pop(layer, None)
    st.session_state.pop(f"wi_pin_{layer}", None)


def _rerun_app_with(key: str) -> None:
    """Set an analysis option and rerun the whole page: the analysis is read outside the scenario fragment."""
    st.session_state[key] = True
    st.rerun()


def dead_end(error: TvmvizError, code: str) -> None:
    """The scenario has no solution: say which constraint makes it so, and offer each fix as a button."""
    st.error(markdown_text(f"This scenario has no solution: {in_words(error)}"))
    if isinstance(error, MissingTransformsError):
        st.write("Choose how to price them:")
        cols = st.columns(3)
        if cols[0].button("Estimate them (TVM's per-element average)", type="primary"):
            _rerun_app_with("opt_estimate")
        if cols[1].button("Price them at 0 (and say so)"):
            _rerun_app_with("opt_missing")
        if cols[2].button("Measure them here"):
            from tvmviz.measure import TransformKey

            priced = cached_selection(db, analysis.key,
                                      replace(analysis.base, allow_missing_transforms=True), code)
            keys = list(dict.fromkeys(TransformKey(tuple(e.shape), e.src_layout, e.dst_layout)
                                      for e in priced.edges if e.source == MISSING))
            if measure_here(keys, analysis) is not None:
                st.rerun()
    # an exclusion also makes transforms needed that were never benchmarked: dropping it is a fix there too
    excluded = sorted(st.session_state.wi_exclude)
    pinned = [layer for layer in st.session_state.wi_pins if layer in str(error)]
    if excluded:
        st.write(f"{'Or drop' if isinstance(error, MissingTransformsError) else 'Drop'} an exclusion: "
                 + ", ".join(style.layout(x) for x in excluded) + ".")
    cols = st.columns(4) if excluded or pinned else []  # no empty row when there is nothing to offer
    for k, x in enumerate(excluded):
        cols[k % 4].button(f"Allow {style.layout(x)} again", key=f"wi_drop_{x}", on_click=_drop_exclusion, args=(x,))
    for k, layer in enumerate(pinned):
        cols[k % 4].button(f"Unpin {layer}", key=f"wi_unpin_{layer}", on_click=_unpin, args=(layer,))


def _pin_options(layer: str) -> list:
    return [FREE] + [label(*p) for p in cands[layer]]


def _pin(pins: dict, layer: str, choice: str) -> None:
    """Set ``layer``'s pin in ``pins`` to the candidate box's ``choice`` (a pinned layer keeps its place)."""
    options = _pin_options(layer)
    if choice == FREE:
        pins.pop(layer, None)
    elif choice in options:
        pins[layer] = cands[layer][options.index(choice) - 1]


def one_click_away(scenario: Scenario, layer: str) -> list[str]:
    """The scenario strings the sidebar's candidate box offers next: ``layer`` pinned to each other option."""
    codes = []
    for choice in _pin_options(layer):
        pins = dict(scenario.pins)
        _pin(pins, layer, choice)
        variant = replace(scenario, pins=pins)
        codes.append(variant.link_code())
    return codes


def scenario_of_widgets() -> tuple[Scenario, str, dict]:
    """The scenario the sidebar's widgets hold, read from their session state before they are drawn (so the
    metrics can go out first): (scenario, its string for the URL, the profiled times it uses). A widget not drawn
    yet holds what the last scenario says."""
    pins: dict = st.session_state.wi_pins
    lscales: dict = st.session_state.wi_lscales
    layer = st.session_state.get("wi_layer")
    if layer in cands:
        _pin(pins, layer, st.session_state.get(f"wi_pin_{layer}"))
        factor = st.session_state.get(f"wi_lscale_{layer}")
        if factor == 1.0:
            lscales.pop(layer, None)
        elif factor is not None:
            lscales[layer] = factor

    # a link's own profiled times reproduce it; without a profile in the analysis they are all there is
    overrides = (link_overrides or profiled) if st.session_state.wi_profiled else {}
    kscale = st.session_state.wi_kscale
    kernel_scale = {n: kscale * lscales.get(n, 1.0) for n in conv_names}
    scenario = Scenario(
        pins=dict(pins),
        exclude_x=frozenset(st.session_state.wi_exclude),
        transform_scale=st.session_state.wi_tscale,
        kernel_scale={n: v for n, v in kernel_scale.items() if v != 1.0 or kscale != 1.0},
        kernel_override=overrides,
        max_sch_num=st.session_state.wi_max if st.session_state.wi_max != analysis.base.max_sch_num else None,
        solver=st.session_state.wi_solver if st.session_state.wi_solver != analysis.base.solver else None,
    )
    st.session_state.wi_scenario = scenario
    code = scenario.link_code()
    if code:
        st.query_params["s"] = code
    elif "s" in st.query_params:
        del st.query_params["s"]
    return scenario, code, overrides


def scenario_sidebar() -> None:
    """The sidebar's scenario widgets, showing the scenario scenario_of_widgets read."""
    pins: dict = st.session_state.wi_pins
    lscales: dict = st.session_state.wi_lscales
    with st.sidebar:
        st.header("Scenario")
        layer = st.selectbox("Layer", conv_names, key="wi_layer")
        options = _pin_options(layer)
        current = pins.get(layer)
        cur_label = label(*current) if isinstance(current, tuple) else FREE
        st.selectbox(f"Candidate for {layer}", options, index=options.index(cur_label) if cur_label in options else 0,
                     key=f"wi_pin_{layer}")
        st.slider(f"Scale {layer}'s kernel costs", 0.25, 4.0, value=float(lscales.get(layer, 1.0)), step=0.25,
                  key=f"wi_lscale_{layer}", help="On top of the factor for every layer below.")
        if pins:
            st.caption("Pinned: " + ", ".join(f"{k} → {label(*v) if isinstance(v, tuple) else style.short(v)}"
                                              for k, v in pins.items()))
        if lscales:
            st.caption("Kernel costs scaled: " + ", ".join(f"{k} ×{v:g}" for k, v in lscales.items()))
        if (pins or lscales) and st.button("Clear pins and layer scales"):
            pins.clear()
            lscales.clear()
            for key in [k for k in st.session_state if str(k).startswith(("wi_pin_", "wi_lscale_"))]:
                del st.session_state[key]
            st.rerun()
        st.divider()
        st.multiselect("Exclude x (no candidate reads or writes NCHW{x}c)", all_x, key="wi_exclude")
        st.slider("Scale transform costs", 0.0, 4.0, step=0.25, key="wi_tscale")
        st.slider("Scale every kernel cost", 0.25, 4.0, step=0.25, key="wi_kscale")
        st.checkbox("Use profiled times", key="wi_profiled", disabled=not (profiled or link_overrides),
                    help="Price each conv's built layout with the time the debug executor measured for it (the other "
                         "candidates keep their tuned cost). Needs the built graph and its profile in the analysis.")
        st.radio("Solver", ["dp", "pbqp", "exact"], key="wi_solver", horizontal=True)
        st.number_input("max_sch_num (candidates kept per layer)", 1, 200, key="wi_max")


def priced_now(after, name: str, pair: tuple):
    """The kernel cost the scenario gives the layer's old candidate (profiled or scaled), None if it has none."""
    p = after.problem
    v = p.conv_index(name)
    return next((float(p.kernel[v][k]) for k, c in enumerate(p.candidates[v]) if (c.ic_bn, c.oc_bn) == pair), None)


def diff_table(after, diff, pins: dict) -> None:
    if not diff.changed:
        st.success("Same layouts as the baseline.")
        return
    rows = []
    for c in diff.changed:
        had_before = None not in c.before
        before_now = priced_now(after, c.name, c.before) if had_before else None
        rows.append({
            "layer": c.name, "before": label(*c.before) if had_before else "–", "after": label(*c.after),
            "kernel before, as tuned (ms)": style.ms_value(c.kernel_before_s),
            "kernel before, as this scenario prices it (ms)": style.ms_value(before_now)
            if before_now is not None or not had_before else "not a candidate",  # pinned away or excluded
            "kernel after (ms)": style.ms_value(c.kernel_after_s),
            "kernel Δ": style.ms_delta(c.kernel_after_s - (before_now if before_now is not None else c.kernel_before_s)),
            "pinned": c.name in pins})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="wi_diff")


def transforms_section(after, transforms) -> None:
    """Transform costs by source (``transforms``: their table); measure the unmeasured ones here."""
    if "wi_measured" in st.session_state:
        st.success(st.session_state.pop("wi_measured"))
    unmeasured = [e for e in after.edges if not e.identity and e.source in UNMEASURED]
    if unmeasured:
        from tvmviz.measure import TransformKey  # no TVM import: the key is a plain dataclass

        keys = list(dict.fromkeys(TransformKey(tuple(e.shape), e.src_layout, e.dst_layout) for e in unmeasured))
        counts = Counter(e.source for e in unmeasured)
        st.warning(f"{len(unmeasured)} transforms of this scenario ({len(keys)} distinct) have no benchmark: "
                   + ", ".join(f"{n} {s}" + (" (priced at 0)" if s == MISSING else "") for s, n in counts.items())
                   + ".")
        device = measure_device_choice("wi_device")
        where = "on this machine" if device[0] is None else f"on {device[1] or 'the device'}"
        if st.button(f"Measure the {len(keys)} missing transforms {where}", key="wi_measure", type="primary",
                     disabled=not may_measure(current_identity()), help="On a team server, admins only"):
            upload = measure_here(keys, analysis, device=device)
            if upload is not None:
                st.session_state.wi_measured = (f"Measured {len(keys)} transforms here (upload {upload}, label "
                                                "'measured here'); this run's selection now uses them.")
                st.rerun()
    with st.expander(f"Layout transforms of this scenario ({len(transforms)})", expanded=bool(unmeasured)):
        st.dataframe(transforms, hide_index=True, width="stretch", key="wi_transforms",
                     column_config={"ms": st.column_config.NumberColumn("ms", format="%.4g")})


# The legend keys every x a candidate can write, not only the chosen ones: the spec then stays the same
# from pin to pin and the browser updates the chart's data instead of drawing it anew.
writable_x = sorted({oc for pairs in cands.values() for _, oc in pairs})


def changed_graph(spec: dict) -> None:
    st.subheader("Scenario on the graph (changed layers ringed, dashed)")
    # on a canvas: every pin redraws it, and as SVG it was most of the page's DOM, which the browser restyles
    # on every run (pin -> metrics 158 -> 140 ms)
    spec_chart({**spec, "usermeta": {"embedOptions": {"renderer": "canvas"}}}, width="content")


# A scenario widget reruns this fragment only: the title, the run and the baseline above stay as drawn. The
# metrics go out first, then the sidebar and the rest: the page's answer first.
@st.fragment
def scenario_results() -> None:
    prefetch_selections(analysis, [])  # this request first
    scenario, code, overrides = scenario_of_widgets()
    try:
        after = cached_selection(db, analysis.key, analysis.base, code)
    except TvmvizError as e:
        scenario_sidebar()
        dead_end(e, code)
        return
    diff = diff_selections(base_sel, after)

    c1, c2, c3 = st.columns(3)
    c1.metric("Total before", ms(diff.total_before_s))
    changed_total = abs(diff.delta_s) > 5e-10
    c2.metric("Total after", ms(diff.total_after_s),
              delta=f"{style.ms_delta(diff.delta_s)} ({100 * diff.delta_s / diff.total_before_s:+.1f}%)"
              if diff.total_before_s and changed_total else None, delta_color="inverse")
    c3.metric("Layers that changed x", len(diff.changed))
    # The browser draws what arrives together in one go, and the tables and the chart take it 50-100 ms: the
    # rest is computed, then sent after a pause, so that it paints the metrics first (bench/dashboard.py).
    origins = transform_origins_of(analysis)
    transforms = transform_table(after, origins)
    spec = graph_spec(graph, after, changed=diff.x_changed, condensed=len(graph.nodes) > 150, origins=origins,
                      max_width_px=st.session_state.get("graph_width", 900), x_domain=writable_x)
    time.sleep(PAINT_FIRST_S)
    scenario_sidebar()
    for w in after.warnings:
        st.warning(w)
    if overrides:
        st.caption(f"Profiled times price the built layout of {len(overrides)} layers"
                   + (" (from the link)" if link_overrides and overrides is link_overrides else "") + ".")
    if code:
        st.caption("This page's link reproduces the scenario.")
    diff_table(after, diff, scenario.pins)
    transforms_section(after, transforms)
    changed_graph(spec)
    # while the user reads this, price the pins one click away (a pin then only draws)
    prefetch_selections(analysis, [c for c in one_click_away(scenario, st.session_state.wi_layer) if c != code])


scenario_results()
