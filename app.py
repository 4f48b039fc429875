"""tvmviz dashboard: `streamlit run app.py` (or scripts/app.sh). Pages live in pages/, computation in tvmviz/."""

import streamlit as st

from pages.common import get_store

st.set_page_config(page_title="tvmviz", layout="wide")
get_store()  # opens the database and loads sample_logs/ on first start

pages = [
    st.Page("pages/data.py", title="Data", icon=":material/upload_file:", default=True),
]
st.navigation(pages).run()
