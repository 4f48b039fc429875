"""What the dashboard's tables and the downloadable report are made of: per-layer choices, profile vs
tuned, run-to-run comparison, the Markdown report, the graph as PNG / SVG, and the schedule as an
AutoTVM log. Pure functions over tvmviz objects (and, for the profile, the store's connection)."""

from __future__ import annotations

import io
import json
import statistics
import zipfile
from dataclasses import dataclass, field

import pandas as pd

from tvmviz.charts import workload_label
from tvmviz.graph.model import LayoutGraph
from tvmviz.text import markdown_text, strip_controls

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
        "layout": f"{n.in_layout} → {n.out_layout}", "kernel_ms": n.kernel_cost_s * 1e3,
        "transform_in_ms": t_in.get(n.name, 0.0) * 1e3, "candidates": n.n_candidates,
    } for n in sel.nodes])


def transform_table(sel, origins: dict | None = None) -> pd.DataFrame:
    """The transforms the selection pays for (non-identity), costliest first; source is logged /
    measured here / estimated / missing."""
    rows = [{"from": e.src, "to": e.dst, "layouts": f"{e.src_layout} → {e.dst_layout}", "shape": str(e.shape),
             "ms": e.cost_s * 1e3, "source": source_label(e, origins), "kind": e.kind}
            for e in sel.edges if not e.identity]
    frame = pd.DataFrame(rows, columns=["from", "to", "layouts", "shape", "ms", "source", "kind"])
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
            "layer": choice.name, "built node": match[1], "chosen": f"{choice.ic_bn}→{choice.oc_bn}",
            "built": f"{match[5]}→{match[6]}", "same layout": (match[5], match[6]) == (choice.ic_bn, choice.oc_bn),
            "tuned_ms": tuned_ms, "profiled_ms": prof_ms,
            "ratio": prof_ms / tuned_ms if prof_ms is not None and tuned_ms > 0 else None,
        })
    layers = pd.DataFrame(rows, columns=["layer", "built node", "chosen", "built", "same layout", "tuned_ms",
                                         "profiled_ms", "ratio"])
    layers["flagged"] = layers["ratio"].fillna(0) > RATIO_FLAG
    inserted = pd.DataFrame([{
        "node": r[1], "layouts": f"NCHW{r[5]}c → NCHW{r[6]}c", "shape": r[4],
        "at graph input": all(index_of.get(i) is not None and index_of[i][8] for i in (r[7] or [])),
        "profiled_ms": profiled[r[1]] / 1e3 if r[1] in profiled else None,
    } for r in nodes if r[3]], columns=["node", "layouts", "shape", "at graph input", "profiled_ms"])
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
    """The chart rendered without a browser (vl-convert)."""
    import vl_convert as vlc

    spec = chart.to_dict()
    if fmt == "svg":
        return vlc.vegalite_to_svg(spec).encode()
    if fmt == "png":
        return vlc.vegalite_to_png(spec, scale=scale)
    raise ValueError(f"unknown image format {fmt!r}")


def _md_table(frame: pd.DataFrame, floatfmt: str = ".4f") -> str:
    cols = [markdown_text(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append("–" if pd.isna(v) else format(v, floatfmt))
            else:
                cells.append(markdown_text(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _code(value) -> str:
    """User text inside a Markdown code span: no backtick can end it early."""
    text = strip_controls(str(value)).replace("\n", " ").replace("`", "'")
    return f"`{text}`"


def markdown_report(graph: LayoutGraph, sel, explanations=(), diff=None, scenario_text: str = "",
                    image: str | None = "graph.svg", title: str = "Layout selection report",
                    origins: dict | None = None) -> str:
    """The selection explained in Markdown: totals, every layer's choice and the best alternative's
    regret, the transforms paid for, and a what-if diff if given."""
    out = [f"# {markdown_text(title)}", "",
           f"Model: {_code(graph.source or 'model')} · {len(graph.nodes)} nodes, {len(graph.convs())} conv2d · "
           f"solver `{sel.solver}`, cost model `{sel.cost_model}`", "",
           f"**Total {sel.total_cost_s * 1e3:.4f} ms** = kernels {sel.kernel_cost_s * 1e3:.4f} ms + layout "
           f"transforms {sel.transform_cost_s * 1e3:.4f} ms" +
           ("" if sel.optimal is None else (" (optimal)" if sel.optimal else
                                            f" ({sel.gap_s * 1e3:.4f} ms above the optimum)")), ""]
    out += [f"> {markdown_text(w)}" for w in sel.warnings]
    if image:
        out += [f"![graph: convs coloured by chosen x]({image})", ""]
    out += ["## Layers", "", _md_table(choice_table(graph, sel).drop(columns=["ic_bn", "oc_bn"])), ""]
    if explanations:
        out += ["## Why", ""]
        for exp in explanations:
            if exp.sentences:
                out.append(f"- {markdown_text(exp.sentences[0])}")
        out.append("")
    transforms = transform_table(sel, origins)
    out += ["## Layout transforms paid for", "", "Source: *logged* (an uploaded benchmark), *measured here* (by "
            "tvmviz on this machine), *estimated* (TVM's infer_layout average) or *missing* (priced at 0).", ""]
    out += [_md_table(transforms) if len(transforms) else "None: every producer and consumer agree.", ""]
    if diff is not None:
        out += ["## What-if", "", f"Scenario: {_code(scenario_text)}" if scenario_text else "", "",
                f"Total {diff.total_before_s * 1e3:.4f} ms → {diff.total_after_s * 1e3:.4f} ms "
                f"({diff.delta_s * 1e3:+.4f} ms)", ""]
        if diff.changed:
            out.append(_md_table(pd.DataFrame([{
                "layer": c.name, "before": f"{c.before[0]}→{c.before[1]}", "after": f"{c.after[0]}→{c.after[1]}",
                "kernel before ms": c.kernel_before_s * 1e3, "kernel after ms": c.kernel_after_s * 1e3}
                for c in diff.changed])))
            out.append("")
    out += ["## Schedule", "", "`schedule.log` holds the chosen record of every conv in node order, for "
            "`autotvm.apply_graph_best`; it fits only this graph.", ""]
    return "\n".join(out)


def report_zip(markdown: str, svg: bytes | None, png: bytes | None, schedule: str) -> bytes:
    """report.md, graph.svg / graph.png and schedule.log in one zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("report.md", markdown)
        if svg is not None:
            z.writestr("graph.svg", svg)
        if png is not None:
            z.writestr("graph.png", png)
        z.writestr("schedule.log", schedule)
    return buf.getvalue()
