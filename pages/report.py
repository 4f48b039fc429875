"""Report: the selection explained for a reviewer (inputs, machine, scenario in words, inequalities, picture) and
the schedule as an AutoTVM log, as one zip."""

from dataclasses import replace

import streamlit as st

from pages.common import (
    cached_inputs, cached_selection, current_analysis, get_store, in_words, installed_tvm_version,
    route_through_app, selection_or_stop, transform_origins_of,
)
from tvmviz.build.compare import markdown as run_plan_markdown
from tvmviz.errors import TvmvizError
from tvmviz.report import ReportContext, build_report, report_zip
from tvmviz.store import default_db_path
from tvmviz.text import markdown_text

route_through_app()

st.title("Report")
analysis = current_analysis()
graph, baseline = selection_or_stop(analysis)
scenario = st.session_state.get("wi_scenario")
code = scenario.link_code() if scenario is not None else ""
use_whatif = bool(code) and st.checkbox("Report the What-if scenario (with its diff against the baseline)", value=True)
after = None
if use_whatif:
    try:
        after = cached_selection(default_db_path(), analysis.key, analysis.base, code)
    except TvmvizError as e:
        # never the baseline under the scenario's name: say why and offer the way back
        st.error(markdown_text(f"The What-if scenario has no solution, so there is no report of it: {in_words(e)}"))
        st.page_link("pages/whatif.py", label="Change the scenario on What-if", icon=":material/tune:")
        st.caption("Untick the box above to report the baseline instead.")
        st.stop()
asked = [(n, x) for n, x in st.session_state.get("asked", []) if any(c.name == n for c in baseline.nodes)]


@st.cache_data(max_entries=8, show_spinner=False)
def build(_graph, _baseline, _after, _origins, key: str, _scenario, asked: tuple, here: str | None):
    _, tuning, transforms, _ = cached_inputs(default_db_path(), analysis.key)
    ids = set(analysis.ids) | set(analysis.cost_ids)
    uploads = [u for u in get_store().uploads() if u.upload_id in ids]
    context = ReportContext.from_uploads(uploads, run=analysis.run.name(), runtime_tvm=here)
    return build_report(_graph, _baseline, tuning, transforms, context, _scenario if _after is not None else None,
                        _after, asked, _origins, here,
                        scenario_link=f"?s={key.rsplit(':', 1)[-1]}" if _after is not None else "")


with st.spinner("Writing the report…"):
    origins = transform_origins_of(analysis)
    report = build(graph, baseline, after, origins, f"{analysis.key}:{analysis.base}:{code}", scenario, tuple(asked),
                   installed_tvm_version())
    runs = [get_store().upload_meta(i)["run_plan"] for i in analysis.of("tvmviz_run_plan")]
    if runs:  # plans built and measured on the Reality check page
        report = replace(report, markdown=report.markdown + "\n\n" + run_plan_markdown(runs) + "\n")
    data = report_zip(report)
name = (graph.source or "model").rsplit("/", 1)[-1].rsplit(".", 1)[0]
c1, c2, c3, c4 = st.columns(4)
c1.download_button("Report (zip)", data, f"{name}_tvmviz_report.zip", "application/zip", type="primary",
                   help="report.md, graph.svg, graph.png, schedule.log and model_explorer/*.json (Model Explorer "
                        "node data: chosen x, kernel ms, regret)")
c2.download_button("report.md", report.markdown, f"{name}_report.md", "text/markdown")
c3.download_button("graph.png", report.png, f"{name}_graph.png", "image/png")
c4.download_button("schedule.log", report.schedule, f"{name}_schedule.log", "text/plain",
                   help="for autotvm.apply_graph_best")
st.caption("The schedule log holds one record per conv in node order: `autotvm.apply_graph_best` reads it "
           "positionally, so it fits only this graph. The same report from the command line: "
           "`python -m tvmviz report --db PATH --run RUN [--scenario S] -o report.zip`.")
st.divider()
body, _, rest = report.markdown.partition("## Graph")
st.markdown(body)  # user text in it is in code spans or escaped (tvmviz.report.md_code)
if rest:
    st.subheader("Graph")
    st.image(report.png, caption="graph.png")
    st.markdown("##" + rest.split("##", 1)[1] if "##" in rest else "")
