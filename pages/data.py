"""Data: upload logs (any kind, zip too) into runs, choose this session's run and what it lacks, see every
teammate's run side by side, move uploads between runs, manage stored uploads."""

import json

import streamlit as st

from pages.common import (
    cached_inputs, current_analysis, current_identity, ensure_sample_logs, get_store, measure_here, route_through_app,
    run_status_of, runs_with_status, set_cost_sources, set_session_run,
)
from tvmviz import runs as run_lib
from tvmviz.errors import TvmvizError
from tvmviz.ingest import all_kinds
from tvmviz.server import accounts
from tvmviz.store import default_db_path
from tvmviz.text import markdown_text

route_through_app()

NEW_RUNS, THIS_RUN = "new runs by the rules below", "this session's run"


def _keep_setting(key: str) -> None:
    st.session_state[key] = st.session_state[f"{key}_box"]


def _pick_run() -> None:
    set_session_run(st.session_state.session_run_box)


def _pick_sources() -> None:
    set_cost_sources(st.session_state.cost_sources_box)


store = get_store()
me = current_identity()
st.title("Data")
max_mb = st.get_option("server.maxUploadSize")
st.caption(f"Tuning logs, layout-transform benchmarks, graph-tuner output, debug-executor dumps, oneDNN verbose logs, "
           f"ONNX models, or a zip of them. The kind is detected from the content. Up to {max_mb} MB per file.")

with st.form("upload", clear_on_submit=True):
    files = st.file_uploader("Files", accept_multiple_files=True)
    col1, col2, col3 = st.columns(3)
    col1.text_input("Uploader", value=me.name, disabled=True, key="up_uploader",
                    help="Who you are signed in as (locally: the account running the dashboard)")
    label = col2.text_input("Run label", placeholder="e.g. resnet50 on skylake", key="up_label")
    target = col3.radio("Add to", [NEW_RUNS, THIS_RUN], key="up_target")
    st.caption("Files sent together (or a zip) form one run. A single file joins the run its label names, else "
               "the run whose model its workloads match on the same CPU, else it starts a new run.")
    forced_kind = st.selectbox("Kind", [None, *all_kinds()], format_func=lambda k: "detect from content" if k is None else k,
                               help="Read every file as this kind when the guess is wrong (the CLI's --kind)")
    submitted = st.form_submit_button("Ingest")

import pandas as pd  # noqa: E402  (after the upload form: a second of import on a cold start, not before the first paint)

if submitted and not files:
    st.warning("Nothing to ingest: choose a file first, and wait until its upload has finished.")
if submitted and files:
    session_run = st.session_state.get("run_id")
    if target == THIS_RUN and session_run is not None:
        place = run_lib.Placement.into(session_run)
    elif len(files) > 1:
        place = run_lib.Placement(label or None, me.name, batch=True, name=f"{len(files)} files")
    else:
        place = None
    reports = []
    bar = st.progress(0.0, text="Ingesting…")
    for k, f in enumerate(files):
        bar.progress(k / len(files), text=f"Ingesting {f.name}")
        reports += accounts.ingest_bytes_as(store, me, f.name, f, label=label or None, kind=forced_kind,
                                            run=place)
    bar.progress(1.0, text="Done")
    run_of = {u.upload_id: u.run_id for u in store.uploads()}
    joined = [run_of[r.upload_id] for r in reports if r.upload_id in run_of and not r.duplicate]
    if joined:
        set_session_run(joined[-1])  # the session follows what it uploaded
    for r in reports:
        if r.error:
            st.error(markdown_text(r.error))
        elif r.duplicate:
            st.info(markdown_text(f"{r.file}: already stored as upload {r.upload_id}"))
        else:
            failed = ", ".join(f"{k}: {v}" for k, v in r.failed_trials.items()) or "none"
            st.success(markdown_text(f"{r.file}: {r.kind}, {r.rows} rows stored in run {run_of.get(r.upload_id)}; "
                       f"failed trials: {failed}"))
        if r.rejected_lines:
            st.warning(markdown_text(f"{r.file}: {len(r.rejected_lines)} lines rejected"))
            st.dataframe(pd.DataFrame(r.rejected_lines), hide_index=True)
        if r.failed_trials:
            st.dataframe(pd.DataFrame({"error": list(r.failed_trials), "failed trials": list(r.failed_trials.values())}),
                         hide_index=True)

