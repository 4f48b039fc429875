"""ONNX model -> LayoutGraph, in the node order TVM 0.19's graph tuner sees.

Two sources are combined, each for what it is right about:

- **TVM Relax** (``tvm.relax.frontend.onnx``, apache-tvm 0.27) imports the model: if TVM cannot
  import it, we say so; every tensor's shape and dtype is TVM's inferred type, never our own shape
  arithmetic.
- **The ONNX graph** gives structure and names. Relax does not build what the graph tuner saw: it
  lowers a biased Conv to ``conv2d`` + ``add(reshape(bias))`` and Flatten to ``reshape``, whereas TVM
  0.19's *Relay* ``from_onnx`` (what graph-tuner users ran) builds ``conv2d`` + ``bias_add`` and
  ``batch_flatten``. So each ONNX node is expanded into the Relay calls 0.19's converter makes
  (``_RELAY_EXPANSIONS``, read from ``tvm/relay/frontend/onnx.py`` of 0.19), and the order is
  Relay's ``post_order_visit``: data inputs first (function params, in ``graph.input`` order), then a
  depth-first post-order from the graph outputs, call arguments left to right (COST_MODEL.md §1).

Weights never become nodes: initializers, ``Constant`` outputs, shape computations that 0.19's
per-node ``fold_constant`` folds away, and graph inputs used only in weight slots
(``keep_initializers_as_inputs`` exports, or files stripped of weights) are all parameters. Pass
``data_inputs`` to override which graph inputs are data.

Names: the ONNX node name; an unnamed node gets ``<OpType>_<k>``, k counting unnamed nodes of that
op type in ``graph.node`` order — what 0.19's ``get_source_name`` writes into the Relay spans. When an
ONNX node expands to several calls, its conv2d (else its first call) carries the name and the others
are ``<name>/<relay op>``.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import warnings
from dataclasses import dataclass, field

from tvmviz.errors import TvmvizError
from tvmviz.graph.model import ConvAttrs, LayoutGraph, Node, part_name, post_order
from tvmviz.graph.onnx_structure import has_data, read_structure

# ONNX ops whose inputs after the first are weights / attributes in practice: a graph input that only
# appears in those slots is a parameter, not a data input.
_DATA_SLOTS_FIRST_ONLY = {
    "Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "InstanceNormalization",
    "LayerNormalization", "PRelu", "Reshape", "Pad", "Clip", "Resize", "Upsample", "Slice", "Expand",
    "Tile", "Gather", "Split", "Squeeze", "Unsqueeze", "ReduceMean", "ReduceSum", "ReduceMax",
    "ReduceMin", "Dropout", "TopK", "ConstantOfShape",
}

# Ops whose output 0.19's per-node fold_constant turns into a constant once input shapes are static.
_SHAPE_ONLY_OPS = {"Shape", "Size"}

# One ONNX op -> one Relay call with the node's data inputs as arguments (0.19 converter map).
_RELAY_RENAMES = {
    "Relu": "relu", "LeakyRelu": "leaky_relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp",
    "Sqrt": "sqrt", "Neg": "negative", "Abs": "abs", "Erf": "erf", "Log": "log", "Floor": "floor",
    "Ceil": "ceil", "Add": "add", "Sub": "subtract", "Mul": "multiply", "Div": "divide",
    "Pow": "power", "Concat": "concatenate", "BatchNormalization": "batch_norm",
    "InstanceNormalization": "instance_norm", "LayerNormalization": "layer_norm",
    "GlobalAveragePool": "global_avg_pool2d", "GlobalMaxPool": "global_max_pool2d",
    "Reshape": "reshape", "Transpose": "transpose", "Identity": "copy", "Dropout": "dropout",
    "Clip": "clip", "Pad": "pad", "Slice": "strided_slice", "Squeeze": "squeeze",
    "Unsqueeze": "expand_dims", "Where": "where", "Resize": "resize2d", "Upsample": "upsampling",
    "PRelu": "prelu", "Cast": "cast", "Gather": "take", "Split": "split", "LRN": "lrn",
    "ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min",
    "HardSigmoid": "hard_sigmoid", "HardSwish": "hard_swish", "Expand": "broadcast_to",
    "Tile": "tile", "DepthToSpace": "depth_to_space", "SpaceToDepth": "space_to_depth",
}

_NCHW_POOLS = {"MaxPool": "max_pool", "AveragePool": "avg_pool", "LpPool": "lp_pool"}


@dataclass
class _Call:
    """One Relay call in the expansion of an ONNX node."""

    op: str
    args: list  # data arguments in Relay argument order: ("t", tensor name) or ("c", call id)
    shape: tuple[int, ...]
    dtype: str
    onnx_node: str  # the ONNX node name (or <OpType>_<k>)
    onnx_op: str
    conv: ConvAttrs | None = None
    attrs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Tensor:
    shape: tuple[int, ...]
    dtype: str


def load_onnx(path: str | os.PathLike, data_inputs: list[str] | None = None) -> LayoutGraph:
    """Import an ONNX file through TVM Relax into a LayoutGraph in TVM 0.19's graph-tuner node order.

    ``data_inputs`` names the graph inputs that are real data; by default a graph input that only
    feeds weight slots (Conv W/B, Gemm B/C, BatchNorm stats, ...) is a weight.
    """
    onnx = _import_onnx()
    source = os.fspath(path)
    name = os.path.basename(source)
    try:
        model = read_structure(source)  # shapes only: weight data is never read into memory
    except TvmvizError as err:
        raise TvmvizError(f"{name}: {err}") from None
    return onnx_model_to_graph(model, source=source, data_inputs=data_inputs)


def onnx_model_to_graph(model, source: str = "<onnx>", data_inputs: list[str] | None = None) -> LayoutGraph:
    """The LayoutGraph of an in-memory ``onnx.ModelProto`` (see ``load_onnx``)."""
    label = os.path.basename(source) or source
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    data_names = _data_graph_inputs(graph, initializers, data_inputs, label)
    tensors = _relax_tensor_types(model, initializers, label)
    names = _node_names(graph)
    opset = _opset(model)
    calls, producer = _expand_nodes(graph, names, tensors, data_names, opset, label)
    return _post_order(graph, calls, producer, data_names, tensors, source, label)


# --- TVM Relax import -------------------------------------------------------------------------


def _opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def _import_onnx():
    try:
        import onnx
    except ImportError as err:  # pragma: no cover - onnx is a dependency
        raise TvmvizError(f"the onnx package is required to read ONNX models ({err})") from None
    return onnx


def _relax_tensor_types(model, initializers: set[str], label: str) -> dict[str, _Tensor]:
    """Import through TVM Relax; return TVM's inferred shape and dtype of every ONNX tensor."""
    try:
        from tvm.relax.frontend.onnx import onnx_frontend
    except ImportError as err:
        raise TvmvizError(f"{label}: importing ONNX needs apache-tvm with Relax ({err})") from None

    slim = _strip_weight_data(model, initializers)
    opset = _opset(model)
    importer = onnx_frontend.ONNXGraphImporter({}, "float32", keep_params_in_input=False, sanitize=False)
    try:
        # Relax prints "Error converting operator ..." and warns on renames; keep both off the UI.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            importer.from_onnx(slim.graph, opset)
    except Exception as err:  # TVM raises TVMError, ValueError, AssertionError, OpNotImplemented...
        msg = str(err).strip().splitlines()
        detail = msg[-1] if msg else ""
        raise TvmvizError(f"{label}: TVM Relax could not import this ONNX model ({type(err).__name__}: {detail})") from None

    # `_nodes` maps every ONNX tensor name to its Relax expression; it is the only place that
    # keeps the ONNX names, so we read it (ONNXGraphImporter internals of apache-tvm 0.27).
    exprs = getattr(importer, "_nodes", None)
    if not isinstance(exprs, dict):
        raise TvmvizError(f"{label}: this TVM version's Relax ONNX importer is not supported (no tensor map)")
    out: dict[str, _Tensor] = {}
    for tensor_name, expr in exprs.items():
        ty = getattr(expr, "ty", None) or getattr(expr, "struct_info", None)
        shape = getattr(ty, "shape", None)
        dtype = getattr(ty, "dtype", None)
        if shape is None or dtype is None:
            continue  # tuples, shape values, optionals: never data tensors of a conv net
        try:
            dims = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            out[tensor_name] = _Tensor((), str(dtype))  # symbolic: flagged if a data tensor needs it
            continue
        out[tensor_name] = _Tensor(dims, str(dtype))
    return out


