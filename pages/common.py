"""What every page shares: the store (one DuckDB connection per process, a cursor per session), the
current analysis (which uploads, which model), and cached graphs, records and selections."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from tvmviz.errors import TvmvizError
from tvmviz.server import accounts
from tvmviz.select import Scenario, SelectOptions, select
from tvmviz.store import Store, default_db_path, process_store

SAMPLE_LOGS = Path(__file__).resolve().parents[1] / "sample_logs"
SAMPLE_UPLOADER = "sample_logs"
# Each folder of sample_logs/ is one run; only the first is in the default analysis (the others come from
# other machines: mixing them into one selection would be meaningless).
SAMPLE_LABELS = {"resnet18": "sample: resnet18 (TVM 0.19, znver3)", "measured": "sample: measured (tvmviz, znver5)"}
DEFAULT_SAMPLE_LABEL = SAMPLE_LABELS["resnet18"]
MODEL_KINDS = ("onnx_model", "layout_graph")
EXEC_GRAPH_KINDS = ("debug_graph_dump", "graph_executor_json")
PROFILE_KINDS = ("debug_profile_table", "chrome_trace", "profiler_report")


def team_server() -> bool:
    """Run by ``tvmviz serve`` (sign-in required) rather than as a local, one-user dashboard."""
    return os.environ.get("TVMVIZ_TEAM_SERVER") == "1"


def current_identity() -> accounts.Identity:
    """Who is asking: the signed-in person on a team server, the machine's user locally."""
    if not team_server():
        return accounts.local_identity()
    admins = list(st.secrets.get("tvmviz", {}).get("admins", []))
    return accounts.oidc_identity(st.user.to_dict(), admins)


def _process_store() -> Store:
    return process_store(default_db_path())


class _SampleLogs:
    """Whether sample_logs/ is stored; the lock makes a second session wait for the first one's ingest."""

    def __init__(self):
        self.lock = threading.Lock()
        self.done = False


@st.cache_resource
def _sample_logs() -> _SampleLogs:
    return _SampleLogs()


def ensure_sample_logs() -> None:
    """On the first start (an empty database) store sample_logs/ with visible progress. Called by every
    page after its first elements, so the Data page paints before the ingest (the ONNX import through
    TVM Relax is most of it) finishes."""
    state = _sample_logs()
    if state.done:
        return
    with state.lock:
        store = _process_store()
        if state.done or store.uploads():
            state.done = True
            return
        folders = sorted((p for p in SAMPLE_LOGS.iterdir() if p.is_dir()), key=lambda p: (p.name != "resnet18", p.name))
        with st.status("First start: storing the sample logs (sample_logs/)…", expanded=True) as status:
            bar = st.progress(0.0)
            for k, folder in enumerate(folders):
                def progress(done, total, name, k=k, folder=folder):
                    bar.progress((k + (done / total if total else 1)) / len(folders),
                                 text=f"{folder.name}/{Path(name).name}" if name else folder.name)
                reports = store.ingest_paths([folder], label=SAMPLE_LABELS.get(folder.name, f"sample: {folder.name}"),
                                             uploader=SAMPLE_UPLOADER, progress=progress)
                for r in reports:
                    if r.error:
                        st.error(r.error)
            status.update(label=f"Stored the sample logs of {len(folders)} runs", state="complete", expanded=False)
        state.done = True


def in_default_analysis(upload) -> bool:
    return upload.uploader != SAMPLE_UPLOADER or upload.label == DEFAULT_SAMPLE_LABEL


