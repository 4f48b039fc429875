"""Predicted against measured, as tables: plans side by side, per layer with likely causes, transforms
inserted vs predicted, 1 thread vs N. Input: run-plan documents (``RunReport.to_json()``, or the stored
one-plan documents of ``tvmviz_run_plan`` uploads). The Reality check page and the report draw these."""

from __future__ import annotations

import re
import statistics

import pandas as pd

RATIO_FLAG = 1.5


def plan_rows(docs: list[dict]) -> list[tuple[dict, dict]]:
    """(document, plan) pairs of every plan in the documents, in order."""
    return [(d, p) for d in docs for p in d["plans"]]


def plans_table(docs: list[dict]) -> pd.DataFrame:
    """One row per plan: predicted and measured end to end, spread, 1 thread, both ranks."""
    rows = []
    for doc, p in plan_rows(docs):
        runs = p.get("measured_runs_s") or [p["measured_s"]]
        rows.append({
            "plan": p["plan"], "threads": doc["threads"], "predicted_ms": p["predicted_s"] * 1e3,
            "measured_ms": p["measured_s"] * 1e3, "min_ms": min(runs) * 1e3, "max_ms": max(runs) * 1e3,
            "runs": len(runs),
            "measured_1t_ms": p["measured_1t_s"] * 1e3 if p.get("measured_1t_s") is not None else None,
            "other_ops_ms": p.get("other_ops_s", 0.0) * 1e3,
            "measured / predicted": p["measured_s"] / p["predicted_s"] if p["predicted_s"] > 0 else None,
            "max_rel_err": p["max_rel_err"],
        })
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["rank predicted"] = frame["predicted_ms"].rank(method="min").astype(int)
        frame["rank measured"] = frame["measured_ms"].rank(method="min").astype(int)
    return frame


def verdict(frame: pd.DataFrame, favourite: str = "dp") -> str:
    """One sentence: does the plan the tuner predicts fastest also run fastest here?"""
    if frame.empty:
        return ""
    best_pred = frame.loc[frame["predicted_ms"].idxmin(), "plan"]
    best_meas = frame.loc[frame["measured_ms"].idxmin(), "plan"]
    fav = frame[frame["plan"] == favourite]
    head = (f"Predicted fastest: {best_pred}; measured fastest here: {best_meas}."
            + (" The prediction's ranking holds." if best_pred == best_meas else " The prediction's winner loses here."))
    if len(fav):
        r = int(fav["rank measured"].iloc[0])
        head += f" The graph tuner's plan ({favourite}) ranks {r} of {len(frame)} by measurement."
    return head


def _cpu_of(target: str) -> str | None:
    m = re.search(r"-mcpu=(\S+)", target or "")
    return m.group(1) if m else None


def layer_table(doc: dict, plan: dict, record_targets: dict | None = None) -> pd.DataFrame:
    """Per conv: predicted (the record's cost), measured in place at N threads and 1, ratios, the flag
    over RATIO_FLAG and the likely cause. ``record_targets``: layer -> target string of its record."""
    threads = int(doc["threads"])
    after_unpredicted = {t["dst"] for t in plan["transforms"] if t.get("predicted_s") is None and t.get("measured_s")}
    rows = []
    for layer in plan["layers"]:
        pred, meas, one = layer["predicted_s"], layer["measured_s"], layer.get("measured_1t_s")
        ratio = meas / pred if pred > 0 else None
        ratio_1t = one / pred if one is not None and pred > 0 else None
        rows.append({
            "layer": layer["name"], "layout": f"{layer['ic_bn']}→{layer['oc_bn']}", "tuned_ms": pred * 1e3,
            "profiled_ms": meas * 1e3, "measured_1t_ms": one * 1e3 if one is not None else None,
            "ratio": ratio, "ratio_1t": ratio_1t, "flagged": bool(ratio is not None and ratio > RATIO_FLAG),
            "likely cause": _cause(ratio, ratio_1t, threads, doc.get("cpu"),
                                   _cpu_of((record_targets or {}).get(layer["name"], "")),
                                   layer["name"] in after_unpredicted),
        })
    return pd.DataFrame(rows, columns=["layer", "layout", "tuned_ms", "profiled_ms", "measured_1t_ms", "ratio",
                                       "ratio_1t", "flagged", "likely cause"])


