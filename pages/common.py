"""What every page shares: the store (one DuckDB connection per process, a cursor per session), the
session's run (in the URL as ?run=, with ?cost= for cost sources), and cached graphs, records and selections."""

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

from tvmviz import runs as run_lib
from tvmviz.errors import MissingTransformsError, TvmvizError
from tvmviz.server import accounts
from tvmviz.server.settings import RpcSetting
from tvmviz.select.options import SelectOptions  # the solvers (NumPy) load with the first selection
from tvmviz.store import Store, default_db_path, process_store
from tvmviz.text import markdown_text

SAMPLE_LOGS = Path(__file__).resolve().parents[1] / "sample_logs"
SAMPLE_UPLOADER = "sample_logs"
# Each folder of sample_logs/ is one run; resnet18/ is stored last, so it is the newest complete run a new
# session opens. measured/ was measured for resnet18/'s model, which its run shares.
SAMPLE_LABELS = {"resnet18": "sample: resnet18 (TVM 0.19, znver3)", "measured": "sample: measured (tvmviz, znver5)"}
DEFAULT_SAMPLE_LABEL = SAMPLE_LABELS["resnet18"]
MODEL_KINDS = ("onnx_model", "layout_graph")
EXEC_GRAPH_KINDS = ("debug_graph_dump", "graph_executor_json", "tvmviz_run_plan")
PROFILE_KINDS = ("debug_profile_table", "chrome_trace", "profiler_report", "tvmviz_run_plan")


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
        folders = sorted((p for p in SAMPLE_LOGS.iterdir() if p.is_dir()), key=lambda p: (p.name == "resnet18", p.name))
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
                        st.error(markdown_text(r.error))
            measured = [r for r in run_lib.list_runs(store, status=False) if r.label == SAMPLE_LABELS["measured"]]
            if measured:
                store.ingest_paths([SAMPLE_LOGS / "resnet18" / "resnet18.onnx"], run=measured[0].run_id)
            status.update(label=f"Stored the sample logs of {len(folders)} runs", state="complete", expanded=False)
        state.done = True


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
    """The session's run (chosen on the Data page, in the URL as ?run=) and the runs added as cost sources."""

    run: run_lib.Run
    ids: tuple  # the run's uploads
    model: int | None  # upload holding the model graph
    cost_sources: tuple = ()  # run ids whose records are added (another machine's costs), in the URL as ?cost=
    cost_ids: tuple = ()  # their uploads
    by_kind: dict = field(default_factory=dict, compare=False, hash=False)  # kind -> upload ids of the run
    base: SelectOptions = SelectOptions()
    uploads: tuple = field(default=(), compare=False, hash=False)  # the stored uploads of ids and cost_ids

    def of(self, *kinds) -> tuple:
        return tuple(i for k in kinds for i in self.by_kind.get(k, ()))

    @property
    def key(self) -> tuple:
        """What the run's inputs depend on (cache key: uploads never change once stored)."""
        return self.run.run_id, self.ids, self.cost_sources, self.cost_ids


def _param_ints(name: str) -> list[int]:
    text = st.query_params.get(name, "")
    return [int(t) for t in text.split(",") if t.strip().isdigit()]


@st.cache_resource(max_entries=4, show_spinner=False)
def _catalog_at(db: str, version: tuple) -> tuple:
    store = _process_store().cursor()
    return tuple(run_lib.list_runs(store, status=False)), tuple(store.uploads())


def _catalog() -> tuple:
    """(runs, uploads) as stored now: one small fingerprint query per call, the record scan only after a change."""
    return _catalog_at(default_db_path(), run_lib.catalog_version(get_store().con))


def stored_runs() -> list:
    """Every run, oldest first (run_lib.list_runs without status)."""
    return list(_catalog()[0])


def runs_with_status() -> list:
    """Every run with what it lacks (cached per run content)."""
    return [run_status_of(r) for r in stored_runs()]


@st.cache_resource(max_entries=64, show_spinner=False)
def _status(db: str, run: run_lib.Run):
    from tvmviz.runs.inputs import with_status

    return with_status(_process_store().cursor(), run)


def run_status_of(run):
    return _status(default_db_path(), run)


