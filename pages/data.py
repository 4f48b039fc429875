"""Data: upload logs (any kind, zip too), see what each file gave, manage stored uploads."""

import pandas as pd
import streamlit as st

from pages.common import MODEL_KINDS, current_analysis, ensure_sample_logs, get_store, route_through_app
from tvmviz.errors import TvmvizError
from tvmviz.ingest import all_kinds
from tvmviz.text import markdown_text

route_through_app()


def _keep_pick() -> None:
    st.session_state.analysis_ids = set(st.session_state.analysis_pick)


def _keep_setting(key: str) -> None:
    st.session_state[key] = st.session_state[f"{key}_box"]


store = get_store()
st.title("Data")
max_mb = st.get_option("server.maxUploadSize")
st.caption(f"Tuning logs, layout-transform benchmarks, graph-tuner output, debug-executor dumps, oneDNN verbose logs, "
           f"ONNX models, or a zip of them. The kind is detected from the content. Up to {max_mb} MB per file.")

with st.form("upload", clear_on_submit=True):
    files = st.file_uploader("Files", accept_multiple_files=True)
    col1, col2 = st.columns(2)
    uploader = col1.text_input("Uploader", placeholder="your name")
    label = col2.text_input("Run label", placeholder="e.g. resnet50 on skylake")
    forced_kind = st.selectbox("Kind", [None, *all_kinds()], format_func=lambda k: "detect from content" if k is None else k,
                               help="Read every file as this kind when the guess is wrong (the CLI's --kind)")
    submitted = st.form_submit_button("Ingest")

if submitted and files:
    reports = []
    bar = st.progress(0.0, text="Ingesting…")
    for k, f in enumerate(files):
        bar.progress(k / len(files), text=f"Ingesting {f.name}")
        reports += store.ingest_bytes(f.name, f, label=label or None, uploader=uploader or None, kind=forced_kind)
    # new uploads join the current analysis
    st.session_state.analysis_ids = set(current_analysis().ids) | {r.upload_id for r in reports if r.upload_id}
    bar.progress(1.0, text="Done")
    for r in reports:
        if r.error:
            st.error(markdown_text(r.error))
        elif r.duplicate:
            st.info(markdown_text(f"{r.file}: already stored as upload {r.upload_id}"))
        else:
            failed = ", ".join(f"{k}: {v}" for k, v in r.failed_trials.items()) or "none"
            st.success(markdown_text(f"{r.file}: {r.kind}, {r.rows} rows stored; failed trials: {failed}"))
        if r.rejected_lines:
            st.warning(markdown_text(f"{r.file}: {len(r.rejected_lines)} lines rejected"))
            st.dataframe(pd.DataFrame(r.rejected_lines), hide_index=True)
        if r.failed_trials:
            st.dataframe(pd.DataFrame({"error": list(r.failed_trials), "failed trials": list(r.failed_trials.values())}),
                         hide_index=True)

ensure_sample_logs()
st.subheader("Stored uploads")
uploads = store.uploads()
if not uploads:
    st.info("Nothing stored yet.")
else:
    table = pd.DataFrame(
        [
            {"id": u.upload_id, "file": u.file_name, "kind": u.kind, "uploader": u.uploader, "label": u.label,
             "uploaded": u.uploaded_at, "rows": u.rows, "rejected lines": u.rejected_lines,
             "failed trials": sum(u.failed_trials.values()), "CPU / target": u.cpu or u.target}
            for u in uploads
        ]
    )
    st.dataframe(table, hide_index=True, width="stretch")

    st.subheader("Current analysis")
    ids = [u.upload_id for u in uploads]
    name_of = {u.upload_id: f"{u.upload_id}: {u.file_name.rsplit('/', 1)[-1]} ({u.kind}" + (
        f", {u.uploader}" if u.uploader else "") + ")" for u in uploads}
    st.session_state.analysis_pick = list(current_analysis().ids)
    picked = st.multiselect("Uploads analysed together (all pages use these)", ids, key="analysis_pick",
                            format_func=name_of.get, on_change=_keep_pick)
    st.session_state.analysis_ids = set(picked)
    analysis = current_analysis()
    models = [u for u in uploads if u.kind in MODEL_KINDS and u.upload_id in picked]
    if models:
        ids_m = [u.upload_id for u in models]
        st.session_state.model_id = st.selectbox(
            "Model graph", ids_m, index=ids_m.index(analysis.model) if analysis.model in ids_m else 0,
            format_func=name_of.get)
    else:
        st.warning("No model graph selected: upload an ONNX model to see the graph, layers and what-if.")
    with st.expander("Analysis settings"):
        # widget state is dropped on other pages: the settings live under keys no widget owns
        for key, text in (("opt_estimate", "Estimate layout transforms from the benchmarks given (TVM's "
                                           "infer_layout=True)"),
                          ("opt_missing", "Price transforms without a benchmark at 0 (not TVM: lets a run without "
                                          "layout_transform benchmarks be explored)")):
            st.session_state[f"{key}_box"] = bool(st.session_state.get(key, False))
            st.checkbox(text, key=f"{key}_box", on_change=_keep_setting, args=(key,))
    with st.expander("Delete an upload"):
        victim = st.selectbox("Upload", [u.upload_id for u in uploads],
                              format_func=lambda i: next(f"{u.upload_id}: {u.file_name}" for u in uploads if u.upload_id == i))
        if st.button("Delete", type="primary"):
            try:
                store.delete_upload(victim)
                st.rerun()
            except TvmvizError as e:
                st.error(markdown_text(e))
