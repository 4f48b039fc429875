#!/usr/bin/env python3
"""Write tvmviz's layout-graph JSON from a Relay module. Run it inside an old TVM (<= 0.19, with Relay).

From an ONNX file (imported the way graph-tuner users did, ``relay.frontend.from_onnx``):

    python tools/relay_export.py model.onnx --input data -o model.layout.json

From your own script, with any Relay module (PyTorch, TFLite ... frontends):

    from relay_export import export_relay
    obj = export_relay(mod["main"], input_names=["data"], source="my model")
    json.dump(obj, open("model.layout.json", "w"))

The nodes are the data calls of ``relay.analysis.post_order_visit`` over the function — the order
the AutoTVM graph tuner indexes nodes in — with weights, constants, tuples and tuple projections
left out (tuples are flattened into the inputs, as the tuner does). Conv attrs come from the
``nn.conv2d`` call attrs and the inferred argument types. Node names are the Relay spans (the ONNX
node name after ``from_onnx``); when one span covers several calls, its conv2d (else its first call)
keeps the name and the others are ``<span>/<op>``, exactly as tvmviz's own ONNX importer names them.

This file is standalone (it does not import tvmviz) so it runs in the legacy TVM environment.
"""

from __future__ import annotations

import argparse
import json
import sys

FORMAT = "tvmviz-layout-graph"
VERSION = 1


def _pad4(padding) -> list[int]:
    p = [int(v) for v in padding]
    if len(p) == 1:
        return p * 4
    if len(p) == 2:
        return [p[0], p[1], p[0], p[1]]
    return p


def _tensor_type(ty):
    """(shape, dtype) of a tensor type, or of a tuple type's first field."""
    from tvm import relay

    if isinstance(ty, relay.TupleType):
        return _tensor_type(ty.fields[0])
    return [int(d) for d in ty.shape], str(ty.dtype)


def export_relay(func, input_names, source: str = "") -> dict:
    """The layout-graph JSON dict of a Relay function (or IRModule: its "main")."""
    import tvm
    from tvm import relay
    from tvm.relay.expr import Call, Constant, Tuple, TupleGetItem, Var

    if isinstance(func, tvm.IRModule):
        func = func["main"]
    mod = relay.transform.InferType()(tvm.IRModule.from_expr(func))
    func = mod["main"]
    input_names = set(input_names)
    unknown = input_names - {p.name_hint for p in func.params}
    if unknown:
        raise SystemExit(f"relay_export: input(s) {sorted(unknown)} are not parameters of the function")

    visited = []  # (expr, kind) in post_order_visit order
    data_refs = {}  # expr -> list of data node keys it stands for (flattened through tuples)

    def visit(expr):
        if isinstance(expr, Var):
            data_refs[expr] = [expr] if expr.name_hint in input_names else []
            if expr.name_hint in input_names:
                visited.append(expr)
        elif isinstance(expr, Constant):
            data_refs[expr] = []
        elif isinstance(expr, Tuple):
            data_refs[expr] = [r for f in expr.fields for r in data_refs.get(f, [])]
        elif isinstance(expr, TupleGetItem):
            data_refs[expr] = data_refs.get(expr.tuple_value, [])
        elif isinstance(expr, Call):
            args = [r for a in expr.args for r in data_refs.get(a, [])]
            if args:
                data_refs[expr] = [expr]
                visited.append(expr)
            else:
                data_refs[expr] = []  # a weight-side computation: not a data node

    relay.analysis.post_order_visit(func, visit)

    # Names: group calls by span, then name each group's primary call plainly.
    spans = []
    for expr in visited:
        span = getattr(expr, "span", None)
        name = span.source_name.name if span is not None and span.source_name is not None else ""
        spans.append(name)
    op_names = [expr.op.name.split(".")[-1] if isinstance(expr, Call) else "input" for expr in visited]
    groups = {}
    for i, (expr, span) in enumerate(zip(visited, spans)):
        if isinstance(expr, Call) and span:
            groups.setdefault(span, []).append(i)
    names = [None] * len(visited)
    for span, members in groups.items():
        primary = next((i for i in members if op_names[i] == "conv2d"), members[0])
        used = {span}
        for i in members:
            if i == primary:
                names[i] = span
                continue
            candidate, k = f"{span}/{op_names[i]}", 1
            while candidate in used:
                candidate, k = f"{span}/{op_names[i]}_{k}", k + 1
            used.add(candidate)
            names[i] = candidate
    counters = {}
    for i, expr in enumerate(visited):
        if names[i] is None:
            if isinstance(expr, Var):
                names[i] = expr.name_hint
            else:
                k = counters.get(op_names[i], 0)
                counters[op_names[i]] = k + 1
                names[i] = f"{op_names[i]}_{k}"

    index = {expr: i for i, expr in enumerate(visited)}
    nodes = []
    for i, expr in enumerate(visited):
        shape, dtype = _tensor_type(expr.checked_type)
        entry = {"index": i, "name": names[i], "op": op_names[i], "inputs": [], "shape": shape, "dtype": dtype}
        if isinstance(expr, Call):
            entry["inputs"] = [index[r] for a in expr.args for r in data_refs.get(a, [])]
            entry["attrs"] = {"relay_op": expr.op.name}
            if spans[i]:
                entry["attrs"]["onnx_node"] = spans[i]
            if expr.op.name == "nn.conv2d":
                entry["conv"] = _conv_attrs(expr, entry)
                if entry["conv"] is None:
                    del entry["conv"]
                    entry["op"] = "conv2d_unsupported_layout"
        nodes.append(entry)
    body = func.body
    heads = body.fields if isinstance(body, Tuple) else [body]
    outputs = []
    for h in heads:
        for r in data_refs.get(h, []):
            if index[r] not in outputs:
                outputs.append(index[r])
    return {"format": FORMAT, "version": VERSION, "source": source, "outputs": outputs, "nodes": nodes}