ensure_sample_logs()
analysis = current_analysis()
uploads = store.uploads()
if analysis is None:
    st.info("Nothing stored yet.")
    st.stop()
runs = runs_with_status()
by_id = {r.run_id: r for r in runs}
run = run_status_of(analysis.run)

st.subheader("This session's run")
st.session_state.session_run_box = run.run_id  # widget state is dropped on other pages
st.selectbox("Run (every page shows this one; the link keeps it)", list(by_id), format_func=lambda i: by_id[i].name(),
             key="session_run_box", on_change=_pick_run)
kinds = pd.Series([u.kind for u in uploads if u.upload_id in run.uploads]).value_counts()
st.write(markdown_text(f"{run.machine.describe() if run.machine else 'No records yet'} · TVM {run.tvm_version or '?'} · "
                       f"model {run.model or 'none'} · " + (", ".join(f"{n} {k}" for k, n in kinds.items()) or "no uploads")))
if run.model_upload is not None and run.machine is not None:
    try:
        st.caption(cached_inputs(default_db_path(), (run.run_id, run.uploads, (), ()))[3].summary())
    except TvmvizError as e:
        st.error(markdown_text(e))
if run.complete:
    st.success("Complete: a model graph, records for every conv and every layout transform it needs.")
for n, lack in enumerate(run.lacks):
    st.warning(markdown_text(f"Lacks: {lack.text}"))
    cols = st.columns(4)
    if run_lib.inputs.UPLOAD in lack.actions:
        cols[0].caption("Upload it with the form above, 'Add to: this session's run'.")
    if run_lib.inputs.MOVE in lack.actions and lack.uploads:
        if cols[1].button(f"Move upload {', '.join(map(str, lack.uploads))} to a run of its own", key=f"lack_move_{n}"):
            first = next(u for u in uploads if u.upload_id == lack.uploads[0])
            try:
                fresh = run_lib.new_run(store, f"{first.file_name.rsplit('/', 1)[-1]} (moved out of run {run.run_id})",
                                        first.uploader)
                for u in lack.uploads:
                    accounts.move_as(store, me, u, fresh)
                st.rerun()
            except TvmvizError as e:
                st.error(markdown_text(e))
    if run_lib.inputs.MEASURE in lack.actions and lack.keys:
        if cols[2].button(f"Measure the {len(lack.keys)} transforms on this machine", key=f"lack_measure_{n}",
                          disabled=not accounts.may_measure(me), help="On a team server, admins only"):
            if measure_here(list(lack.keys), analysis) is not None:
                st.rerun()
    if run_lib.inputs.ESTIMATE in lack.actions:
        if cols[3].button("Estimate them from this run's benchmarks", key=f"lack_estimate_{n}"):
            st.session_state.opt_estimate = True
            st.rerun()
if run_lib.inputs.ESTIMATE in {a for lack in run.lacks for a in lack.actions} and st.session_state.get("opt_estimate"):
    st.caption("Estimating missing transforms per element (Analysis settings below).")

others = [i for i in by_id if i != run.run_id]
st.session_state.cost_sources_box = [i for i in analysis.cost_sources if i in others]
st.multiselect("Add another run's costs (a cost source: its records join this run's selection, even from another "
               "machine)", others, format_func=lambda i: by_id[i].name() + (
                   f" ({by_id[i].machine.describe()})" if by_id[i].machine else ""),
               key="cost_sources_box", on_change=_pick_sources)
if analysis.cost_sources and run.model_upload is not None:
    try:
        banner = cached_inputs(default_db_path(), analysis.key)[3].banner()
        if banner:
            st.warning(markdown_text(banner), icon=":material/merge_type:")
    except TvmvizError as e:
        st.error(markdown_text(e))

