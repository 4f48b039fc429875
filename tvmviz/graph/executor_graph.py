"""A built model's graph -> LayoutGraph: graph-executor JSON or debug-executor graph dump.

After ``relay.build`` every node is a fused function. One LayoutGraph node is made per fused
function, except that a ``layout_transform`` fused with other ops (``add_nn_relu_layout_transform``,
``layout_transform_nn_batch_flatten``) is split out as its own ``layout_transform`` node, so the
transforms TVM actually inserted can be counted and compared with the predicted ones.

- A fused ``conv2d_NCHWc`` function becomes an op ``conv2d`` node. Its chosen x is read from the
  layout attrs (``data_layout`` NCHW{ic}c, ``out_layout`` NCHW{oc}c) or, without them, from the
  5-D shapes: ``attrs["ic_bn"]``, ``attrs["oc_bn"]``.
- Its NCHW workload is **reconstructed**: data (N, C, H, W) from the 5-D input, kernel (O, I, KH,
  KW) from the packed weight OIHW{i}i{o}o. Strides and padding are not in the graph: they are
  inferred from the input/output sizes and the kernel size (smallest stride that fits, then the
  symmetric padding closest to "same"), and dilation is assumed 1. ``attrs["inferred"]`` lists what
  was inferred and ``attrs["padding_alternatives"]`` every other padding the sizes allow, so a
  caller can match the workload against tuning records instead of trusting the guess.
- Params (``p0``, ``p1``... — the names relay.build gives bound weights) are not nodes; other
  ``null`` nodes are graph inputs (op ``input``).
- Node shapes are the built (packed, 5-D) shapes; ``attrs["nchw_shape"]`` gives the NCHW one where
  the layout says how.
- Every op node keeps what tuner_view.py needs to undo the fusion: ``attrs["ops"]``, the ops it stands
  for in order, and ``attrs["args"]``, "data" or "param" per argument it takes (its data arguments are
  ``inputs``, in the same order).
"""

from __future__ import annotations

import json
import os
import re

from tvmviz.errors import TvmvizError
from tvmviz.graph.model import ConvAttrs, LayoutGraph, Node

_PARAM_NAME = re.compile(r"^p\d+$")
_BLOCKED = re.compile(r"^NCHW(\d+)c$")
_FUSED_PREFIX = re.compile(r"^.*?fused_")

# Relay op names as they appear inside fused function names ("." -> "_"), longest first.
_KNOWN_OPS = sorted(
    [
        "nn_contrib_conv2d_NCHWc", "nn_contrib_depthwise_conv2d_NCHWc", "nn_conv2d", "nn_contrib_dense_pack",
        "nn_dense", "nn_batch_flatten", "nn_relu", "nn_max_pool2d", "nn_avg_pool2d", "nn_global_avg_pool2d",
        "nn_global_max_pool2d", "nn_adaptive_avg_pool2d", "nn_bias_add", "nn_batch_norm", "nn_softmax",
        "nn_leaky_relu", "nn_pad", "layout_transform", "add", "subtract", "multiply", "divide", "reshape",
        "transpose", "concatenate", "clip", "sigmoid", "tanh", "squeeze", "expand_dims", "strided_slice",
        "copy", "maximum", "minimum", "exp", "negative", "sqrt", "mean", "sum", "cast", "take", "where",
        "image_resize2d", "nn_upsampling", "split",
    ],
    key=len,
    reverse=True,
)

# Display op of a fused function without conv/transform: its first op, Relay style.
_OP_RENAME = {"contrib_dense_pack": "dense", "image_resize2d": "resize2d"}


