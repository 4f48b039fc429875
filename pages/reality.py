"""Reality check: build layout plans with TVM, run them on this CPU, and put measured beside predicted."""

import json

import altair as alt
import streamlit as st

from pages.common import current_analysis, current_identity, get_store, route_through_app, selection_or_stop
from tvmviz.build.compare import (
    RATIO_FLAG, layer_table, plans_table, split_plans, threads_table, transform_table, verdict,
)
from tvmviz.build.job import JobRequest, PlanJob
from tvmviz.build.run import DEFAULT_REPEAT, available_cores
from tvmviz.charts import ratio_chart
from tvmviz.server.accounts import audit, may_measure
from tvmviz.store import default_db_path
from tvmviz.text import markdown_text

RUN_KIND = "tvmviz_run_plan"
UPLOADER = "tvmviz run-plan"

route_through_app()

st.title("Reality check")
st.caption("Each plan is built into the model with TVM (Relax): every conv as conv2d_NCHWc with the plan's layouts "
           "and its record's schedule, layout transforms where the plan puts them. The output is checked against "
           "onnx.reference, then timed here end to end and per layer, at N threads and at 1.")
store = get_store()
analysis = current_analysis()
graph, sel = selection_or_stop(analysis)
model_kind = next((u.kind for u in store.uploads(analysis.model)), None) if analysis.model is not None else None
model_path = store.raw_file(analysis.model) if model_kind == "onnx_model" else None
who = current_identity()
allowed = may_measure(who)  # building and timing occupy the server's cores: admins only on a team server


@st.cache_resource
def plan_jobs() -> dict:
    """run id -> its PlanJob: one build per run at a time, seen by every session of the server."""
    return {}


def start_build(specs: list, threads: int, repeat: int) -> None:
    if not may_measure(current_identity()):  # checked where it runs, not only on the button
        st.error("Measuring on this server is limited to its admins.")
        return
    jobs = plan_jobs()
    running = jobs.get(analysis.run.run_id)
    if running is not None and running.running:
        st.warning("Plans of this run are being built and measured already: wait for that result.")
        return
    jobs[analysis.run.run_id] = PlanJob(JobRequest(
        default_db_path(), analysis.run.run_id, specs, threads, repeat, analysis.base.estimate_transforms,
        list(analysis.cost_sources)))
    audit(store.con, who.name, "run-plan", None, {"run": analysis.run.run_id, "plans": specs, "threads": threads})


def store_result(job) -> list:
    """Each plan of the job's report stored as a profile (tvmviz_run_plan upload) of the run."""
    stored = []
    for doc in split_plans(job.report):
        plan = doc["plans"][0]["plan"]
        for r in store.ingest_bytes(f"run_plan_{plan.split(':')[0]}.json", json.dumps(doc).encode(),
                                    label=f"run-plan {plan}", uploader=UPLOADER, kind=RUN_KIND,
                                    run=job.request.run_id):
            if r.error:
                st.error(markdown_text(r.error))
            elif r.upload_id is not None:
                stored.append(r.upload_id)
    return stored


def build_status(job) -> None:
    """The run's build while it runs (a separate process: the page stays live), then its result, stored once."""
    n = len(job.request.specs)
    if job.running:
        done, total, label = job.progress
        with st.status(f"Building and measuring {n} plans…", expanded=True):
            st.progress(min(1.0, done / max(total, 1)), text=str(label)[:90])
        return
    if job.error:
        st.status("Building or measuring failed", state="error", expanded=True).error(markdown_text(job.error))
        return
    with job.lock:  # the first session to see the finished job stores it
        fresh = job.stored is None
        if fresh:
            job.stored = store_result(job)
    report = job.report
    st.status(f"Built and measured {n} plans ({report.get('kernels_compiled', 0)} kernels compiled, "
              f"{report.get('compile_s', 0):.0f} s): stored as profiles of run {job.request.run_id} "
              f"(uploads {', '.join(map(str, job.stored))})", state="complete", expanded=False)
    if fresh:
        st.rerun(scope="app")  # the results below read the new uploads


scenario = st.session_state.get("wi_scenario")
choices = ["dp", "pbqp", "exact", "per-op-best", "uniform:8", "uniform:16"]
if scenario is not None and scenario.to_json():
    choices.append(f"scenario:{scenario.to_string()}")
with st.form("run"):
    c1, c2, c3 = st.columns([3, 1, 1])
    specs = c1.multiselect("Plans", choices, default=["dp", "per-op-best"],
                           format_func=lambda s: "What-if scenario" if s.startswith("scenario:") else s)
    threads = c2.number_input("Threads", 1, 256, available_cores())
    repeat = c3.number_input("Runs per timing", 1, 100, DEFAULT_REPEAT)
    go = st.form_submit_button("Build and run", type="primary", disabled=model_path is None or not allowed,
                               help=None if allowed else "On a team server, admins only")
if model_path is None:
    st.info("Building needs the ONNX model (its weights and op attributes): this run's model is "
            f"{'a ' + model_kind if model_kind else 'missing'}. Upload the .onnx file to the run on the Data page.")