def session_run_id(runs: tuple) -> int | None:
    """The session's run among ``runs`` (stored_runs()): the link's ?run=, else the one chosen before, else the
    newest complete run (else the sample run). Written back to the URL, so a shared link opens the same run."""
    catalog = {r.run_id: r for r in runs}
    asked = _param_ints("run")
    if asked and asked[0] in catalog:
        run_id = asked[0]
    elif st.session_state.get("run_id") in catalog:
        run_id = st.session_state.run_id
    else:
        statuses = [run_status_of(r) for r in runs]
        complete = [r for r in statuses if r.complete]
        sample = [r for r in statuses if r.label == DEFAULT_SAMPLE_LABEL]
        run_id = (complete or sample or statuses or [None])[-1]
        run_id = run_id.run_id if run_id is not None else None
    if run_id is not None:
        set_session_run(run_id, keep_cost_sources=True)
    return run_id


def set_session_run(run_id: int, keep_cost_sources: bool = False) -> None:
    if st.session_state.get("run_id") != run_id and not keep_cost_sources:
        st.session_state.cost_sources = ()
    st.session_state.run_id = run_id
    if st.query_params.get("run") != str(run_id):
        st.query_params["run"] = str(run_id)


def set_cost_sources(run_ids) -> None:
    st.session_state.cost_sources = tuple(int(r) for r in run_ids)
    if st.session_state.cost_sources:
        st.query_params["cost"] = ",".join(map(str, st.session_state.cost_sources))
    elif "cost" in st.query_params:
        del st.query_params["cost"]


def current_analysis() -> Analysis | None:
    runs, uploads = _catalog()  # one fingerprint query per page run
    run_id = session_run_id(runs)
    if run_id is None:
        return None
    catalog = {r.run_id: r for r in runs}
    run = catalog[run_id]
    if "cost_sources" not in st.session_state:
        st.session_state.cost_sources = tuple(r for r in _param_ints("cost"))
    sources = tuple(r for r in st.session_state.cost_sources if r in catalog and r != run_id)
    set_cost_sources(sources)
    kinds = {u.upload_id: u.kind for u in uploads}
    by_kind: dict = {}
    for i in run.uploads:
        by_kind.setdefault(kinds[i], []).append(i)
    base = SelectOptions(
        estimate_transforms=st.session_state.get("opt_estimate", False),
        allow_missing_transforms=st.session_state.get("opt_missing", False),
    )
    cost_ids = tuple(i for r in sources for i in catalog[r].uploads)
    ids = set(run.uploads) | set(cost_ids)
    return Analysis(run, run.uploads, run.model_upload, sources, cost_ids, {k: tuple(v) for k, v in by_kind.items()},
                    base, tuple(u for u in uploads if u.upload_id in ids))


# ---- caches: keyed by upload ids, whose content never changes once stored ---------------------------


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_graph(db: str, model_id: int):
    return _process_store().cursor().model_graph(model_id)


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_inputs(db: str, key: tuple):
    """run_inputs of (run id, its uploads, cost-source runs, their uploads): graph, tuning, transforms, info."""
    return run_lib.run_inputs(_process_store().cursor(), key[0], key[2])


@st.cache_resource(max_entries=16, show_spinner=False)
def _table_cache(db: str, key: tuple, input_ids: tuple):
    """The transform tables of one run's inputs. Keyed by the inputs' ids too: cached_inputs may rebuild them,
    and while this cache holds the old objects their ids cannot be reused."""
    from tvmviz.select.costmodel import TableCache

    graph, tuning, transforms, _ = cached_inputs(db, key)
    return TableCache(graph, tuning, transforms)


@st.cache_resource(max_entries=128, show_spinner=False)  # ~0.4 MB each for ResNet-50
def cached_selection(db: str, key: tuple, base: SelectOptions, scenario: str):
    """One selection per (run inputs, base options, scenario string): what-if reruns of a seen scenario are free,
    and a new one re-prices only the transform tables it changes."""
    from tvmviz.select import Scenario, select

    graph, tuning, transforms, _ = cached_inputs(db, key)
    opts = Scenario.from_string(scenario).options(base) if scenario else base
    tables = _table_cache(db, key, (id(graph), id(tuning), id(transforms)))
    return select(graph, tuning, transforms, opts, tables)


@st.cache_resource(show_spinner=False)
def _prefetcher():
    from tvmviz.idle import Prefetcher

    return Prefetcher()  # one thread for the whole server: prefetching uses idle CPU only


def prefetch_selections(analysis: Analysis, scenarios: list[str]) -> None:
    """Select ``scenarios`` (strings) of the session's run in the background, into cached_selection's cache;
    they replace what this session asked to prefetch before, so an empty list cancels it."""
    import functools
    import uuid

    db = default_db_path()
    owner = st.session_state.setdefault("prefetch_owner", uuid.uuid4().hex)
    _prefetcher().replace(owner, [functools.partial(cached_selection, db, analysis.key, analysis.base, s)
                                  for s in scenarios])


