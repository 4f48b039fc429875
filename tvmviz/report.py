"""What the dashboard's tables and the downloadable report are made of: per-layer choices, profile vs
tuned, run-to-run comparison, the Markdown report, the graph as PNG / SVG, and the schedule as an
AutoTVM log. Pure functions over tvmviz objects (and, for the profile, the store's connection)."""

from __future__ import annotations

import io
import json
import re
import statistics
import zipfile
from dataclasses import dataclass, field

import pandas as pd

from tvmviz import __version__, style
from tvmviz.charts import workload_label
from tvmviz.errors import TvmvizError
from tvmviz.graph.model import LayoutGraph
from tvmviz.text import markdown_text

RATIO_FLAG = 1.5
MEASURED_HERE_LABEL = "measured here"
MEASURE_UPLOADER = "tvmviz measure"
# What a transform cost shown anywhere rests on (EdgeChoice.source refined by the upload it came from)
LOGGED, MEASURED_HERE, ESTIMATED, MISSING = "logged", "measured here", "estimated", "missing"


# ------------------------------------------------------------------------------------------- provenance


def is_measured_here(upload, host_target: str | None = None, host_tvm: str | None = None) -> bool:
    """An upload measured on this machine: its label or uploader says so, or its records carry this
    machine's target string and this TVM's version (what `tvmviz measure` writes)."""
    words = f"{upload.label or ''} {upload.uploader or ''}".lower()
    if MEASURED_HERE_LABEL in words or MEASURE_UPLOADER in words:
        return True
    return bool(host_target and host_tvm and upload.target == host_target and upload.tvm_version == host_tvm)


_TRANSFORM_ORIGIN_SQL = """
SELECT shape, src_layout, dst_layout, upload_id FROM layout_transform
WHERE list_contains(?, upload_id) ORDER BY upload_id, line_no
"""


def transform_origins(con, upload_ids, here_ids) -> dict:
    """(shape, src, dst) -> LOGGED | MEASURED_HERE, by the record the cost model uses (the last one)."""
    here = set(here_ids)
    out = {}
    for shape, src, dst, upload in con.execute(_TRANSFORM_ORIGIN_SQL, [[int(i) for i in upload_ids]]).fetchall():
        out[(tuple(shape), src, dst)] = MEASURED_HERE if upload in here else LOGGED
    return out


def source_label(edge, origins: dict | None = None) -> str:
    """logged / measured here / estimated / missing for an EdgeChoice or explain's TransformCost ('' for an
    identity)."""
    if getattr(edge, "identity", False) or edge.src_layout == edge.dst_layout:
        return ""
    if edge.source != "measured":
        return edge.source
    return (origins or {}).get((tuple(edge.shape), edge.src_layout, edge.dst_layout), LOGGED)


# ------------------------------------------------------------------------------------------- per layer


def choice_table(graph: LayoutGraph, sel) -> pd.DataFrame:
    """One row per conv in TVM order: workload, chosen layouts, kernel cost, transforms paid on its input."""
    t_in: dict[str, float] = {}
    for e in sel.edges:
        t_in[e.dst] = t_in.get(e.dst, 0.0) + e.cost_s
    return pd.DataFrame([{
        "layer": n.name, "workload": workload_label(n.workload), "ic_bn": n.ic_bn, "oc_bn": n.oc_bn,
        "x": style.pair(n.ic_bn, n.oc_bn), "kernel_ms": n.kernel_cost_s * 1e3,
        "transform_in_ms": t_in.get(n.name, 0.0) * 1e3, "candidates": n.n_candidates,
    } for n in sel.nodes])