def _strip_weight_data(model, initializers: set[str]):
    """A copy of the model whose big weight initializers are shape-only graph inputs.

    Relax only needs their shapes; copying ResNet-50's 100 MB of weights into TVM constants would
    be wasted time. Initializers any node reads as a value (reshape shapes, clip bounds, pads...)
    are kept: only those used solely in slot >= 1 of Conv/ConvTranspose/Gemm/BatchNormalization are
    stripped.
    """
    from onnx import helper

    weight_slot_ops = {"Conv", "ConvTranspose", "Gemm", "BatchNormalization"}
    value_uses: set[str] = set()
    weight_uses: set[str] = set()
    for node in model.graph.node:
        for slot, tensor in enumerate(node.input):
            if node.op_type in weight_slot_ops and slot >= 1:
                weight_uses.add(tensor)
            else:
                value_uses.add(tensor)
    dataless = {t.name for t in model.graph.initializer if not has_data(t)}  # large weights read_structure dropped
    strip = ((weight_uses - value_uses) & initializers) | dataless
    if not strip:
        return model
    slim = type(model)()
    slim.CopyFrom(model)
    kept = [t for t in slim.graph.initializer if t.name not in strip]
    new_inputs = [
        helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
        for t in slim.graph.initializer
        if t.name in strip and t.name not in {i.name for i in slim.graph.input}
    ]
    del slim.graph.initializer[:]
    slim.graph.initializer.extend(kept)
    slim.graph.input.extend(new_inputs)
    return slim