def load_executor_graph(path_or_dict, source: str | None = None) -> LayoutGraph:
    """A graph-executor JSON (``lib.get_graph_json()``) or a debug-executor ``_tvmdbg_graph_dump.json``
    (or the ``_tvmdbg_*`` folder holding it), as a LayoutGraph in the executor's node order."""
    obj, label = _read(path_or_dict, source)
    if not isinstance(obj, dict) or not isinstance(obj.get("nodes"), list):
        raise TvmvizError(f"{label}: not a graph-executor JSON (no \"nodes\" list)")
    nodes = obj["nodes"]
    if _is_debug_dump(obj):
        entries = _debug_entries(nodes, label)
    else:
        entries = _executor_entries(obj, label)
    heads = [h[0] if isinstance(h, list) else h for h in obj.get("heads", [])]
    graph = _build(entries, heads, label, source or (label if not isinstance(path_or_dict, dict) else ""))
    if not graph.convs():
        raise TvmvizError(f"{label}: no conv2d_NCHWc node in this graph: was it built for an x86 llvm target with layouts altered?")
    return graph


def is_executor_graph_json(obj) -> bool:
    if not isinstance(obj, dict) or not isinstance(obj.get("nodes"), list):
        return False
    return "heads" in obj or "arg_nodes" in obj or _is_debug_dump(obj)


def _is_debug_dump(obj) -> bool:
    nodes = obj.get("nodes") or []
    return bool(nodes) and isinstance(nodes[0], dict) and "shape" in nodes[0] and all(
        isinstance(i, str) for n in nodes[:50] for i in n.get("inputs", [])
    )


def _read(path_or_dict, source):
    if isinstance(path_or_dict, dict):
        return path_or_dict, source or "graph JSON"
    path = os.fspath(path_or_dict)
    if os.path.isdir(path):
        found = [os.path.join(root, f) for root, _, files in os.walk(path) for f in files if f == "_tvmdbg_graph_dump.json"]
        if len(found) != 1:
            raise TvmvizError(f"{path}: expected one _tvmdbg_graph_dump.json in this folder, found {len(found)}")
        path = found[0]
    label = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f), label
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TvmvizError(f"{label}: cannot read graph JSON ({err})") from None


# An entry: (name, kind "param"|"input"|"op", attrs dict, input entry ids, shape, dtype)


def _executor_entries(obj, label):
    attrs = obj.get("attrs", {})
    try:
        shapes = attrs["shape"][1]
        dtypes = attrs.get("dltype", ["list_str", []])[1]
        row_ptr = obj.get("node_row_ptr") or list(range(len(obj["nodes"]) + 1))
    except (KeyError, IndexError, TypeError):
        raise TvmvizError(f"{label}: graph JSON lacks attrs.shape") from None
    entries = []
    for i, n in enumerate(obj["nodes"]):
        try:
            eid = row_ptr[i]
            shape = tuple(int(d) for d in shapes[eid])
        except (IndexError, TypeError, ValueError):
            raise TvmvizError(f"{label}: node {i} ({n.get('name')!r}) has no shape in attrs.shape") from None
        dtype = dtypes[eid] if eid < len(dtypes) else "float32"
        inputs = []
        for inp in n.get("inputs", []):
            if not isinstance(inp, list) or not inp or not isinstance(inp[0], int) or not 0 <= inp[0] < i:
                raise TvmvizError(f"{label}: node {i} ({n.get('name')!r}) has a bad input {inp!r}")
            inputs.append(inp[0])
        kind = "op" if n.get("op") == "tvm_op" else ("param" if _PARAM_NAME.match(str(n.get("name", ""))) else "input")
        entries.append((str(n.get("name", f"node{i}")), kind, dict(n.get("attrs") or {}), inputs, shape, dtype))
    return entries


def _debug_entries(nodes, label):
    index = {}
    entries = []
    for i, n in enumerate(nodes):
        name = str(n.get("name", f"node{i}"))
        inputs = []
        for ref in n.get("inputs", []):
            if ref not in index:
                raise TvmvizError(f"{label}: node {name!r} reads {ref!r}, which is not an earlier node")
            inputs.append(index[ref])
        index[name] = i
        a = dict(n.get("attrs") or {})
        dtype = str(a.pop("T", "type: float32")).replace("type: ", "")
        if n.get("op") == "param":
            kind = "param" if _PARAM_NAME.match(name) else "input"
        else:
            kind = "op"
        entries.append((name, kind, a, inputs, tuple(int(d) for d in n.get("shape", [])), dtype))
    return entries


# --- fused function -> nodes -----------------------------------------------------------------------