def transform_table(sel, origins: dict | None = None) -> pd.DataFrame:
    """The transforms the selection pays for (non-identity), costliest first; source is logged /
    measured here / estimated / missing."""
    rows = [{"from": e.src, "to": e.dst, "transform": style.transform(e.src_layout, e.dst_layout), "shape": str(e.shape),
             "ms": e.cost_s * 1e3, "source": source_label(e, origins), "kind": e.kind}
            for e in sel.edges if not e.identity]
    frame = pd.DataFrame(rows, columns=["from", "to", "transform", "shape", "ms", "source", "kind"])
    return frame.sort_values("ms", ascending=False, kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------------- profile vs tuned


@dataclass
class ProfileComparison:
    layers: pd.DataFrame  # per conv: tuned vs profiled, ratio, flag, built layout
    inserted: pd.DataFrame  # layout_transform nodes in the built graph, with profiled time
    predicted: pd.DataFrame  # transforms the selection pays for
    causes: list = field(default_factory=list)  # (cause, explanation) that apply
    unmatched: list = field(default_factory=list)  # model convs with no built conv of the same shape
    # layer -> {(ic_bn, oc_bn) as built: profiled seconds}: Scenario.kernel_override for "use profiled times"
    overrides: dict = field(default_factory=dict)


_NODES_SQL = """
SELECT node_index, name, is_conv, is_layout_transform, shape, ic_bn, oc_bn, input_nodes, is_param, time_us
FROM executor_node WHERE upload_id = ? ORDER BY node_index
"""
_PROFILE_SQL = """
SELECT node_name, source_kind,  -- the table's stated Time(us); the trace's mean over executions
       CASE WHEN source_kind = 'debug_profile_table' THEN avg(node_time_us) FILTER (WHERE repeat_index = 0)
            ELSE avg(time_us) END AS time_us
FROM executor_profile
WHERE list_contains(?, upload_id) AND node_name IS NOT NULL GROUP BY node_name, source_kind
"""
_SOURCE_PREFERENCE = {"debug_profile_table": 0, "chrome_trace": 1}


def _kernel(nodes_by_index: dict, row) -> tuple | None:
    """OIHW of a built conv's packed weight OIHW{i}i{o}o (its 6-D param input)."""
    for i in row[7] or []:
        r = nodes_by_index.get(i)
        if r is not None and r[8]:
            s = json.loads(r[4])
            if len(s) == 6:
                return (s[0] * s[5], s[1] * s[4], s[2], s[3])
            if len(s) == 4:
                return tuple(s)
    return None


def _nchw(shape: list) -> tuple:
    if len(shape) == 5:
        return (shape[0], shape[1] * shape[4], shape[2], shape[3])
    return tuple(shape)


def profile_comparison(con, graph: LayoutGraph, sel, exec_upload: int, profile_uploads) -> ProfileComparison:
    """Match the built graph's convs to the model's (same NCHW output and kernel shape, in order), compare the
    tuned kernel cost of the selection with the time the debug executor measured."""
    nodes = con.execute(_NODES_SQL, [exec_upload]).fetchall()
    times: dict[str, tuple[int, float]] = {}
    for name, kind, t in con.execute(_PROFILE_SQL, [list(profile_uploads)]).fetchall():
        rank = _SOURCE_PREFERENCE.get(kind, 9)
        if name not in times or rank < times[name][0]:
            times[name] = (rank, t)
    profiled = {n: t for n, (_, t) in times.items()}
    index_of = {r[0]: r for r in nodes}
    built_convs = [(r, _nchw(json.loads(r[4])), _kernel(index_of, r)) for r in nodes if r[2]]
    used: set[int] = set()
    rows, unmatched, overrides = [], [], {}
    for choice in sel.nodes:
        node = graph.by_name(choice.name)
        want, kernel = tuple(node.shape), tuple(node.conv.kernel_shape)
        match = next((r for r, out, k in built_convs if r[0] not in used and out == want and k in (kernel, None)),
                     None)
        if match is None:
            unmatched.append(choice.name)
            continue
        used.add(match[0])
        t_us = profiled.get(match[1], match[9])
        tuned_ms = choice.kernel_cost_s * 1e3
        prof_ms = None if t_us is None or pd.isna(t_us) else t_us / 1e3
        if prof_ms is not None and match[5] is not None and match[6] is not None:
            overrides[choice.name] = {(int(match[5]), int(match[6])): prof_ms / 1e3}
        rows.append({
            "layer": choice.name, "built node": match[1], "chosen": style.pair(choice.ic_bn, choice.oc_bn),
            "built": style.pair(match[5], match[6]) if None not in (match[5], match[6]) else "–", "same layout": (match[5], match[6]) == (choice.ic_bn, choice.oc_bn),
            "tuned_ms": tuned_ms, "profiled_ms": prof_ms,
            "ratio": prof_ms / tuned_ms if prof_ms is not None and tuned_ms > 0 else None,
        })
    layers = pd.DataFrame(rows, columns=["layer", "built node", "chosen", "built", "same layout", "tuned_ms",
                                         "profiled_ms", "ratio"])
    layers["flagged"] = layers["ratio"].fillna(0) > RATIO_FLAG
    inserted = pd.DataFrame([{
        "node": r[1], "transform": style.pair(r[5], r[6]) if None not in (r[5], r[6]) else "–", "shape": r[4],
        "at graph input": all(index_of.get(i) is not None and index_of[i][8] for i in (r[7] or [])),
        "profiled_ms": profiled[r[1]] / 1e3 if r[1] in profiled else None,
    } for r in nodes if r[3]], columns=["node", "transform", "shape", "at graph input", "profiled_ms"])
    return ProfileComparison(layers, inserted, transform_table(sel), _causes(layers), unmatched, overrides)


def _causes(layers: pd.DataFrame) -> list:
    causes = []
    ratios = [r for r in layers["ratio"] if r is not None and not pd.isna(r)]
    if ratios and statistics.median(ratios) > 1.3:
        causes.append(("Thread-pool contention / OpenMP",
                       f"the median layer is {statistics.median(ratios):.2f}× its tuned time: every layer is slower, "
                       "which points at the run, not the schedules (more threads than cores, TVM_NUM_THREADS or "
                       "OMP_NUM_THREADS differing from tuning, another process on the cores, frequency scaling)."))
    flagged = layers[layers["flagged"]]
    small = flagged[flagged["tuned_ms"] < 0.2]
    if len(small):
        causes.append(("Cache effects", "small kernels over the threshold (" + ", ".join(small["layer"][:5]) +
                       "): AutoTVM timed them with warm caches in a loop; in the model the previous layer evicts "
                       "their data and weights."))
    if len(flagged) > len(small):
        big = flagged[flagged["tuned_ms"] >= 0.2]
        causes.append(("Tuned in isolation", "large kernels over the threshold (" + ", ".join(big["layer"][:5]) +
                       "): memory bandwidth shared with other work, or too few trials (a lucky measurement)."))
    differ = layers[~layers["same layout"]]
    if len(differ):
        causes.append(("Missing records / another schedule", "the built model uses other layouts than this "
                       "selection for " + ", ".join(differ["layer"][:5]) + (" …" if len(differ) > 5 else "") +
                       ": it was built with another log, or AutoTVM fell back to a default config for a workload "
                       "without records."))
    return causes


# ------------------------------------------------------------------------------------------- compare


def compare_best(graph: LayoutGraph | None, a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Best cost per workload of two runs (Store.workloads frames), with the layers that use it."""
    layers: dict[str, list[str]] = {}
    if graph is not None:
        for n in graph.convs():
            layers.setdefault(n.conv.workload_key(), []).append(n.name)
    merged = a[["workload", "best_cost_s", "trials", "failed"]].merge(
        b[["workload", "best_cost_s", "trials", "failed"]], on="workload", how="outer", suffixes=("_a", "_b"))
    merged["workload_label"] = merged["workload"].map(workload_label)
    merged["layers"] = merged["workload"].map(lambda w: ", ".join(layers.get(w, [])))
    merged["a_ms"] = merged["best_cost_s_a"] * 1e3
    merged["b_ms"] = merged["best_cost_s_b"] * 1e3
    merged["b / a"] = merged["b_ms"] / merged["a_ms"]
    return merged[["workload_label", "layers", "a_ms", "b_ms", "b / a", "trials_a", "trials_b", "failed_a",
                   "failed_b", "workload"]]


# ------------------------------------------------------------------------------------------- report


def schedule_log(sel) -> str:
    """The chosen schedule as an AutoTVM log: one record per conv in node order (for apply_graph_best)."""
    return "\n".join(sel.opt_log_lines()) + "\n"


def graph_image(chart, fmt: str = "svg", scale: float = 1.0) -> bytes:
    """The chart (an Altair chart or a Vega-Lite spec) rendered without a browser (vl-convert)."""
    import vl_convert as vlc

    spec = chart if isinstance(chart, dict) else chart.to_dict()
    if fmt == "svg":
        return vlc.vegalite_to_svg(spec).encode()
    if fmt == "png":
        return vlc.vegalite_to_png(spec, scale=scale)
    raise ValueError(f"unknown image format {fmt!r}")


def md_code(text, in_table: bool = True) -> str:
    """User text (a file name, an uploader, a node name) as a Markdown code span: shown as typed, never
    read as Markdown or HTML; ``in_table``: its bars escaped, so it cannot split a table cell."""
    text = " ".join(str(text).split())  # no newlines: they would end the cell or the paragraph
    ticks = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    span = f"{ticks}{pad}{text}{pad}{ticks}"
    return span.replace("|", "\\|") if in_table else span


def _md_table(frame: pd.DataFrame, code_columns=()) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(markdown_text(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        cells = []
        for col, v in zip(cols, row):
            if isinstance(v, float):
                cells.append("–" if pd.isna(v) else style.ms_value(v / 1e3) if col.endswith("ms") else f"{v:.3g}")
            elif col in code_columns:
                cells.append(md_code(v))
            else:  # any other text may come from a user: escaped, never Markdown or HTML
                cells.append(markdown_text(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class InputFile:
    name: str
    kind: str
    sha256: str
    uploader: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class ReportContext:
    """What a reviewer needs to trust the numbers: which files, which machine, which software."""

    inputs: tuple = ()  # InputFile
    target: str | None = None
    cpu: str | None = None
    tvm_version: str | None = None  # of the logs
    runtime_tvm: str | None = None  # the TVM tvmviz ran with here
    tvmviz_version: str = __version__
    run: str | None = None  # the run's name, when the report is about a stored run

    @classmethod
    def from_uploads(cls, uploads, run: str | None = None, runtime_tvm: str | None = None) -> "ReportContext":
        def joined(values):
            values = sorted({v for v in values if v})
            return ", ".join(values) or None

        return cls(tuple(InputFile(u.file_name, u.kind, u.sha256, u.uploader, u.label) for u in uploads),
                   joined(u.target for u in uploads), joined(u.cpu for u in uploads),
                   joined(u.tvm_version for u in uploads), runtime_tvm, __version__, run)


def _inputs_section(ctx: ReportContext) -> list:
    out = ["## Inputs", ""]
    facts = [("run", ctx.run), ("target", ctx.target), ("CPU", ctx.cpu), ("TVM of the logs", ctx.tvm_version),
             ("TVM here", ctx.runtime_tvm), ("tvmviz", ctx.tvmviz_version)]
    out += [f"- {k}: {md_code(v, False) if v else 'not recorded'}" for k, v in facts if v or k != "run"]
    if ctx.inputs:  # a list, not a table: a sha256 wraps on a narrow screen
        out += ["", "Files:", ""]
        out += [f"- {md_code(f.name, False)} ({f.kind}), sha256 {md_code(f.sha256, False)}"
                + (f", uploaded by {md_code(f.uploader, False)}" if f.uploader else "")
                + (f", label {md_code(f.label, False)}" if f.label else "") for f in ctx.inputs]
    return out + [""]


def inequality_markdown(q) -> list:
    """One layer's seed-style inequality: the formula, its terms with their sources, the verdict."""
    other = q.alternative.label if q.alternative is not None else style.layout(q.x)
    out = [f"### {md_code(q.node)}: why {q.chosen.label} and not {other}", "",
           f"`{q.formula()}`", ""]
    if q.rows:
        alt_label, chosen_label = q.alternative.label, q.chosen.label
        deciding = q.deciding
        out.append(_md_table(pd.DataFrame([{
            "term": r.what, alt_label: _term_text(r.alternative), f"{chosen_label} (chosen)": _term_text(r.chosen),
            "Δ": style.ms_delta(r.delta_s), "decides": "◀" if r is deciding else ""} for r in q.rows]),
            code_columns=("term",)))
        out.append("")
    out += [q.verdict, ""]
    return out


def _term_text(t) -> str:
    return "–" if t is None else f"{t.text} = {style.ms(t.cost_s)} ({t.source})"


def markdown_report(graph: LayoutGraph, sel, explanations=(), diff=None, scenario=None, scenario_link: str = "",
                    image: str | None = "graph.svg", title: str = "Layout selection report",
                    origins: dict | None = None, context: ReportContext | None = None, inequalities=()) -> str:
    """The selection explained in Markdown: inputs and machine, totals, the scenario in words beside its
    link, every layer's choice and why, the seed-style inequality for every changed or asked-about layer,
    the transforms paid for, the picture, and the schedule."""
    model = graph.source.rsplit("/", 1)[-1] if graph.source else "model"
    opt = "" if sel.optimal is None else (" (optimal)" if sel.optimal else
                                          f" ({style.ms(sel.gap_s)} above the optimum)")
    out = [f"# {title}", "",
           f"Model {md_code(model)} · {len(graph.nodes)} nodes, {len(graph.convs())} conv2d · solver "
           f"`{sel.solver}`, cost model `{sel.cost_model}`", "",
           f"**Total {style.ms(sel.total_cost_s)}** = kernels {style.ms(sel.kernel_cost_s)} + layout transforms "
           f"{style.ms(sel.transform_cost_s)}{opt}", ""]
    out += [f"> {w}" for w in sel.warnings]
    if context is not None:
        out += _inputs_section(context)
    if scenario is not None:
        words = scenario.describe()
        out += ["## Scenario", ""] + [f"- {_escape_words(w)}" for w in words]
        if scenario_link:
            out += ["", f"Link: {md_code(scenario_link)}"]
        if diff is not None:
            out += ["", f"Total {style.ms(diff.total_before_s)} → {style.ms(diff.total_after_s)} "
                        f"({style.ms_delta(diff.delta_s)}); {len(diff.changed)} layers changed x.", ""]
            if diff.changed:
                out.append(_md_table(pd.DataFrame([{
                    "layer": c.name, "before": style.pair(*c.before) if None not in c.before else "–",
                    "after": style.pair(*c.after), "kernel before ms": c.kernel_before_s * 1e3,
                    "kernel after ms": c.kernel_after_s * 1e3} for c in diff.changed]), code_columns=("layer",)))
        out.append("")
    table = choice_table(graph, sel).drop(columns=["ic_bn", "oc_bn"])
    out += ["## Layers", "", _md_table(table, code_columns=("layer",)), ""]
    pins = dict(sel.options.pins) if sel.options is not None else {}
    if explanations or pins:
        out += ["## Why", ""]
        explained = {exp.node: exp for exp in explanations}
        for n in sel.nodes:
            exp = explained.get(n.name)
            if n.name in pins:
                out.append(f"- {md_code(n.name)}: pinned to {style.pair(n.ic_bn, n.oc_bn)} by the scenario.")
            elif exp is not None and exp.sentences:
                out.append(f"- {_escape_words(exp.sentences[0])}")
            elif exp is not None:
                out.append(f"- {md_code(n.name)}: {style.pair(n.ic_bn, n.oc_bn)} is its only candidate.")
        out.append("")
    if inequalities:
        out += ["## The inequality, layer by layer", "",
                "Each term's source: *logged* (an uploaded log), *measured here* (by tvmviz on this machine), "
                "*estimated* (TVM's infer_layout average), *missing* (priced at 0), *profiled*, *same layout* (0).",
                ""]
        for q in inequalities:
            out += inequality_markdown(q)
    transforms = transform_table(sel, origins)
    out += ["## Layout transforms paid for", "", "Source: *logged* (an uploaded benchmark), *measured here* (by "
            "tvmviz on this machine), *estimated* (TVM's infer_layout average) or *missing* (priced at 0).", ""]
    out += [_md_table(transforms, code_columns=("from", "to")) if len(transforms) else
            "None: every producer and consumer agree.", ""]
    if image:
        out += ["## Graph", "", f"![graph: convs coloured by chosen x]({image})", "",
                "Convs coloured by chosen x (writes NCHW{x}c), sized by kernel cost; thick dark edges: transforms "
                "the tuner pays for; red: a transform without a cost; dashed rings: layers the scenario changed.",
                ""]
    out += ["## Schedule", "", "`schedule.log` holds the chosen record of every conv in node order, for "
            "`autotvm.apply_graph_best`; it fits only this graph.", ""]
    return "\n".join(out)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|<>~#])")


def _escape_words(text: str) -> str:
    """A tvmviz sentence that names user nodes: Markdown and HTML characters escaped, shown as written."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split())).replace("&", "&amp;")


@dataclass
class Report:
    markdown: str
    svg: bytes | None
    png: bytes | None
    schedule: str
    node_data: dict  # Model Explorer file name -> JSON text


def build_report(graph: LayoutGraph, baseline, tuning, transforms, context: ReportContext | None = None,
                 scenario=None, scenario_after=None, asked=(), origins: dict | None = None,
                 here_tvm: str | None = None, images: bool = True, scenario_link: str = "") -> Report:
    """Everything the report zip holds. ``scenario_after`` is the scenario's selection (solved by the caller,
    or here); a scenario without a solution raises (TvmvizError) instead of reporting the baseline.
    ``asked``: (layer, x) pairs to write the inequality for, besides every layer the scenario changed."""
    from tvmviz.charts import graph_spec
    from tvmviz.export import model_explorer
    from tvmviz.select import diff_selections, explain_node, regret_table, select
    from tvmviz.select.inequality import seed_inequality

    sel, diff = baseline, None
    if scenario is not None and scenario.to_json():
        if scenario_after is None:
            try:
                scenario_after = select(graph, tuning, transforms, scenario.options(baseline.options))
            except TvmvizError as e:
                raise TvmvizError(f"the scenario has no solution, so there is no report of it: {e}") from None
        diff, sel = diff_selections(baseline, scenario_after), scenario_after
    explanations = []
    for n in sel.nodes:
        try:
            explanations.append(explain_node(sel, n.name))
        except TvmvizError:
            pass
    wanted = [(c.name, c.before[1], c.before) for c in (diff.changed if diff else ()) if c.before[1] is not None]
    wanted += [(name, int(x), None) for name, x in asked if (name, int(x)) not in {w[:2] for w in wanted}]
    inequalities = [seed_inequality(sel, name, x, tuning, transforms, origins, here_tvm, pair=pair)
                    for name, x, pair in wanted]
    spec = graph_spec(graph, sel, changed=diff.x_changed if diff else (), origins=origins)
    svg = graph_image(spec, "svg") if images else None
    png = graph_image(spec, "png") if images else None
    md = markdown_report(graph, sel, explanations, diff, scenario if diff is not None else None, scenario_link,
                         "graph.svg" if images else None, origins=origins, context=context,
                         inequalities=inequalities)
    try:
        regrets = model_explorer.smallest_regrets(regret_table(sel))
    except TvmvizError:
        regrets = None
    data = model_explorer.files(model_explorer.node_data(sel, regrets))
    return Report(md, svg, png, schedule_log(sel), data)


def report_zip(markdown: str | Report, svg: bytes | None = None, png: bytes | None = None, schedule: str = "",
               node_data: dict | None = None) -> bytes:
    """report.md, graph.svg / graph.png, schedule.log and model_explorer/*.json in one zip."""
    if isinstance(markdown, Report):
        r = markdown
        markdown, svg, png, schedule, node_data = r.markdown, r.svg, r.png, r.schedule, r.node_data
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("report.md", markdown)
        if svg is not None:
            z.writestr("graph.svg", svg)
        if png is not None:
            z.writestr("graph.png", png)
        z.writestr("schedule.log", schedule)
        for name, text in (node_data or {}).items():
            z.writestr(f"model_explorer/{name}", text)
    return buf.getvalue()