if not allowed:
    st.info("Building and timing plans occupies this server's cores: on a team server only admins may.")

if go and specs:
    start_build(list(specs), int(threads), int(repeat))
elif go:
    st.warning("Choose at least one plan.")
job = plan_jobs().get(analysis.run.run_id)
if job is not None:  # polled every second only while the build runs
    (st.fragment(run_every=1.0)(build_status) if job.running else build_status)(job)

run_ids = analysis.of(RUN_KIND)
if not run_ids:
    st.info("No plan measured yet in this run: choose plans and press Build and run.")
    st.stop()
batches: dict = {}  # one press of the button (one run_plans call) -> its uploads, one per plan
for i in run_ids:
    doc = store.upload_meta(i)["run_plan"]
    batches.setdefault(doc.get("measured_at") or f"upload {i}", []).append((i, doc))
names = list(batches)


def batch_label(name: str) -> str:
    docs = [d for _, d in batches[name]]
    return f"{name} · {docs[0]['threads']} threads · " + ", ".join(d["plans"][0]["plan"][:24] for d in docs)


batch = st.selectbox("Measurement", names, index=len(names) - 1, format_func=batch_label)
run_ids, docs = [i for i, _ in batches[batch]], [d for _, d in batches[batch]]
frame = plans_table(docs)
st.subheader("Plans side by side")
st.text(verdict(frame))  # plan names may hold a What-if string from a link: never Markdown
c1, c2 = st.columns(2)
c1.text("Ranked by prediction:\n" + "\n".join(
    f"{int(r['rank predicted'])}. {r['plan']}  {r['predicted_ms']:.3f} ms" for _, r in frame.sort_values("predicted_ms").iterrows()))
c2.text("Ranked by measurement here:\n" + "\n".join(
    f"{int(r['rank measured'])}. {r['plan']}  {r['measured_ms']:.3f} ms" for _, r in frame.sort_values("measured_ms").iterrows()))
long = frame.melt(id_vars=["plan"], value_vars=["predicted_ms", "measured_ms", "measured_1t_ms"], var_name="what",
                  value_name="ms").dropna()
long["what"] = long["what"].map({"predicted_ms": "predicted (objective)", "measured_ms": "measured, N threads",
                                 "measured_1t_ms": "measured, 1 thread"})
st.altair_chart(alt.Chart(long).mark_bar().encode(
    y=alt.Y("plan:N", title=None), x=alt.X("ms:Q", title="end to end ms"), yOffset="what:N",
    color=alt.Color("what:N", title=None), tooltip=["plan", "what", alt.Tooltip("ms:Q", format=".3f")],
).properties(height=max(140, 60 * len(frame))), width="stretch")
st.dataframe(frame.style.format(precision=3, na_rep="–"), hide_index=True, width="stretch")
st.caption("Predicted = the graph tuner's objective (isolated kernel times + counted transforms); it leaves out "
           "pools, adds, relu, dense and transforms at boundaries (other_ops_ms is their measured share).")

st.subheader("Per layer")
labels = [f"{d['plans'][0]['plan']} (upload {i})" for i, d in zip(run_ids, docs)]
k = st.selectbox("Plan", range(len(docs)), format_func=labels.__getitem__, index=len(docs) - 1)
doc = docs[k]
plan = doc["plans"][0]
targets = {n.name: n.record.target for n in sel.nodes}
layers = layer_table(doc, plan, targets)
c1, c2, c3 = st.columns(3)
c1.metric("Convs predicted (sum)", f"{layers['tuned_ms'].sum():.3f} ms")
c2.metric("Convs measured in place (sum)", f"{layers['profiled_ms'].sum():.3f} ms")
c3.metric(f"Layers over {RATIO_FLAG}×", int(layers["flagged"].sum()))
st.altair_chart(ratio_chart(layers, RATIO_FLAG), width="stretch")
st.dataframe(layers.style.format(precision=3, na_rep="–"), hide_index=True, width="stretch")

st.subheader("Layout transforms: inserted vs predicted")
tr = transform_table(plan)
counts = tr["status"].value_counts().to_dict() if len(tr) else {}
st.write(markdown_text(", ".join(f"{v} {k}" for k, v in counts.items()) or "No transform predicted or inserted."))
st.dataframe(tr.style.format(precision=4, na_rep="–"), hide_index=True, width="stretch")

st.subheader("1 thread vs N threads")
st.dataframe(threads_table(docs).style.format(precision=3, na_rep="–"), hide_index=True, width="stretch")
st.caption("speedup = 1-thread time / N-thread time; well below N means the threads wait on each other, on "
           "memory, or on other processes sharing the cores: a parallel kernel runs at the pace of its slowest "
           "thread, so on a loaded machine N threads can be slower than 1 (TVM's workers run unpinned here, "
           "TVM_BIND_THREADS=0: pinned, one busy core stalled every kernel).")
for w in plan.get("warnings", []):
    st.warning(markdown_text(w))