def _cause(ratio, ratio_1t, threads, cpu, record_cpu, after_unpredicted) -> str:
    if ratio is None or ratio <= RATIO_FLAG:
        return ""
    causes = []
    if record_cpu and cpu and record_cpu != cpu:
        causes.append(f"record timed on another CPU ({record_cpu}, this is {cpu})")
    if threads > 1 and ratio_1t is not None and ratio_1t <= RATIO_FLAG:
        causes.append(f"threads: {ratio_1t:.2f}× at 1 thread, {ratio:.2f}× at {threads}: the thread pool contends "
                      "(other processes on the cores, or more threads than free cores; a TVM worker pinned to a busy core "
                      "stalls every parallel kernel, so tvmviz starts TVM with TVM_BIND_THREADS=0)")
    elif ratio_1t is not None and ratio_1t > RATIO_FLAG:
        causes.append("in-graph vs isolated: slow at 1 thread too (caches hold the previous layer's data, not this "
                      "one's; the record was a warm loop of this kernel alone)")
    if after_unpredicted:
        causes.append("a transform the objective does not count runs right before it")
    return "; ".join(causes) or "slower in the graph than in isolation"


def transform_table(plan: dict) -> pd.DataFrame:
    rows = []
    for t in plan["transforms"]:
        pred, meas = t.get("predicted_s"), t.get("measured_s")
        status = ("predicted and inserted" if pred is not None and meas is not None
                  else "inserted, not predicted" if meas is not None else "predicted, not inserted")
        rows.append({"from": t["src"], "to": t["dst"], "layouts": f"{t['src_layout']} → {t['dst_layout']}",
                     "shape": str(t.get("shape", "")), "status": status,
                     "predicted_ms": pred * 1e3 if pred is not None else None,
                     "measured_ms": meas * 1e3 if meas is not None else None,
                     "measured_1t_ms": t["measured_1t_s"] * 1e3 if t.get("measured_1t_s") is not None else None})
    return pd.DataFrame(rows, columns=["from", "to", "layouts", "shape", "status", "predicted_ms", "measured_ms",
                                       "measured_1t_ms"])


def threads_table(docs: list[dict]) -> pd.DataFrame:
    """Per plan: N-thread and 1-thread end to end, the speedup, and the median per-conv speedup."""
    rows = []
    for doc, p in plan_rows(docs):
        one = p.get("measured_1t_s")
        if one is None:
            continue
        per_layer = [layer["measured_1t_s"] / layer["measured_s"] for layer in p["layers"]
                     if layer.get("measured_1t_s") and layer["measured_s"] > 0]
        rows.append({"plan": p["plan"], "threads": doc["threads"], "measured_ms": p["measured_s"] * 1e3,
                     "measured_1t_ms": one * 1e3, "speedup": one / p["measured_s"],
                     "median conv speedup": statistics.median(per_layer) if per_layer else None})
    return pd.DataFrame(rows, columns=["plan", "threads", "measured_ms", "measured_1t_ms", "speedup",
                                       "median conv speedup"])


def split_plans(doc: dict) -> list[dict]:
    """One document per plan (what one ``tvmviz_run_plan`` upload holds)."""
    return [{**{k: v for k, v in doc.items() if k != "plans"}, "plans": [p]} for p in doc["plans"]]


def markdown(docs: list[dict]) -> str:
    """The plans side by side as a Markdown section (the Report appends it)."""
    frame = plans_table(docs)
    if frame.empty:
        return ""
    doc = docs[0]
    lines = ["## Predicted vs measured (run here with TVM)", "",
             f"{doc['target']}, {doc['threads']} threads, TVM {doc['tvm_version']}. {verdict(frame)}", "",
             "| plan | predicted ms | measured ms | 1 thread ms | measured / predicted | rank pred. | rank meas. |",
             "|---|---|---|---|---|---|---|"]
    for _, r in frame.iterrows():
        one = "–" if pd.isna(r["measured_1t_ms"]) else f"{r['measured_1t_ms']:.3f}"
        lines.append(f"| {r['plan']} | {r['predicted_ms']:.3f} | {r['measured_ms']:.3f} | {one} | "
                     f"{r['measured / predicted']:.2f} | {r['rank predicted']} | {r['rank measured']} |")
    return "\n".join(lines)