# --- ONNX structure ----------------------------------------------------------------------------


def _data_graph_inputs(graph, initializers: set[str], data_inputs, label: str) -> list[str]:
    """Graph inputs that are data (in graph.input order); the rest are weights."""
    declared = [i.name for i in graph.input if i.name not in initializers]
    if data_inputs is not None:
        unknown = [n for n in data_inputs if n not in declared]
        if unknown:
            raise TvmvizError(f"{label}: data input(s) {unknown} are not graph inputs (inputs: {declared})")
        return [n for n in declared if n in set(data_inputs)]
    used_as_data: set[str] = set()
    used: set[str] = set()
    for node in graph.node:
        for slot, tensor in enumerate(node.input):
            used.add(tensor)
            if slot == 0 or node.op_type not in _DATA_SLOTS_FIRST_ONLY:
                used_as_data.add(tensor)
    outputs = {o.name for o in graph.output}
    return [n for n in declared if n in used_as_data or n in outputs or n not in used]


def _node_names(graph) -> list[str]:
    """ONNX node names, unnamed nodes named like TVM 0.19's get_source_name: <OpType>_<k>."""
    counters: dict[str, int] = {}
    names = []
    for node in graph.node:
        if node.name:
            names.append(node.name)
            continue
        k = counters[node.op_type] + 1 if node.op_type in counters else 0
        counters[node.op_type] = k
        names.append(f"{node.op_type}_{k}")
    return names


