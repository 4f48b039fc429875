"""Report: download the selection explained (Markdown + graph picture) and the schedule as an AutoTVM log."""

import streamlit as st

from pages.common import (
    cached_selection, current_analysis, get_store, route_through_app, selection_or_stop, transform_origins_of,
)
from tvmviz.build.compare import markdown as run_plan_markdown
from tvmviz.charts import graph_chart
from tvmviz.errors import TvmvizError
from tvmviz.report import graph_image, markdown_report, report_zip, schedule_log
from tvmviz.select import diff_selections, explain_node
from tvmviz.store import default_db_path

route_through_app()

st.title("Report")
analysis = current_analysis()
graph, sel = selection_or_stop(analysis)
scenario = st.session_state.get("wi_scenario")
code = scenario.to_string() if scenario is not None and scenario.to_json() else ""
use_whatif = bool(code) and st.checkbox("Report the What-if scenario (with its diff against the baseline)", value=True)
diff = None
if use_whatif:
    try:
        after = cached_selection(default_db_path(), analysis.key, analysis.base, code)
        diff, sel = diff_selections(sel, after), after
    except TvmvizError as e:
        st.error(str(e))


@st.cache_data(max_entries=8, show_spinner=False)
def build(_graph, _sel, _diff, _origins, key: str):
    explanations = []
    for n in _sel.nodes:
        try:
            explanations.append(explain_node(_sel, n.name))
        except TvmvizError:
            pass
    chart = graph_chart(_graph, _sel, changed=_diff.x_changed if _diff else (), origins=_origins)
    md = markdown_report(_graph, _sel, explanations, _diff, key.rsplit(":", 1)[-1], origins=_origins)
    svg = graph_image(chart, "svg")
    png = graph_image(chart, "png")
    return md, svg, png, schedule_log(_sel)


with st.spinner("Writing the report…"):
    origins = transform_origins_of(analysis)
    # origins follow from the upload ids (which uploads were measured here never changes)
    md, svg, png, log = build(graph, sel, diff, origins, f"{analysis.key}:{analysis.base}:{code}")
    runs = [get_store().upload_meta(i)["run_plan"] for i in analysis.of("tvmviz_run_plan")]
    if runs:  # plans built and measured on the Reality check page
        md = md + "\n\n" + run_plan_markdown(runs) + "\n"
name = (graph.source or "model").rsplit("/", 1)[-1].rsplit(".", 1)[0]
c1, c2, c3, c4 = st.columns(4)
c1.download_button("Report (zip: md + svg + png + log)", report_zip(md, svg, png, log), f"{name}_tvmviz_report.zip",
                   "application/zip", type="primary")
c2.download_button("report.md", md, f"{name}_report.md", "text/markdown")
c3.download_button("graph.png", png, f"{name}_graph.png", "image/png")
c4.download_button("schedule.log (apply_graph_best)", log, f"{name}_schedule.log", "text/plain")
st.caption("The schedule log holds one record per conv in node order: `autotvm.apply_graph_best` reads it "
           "positionally, so it fits only this graph.")
st.divider()
st.markdown(md.replace("![graph: convs coloured by chosen x](graph.svg)", ""))
st.image(png, caption="graph.png")
