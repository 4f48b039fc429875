"""What every page shares: the store (one DuckDB connection per process, a cursor per session)."""

from pathlib import Path

import streamlit as st

from tvmviz.store import Store, default_db_path

SAMPLE_LOGS = Path(__file__).resolve().parents[1] / "sample_logs"


@st.cache_resource
def _process_store() -> Store:
    store = Store.open(default_db_path())
    if not store.uploads():
        store.ingest_paths([SAMPLE_LOGS], label="sample: resnet18 (TVM 0.19, znver3)", uploader="sample_logs")
    return store


def get_store() -> Store:
    if "store" not in st.session_state:
        st.session_state.store = _process_store().cursor()
    return st.session_state.store