def _attr(node, key: str, default=None):
    from onnx import helper

    for a in node.attribute:
        if a.name == key:
            value = helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _expand_nodes(graph, names, tensors, data_names, opset, label):
    """Relay calls of every ONNX node that computes data, and the producer of every data tensor."""
    is_data: set[str] = set(data_names)
    calls: list[_Call] = []
    producer: dict[str, tuple] = {n: ("t", n) for n in data_names}
    for node, node_name in zip(graph.node, names):
        data_in = [t for t in node.input if t and t in is_data]
        if not data_in or node.op_type in _SHAPE_ONLY_OPS or node.op_type == "Constant":
            continue  # a parameter computation: folded or a weight-side call, never a data node
        outs = [t for t in node.output if t]
        ctx = _NodeContext(node, node_name, tensors, producer, label, opset)
        new_calls = _expand(ctx, calls)
        if not new_calls:
            raise TvmvizError(f"{label}: node {node_name!r} ({node.op_type}) produced no call")  # pragma: no cover
        _name_calls(new_calls, node_name)
        base = len(calls)
        calls.extend(new_calls)
        last = ("c", base + len(new_calls) - 1)
        for out in outs:
            producer[out] = last
            is_data.add(out)
        if len(outs) > 1:
            calls[last[1]].attrs["output_shapes"] = [list(ctx.shape(o)) for o in outs]
    return calls, producer


def _name_calls(new_calls: list[_Call], node_name: str) -> None:
    primary = next((i for i, c in enumerate(new_calls) if c.op == "conv2d"), 0)
    used: set[str] = {node_name}
    for i, call in enumerate(new_calls):
        call.attrs["onnx_node"] = node_name
        if i == primary:
            call.attrs["name"] = node_name
            continue
        call.attrs["name"] = part_name(node_name, call.op, used)


class _NodeContext:
    """What an expansion needs to know about one ONNX node."""

    def __init__(self, node, name, tensors, producer, label, opset):
        self.opset = opset
        self.node = node
        self.name = name
        self.tensors = tensors
        self.producer = producer
        self.label = label

    def shape(self, tensor: str) -> tuple[int, ...]:
        t = self.tensors.get(tensor)
        if t is None or (not t.shape and tensor in self.producer):
            raise TvmvizError(
                f"{self.label}: node {self.name!r} ({self.node.op_type}): TVM inferred no static shape for "
                f"tensor {tensor!r}; give the graph inputs static shapes"
            )
        return t.shape

    def dtype(self, tensor: str) -> str:
        t = self.tensors.get(tensor)
        return t.dtype if t is not None else "float32"

    def arg(self, slot: int):
        """The data argument in input slot `slot`, or None for a parameter / missing input."""
        ins = self.node.input
        if slot < len(ins) and ins[slot] and ins[slot] in self.producer:
            return self.producer[ins[slot]]
        return None

    def data_args(self) -> list:
        return [self.producer[t] for t in self.node.input if t and t in self.producer]

    @property
    def out(self) -> str:
        return self.node.output[0]

    def call(self, op: str, args: list, shape=None, dtype=None, **kw) -> _Call:
        return _Call(
            op=op,
            args=[a for a in args if a is not None],
            shape=tuple(self.shape(self.out) if shape is None else shape),
            dtype=dtype or self.dtype(self.out),
            onnx_node=self.name,
            onnx_op=self.node.op_type,
            **kw,
        )


def _local(calls_so_far: list[_Call], new: list[_Call]):
    """Reference to the last call appended to `new` (ids are global: offset by calls already made)."""
    return ("c", len(calls_so_far) + len(new) - 1)


