"""tvmviz dashboard: `streamlit run app.py` (or scripts/app.sh). Pages live in pages/, computation in tvmviz/."""

import streamlit as st

from pages.common import current_identity, ensure_sample_logs, get_store, team_server
from tvmviz.errors import TvmvizError
from tvmviz.text import markdown_text



def sign_in() -> None:
    st.title("tvmviz")
    st.write("This is a team server: sign in to see and add your team's runs.")
    st.button("Sign in", type="primary", on_click=st.login)


st.set_page_config(page_title="tvmviz", layout="wide")
if team_server():
    if not st.user.is_logged_in:  # the only page before sign-in: no navigation to any other
        st.navigation([st.Page(sign_in, title="Sign in")], position="hidden").run()
        st.stop()
    with st.sidebar:
        me = current_identity()
        st.text(f"Signed in as {me.name}" + (" (admin)" if me.admin else ""))  # text: a name is never Markdown
        st.button("Sign out", on_click=st.logout)
try:
    get_store()  # opens the database (sample_logs/ is stored on the first start, see ensure_sample_logs)
except TvmvizError as e:
    st.error(markdown_text(e))
    st.stop()

data_page = st.Page("pages/data.py", title="Data", icon=":material/upload_file:", default=True)
pages = [
    data_page,
    st.Page("pages/search_space.py", title="Search space", icon=":material/grid_on:"),
    st.Page("pages/graph.py", title="Graph", icon=":material/account_tree:"),
    st.Page("pages/layer.py", title="Layer", icon=":material/layers:"),
    st.Page("pages/whatif.py", title="What-if", icon=":material/tune:"),
    st.Page("pages/profile.py", title="Profile vs tuned", icon=":material/speed:"),
    st.Page("pages/reality.py", title="Reality check", icon=":material/fact_check:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/report.py", title="Report", icon=":material/description:"),
]
page = st.navigation(pages)
if page.url_path != data_page.url_path:
    ensure_sample_logs()  # the Data page calls it after drawing its upload form
page.run()