def show_run(analysis: Analysis) -> None:
    """Which run the page shows, and a warning when another machine's costs are mixed in."""
    run = analysis.run
    machine = run.machine.describe() if run.machine else "no records yet"
    st.caption(markdown_text(f"Run {run.run_id}: {run.label} · {machine} · TVM {run.tvm_version or '?'}"
                             + (f" · by {run.uploader}" if run.uploader else "") + " (choose another on the Data page)"))
    if analysis.cost_sources and analysis.model is not None:
        try:
            banner = cached_inputs(default_db_path(), analysis.key)[3].banner()
        except TvmvizError:
            banner = None
        if banner:
            st.warning(markdown_text(banner), icon=":material/merge_type:")


def show_lacks(analysis: Analysis) -> None:
    for lack in run_status_of(analysis.run).lacks:
        st.warning(markdown_text(f"This run lacks: {lack.text}"))
    st.page_link("pages/data.py", label="Add what it lacks on the Data page", icon=":material/upload_file:")


def graph_and_selection(analysis: Analysis | None, scenario: str = ""):
    """(graph, selection) of the session's run, or (graph, None) after showing why there is no selection."""
    if analysis is None:
        st.info("Nothing stored yet: upload logs on the Data page.")
        return None, None
    show_run(analysis)
    if analysis.model is None:
        st.info("No model graph in this run: upload the ONNX model its logs were tuned for (or a tvmviz "
                "layout-graph JSON) on the Data page, or choose another run there.")
        show_lacks(analysis)
        return None, None
    db = default_db_path()
    try:
        graph = cached_graph(db, analysis.model)
    except TvmvizError as e:
        st.error(markdown_text(e))
        return None, None
    try:
        with st.spinner("Selecting layouts…"):
            return graph, cached_selection(db, analysis.key, analysis.base, scenario)
    except TvmvizError as e:
        st.error(markdown_text(f"No selection for this run: {in_words(e)}"))
        st.caption("Missing layout-transform benchmarks? Tick 'estimate transforms' or 'price missing transforms "
                   "at 0' under Analysis settings on the Data page, or measure them there.")
        show_lacks(analysis)
        return graph, None


def in_words(error: TvmvizError) -> str:
    """An error as a page says it: missing transforms without the command line's flags (the page offers the fixes)."""
    if isinstance(error, MissingTransformsError):
        return f"{error.count} layout transforms it needs were never benchmarked (e.g. {error.example})."
    return str(error)


def selection_or_stop(analysis: Analysis | None, scenario: str = ""):
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

    uploads = analysis.uploads
    tvm = installed_tvm_version()
    maybe = [u for u in uploads if not is_measured_here(u) and tvm and u.tvm_version == tvm]
    target = host_target() if maybe else None
    return tuple(u.upload_id for u in uploads if is_measured_here(u, target, tvm))


@st.cache_resource(max_entries=16, show_spinner=False)
def _cached_origins(db: str, ids: tuple, here: tuple) -> dict:
    from tvmviz.report import transform_origins

    return transform_origins(_process_store().cursor().con, ids, here)


def transform_origins_of(analysis: Analysis) -> dict:
    """(shape, src, dst) -> 'logged' | 'measured here' for the transform records of the run and its cost sources
    (the run's own last: they win, as in its selection)."""
    return _cached_origins(default_db_path(), analysis.cost_ids + analysis.ids, measured_here_ids(analysis))


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_profile_overrides(db: str, key: tuple, model_id: int, base: SelectOptions, exec_upload: int,
                             profiles: tuple) -> dict:
    """layer -> {(ic_bn, oc_bn) as built: profiled seconds} from the debug executor's profile."""
    from tvmviz.report import profile_comparison

    graph = cached_graph(db, model_id)
    sel = cached_selection(db, key, base, "")
    return profile_comparison(_process_store().cursor().con, graph, sel, exec_upload, profiles).overrides


