"""Data: upload logs (any kind, zip too), see what each file gave, manage stored uploads."""

import pandas as pd
import streamlit as st

from pages.common import get_store

store = get_store()
st.title("Data")
max_mb = st.get_option("server.maxUploadSize")
st.caption(f"Tuning logs, layout-transform benchmarks, graph-tuner output, debug-executor dumps, oneDNN verbose logs, "
           f"or a zip of them. The kind is detected from the content. Up to {max_mb} MB per file.")

with st.form("upload", clear_on_submit=True):
    files = st.file_uploader("Files", accept_multiple_files=True)
    col1, col2 = st.columns(2)
    uploader = col1.text_input("Uploader", placeholder="your name")
    label = col2.text_input("Run label", placeholder="e.g. resnet50 on skylake")
    submitted = st.form_submit_button("Ingest")

if submitted and files:
    reports = []
    bar = st.progress(0.0, text="Ingesting…")
    for k, f in enumerate(files):
        bar.progress(k / len(files), text=f"Ingesting {f.name}")
        reports += store.ingest_bytes(f.name, f.getvalue(), label=label or None, uploader=uploader or None)
    bar.progress(1.0, text="Done")
    for r in reports:
        if r.error:
            st.error(r.error)
        elif r.duplicate:
            st.info(f"{r.file}: already stored as upload {r.upload_id}")
        else:
            failed = ", ".join(f"{k}: {v}" for k, v in r.failed_trials.items()) or "none"
            st.success(f"{r.file}: {r.kind}, {r.rows} rows stored; failed trials: {failed}")
        if r.rejected_lines:
            st.warning(f"{r.file}: {len(r.rejected_lines)} lines rejected")
            st.dataframe(pd.DataFrame(r.rejected_lines), hide_index=True)

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
    with st.expander("Delete an upload"):
        victim = st.selectbox("Upload", [u.upload_id for u in uploads],
                              format_func=lambda i: next(f"{u.upload_id}: {u.file_name}" for u in uploads if u.upload_id == i))
        if st.button("Delete", type="primary"):
            store.delete_upload(victim)
            st.rerun()
