"""tvmviz's answers as Google Model Explorer node data, so a user of that viewer sees them on the model.

Model Explorer reads one node-data JSON per metric: a ``GraphNodeData`` object, ``{"results": {node key:
{"value": number, "bgColor"?: css colour}}, "gradient"?: [{"stop": 0..1, "bgColor": hex}],
"thresholds"?: [...]}``, where a node key is the node's id or one of its output tensor names. For an ONNX
model its adapter names nodes by their ONNX node names, which are tvmviz's conv names (an unnamed node
is ``<OpType>_<k>``, as TVM 0.19 names it), so the results are keyed by them.

Metrics: ``chosen_x`` (oc_bn, each node in tvmviz's colour of that x), ``kernel_ms``, ``regret_ms`` (how
much worse the best other candidate makes the whole model: small = a close call) and
``profiled_over_tuned`` (when a profile is loaded).
"""

from __future__ import annotations

import json

from tvmviz import style

_GRADIENT = [{"stop": 0, "bgColor": "#e3f2fd"}, {"stop": 1, "bgColor": "#0d47a1"}]  # light = small
_CLOSE_CALL = [{"stop": 0, "bgColor": "#ffecb3"}, {"stop": 1, "bgColor": "#ffffff"}]


def onnx_node_name(name: str) -> str:
    """The ONNX node a graph node came from (an ONNX node expanded to several ops names them 'node/op')."""
    return name.split("/", 1)[0]


def _numeric(values: dict, gradient: list) -> dict:
    return {"results": {k: {"value": float(v)} for k, v in values.items()}, "gradient": gradient}


def node_data(sel, regrets: dict | None = None, profiled_ratio: dict | None = None) -> dict:
    """metric -> GraphNodeData dict. ``regrets``: conv name -> seconds (tvmviz.select.regret_table's
    smallest non-zero regret per conv); ``profiled_ratio``: conv name -> profiled / tuned."""
    chosen = {onnx_node_name(n.name): {"value": int(n.oc_bn), "bgColor": style.x_color(n.oc_bn),
                                       "textColor": style.text_on(style.x_color(n.oc_bn))} for n in sel.nodes}
    out = {
        "chosen_x": {"results": chosen},
        "kernel_ms": _numeric({onnx_node_name(n.name): n.kernel_cost_s * 1e3 for n in sel.nodes}, _GRADIENT),
    }
    if regrets:
        out["regret_ms"] = _numeric({onnx_node_name(k): v * 1e3 for k, v in regrets.items()}, _CLOSE_CALL)
    if profiled_ratio:
        out["profiled_over_tuned"] = {"results": {
            onnx_node_name(k): {"value": float(v), **({"bgColor": style.PROBLEM, "textColor": "#ffffff"}
                                                       if v > 1.5 else {})}
            for k, v in profiled_ratio.items() if v is not None and v == v}}
    return out


def smallest_regrets(table) -> dict:
    """conv name -> the regret of its best non-chosen candidate (None-free; convs with one candidate left out)."""
    out = {}
    for name, regrets, chosen in zip(table.nodes, table.regret_s, table.chosen):
        others = [r for k, r in enumerate(regrets) if k != chosen]
        if others:
            out[name] = min(others)
    return out


def files(data: dict, prefix: str = "tvmviz") -> dict:
    """file name -> JSON text, one file per metric (what Model Explorer's 'load node data' takes)."""
    return {f"{prefix}_{metric}.json": json.dumps(d, indent=1) for metric, d in data.items()}