def _fused_ops(func_name: str) -> list[str]:
    """Op names inside a fused function name, e.g. ["nn_contrib_conv2d_NCHWc", "add", "nn_relu"]."""
    rest = _FUSED_PREFIX.sub("", func_name)
    ops = []
    while rest:
        rest = rest.lstrip("_")
        match = next((op for op in _KNOWN_OPS if rest.startswith(op) and (len(rest) == len(op) or not rest[len(op)].isalpha())), None)
        if match is None:
            # unknown op or the uniqueness suffix ("_1", "1", "_21"): keep an unknown word, drop digits
            word = re.match(r"[A-Za-z0-9]*", rest).group(0)
            if word and not word.isdigit():
                ops.append(word)
            rest = rest[len(word):] if word else rest[1:]
            continue
        ops.append(match)
        rest = rest[len(match):]
        rest = re.sub(r"^\d+", "", rest)  # "layout_transform1": a suffix glued without "_"
    return ops


def relay_op_name(op: str) -> str:
    """Relay's name of an op spelled as in a fused function name: "nn_max_pool2d" -> "max_pool2d"."""
    short = op[3:] if op.startswith("nn_") else op
    return _OP_RENAME.get(short, short)


def _block(layout) -> int | None:
    m = _BLOCKED.match(str(layout or ""))
    return int(m.group(1)) if m else None


def _build(entries, heads, label, source) -> LayoutGraph:
    nodes: list[Node] = []
    out_of: dict[int, int] = {}  # entry id -> LayoutGraph index of its output
    shape_of = {i: e[4] for i, e in enumerate(entries)}

    def add(name, op, inputs, shape, dtype, conv=None, attrs=None) -> int:
        nodes.append(Node(index=len(nodes), name=name, op=op, inputs=tuple(inputs), shape=tuple(shape), dtype=dtype, conv=conv, attrs=attrs or {}))
        return len(nodes) - 1

    for eid, (name, kind, attrs, inputs, shape, dtype) in enumerate(entries):
        if kind == "param":
            continue
        if kind == "input":
            out_of[eid] = add(name, "input", (), shape, dtype)
            continue
        data_in = [i for i in inputs if i in out_of]
        func = str(attrs.get("func_name", name))
        ops = _fused_ops(func)
        args = ["data" if i in out_of else "param" for i in inputs]
        base_attrs = {"func_name": func, "fused_ops": ops}
        whole = dict(base_attrs, ops=ops, args=args)
        if any("conv2d_NCHWc" in op for op in ops):
            conv, conv_attrs = _conv_node(entries, eid, inputs, attrs, label)
            conv_attrs.update(whole)
            out_of[eid] = add(name, "conv2d", [out_of[i] for i in data_in], shape, dtype, conv, conv_attrs)
            continue
        if "layout_transform" in ops:
            lt = ops.index("layout_transform")
            before, after = ops[:lt], ops[lt + 1:]
            lt_attrs = dict(base_attrs, src_layout=attrs.get("src_layout"), dst_layout=attrs.get("dst_layout"),
                            ops=["layout_transform"], args=args)
            cur = [out_of[i] for i in data_in]
            in_shape = shape_of[data_in[0]] if data_in else shape
            if before:  # e.g. add_nn_relu_layout_transform: the merge runs, then its result is transformed
                cur = [add(f"{name}/{relay_op_name(before[0])}", relay_op_name(before[0]), cur, in_shape, dtype,
                           attrs=dict(base_attrs, part=before, ops=before, args=args))]
                lt_attrs["args"] = ["data"]
            if after:  # e.g. layout_transform_nn_batch_flatten: shape of the transformed tensor is not kept
                lt_attrs["shape_unknown"] = True
                t = add(f"{name}/layout_transform", "layout_transform", cur, in_shape, dtype, attrs=lt_attrs)
                out_of[eid] = add(name, relay_op_name(after[0]), [t], shape, dtype,
                                  attrs=dict(base_attrs, part=after, ops=after, args=["data"]))
            else:
                out_of[eid] = add(name, "layout_transform", cur, shape, dtype, attrs=lt_attrs)
            continue
        op = relay_op_name(ops[0]) if ops else func
        extra = {k: v for k, v in attrs.items() if k in ("layout", "out_layout", "data_layout")}
        out_of[eid] = add(name, op, [out_of[i] for i in data_in], shape, dtype, attrs=dict(whole, **extra))

    outputs = tuple(dict.fromkeys(out_of[h] for h in heads if h in out_of))
    return LayoutGraph(nodes=tuple(nodes), outputs=outputs, source=source)


