"""The graph the graph tuner saw, recovered from a built model's graph (executor_graph.py).

The graph tuner runs on the Relay graph before ``relay.build``; the build then fuses ops into
functions and inserts ``layout_transform`` nodes. ``tuner_view`` undoes that:

- A fused function becomes the chain of ops it fused, in order. The first op takes the function's
  leading arguments, every later binary op (add, multiply, ...) the next one. A data argument makes
  that op a merge; a param (weight, bias, folded batch norm) is no input. So
  ``conv2d_NCHWc_add_add_nn_relu`` on [data, weight, bias, residual] is conv2d(data) -> add -> add(.,
  residual) -> relu.
- The ``layout_transform`` nodes the build inserted are dropped: their input feeds their consumers.
- Shapes are NCHW (5-D NCHW{c}c shapes folded back); convs keep the workloads executor_graph.py
  reconstructed, with their inferred padding and ``padding_alternatives``.
- Nodes are put in Relay post-order (graph inputs, then depth-first from the outputs, arguments
  left to right; model.py), so selection runs as on the model itself.

What the build does not keep, and how it is decided:
- The operand order of a residual add: a fused function lists the conv's arguments first, so the
  chain is taken as the left operand. TVM builds ``add(conv, x)`` and ``add(x, conv)`` to the same
  graph (checked with TVM 0.19), so a model written ``x + conv(x)`` gets a different lead input.
- An operand that is not an argument: a scalar constant stays inside the function, and a residual
  that is the function's own input (``x + conv(x)``) is passed only once. When a data argument has
  the output's shape the two cannot be told apart, and the graph is refused.
- Padding: ``match_padding`` picks, among a conv's possible paddings, the one its tuning records have.

Names: a fused function's first op keeps the built node name (as in the executor profile), the
other ops are ``<node>/<op>``; they are not the ONNX model's names.
"""

from __future__ import annotations

import dataclasses

from tvmviz.errors import TvmvizError
from tvmviz.graph.executor_graph import relay_op_name
from tvmviz.graph.model import LayoutGraph, Node, part_name, post_order

_BINARY = {"add", "subtract", "multiply", "divide", "maximum", "minimum", "power", "bias_add"}
_VARIADIC = {"concatenate"}
_INSTEAD = "give the ONNX model, or a tvmviz layout-graph JSON written by tools/relay_export.py, instead"


def tuner_view(built: LayoutGraph) -> LayoutGraph:
    """The conv-level graph the graph tuner saw, from a built graph (executor_graph.load_executor_graph)."""
    label = built.source or "built graph"
    protos: list[dict] = []  # nodes before ordering: name, op, inputs (proto ids), shape, dtype, conv, attrs
    value: dict[int, int] = {}  # built node -> proto id of the tensor it holds

    for node in built.nodes:
        if node.op == "input":
            value[node.index] = _emit(protos, node.name, "input", [], _nchw(node.shape), node, attrs={})
            continue
        ops, args = node.attrs.get("ops"), node.attrs.get("args")
        if ops is None or args is None or args.count("data") != len(node.inputs):
            raise TvmvizError(f"{label}: node {node.name!r} does not say which ops it fused; not a built graph "
                              "from tvmviz.graph.executor_graph")
        if ops == ["layout_transform"]:
            if len(node.inputs) != 1:
                raise TvmvizError(f"{label}: layout_transform {node.name!r} has {len(node.inputs)} data inputs; "
                                  f"cannot drop it: {_INSTEAD}")
            value[node.index] = value[node.inputs[0]]
            continue
        value[node.index] = _unfuse(protos, node, [value[i] for i in node.inputs], built, label)

    return _post_order(protos, [value[o] for o in built.outputs], built.source)


def match_padding(graph: LayoutGraph, workloads) -> LayoutGraph:
    """``graph`` with each inferred conv padding replaced by the alternative its tuning records have,
    when the guess has none (``workloads``: workload keys of the records)."""
    workloads = set(workloads)
    nodes, changed = [], False
    for n in graph.nodes:
        alternatives = n.attrs.get("padding_alternatives") if n.conv is not None else None
        if alternatives and n.conv.workload_key() not in workloads:
            for pad in alternatives:
                conv = dataclasses.replace(n.conv, padding=tuple(int(p) for p in pad))
                if conv.workload_key() in workloads:
                    n = dataclasses.replace(n, conv=conv, attrs=dict(n.attrs, padding_from="tuning records"))
                    changed = True
                    break
        nodes.append(n)
    return LayoutGraph(tuple(nodes), graph.outputs, graph.source) if changed else graph


def _relay_op(op: str) -> str:
    return "conv2d" if "conv2d_NCHWc" in op else relay_op_name(op)