def route_through_app() -> None:
    """On a fresh server Streamlit runs a page asked for by URL (a shared What-if link, say) straight
    from the pages/ folder, without app.py. Switch that off and rerun: app.py's st.navigation then
    routes to the same page, with its query string. Every page calls this first; under app.py it does
    nothing (st.navigation has already switched the folder off). Only a session's first run is
    rerun, so no widget action is ever dropped."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory and "store" not in st.session_state:
        PagesManager.uses_pages_directory = False
        st.rerun()


def get_store() -> Store:
    if "store" not in st.session_state:
        st.session_state.store = _process_store().cursor()
    return st.session_state.store


@dataclass(frozen=True)
class Analysis:
    """The uploads the pages analyse together (chosen on the Data page; default: all of them)."""

    ids: tuple  # every included upload
    model: int | None  # upload holding the model graph
    by_kind: dict = field(default_factory=dict, compare=False, hash=False)  # kind -> upload ids
    base: SelectOptions = SelectOptions()

    def of(self, *kinds) -> tuple:
        return tuple(i for k in kinds for i in self.by_kind.get(k, ()))


def current_analysis() -> Analysis:
    uploads = get_store().uploads()
    chosen = st.session_state.get("analysis_ids")
    ids = tuple(u.upload_id for u in uploads
                if (in_default_analysis(u) if chosen is None else u.upload_id in chosen))
    by_kind: dict = {}
    for u in uploads:
        if u.upload_id in ids:
            by_kind.setdefault(u.kind, []).append(u.upload_id)
    models = [i for k in MODEL_KINDS for i in by_kind.get(k, [])]
    model = st.session_state.get("model_id")
    if model not in models:
        model = models[-1] if models else None
    base = SelectOptions(
        estimate_transforms=st.session_state.get("opt_estimate", False),
        allow_missing_transforms=st.session_state.get("opt_missing", False),
    )
    return Analysis(ids, model, {k: tuple(v) for k, v in by_kind.items()}, base)


# ---- caches: keyed by upload ids, whose content never changes once stored ---------------------------


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_graph(db: str, model_id: int):
    return _process_store().cursor().model_graph(model_id)


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_records(db: str, ids: tuple):
    cur = _process_store().cursor()
    return cur.tuning_records(list(ids)), cur.transform_records(list(ids))


@st.cache_resource(max_entries=64, show_spinner=False)
def cached_selection(db: str, model_id: int, ids: tuple, base: SelectOptions, scenario: str):
    """One selection per (data, base options, scenario string): what-if reruns of a seen scenario are free."""
    graph = cached_graph(db, model_id)
    tuning, transforms = cached_records(db, ids)
    opts = Scenario.from_string(scenario).options(base) if scenario else base
    return select(graph, tuning, transforms, opts)


def graph_and_selection(analysis: Analysis, scenario: str = ""):
    """(graph, selection) of the analysis, or (graph, None) after showing why there is no selection."""
    if analysis.model is None:
        st.info("No model graph in the current analysis: upload an ONNX model (or a tvmviz layout-graph JSON) "
                "on the Data page.")
        return None, None
    db = default_db_path()
    try:
        graph = cached_graph(db, analysis.model)
    except TvmvizError as e:
        st.error(str(e))
        return None, None
    try:
        with st.spinner("Selecting layouts…"):
            return graph, cached_selection(db, analysis.model, analysis.ids, analysis.base, scenario)
    except TvmvizError as e:
        st.error(f"No selection for this analysis: {e}")
        st.caption("Missing layout-transform benchmarks? Tick 'estimate transforms' or 'price missing transforms "
                   "at 0' under Analysis settings on the Data page.")
        return graph, None


def selection_or_stop(analysis: Analysis, scenario: str = ""):
    """graph_and_selection for a page that needs both: it ends the page (the error is already shown)."""
    graph, sel = graph_and_selection(analysis, scenario)
    if graph is None or sel is None:
        st.stop()
    return graph, sel


def _follow_picker(key: str) -> None:
    st.session_state.picked_node = st.session_state[key]


def pick_conv(graph, key: str = "node") -> str | None:
    """A conv picker shared by pages; its value follows a click on the Graph page."""
    names = [n.name for n in graph.convs()]
    if not names:
        st.info("The model has no conv2d.")
        return None
    current = st.session_state.get("picked_node")
    if current in names and st.session_state.get(key) != current:
        st.session_state[key] = current  # a click on the graph moves the picker
    elif st.session_state.get(key) not in names:
        st.session_state[key] = names[0]
    name = st.selectbox("Conv layer", names, key=key, on_change=_follow_picker, args=(key,))
    st.session_state.picked_node = name
    return name


# ---- where transform costs come from, profiled times, measuring here --------------------------------


@functools.cache
def installed_tvm_version() -> str | None:
    try:
        return importlib.metadata.version("apache-tvm")
    except importlib.metadata.PackageNotFoundError:
        return None


@st.cache_resource(show_spinner=False)
def host_target() -> str | None:
    """This machine's target string as `tvmviz measure` writes it (imports TVM: called only when an upload
    was made with this TVM version, i.e. could have been measured here)."""
    try:
        from tvmviz.measure import resolve_target, target_string

        return target_string(resolve_target())
    except TvmvizError:
        return None


def measured_here_ids(analysis: Analysis) -> tuple:
    from tvmviz.report import is_measured_here  # tvmviz.report imports Altair: not on the first page

    uploads = [u for u in get_store().uploads() if u.upload_id in analysis.ids]
    tvm = installed_tvm_version()
    maybe = [u for u in uploads if not is_measured_here(u) and tvm and u.tvm_version == tvm]
    target = host_target() if maybe else None
    return tuple(u.upload_id for u in uploads if is_measured_here(u, target, tvm))


@st.cache_resource(max_entries=16, show_spinner=False)
def _cached_origins(db: str, ids: tuple, here: tuple) -> dict:
    from tvmviz.report import transform_origins

    return transform_origins(_process_store().cursor().con, ids, here)


def transform_origins_of(analysis: Analysis) -> dict:
    """(shape, src, dst) -> 'logged' | 'measured here' for the analysis' transform records."""
    return _cached_origins(default_db_path(), analysis.ids, measured_here_ids(analysis))


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_profile_overrides(db: str, model_id: int, ids: tuple, base: SelectOptions, exec_upload: int,
                             profiles: tuple) -> dict:
    """layer -> {(ic_bn, oc_bn) as built: profiled seconds} from the debug executor's profile."""
    from tvmviz.report import profile_comparison

    graph = cached_graph(db, model_id)
    sel = cached_selection(db, model_id, ids, base, "")
    return profile_comparison(_process_store().cursor().con, graph, sel, exec_upload, profiles).overrides