def _conv_node(entries, eid, inputs, attrs, label):
    """ConvAttrs (reconstructed NCHW workload) and the attrs recording x and what was inferred."""
    name, _, _, _, out_shape, dtype = entries[eid]
    info: dict = {}
    for key in ("data_layout", "out_layout", "kernel_layout"):
        if key in attrs:
            info[key] = attrs[key]
    if len(inputs) < 2:
        raise TvmvizError(f"{label}: conv node {name!r} has {len(inputs)} input(s); expected data and weight")
    data_shape = entries[inputs[0]][4]
    weight_shape = entries[inputs[1]][4]
    if len(data_shape) != 5 or len(out_shape) != 5 or len(weight_shape) != 6:
        raise TvmvizError(
            f"{label}: conv node {name!r}: expected 5-D data/output and 6-D packed weight shapes, got "
            f"{list(data_shape)}, {list(out_shape)}, {list(weight_shape)}"
        )
    ic_bn = _block(attrs.get("data_layout")) or data_shape[4]
    oc_bn = _block(attrs.get("out_layout")) or out_shape[4]
    if ic_bn != data_shape[4] or oc_bn != out_shape[4]:
        raise TvmvizError(f"{label}: conv node {name!r}: layout attrs disagree with the 5-D shapes")
    info.update(ic_bn=ic_bn, oc_bn=oc_bn, in_layout=f"NCHW{ic_bn}c", out_layout=f"NCHW{oc_bn}c")
    n, c_outer, h, w, _ = data_shape
    o_outer, i_outer, kh, kw, w_ic, w_oc = weight_shape
    _, _, oh, ow, _ = out_shape
    channels = c_outer * ic_bn
    kernel = (o_outer * w_oc, i_outer * w_ic, kh, kw)
    groups = channels // kernel[1] if kernel[1] and channels % kernel[1] == 0 else 1
    sh, pads_h = _stride_and_pads(h, oh, kh)
    sw, pads_w = _stride_and_pads(w, ow, kw)
    if sh is None or sw is None:
        raise TvmvizError(f"{label}: conv node {name!r}: no stride/padding maps {h}x{w} to {oh}x{ow} with a {kh}x{kw} kernel")
    padding = (pads_h[0][0], pads_w[0][0], pads_h[0][1], pads_w[0][1])
    alternatives = [
        [t, l, b, r] for (t, b) in pads_h for (l, r) in pads_w if (t, l, b, r) != padding
    ]
    info["inferred"] = ["strides", "padding", "dilation"]
    info["nchw_shape"] = [out_shape[0], out_shape[1] * oc_bn, oh, ow]
    if alternatives:
        info["padding_alternatives"] = alternatives
    conv = ConvAttrs(
        data_shape=(n, channels, h, w),
        kernel_shape=kernel,
        strides=(sh, sw),
        padding=padding,
        dilation=(1, 1),
        dtype=dtype,
        out_dtype=dtype,
        groups=groups,
    )
    return conv, info


def _stride_and_pads(size: int, out: int, k: int):
    """Smallest stride s for which some total padding p in [0, 2(k-1)] gives `out`, and the (before,
    after) paddings it allows, best first: symmetric before asymmetric, then closest to "same" (k-1)."""
    for s in range(1, size + 2):
        totals = [p for p in range(0, 2 * (k - 1) + 1) if (size + p - k) // s + 1 == out and size + p >= k]
        if totals:
            totals.sort(key=lambda p: (p % 2, abs(p - (k - 1))))
            pairs = []
            for p in totals:
                pairs.append((p // 2, p - p // 2))
                if p % 2:
                    pairs.append((p - p // 2, p // 2))
            return s, pairs
    return None, []
