"""tvmviz's own layout-graph JSON: a LayoutGraph written out, and read back with validation.

```
{"format": "tvmviz-layout-graph", "version": 1, "source": "resnet18.onnx",
 "outputs": [70],
 "nodes": [
   {"index": 0, "name": "data", "op": "input", "inputs": [], "shape": [1, 3, 224, 224], "dtype": "float32"},
   {"index": 1, "name": "conv1_1", "op": "conv2d", "inputs": [0], "shape": [1, 64, 112, 112],
    "dtype": "float32",
    "conv": {"data_shape": [1, 3, 224, 224], "kernel_shape": [64, 3, 7, 7], "strides": [2, 2],
             "padding": [3, 3, 3, 3], "dilation": [1, 1], "dtype": "float32", "out_dtype": "float32",
             "groups": 1,
             "workload": ["conv2d_NCHWc.x86", ["TENSOR", [1, 3, 224, 224], "float32"], ...]},
    "attrs": {"onnx_node": "conv1_1"}},
   ...]}
```

Nodes are in TVM's node order (see model.py); ``inputs`` are indices of earlier nodes; ``conv`` is
present exactly on ``conv2d`` nodes. ``conv.workload`` is optional and informational: when given
it must equal the workload the other conv fields define (so a hand edit cannot disagree with
itself). ``attrs`` is any JSON object. ``tools/relay_export.py`` writes this format from a Relay
module inside TVM <= 0.19.
"""

from __future__ import annotations

from tvmviz.errors import TvmvizError
from tvmviz.graph.model import ConvAttrs, LayoutGraph, Node

FORMAT = "tvmviz-layout-graph"
VERSION = 1

_CONV_TUPLES = {"data_shape": 4, "kernel_shape": 4, "strides": 2, "padding": 4, "dilation": 2}


def to_json(graph: LayoutGraph) -> dict:
    """The graph as a JSON-ready dict (json.dumps it)."""
    nodes = []
    for n in graph.nodes:
        entry = {
            "index": n.index,
            "name": n.name,
            "op": n.op,
            "inputs": list(n.inputs),
            "shape": list(n.shape),
            "dtype": n.dtype,
        }
        if n.conv is not None:
            c = n.conv
            entry["conv"] = {
                "data_shape": list(c.data_shape),
                "kernel_shape": list(c.kernel_shape),
                "strides": list(c.strides),
                "padding": list(c.padding),
                "dilation": list(c.dilation),
                "dtype": c.dtype,
                "out_dtype": c.out_dtype,
                "groups": c.groups,
                "workload": c.workload(),
            }
        if n.attrs:
            entry["attrs"] = n.attrs
        nodes.append(entry)
    return {"format": FORMAT, "version": VERSION, "source": graph.source, "outputs": list(graph.outputs), "nodes": nodes}


def is_layout_graph_json(obj) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def from_json(obj, source: str = "") -> LayoutGraph:
    """Read a layout-graph JSON dict; any inconsistency is a TvmvizError naming the node."""
    where = source or "layout graph JSON"
    if not isinstance(obj, dict):
        raise TvmvizError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if obj.get("format") != FORMAT:
        raise TvmvizError(f"{where}: \"format\" must be {FORMAT!r}, got {obj.get('format')!r}")
    if obj.get("version") != VERSION:
        raise TvmvizError(f"{where}: unsupported version {obj.get('version')!r} (this tvmviz reads version {VERSION})")
    raw_nodes = obj.get("nodes")
    if not isinstance(raw_nodes, list):
        raise TvmvizError(f"{where}: \"nodes\" must be a list")
    nodes = [_node(i, raw, where) for i, raw in enumerate(raw_nodes)]
    outputs = obj.get("outputs", [])
    if not isinstance(outputs, list) or not all(_is_int(o) and 0 <= o < len(nodes) for o in outputs):
        raise TvmvizError(f"{where}: \"outputs\" must list node indices below {len(nodes)}, got {outputs!r}")
    src = obj.get("source", "")
    if not isinstance(src, str):
        raise TvmvizError(f"{where}: \"source\" must be a string")
    return LayoutGraph(nodes=tuple(nodes), outputs=tuple(outputs), source=source or src)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int_list(value, what: str, where: str, length: int | None = None) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(_is_int(v) for v in value):
        raise TvmvizError(f"{where}: {what} must be a list of integers, got {value!r}")
    if length is not None and len(value) != length:
        raise TvmvizError(f"{where}: {what} must have {length} entries, got {len(value)}")
    return tuple(value)


def _node(i: int, raw, where: str) -> Node:
    if not isinstance(raw, dict):
        raise TvmvizError(f"{where}: node {i} must be an object")
    name = raw.get("name")
    label = f"{where}: node {i} ({name!r})"
    if not isinstance(name, str) or not name:
        raise TvmvizError(f"{where}: node {i} needs a non-empty string \"name\"")
    if raw.get("index", i) != i:
        raise TvmvizError(f"{label}: \"index\" is {raw.get('index')!r}, but it is entry {i}")
    op = raw.get("op")
    if not isinstance(op, str) or not op:
        raise TvmvizError(f"{label}: needs a non-empty string \"op\"")
    inputs = _int_list(raw.get("inputs", []), "\"inputs\"", label)
    bad = [j for j in inputs if not 0 <= j < i]
    if bad:
        raise TvmvizError(f"{label}: reads node(s) {bad}, which do not come before it (nodes must be in TVM's order)")
    shape = _int_list(raw.get("shape"), "\"shape\"", label)
    dtype = raw.get("dtype", "float32")
    if not isinstance(dtype, str):
        raise TvmvizError(f"{label}: \"dtype\" must be a string")
    attrs = raw.get("attrs", {})
    if not isinstance(attrs, dict):
        raise TvmvizError(f"{label}: \"attrs\" must be an object")
    conv_raw = raw.get("conv")
    if (op == "conv2d") != (conv_raw is not None):
        raise TvmvizError(f"{label}: \"conv\" must be given exactly on conv2d nodes (op is {op!r})")
    conv = _conv(conv_raw, label) if conv_raw is not None else None
    return Node(index=i, name=name, op=op, inputs=inputs, shape=shape, dtype=dtype, conv=conv, attrs=attrs)


def _conv(raw, label: str) -> ConvAttrs:
    if not isinstance(raw, dict):
        raise TvmvizError(f"{label}: \"conv\" must be an object")
    missing = [k for k in ("data_shape", "kernel_shape", "strides", "padding") if k not in raw]
    if missing:
        raise TvmvizError(f"{label}: \"conv\" lacks {missing}")
    fields = {k: _int_list(raw.get(k, [1, 1]), f"conv.{k}", label, n) for k, n in _CONV_TUPLES.items()}
    groups = raw.get("groups", 1)
    if not _is_int(groups) or groups < 1:
        raise TvmvizError(f"{label}: conv.groups must be a positive integer")
    dtype = raw.get("dtype", "float32")
    out_dtype = raw.get("out_dtype", dtype)
    if not isinstance(dtype, str) or not isinstance(out_dtype, str):
        raise TvmvizError(f"{label}: conv.dtype / conv.out_dtype must be strings")
    conv = ConvAttrs(dtype=dtype, out_dtype=out_dtype, groups=groups, **fields)
    if "workload" in raw and raw["workload"] != conv.workload():
        raise TvmvizError(
            f"{label}: conv.workload {raw['workload']!r} disagrees with the conv fields, which give {conv.workload()!r}"
        )
    return conv
