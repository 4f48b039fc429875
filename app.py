"""tvmviz dashboard: `streamlit run app.py` (or scripts/app.sh). Pages live in pages/, computation in tvmviz/."""

import streamlit as st

from pages.common import get_store
from tvmviz.errors import TvmvizError

st.set_page_config(page_title="tvmviz", layout="wide")
try:
    get_store()  # opens the database and loads sample_logs/ on first start
except TvmvizError as e:
    st.error(str(e))
    st.stop()

pages = [
    st.Page("pages/data.py", title="Data", icon=":material/upload_file:", default=True),
    st.Page("pages/search_space.py", title="Search space", icon=":material/grid_on:"),
    st.Page("pages/graph.py", title="Graph", icon=":material/account_tree:"),
    st.Page("pages/layer.py", title="Layer", icon=":material/layers:"),
    st.Page("pages/whatif.py", title="What-if", icon=":material/tune:"),
    st.Page("pages/profile.py", title="Profile vs tuned", icon=":material/speed:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/report.py", title="Report", icon=":material/description:"),
]
st.navigation(pages).run()