def measure_here(keys: list, analysis: Analysis) -> int | None:
    """Measure layout transforms with TVM under a visible status, store the log as an upload ('measured
    here', by 'tvmviz measure') and add it to the current analysis; returns the upload id."""
    from tvmviz.measure import measure_transforms, write_log
    from tvmviz.report import MEASURE_UPLOADER, MEASURED_HERE_LABEL

    who = current_identity()
    if not accounts.may_measure(who):  # measuring occupies the server's CPU: admins only
        st.error("Measuring on this server is limited to its admins; ask one, or measure on your machine and "
                 "upload the log.")
        return None
    with st.status(f"Measuring {len(keys)} layout transforms with TVM on this machine…", expanded=True) as status:
        bar = st.progress(0.0, text="Starting TVM…")

        def progress(done, total, what):
            bar.progress(done / total if total else 1.0, text=f"{done}/{total} {what}")

        try:
            results = measure_transforms(keys, progress=progress)
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "measured_here.log")
                write_log(path, results)
                data = Path(path).read_bytes()
        except TvmvizError as e:
            status.update(label="Measuring failed", state="error")
            st.error(str(e))
            return None
        name = f"measured_here_{time.strftime('%Y%m%d-%H%M%S')}.log"
        report = get_store().ingest_bytes(name, data, label=MEASURED_HERE_LABEL, uploader=MEASURE_UPLOADER)[0]
        if report.error:
            status.update(label="Storing the measurements failed", state="error")
            st.error(report.error)
            return None
        failed = sum(1 for m in results if m.error_no)
        accounts.audit(get_store().con, who.name, "measure", report.upload_id, {"transforms": len(results)})
        st.session_state.analysis_ids = set(analysis.ids) | {report.upload_id}
        status.update(label=f"Measured {len(results)} transforms ({failed} failed): upload {report.upload_id}",
                      state="complete", expanded=False)
    return report.upload_id


def ms(seconds: float | None) -> str:
    from tvmviz.style import ms as style_ms

    return style_ms(seconds)


# ---- the seed's inequality for one conv and one x (Graph, Layer, Search space) ----------------------


def inequality_panel(analysis: Analysis, sel, name: str, key: str, default_x: int | None = None) -> None:
    """'Why NCHW64c and not NCHW16c?' for the conv ``name``: an x picker, the formula, each term with its
    source, the deciding term marked, whether x was measured, and what re-choosing it does."""
    import pandas as pd

    from tvmviz import style
    from tvmviz.select.inequality import asked_x_values, seed_inequality

    xs = asked_x_values(sel, name)
    chosen_x = xs[-1]
    options = [x for x in xs if x != chosen_x] or xs
    if default_x is not None and default_x not in options and default_x != chosen_x:
        options = sorted([*options, int(default_x)])  # e.g. a pruned x clicked on Search space
    pick = default_x if default_x in options else options[0]
    if st.session_state.get(key) not in options or (default_x in options and default_x != st.session_state.get(
            f"{key}_seed")):
        st.session_state[key] = pick  # a new click elsewhere (a cell, another page) moves the picker
        st.session_state[f"{key}_seed"] = default_x
    x = st.radio(f"Why {style.layout(chosen_x)} and not …", options, horizontal=True, format_func=style.layout,
                 key=key)
    st.session_state.asked_x = x
    asked = [a for a in st.session_state.get("asked", []) if a[0] != name] + [(name, x)]
    st.session_state.asked = asked[-20:]  # the report writes the inequality of each asked layer
    tuning, transforms = cached_records(default_db_path(), analysis.ids)
    q = seed_inequality(sel, name, x, tuning, transforms, transform_origins_of(analysis), installed_tvm_version())
    st.code(q.formula(), language=None, wrap_lines=True)
    if q.rows:
        deciding = q.deciding
        st.dataframe(pd.DataFrame([{
            "term": r.what, q.alternative.label: r.alternative.text if r.alternative else "–",
            f"{q.alternative.label} ms": style.ms_value(r.alternative.cost_s) if r.alternative else "–",
            f"{q.chosen.label} (chosen)": r.chosen.text if r.chosen else "–",
            f"{q.chosen.label} ms": style.ms_value(r.chosen.cost_s) if r.chosen else "–",
            "Δ": style.ms_delta(r.delta_s),
            "source": " / ".join(dict.fromkeys(t.source for t in (r.alternative, r.chosen) if t)),
            "decides": "◀" if r is deciding else "",
        } for r in q.rows]), hide_index=True, width="stretch")
    st.text(q.verdict)  # plain text: node names are user text