def _expand(ctx: _NodeContext, calls: list[_Call]) -> list[_Call]:
    op = ctx.node.op_type
    if op == "Conv":
        return _expand_conv(ctx, calls)
    if op == "ConvTranspose":
        new = [ctx.call(_dim_op("conv", ctx, "_transpose"), [ctx.arg(0), ctx.arg(1)])]
        if len(ctx.node.input) >= 3 and ctx.node.input[2]:
            new.append(ctx.call("bias_add", [_local(calls, new), ctx.arg(2)]))
        return new
    if op in _NCHW_POOLS:
        return _expand_pool(ctx, calls)
    if op == "Gemm":
        return _expand_gemm(ctx, calls)
    if op == "MatMul":
        b_rank = len(ctx.shape(ctx.node.input[1]))
        a_rank = len(ctx.shape(ctx.node.input[0]))
        if a_rank <= 2 and b_rank == 2:  # 0.19 matmul_out_dtype: dense(a, transpose(b))
            new = []
            if ctx.arg(1) is not None:
                b_shape = ctx.shape(ctx.node.input[1])
                new.append(ctx.call("transpose", [ctx.arg(1)], shape=(b_shape[1], b_shape[0])))
                return new + [ctx.call("dense", [ctx.arg(0), _local(calls, new)])]
            return [ctx.call("dense", [ctx.arg(0)])]
        return [ctx.call("batch_matmul", ctx.data_args(), attrs={"approximate_expansion": True})]
    if op == "Flatten":
        axis = _attr(ctx.node, "axis", 1)
        if axis < 0:
            axis += len(ctx.shape(ctx.node.input[0]))
        return [ctx.call("batch_flatten" if axis == 1 else "reshape", ctx.data_args())]
    if op in ("Sum", "Max", "Min", "Mean"):
        return _expand_variadic(ctx, calls)
    if op == "Softmax" or op == "LogSoftmax":
        return _expand_softmax(ctx, calls)
    relay = _RELAY_RENAMES.get(op)
    if relay is None:
        # Not mirrored from 0.19's converter: one call, flagged so nobody takes its name as Relay's.
        return [ctx.call(_snake(op), ctx.data_args(), attrs={"relay_op_unverified": True})]
    return [ctx.call(relay, ctx.data_args())]