def measure_device_choice(key: str) -> tuple:
    """Where the page's measure actions run: (None, None) for this machine, or (tracker, device key) of TVM's RPC
    tracker, with the devices the tracker has. Locally the address is typed (default: $TVMVIZ_RPC_TRACKER /
    $TVMVIZ_RPC_KEY); a team server measures only where its settings say (``serve --rpc-tracker``): a page
    never makes the server connect to an address a user typed."""
    setting = RpcSetting.from_env()
    fixed = team_server()
    if fixed and not setting.tracker:
        st.caption("Measures on this server: it has no RPC tracker set (`tvmviz serve --rpc-tracker HOST:PORT "
                   "--rpc-key KEY`).")
        return None, None
    where = st.radio("Measure on", ["this machine", "a device of an RPC tracker"], horizontal=True,
                     index=1 if setting.tracker else 0, key=f"{key}_where")
    if where == "this machine":
        return None, None
    left, right = st.columns(2)
    help_text = "set by the server (tvmviz serve --rpc-tracker / --rpc-key)" if fixed else None
    tracker = left.text_input("Tracker HOST:PORT", value=setting.tracker, key=f"{key}_tracker", disabled=fixed,
                              help=help_text)
    device_key = right.text_input("Device key", value=setting.key, key=f"{key}_key", disabled=fixed, help=help_text)
    if fixed:  # the setting wins, whatever a session sends for the disabled widgets
        tracker, device_key = setting.tracker, setting.key
    if tracker:
        from tvmviz.measure.rpc import tracker_devices

        try:
            devices = tracker_devices(tracker, timeout_s=3.0)
        except TvmvizError as e:
            st.error(markdown_text(e))
            return tracker, device_key
        if devices:
            st.dataframe([d.__dict__ for d in devices], hide_index=True)
        else:
            st.warning(markdown_text(f"The tracker at {tracker} has no devices registered."))
    return tracker, device_key


def measure_here(keys: list, analysis: Analysis, cells=(), device: tuple = (None, None)) -> int | None:
    """Measure layout transforms with TVM under a visible status (with ``cells``: tvmviz.next candidates' conv2d
    kernels first, then the transforms they bring in), on this machine or the RPC device (tracker, key), and
    store the log as an upload: in the session's run when the measuring machine is the run's, else in a run of
    its own added to the session as a cost source (its banner names both machines). Returns the upload id."""
    from tvmviz.measure import measure_transforms, write_log
    from tvmviz.measure.records import target_string
    from tvmviz.measure.rpc import open_device
    from tvmviz.next.measure import measure_cells
    from tvmviz.report import MEASURE_UPLOADER, MEASURED_HERE_LABEL

    who = current_identity()
    if not accounts.may_measure(who):  # measuring occupies the server's CPU (or a team device): admins only
        st.error("Measuring on this server is limited to its admins; ask one, or measure on your machine and "
                 "upload the log.")
        return None
    tracker, device_key = device
    where = f"device {device_key!r} of the RPC tracker {tracker}" if tracker else "this machine"
    what = f"{len(cells)} conv2d candidates and the transforms they need" if cells else f"{len(keys)} layout transforms"
    with st.status(f"Measuring {what} with TVM on {where}…", expanded=True) as status:
        bar = st.progress(0.0, text="Starting TVM…")

        def progress(done, total, label):
            bar.progress(done / total if total else 1.0, text=f"{done}/{total} {label}")

        try:
            with open_device(tracker, device_key) as dev:
                if cells:
                    graph, tuning, transforms, _ = cached_inputs(default_db_path(), analysis.key)
                    convs, measured = measure_cells(graph, tuning, transforms, cells, device=dev, progress=progress)
                    results = [*convs, *measured]
                else:
                    results = measure_transforms(keys, progress=progress, device=dev)
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, "measured_here.log")
                    write_log(path, results, dev.target)
                    data = Path(path).read_bytes()
                target = target_string(dev.target)
        except TvmvizError as e:
            status.update(label="Measuring failed", state="error")
            st.error(markdown_text(e))
            return None
        name = f"measured_here_{time.strftime('%Y%m%d-%H%M%S')}.log"
        label = MEASURED_HERE_LABEL if not tracker else f"measured on {device_key} ({tracker})"
        same_machine = run_lib.Machine.of_target(target) == analysis.run.machine
        store = get_store()
        report = store.ingest_bytes(name, data, label=label, uploader=MEASURE_UPLOADER,
                                    run=analysis.run.run_id if same_machine else None)[0]
        if report.error:
            status.update(label="Storing the measurements failed", state="error")
            st.error(markdown_text(report.error))
            return None
        failed = sum(1 for m in results if m.error_no)
        accounts.audit(store.con, who.name, "measure", report.upload_id,
                       {"results": len(results), "where": where, "via": who.via})
        if not same_machine:
            run_id = store.uploads(report.upload_id)[0].run_id
            set_cost_sources(dict.fromkeys(analysis.cost_sources + (run_id,)))
        status.update(label=f"Measured {len(results)} kernels and transforms ({failed} failed): upload "
                            f"{report.upload_id}", state="complete", expanded=False)
    return report.upload_id


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_next(db: str, key: tuple, base: SelectOptions):
    """tvmviz.next's ranking of the run's inputs (every candidate cell, break-even, estimate, gain)."""
    from tvmviz.next import rank_next

    graph, tuning, transforms, _ = cached_inputs(db, key)
    return rank_next(graph, tuning, transforms, base)