def _nchw(shape) -> tuple:
    """An x86 build's 5-D tensors are NCHW{c}c: fold the block back into C."""
    if len(shape) == 5:
        n, c, h, w, b = shape
        return (n, c * b, h, w)
    return tuple(shape)


def _emit(protos, name, op, inputs, shape, node, attrs, conv=None) -> int:
    protos.append({"name": name, "op": op, "inputs": list(inputs), "shape": tuple(shape), "dtype": node.dtype,
                   "conv": conv, "attrs": attrs})
    return len(protos) - 1


def _unfuse(protos, node: Node, data: list[int], built: LayoutGraph, label: str) -> int:
    """Emit the chain of ops one fused node stands for; returns the proto id of its result."""
    ops = [_relay_op(op) for op in node.attrs["ops"]]
    data_iter = iter(data)
    refs = [next(data_iter) if kind == "data" else None for kind in node.attrs["args"]]  # None: a param
    shape = tuple(node.attrs["nchw_shape"]) if node.conv is not None else _nchw(node.shape)
    base = {"built_node": node.name, "func_name": node.attrs.get("func_name"), "fused_ops": node.attrs.get("fused_ops")}
    if any(op in _VARIADIC for op in ops[1:]):
        # Not a chain (e.g. relu(a), relu(b) -> concatenate): the merge alone, on every data argument.
        merge = next(op for op in ops if op in _VARIADIC)
        return _emit(protos, node.name, merge, data, shape, node, dict(base, collapsed_ops=ops))

    first = ops[0]
    if "conv2d" in ops[1:]:
        raise TvmvizError(f"{label}: node {node.name!r} fuses {node.attrs['ops']}, a conv after another op: {_INSTEAD}")
    n_later = sum(op in _BINARY for op in ops[1:])
    min_arity = 2 if first in _BINARY or first in ("conv2d", "dense", "batch_matmul") else 1
    take = max(min_arity, len(refs) - n_later)
    if first == "conv2d":
        if len(refs) < 2 or refs[0] is None or refs[1] is not None or take != 2:
            raise TvmvizError(f"{label}: fused conv {node.name!r} takes arguments {node.attrs['args']}; expected "
                              f"data, weight, then one per later op of {node.attrs['ops']}: {_INSTEAD}")
    pending = refs[take:]
    if any(r is not None for r in pending[n_later:]):
        raise TvmvizError(f"{label}: node {node.name!r} has more data arguments than its ops "
                          f"{node.attrs['ops']} take: {_INSTEAD}")
    conv_attrs = {k: v for k, v in node.attrs.items() if k not in ("ops", "args", "func_name", "fused_ops")}
    # A part split off a layout_transform ("<fn>/add") is named for its function, whose transform is dropped.
    name = node.name.rsplit("/", 1)[0] if "part" in node.attrs else node.name
    cur = _emit(protos, name, first, [r for r in refs[:take] if r is not None], shape, node,
                dict(base, **conv_attrs) if first == "conv2d" else base, conv=node.conv)
    used = {name}
    for op in ops[1:]:
        inputs = [cur]
        attrs = dict(base)
        if op in _BINARY:
            if pending:
                operand = pending.pop(0)
                if operand is not None:
                    inputs.append(operand)
            elif any(built.nodes[i].shape == node.shape for i in node.inputs):
                raise TvmvizError(
                    f"{label}: in {node.name!r} ({'_'.join(node.attrs['ops'])}) the {op} has no argument of its "
                    "own: a scalar constant, or the function's own input reused as a residual; the build does "
                    f"not say which: {_INSTEAD}")
            else:
                attrs["operand"] = "constant"
        cur = _emit(protos, part_name(name, op, used), op, inputs, shape, node, attrs)
    return cur


def _post_order(protos: list[dict], outputs: list[int], source: str) -> LayoutGraph:
    """Relay post_order_visit order: graph inputs, then DFS post-order from the outputs."""
    inputs = [pid for pid, p in enumerate(protos) if p["op"] == "input"]
    order = inputs + post_order(outputs, lambda pid: protos[pid]["inputs"], done=inputs)
    index = {pid: i for i, pid in enumerate(order)}
    nodes = []
    for pid in order:
        p = protos[pid]
        nodes.append(Node(index=len(nodes), name=p["name"], op=p["op"], inputs=tuple(index[a] for a in p["inputs"]),
                          shape=p["shape"], dtype=p["dtype"], conv=p["conv"], attrs=p["attrs"]))
    return LayoutGraph(nodes=tuple(nodes), outputs=tuple(dict.fromkeys(index[o] for o in outputs)), source=source)