def _snake(op_type: str) -> str:
    out = []
    for i, ch in enumerate(op_type):
        if ch.isupper() and i and not op_type[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _dim_op(prefix: str, ctx: _NodeContext, suffix: str = "") -> str:
    rank = len(ctx.shape(ctx.node.input[0]))
    return f"{prefix}{rank - 2}d{suffix}"


def _same_pads(in_hw, kernel, strides, dilations, mode: str) -> list[int]:
    """0.19's autopad: total = max(dilated_k - (stride if in % stride == 0 else in % stride), 0)."""
    before, after = [], []
    for size, k, s, d in zip(in_hw, kernel, strides, dilations):
        dk = (k - 1) * d + 1
        total = max(dk - s, 0) if size % s == 0 else max(dk - size % s, 0)
        lo, hi = total // 2, total - total // 2
        if "LOWER" in mode:
            lo, hi = hi, lo
        before.append(lo)
        after.append(hi)
    return before + after


def _expand_conv(ctx: _NodeContext, calls: list[_Call]) -> list[_Call]:
    node = ctx.node
    x_name, w_name = node.input[0], node.input[1]
    x_shape = ctx.shape(x_name)
    w_shape = ctx.tensors[w_name].shape if w_name in ctx.tensors else ()
    if len(x_shape) != 4:
        new = [ctx.call(_dim_op("conv", ctx), [ctx.arg(0), ctx.arg(1)])]
        if len(node.input) >= 3 and node.input[2]:
            new.append(ctx.call("bias_add", [_local(calls, new), ctx.arg(2)]))
        return new
    if len(w_shape) != 4:
        raise TvmvizError(f"{ctx.label}: conv {ctx.name!r}: TVM inferred no 4-D weight shape for {w_name!r}")
    kernel = tuple(_attr(node, "kernel_shape", w_shape[2:]))
    strides = tuple(_attr(node, "strides", (1, 1)))
    dilations = tuple(_attr(node, "dilations", (1, 1)))
    group = int(_attr(node, "group", 1))
    pads = list(_attr(node, "pads", (0, 0, 0, 0)))
    auto_pad = _attr(node, "auto_pad", "NOTSET")
    new: list[_Call] = []
    data_arg = ctx.arg(0)
    conv_in = x_shape
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        # 0.19 pads the data with nn.pad (static after DynamicToStatic) and convolves with padding 0.
        p = _same_pads(x_shape[2:], kernel, strides, dilations, auto_pad)
        conv_in = (x_shape[0], x_shape[1], x_shape[2] + p[0] + p[2], x_shape[3] + p[1] + p[3])
        new.append(ctx.call("pad", [data_arg], shape=conv_in, attrs={"pad_width": p, "auto_pad": auto_pad}))
        data_arg = _local(calls, new)
        pads = [0, 0, 0, 0]
    elif auto_pad == "VALID":
        pads = [0, 0, 0, 0]
    conv = ConvAttrs(
        data_shape=tuple(conv_in),
        kernel_shape=tuple(w_shape),
        strides=(int(strides[0]), int(strides[1])),
        padding=(int(pads[0]), int(pads[1]), int(pads[2]), int(pads[3])),
        dilation=(int(dilations[0]), int(dilations[1])),
        dtype=ctx.dtype(x_name),
        out_dtype=ctx.dtype(x_name),
        groups=group,
    )
    out_shape = ctx.shape(ctx.out)
    oh, ow = conv.output_hw()
    expected = (x_shape[0], w_shape[0], oh, ow)
    if tuple(out_shape) != expected or tuple(kernel) != tuple(w_shape[2:]):
        raise TvmvizError(
            f"{ctx.label}: conv {ctx.name!r}: attributes give output {expected} but TVM inferred "
            f"{tuple(out_shape)}; cannot build its workload"
        )
    new.append(ctx.call("conv2d", [data_arg, ctx.arg(1)], conv=conv))
    if len(node.input) >= 3 and node.input[2]:
        new.append(ctx.call("bias_add", [_local(calls, new), ctx.arg(2)]))
    return new


def _expand_pool(ctx: _NodeContext, calls: list[_Call]) -> list[_Call]:
    node = ctx.node
    name = _NCHW_POOLS[node.op_type]
    x_shape = ctx.shape(node.input[0])
    pool = f"{name}{len(x_shape) - 2}d"
    auto_pad = _attr(node, "auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER") and node.op_type == "MaxPool":
        kernel = _attr(node, "kernel_shape")
        strides = _attr(node, "strides", [1] * len(kernel))
        p = _same_pads(x_shape[2:], kernel, strides, [1] * len(kernel), auto_pad)
        padded = tuple(x_shape[:2]) + tuple(s + p[i] + p[i + len(kernel)] for i, s in enumerate(x_shape[2:]))
        new = [ctx.call("pad", [ctx.arg(0)], shape=padded, attrs={"pad_width": p, "auto_pad": auto_pad})]
        return new + [ctx.call(pool, [_local(calls, new)])]
    return [ctx.call(pool, [ctx.arg(0)])]


def _expand_gemm(ctx: _NodeContext, calls: list[_Call]) -> list[_Call]:
    """0.19 Gemm: [transpose(A)] [batch_flatten(A)] [A*alpha] dense(A, B') [+ C or + beta*C]."""
    node = ctx.node
    a_shape = ctx.shape(node.input[0])
    new: list[_Call] = []
    a = ctx.arg(0)
    cur_shape = tuple(a_shape)
    if _attr(node, "transA", 0) and a is not None:
        cur_shape = (a_shape[1], a_shape[0])
        new.append(ctx.call("transpose", [a], shape=cur_shape))
        a = _local(calls, new)
    if len(a_shape) != 2 and a is not None:
        cur_shape = (cur_shape[0], math.prod(cur_shape[1:]))
        new.append(ctx.call("batch_flatten", [a], shape=cur_shape))
        a = _local(calls, new)
    if float(_attr(node, "alpha", 1.0)) != 1.0 and a is not None:
        new.append(ctx.call("multiply", [a], shape=cur_shape))
        a = _local(calls, new)
    b = ctx.arg(1)
    if b is not None and not _attr(node, "transB", 0):
        b_shape = ctx.shape(node.input[1])
        new.append(ctx.call("transpose", [b], shape=(b_shape[1], b_shape[0])))
        b = _local(calls, new)
    new.append(ctx.call("dense", [a, b]))
    if len(node.input) >= 3 and node.input[2]:
        dense = _local(calls, new)
        c = ctx.arg(2)
        if c is not None and float(_attr(node, "beta", 1.0)) != 1.0:
            new.append(ctx.call("multiply", [c], shape=ctx.shape(node.input[2])))
            c = _local(calls, new)
        new.append(ctx.call("add", [dense, c]))
    return new


def _expand_variadic(ctx: _NodeContext, calls: list[_Call]) -> list[_Call]:
    """0.19 Sum/Max/Min/Mean fold left: op(op(a, b), c); Mean then divides by the count."""
    node = ctx.node
    relay = {"Sum": "add", "Max": "maximum", "Min": "minimum", "Mean": "add"}[node.op_type]
    ins = [t for t in node.input if t]
    new: list[_Call] = []
    if len(ins) == 1:
        return [ctx.call("copy" if node.op_type != "Mean" else "divide", [ctx.arg(0)])]
    acc = ctx.producer.get(ins[0])
    for t in ins[1:]:
        new.append(ctx.call(relay, [acc, ctx.producer.get(t)]))
        acc = _local(calls, new)
    if node.op_type == "Mean":
        new.append(ctx.call("divide", [acc]))
    return new


def _expand_softmax(ctx: _NodeContext, calls: list[_Call]) -> list[_Call]:
    """0.19 Softmax: one softmax from opset 13 or on the last axis, else reshape/softmax/reshape;
    LogSoftmax is that followed by log."""
    node = ctx.node
    shape = ctx.shape(node.input[0])
    ndim = len(shape)
    axis = _attr(node, "axis", -1 if ctx.opset >= 13 else 1)
    if axis < 0:
        axis += ndim
    new: list[_Call] = []
    if ctx.opset >= 13 or axis == ndim - 1:
        new.append(ctx.call("softmax", [ctx.arg(0)], shape=shape))
    else:
        flat = (math.prod(shape[:axis]), math.prod(shape[axis:])) if axis else (math.prod(shape),)
        new.append(ctx.call("reshape", [ctx.arg(0)], shape=flat))
        new.append(ctx.call("softmax", [_local(calls, new)], shape=flat))
        new.append(ctx.call("reshape", [_local(calls, new)], shape=shape))
    if node.op_type == "LogSoftmax":
        new.append(ctx.call("log", [_local(calls, new)], shape=shape))
    return new


# --- Relay post-order ----------------------------------------------------------------------------


def _post_order(graph, calls, producer, data_names, tensors, source, label) -> LayoutGraph:
    """Nodes in Relay post_order_visit order: data inputs, then DFS post-order from the outputs."""
    nodes: list[Node] = []
    index_of: dict[tuple, int] = {}
    for name in data_names:
        t = tensors.get(name)
        if t is None or not t.shape:
            raise TvmvizError(f"{label}: graph input {name!r} has no static shape")
        index_of[("t", name)] = len(nodes)
        nodes.append(Node(index=len(nodes), name=name, op="input", inputs=(), shape=t.shape, dtype=t.dtype))

    def emit(call_id: int) -> None:
        call = calls[call_id]
        inputs = tuple(index_of[a] for a in call.args)
        attrs = dict(call.attrs)
        name = attrs.pop("name")
        attrs["onnx_op"] = call.onnx_op
        index_of[("c", call_id)] = len(nodes)
        nodes.append(
            Node(
                index=len(nodes),
                name=name,
                op=call.op,
                inputs=inputs,
                shape=call.shape,
                dtype=call.dtype,
                conv=call.conv,
                attrs=attrs,
            )
        )

    out_refs = []
    for out in graph.output:
        ref = producer.get(out.name)
        if ref is None:
            continue  # an output computed from weights only: no data node
        out_refs.append(ref)
    for ref in post_order(out_refs, lambda r: calls[r[1]].args, done=index_of):
        emit(ref[1])
    outputs = tuple(dict.fromkeys(index_of[r] for r in out_refs))
    graph_out = LayoutGraph(nodes=tuple(nodes), outputs=outputs, source=source)
    if not graph_out.convs():
        raise TvmvizError(f"{label}: the graph has no 2-D Conv reachable from its outputs: nothing for the graph tuner to choose")
    return graph_out