def next_ranking(analysis: Analysis):
    """cached_next for the analysis under a spinner, or None after showing why not."""
    try:
        with st.spinner("Break-even costs of every candidate…"):
            return cached_next(default_db_path(), analysis.key, analysis.base)
    except TvmvizError as e:
        st.error(markdown_text(f"No 'what to measure next' for this analysis: {e}"))
        return None


def measure_next_panel(analysis: Analysis, candidates: list, key: str) -> None:
    """The ranking as a table, and 'measure the top N' of it (cells with a positive potential gain)."""
    from tvmviz.charts import next_frame
    from tvmviz.next import ESTIMATE_METHOD

    worth = [c for c in candidates if c.potential_gain_s is not None and c.potential_gain_s > 0]
    st.dataframe(next_frame(candidates).style.format(precision=4, na_rep="–"), hide_index=True, width="stretch")
    st.caption("selector: kept (in the tuner's top max_sch_num) · pruned (measured, cut before the solver) · failed "
               "(every trial) · untried. Chosen below: the kernel time under which the selector picks the cell for at "
               "least one of its convs, everything else as logged (exact re-solve). Estimate: " + ESTIMATE_METHOD +
               ". Gain: how much the total drops if the cell reaches the estimate.")
    flag = f"{key}_measured"
    if flag in st.session_state:
        st.success(st.session_state.pop(flag))
    if not worth:
        st.write("No unmeasured cell is expected to lower the total: nothing to measure next.")
        return
    n = st.number_input("Measure the top N", 1, min(len(worth), 50), min(3, len(worth)), key=f"{key}_n")
    device = measure_device_choice(key)
    where = "on this machine" if device[0] is None else f"on {device[1] or 'the device'}"
    if st.button(f"Measure the top {int(n)} {where}", key=f"{key}_go", type="primary"):
        upload = measure_here([], analysis, cells=worth[:int(n)], device=device)
        if upload is not None:
            st.session_state[flag] = f"Measured the top {int(n)} (upload {upload}); they are now part of the analysis."
            st.rerun()


def spec_chart(spec: dict, **kwargs):
    """st.vega_lite_chart of a tvmviz.charts spec whose datasets are plain rows, each sent as an Arrow table
    (from rows, Streamlit would build a pandas DataFrame of each first: about 5x the time)."""
    import pyarrow as pa

    datasets = {name: pa.Table.from_pylist(rows) for name, rows in spec["datasets"].items()}
    return st.vega_lite_chart(spec={**spec, "datasets": datasets}, **kwargs)


def ms(seconds: float | None) -> str:
    from tvmviz.style import ms as style_ms

    return style_ms(seconds)


# ---- the seed's inequality for one conv and one x (Graph, Layer, Search space) ----------------------


@st.cache_resource(max_entries=64, show_spinner=False)
def _cached_inequality(db: str, key: tuple, base: SelectOptions, here: tuple, name: str, x: int, sel_id: int, _sel,
                       _origins):
    """seed_inequality of a selection (``_sel``, a cached one: ``sel_id`` tells a scenario's from the baseline's
    of the same (key, base); ``_origins``, which the run's uploads and ``here`` determine): a page revisited asks
    it again."""
    from tvmviz.select.inequality import seed_inequality

    _, tuning, transforms, _ = cached_inputs(db, key)
    return seed_inequality(_sel, name, x, tuning, transforms, _origins, installed_tvm_version())


def inequality_panel(analysis: Analysis, sel, name: str, key: str, default_x: int | None = None) -> None:
    """'Why NCHW64c and not NCHW16c?' for the conv ``name``: an x picker, the formula, each term with its
    source, the deciding term marked, whether x was measured, and what re-choosing it does."""
    import pandas as pd

    from tvmviz import style
    from tvmviz.select.inequality import asked_x_values

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
    q = _cached_inequality(default_db_path(), analysis.key, analysis.base, measured_here_ids(analysis), name, x,
                           id(sel), sel, transform_origins_of(analysis))
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