st.subheader("Runs")
rows_of = {u.upload_id: u for u in uploads}
st.dataframe(pd.DataFrame([{
    "run": r.run_id, "label": r.label, "uploader": r.uploader or "–", "target": r.target or "–",
    "CPU": r.cpu or "–", "TVM": r.tvm_version or "–", "model": r.model or "–", "uploads": len(r.uploads),
    "records": sum(rows_of[u].rows for u in r.uploads if u in rows_of and rows_of[u].kind == "autotvm"),
    "transforms": sum(rows_of[u].rows for u in r.uploads if u in rows_of and rows_of[u].kind == "layout_transform"),
    "complete": r.complete, "lacks": "; ".join(r.missing), "this session": r.run_id == run.run_id,
} for r in runs]), hide_index=True, width="stretch", key="runs_table")

st.subheader("Stored uploads")
shared = {u: [r.run_id for r in runs if u in r.uploads and r.run_id != rows_of[u].run_id] for u in rows_of}
st.dataframe(pd.DataFrame([
    {"id": u.upload_id, "file": u.file_name, "kind": u.kind, "run": u.run_id,
     "also used by runs": ", ".join(map(str, shared[u.upload_id])), "uploader": u.uploader or "–",
     "label": u.label or "–",
     "uploaded": u.uploaded_at, "rows": u.rows, "rejected lines": u.rejected_lines,
     "failed trials": sum(u.failed_trials.values()), "CPU / target": u.cpu or u.target or "–"}
    for u in uploads]), hide_index=True, width="stretch", key="uploads_table")

name_of = {u.upload_id: f"{u.upload_id}: {u.file_name.rsplit('/', 1)[-1]} ({u.kind}, run {u.run_id})" for u in uploads}


def action_button(label: str, key: str, action, **button) -> None:
    """A button that runs ``action`` and redraws the page, or says why it could not."""
    if st.button(label, key=key, **button):
        try:
            action()
            st.rerun()
        except TvmvizError as e:
            st.error(markdown_text(e))


with st.expander("Start a new run"):
    new_label = st.text_input("Label of the new run", key="new_run_label", placeholder="e.g. resnet50 on skylake")
    action_button("Start the run", "new_run_button", lambda: set_session_run(run_lib.new_run(store, new_label, me.name)))
with st.expander("Rename this run"):
    st.session_state.setdefault("rename_label", run.label)
    new_name = st.text_input("Label", key="rename_label")
    action_button("Rename", "rename_button", lambda: accounts.rename_as(store, me, run, new_name))
with st.expander("Move an upload to another run"):
    moving = st.selectbox("Upload", list(name_of), format_func=name_of.get, key="move_upload")
    to = st.selectbox("To run", list(by_id), format_func=lambda i: by_id[i].name(), key="move_to")
    action_button("Move", "move_button", lambda: accounts.move_as(store, me, moving, to))
with st.expander("Analysis settings"):
    # widget state is dropped on other pages: the settings live under keys no widget owns
    for key, text in (("opt_estimate", "Estimate layout transforms from the benchmarks given (TVM's "
                                       "infer_layout=True)"),
                      ("opt_missing", "Price transforms without a benchmark at 0 (not TVM: lets a run without "
                                      "layout_transform benchmarks be explored)")):
        st.session_state[f"{key}_box"] = bool(st.session_state.get(key, False))
        st.checkbox(text, key=f"{key}_box", on_change=_keep_setting, args=(key,))
with st.expander("Delete an upload"):
    victim = st.selectbox("Upload", list(name_of), format_func=name_of.get, key="delete_upload")
    owner = rows_of[victim].uploader if victim in rows_of else None
    allowed = accounts.may_change(me, owner)
    if not allowed:
        st.text(f"Upload {victim} belongs to {owner or 'nobody'}: only its owner or an admin may delete it.")
    sure = st.checkbox(f"Yes, delete upload {victim} and every row it holds", key="delete_sure", disabled=not allowed)

    def delete() -> None:
        accounts.delete_as(store, me, victim)
        st.session_state.pop("delete_sure", None)

    action_button("Delete", "delete_button", delete, type="primary", disabled=not (allowed and sure))
with st.expander("Audit log: who uploaded, moved, renamed, deleted and measured what"):
    events = accounts.audit_events(store.con)
    if events:
        st.dataframe(pd.DataFrame([{**e, "detail": json.dumps(e["detail"])} for e in events]), hide_index=True,
                     width="stretch", key="audit_table")
    else:
        st.text("Nothing recorded yet.")