def _conv_attrs(call, entry):
    attrs = call.attrs
    data_shape, dtype = _tensor_type(call.args[0].checked_type)
    kernel_shape, _ = _tensor_type(call.args[1].checked_type)
    if str(attrs.data_layout) != "NCHW" or str(attrs.kernel_layout) != "OIHW":
        entry["attrs"]["layouts"] = [str(attrs.data_layout), str(attrs.kernel_layout)]
        return None
    out_dtype = str(attrs.out_dtype) or dtype
    return {
        "data_shape": data_shape,
        "kernel_shape": kernel_shape,
        "strides": [int(v) for v in attrs.strides],
        "padding": _pad4(attrs.padding),
        "dilation": [int(v) for v in attrs.dilation],
        "dtype": dtype,
        "out_dtype": out_dtype,
        "groups": int(attrs.groups),
    }


def export_onnx(path: str, input_names=None, shapes=None) -> dict:
    """Import an ONNX file with relay.frontend.from_onnx (its defaults) and export it."""
    import onnx
    from tvm import relay

    model = onnx.load(path)
    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in initializers]
    if not input_names:
        input_names = [graph_inputs[0].name]  # exporters list the data input(s) first
        print(f"relay_export: taking {input_names[0]!r} as the data input (use --input to choose)", file=sys.stderr)
    shape_dict = {}
    for i in graph_inputs:
        dims = [d.dim_value for d in i.type.tensor_type.shape.dim]
        shape_dict[i.name] = shapes.get(i.name, dims) if shapes else dims
    mod, _params = relay.frontend.from_onnx(model, shape=shape_dict)
    return export_relay(mod["main"], input_names, source=path.rsplit("/", 1)[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an ONNX file")
    parser.add_argument("--input", action="append", default=[], help="a data input name (repeatable)")
    parser.add_argument("--shape", action="append", default=[], help="NAME=1,3,224,224 to fix an input shape")
    parser.add_argument("-o", "--output", help="write here instead of stdout")
    args = parser.parse_args(argv)
    shapes = {}
    for spec in args.shape:
        name, _, dims = spec.partition("=")
        shapes[name] = [int(d) for d in dims.split(",")]
    obj = export_onnx(args.model, args.input or list(shapes), shapes)
    text = json.dumps(obj, indent=1)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
