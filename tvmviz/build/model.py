"""An ONNX model and a layout plan -> a Relax module that runs the plan, as TVM's AlterOpLayout would.

Each conv2d becomes ``conv2d_NCHWc`` with the plan's (ic_bn, oc_bn) and its record's schedule
(``tvmviz.measure.conv``: TVM 0.19's x86 template on s_tir); every layout change is
``tvmviz.measure.transform``'s kernel, the one the transform costs were measured with. Both are called by
name (``call_dps_packed``) as kernels of ``tvmviz.build.kernels`` -- compiled once per process however many
plans use them, never fused, so each is timed as the kernel that was predicted; a place in the module is
(kernel symbol, how many calls of it came before). Other ops run in the layout they receive (elementwise, pools, channel concat in NCHW[x]c);
a merge's inputs after the first are transformed into the first input's layout (the graph tuner's
leftmost-input rule), and ops that need NCHW (flatten, gemm, reshape, softmax, ...) get it back.
Those ops are legalized and fused by Relax's CPU pipeline and scheduled by tvmviz.build.schedule.

Weights come from the model's initializers; shape-only weights get fixed random values
(``model_weights``), so ``onnx.reference`` can be run on the same numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from tvmviz.errors import TvmvizError
from tvmviz.graph.model import LayoutGraph
from tvmviz.build.kernels import conv_kernel, transform_kernel
from tvmviz.measure.conv import ConvKnobs, conv_attrs, pack_kernel
from tvmviz.measure.timing import import_tvm
from tvmviz.measure.transform import TransformKey

ELEMENTWISE = {"Relu", "Sigmoid", "Tanh", "Identity", "Dropout", "Clip", "LeakyRelu", "Exp", "Abs", "Neg", "Sqrt"}
BINARY = {"Add": "add", "Sub": "subtract", "Mul": "multiply", "Div": "divide", "Max": "maximum", "Min": "minimum"}
POOLS = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}
NCHW_OPS = {"Flatten", "Gemm", "MatMul", "Reshape", "Softmax", "LogSoftmax", "Transpose", "Squeeze", "Unsqueeze"}
SUPPORTED_OPS = sorted({"Conv", "BatchNormalization", "Concat", "Sum"} | ELEMENTWISE | set(BINARY) | POOLS | NCHW_OPS)


@dataclass(frozen=True)
class BuiltConv:
    name: str  # conv node name (LayoutGraph / ONNX)
    func: tuple  # (kernel symbol, occurrence): its place among the module's calls
    ic_bn: int
    oc_bn: int
    knobs: ConvKnobs
    out_shape: tuple  # NCHW


@dataclass(frozen=True)
class BuiltTransform:
    func: tuple  # (kernel symbol, occurrence)
    src: str  # key node (conv, merge or graph input) whose output is transformed, walking back through
    dst: str  # single-input ops; dst is the consuming conv / merge / layout-fixed op, or "output"
    src_layout: str
    dst_layout: str
    shape: tuple  # input shape, in the source layout


@dataclass
class BuiltModule:
    mod: object  # tvm.IRModule with "main"(data...) -> output (NCHW)
    inputs: list  # (name, shape, dtype) of the data inputs, in order
    convs: list = field(default_factory=list)  # BuiltConv, in execution order
    transforms: list = field(default_factory=list)  # BuiltTransform, in execution order
    kernels: dict = field(default_factory=dict)  # symbol -> tvmviz.build.kernels.Kernel the module calls

    def func_names(self) -> dict:
        """(kernel symbol, occurrence) -> what it is ("conv" / "transform")."""
        return {**{c.func: "conv" for c in self.convs}, **{t.func: "transform" for t in self.transforms}}


def layout_name(block: int | None) -> str:
    return "NCHW" if block is None else f"NCHW{block}c"


def knobs_of(entity, ic_bn: int, oc_bn: int) -> ConvKnobs:
    """The x86 schedule knobs of a conv2d_NCHWc.x86 record's config entity (list or its JSON text)."""
    ent = json.loads(entity) if isinstance(entity, str) else entity
    try:
        knobs = {k[0]: k[2] for k in ent}
        tile_ow = int(knobs["tile_ow"][-1])
        if "tile_oh" in knobs:
            return ConvKnobs(ic_bn, oc_bn, tile_ow, tile_oh=int(knobs["tile_oh"]))
        return ConvKnobs(ic_bn, oc_bn, tile_ow, unroll_kw=bool(knobs["unroll_kw"]))
    except (KeyError, TypeError, ValueError, IndexError):
        raise TvmvizError(f"record config {json.dumps(ent)} is not a conv2d_NCHWc.x86 config "
                          "(needs tile_ow and unroll_kw or tile_oh)") from None


# ---- weights ----------------------------------------------------------------------------------------


def data_input_names(graph: LayoutGraph) -> list[str]:
    return [n.name for n in graph.nodes if n.op == "input"]


def model_weights(model, data_inputs: list[str], seed: int = 0) -> dict:
    """Every weight of the model as a NumPy array: initializers as stored, shape-only graph inputs filled
    with fixed random values scaled so activations stay O(1) through deep nets (He-uniform for conv and
    gemm weights, positive variances for batch norm)."""
    from onnx import numpy_helper

    rng = np.random.default_rng(seed)
    out = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    roles = {}
    for node in model.graph.node:
        for slot, name in enumerate(node.input):
            roles.setdefault(name, (node.op_type, slot))
    for vi in model.graph.input:
        if vi.name in out or vi.name in data_inputs:
            continue
        shape = _static_shape(vi, "weight")
        dtype = _np_dtype(vi)
        op, slot = roles.get(vi.name, ("", 0))
        out[vi.name] = _random_weight(rng, shape, op, slot).astype(dtype)
    return out


def _random_weight(rng, shape, op: str, slot: int) -> np.ndarray:
    if op in ("Conv", "Gemm", "MatMul") and slot == 1 and len(shape) >= 2:
        fan_in = math.prod(shape[1:]) if op == "Conv" else min(shape)
        bound = math.sqrt(6.0 / max(fan_in, 1))
        return rng.uniform(-bound, bound, shape)
    if op == "BatchNormalization":
        if slot in (1, 4):  # scale, variance: positive, near 1
            return rng.uniform(0.5, 1.5, shape)
        return rng.uniform(-0.1, 0.1, shape)
    if slot >= 1 and op in ("Conv", "Gemm"):  # bias
        return rng.uniform(-0.1, 0.1, shape)
    return rng.uniform(-1, 1, shape)


def _static_shape(vi, what: str) -> tuple:
    dims = vi.type.tensor_type.shape.dim
    if any(not d.HasField("dim_value") for d in dims):
        raise TvmvizError(f"{what} {vi.name!r} has no static shape: give it one in the model")
    return tuple(int(d.dim_value) for d in dims)


def _np_dtype(vi) -> np.dtype:
    from onnx import helper

    return np.dtype(helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type))


def random_inputs(model, data_inputs: list[str], seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    by_name = {vi.name: vi for vi in model.graph.input}
    return {n: rng.uniform(-1, 1, _static_shape(by_name[n], "data input")).astype(_np_dtype(by_name[n]))
            for n in data_inputs}


# ---- the builder ------------------------------------------------------------------------------------


@dataclass
class _Value:
    expr: object  # relax expression
    block: int | None  # channel block of its layout; None = the plain (NCHW for 4-D) layout
    key: str  # the key node it comes from (conv, merge, graph input or layout-fixed op)
    shape: tuple  # in its plain (NCHW) form

    @property
    def channels(self) -> int:
        return self.shape[1]


def build_module(model, graph: LayoutGraph, choices: dict, weights: dict, label: str = "model",
                 target_key: str = "") -> BuiltModule:
    """The Relax module running ``model`` with ``choices``: conv name -> (ic_bn, oc_bn, entity). Its kernels
    (``built.kernels``) are named for what they compute on ``target_key`` (the target string) and must be
    compiled (tvmviz.build.kernels.KernelLibrary.ensure) before the module runs."""
    return _Builder(model, graph, choices, weights, label, target_key).build()


class _Builder:
    def __init__(self, model, graph, choices, weights, label, target_key):
        import_tvm()
        from tvm import relax

        from tvmviz.graph.onnx_import import _node_names

        self.relax = relax
        self.model = model
        self.graph = graph
        self.choices = choices
        self.weights = weights
        self.label = label
        self.target_key = target_key
        self.names = _node_names(model.graph)
        self.bb = relax.BlockBuilder()
        self.env: dict[str, _Value] = {}
        self.built = BuiltModule(None, [])
        self.calls: dict = {}  # kernel symbol -> calls emitted so far

    # -- helpers

    def _err(self, name, op, what) -> TvmvizError:
        return TvmvizError(f"{self.label}: node {name!r} ({op}): {what}")

    def _const(self, array):
        return self.relax.const(np.ascontiguousarray(array))

    def _emit(self, expr):
        return self.bb.emit(expr)

    def _weight(self, tensor: str, name: str, op: str) -> np.ndarray:
        if tensor not in self.weights:
            raise self._err(name, op, f"input {tensor!r} is neither data nor a weight")
        return self.weights[tensor]

    def _call_kernel(self, kernel, args, out_shape, dtype):
        """A call of the shared kernel (tvmviz.build.kernels.Kernel); returns (expr, its place)."""
        from tvm import relax

        symbol = kernel.symbol
        self.built.kernels.setdefault(symbol, kernel)
        place = (symbol, self.calls.get(symbol, 0))
        self.calls[symbol] = place[1] + 1
        call = relax.call_dps_packed(relax.ExternFunc(symbol), args, relax.TensorType(out_shape, dtype))
        return self._emit(call), place

    def to_block(self, v: _Value, block: int | None, dst: str) -> _Value:
        """``v`` in NCHW{block}c (None: plain), through the measured transform kernel."""
        if v.block == block:
            return v
        if len(v.shape) != 4:
            raise TvmvizError(f"{self.label}: {dst}: cannot change the layout of a {len(v.shape)}-D tensor")
        in_shape = tuple(int(d) for d in v.expr.ty.shape)
        key = TransformKey(in_shape, layout_name(v.block), layout_name(block), str(v.expr.ty.dtype))
        if not key.keeps_elements:
            raise TvmvizError(f"{self.label}: {dst}: block {block} does not divide the {v.channels} channels of "
                              f"{v.key}'s output")
        expr, fname = self._call_kernel(transform_kernel(self.target_key, key), [v.expr],
                                     key.out_shape(), key.dtype)
        self.built.transforms.append(BuiltTransform(fname, v.key, dst, key.src, key.dst, key.shape))
        return _Value(expr, block, v.key, v.shape)

    def packed_channel(self, vec: np.ndarray, v: _Value) -> np.ndarray:
        """A per-channel vector shaped to broadcast against ``v`` in its layout."""
        c = v.channels
        if v.block is None:
            return vec.reshape((1, c) + (1,) * (len(v.shape) - 2))
        return vec.reshape(1, c // v.block, 1, 1, v.block)

    # -- the walk

    def build(self) -> BuiltModule:
        relax = self.relax
        data_names = [n.name for n in self.graph.nodes if n.op == "input"]
        params = []
        by_name = {vi.name: vi for vi in self.model.graph.input}
        for name in data_names:
            shape = _static_shape(by_name[name], "data input")
            dtype = str(_np_dtype(by_name[name]))
            var = relax.Var(name, relax.TensorType(shape, dtype))
            params.append(var)
            self.env[name] = _Value(var, None, name, shape)
            self.built.inputs.append((name, shape, dtype))
        with self.bb.function("main", params):
            with self.bb.dataflow():
                for node, name in zip(self.model.graph.node, self.names):
                    data_in = [t for t in node.input if t and t in self.env]
                    if not data_in:
                        continue  # a weight-side computation (Constant, shape arithmetic)
                    self._node(node, name)
                outs = []
                for o in self.model.graph.output:
                    if o.name not in self.env:
                        raise TvmvizError(f"{self.label}: graph output {o.name!r} is not computed from the data")
                    outs.append(self.to_block(self.env[o.name], None, "output").expr)
                result = self.bb.emit_output(outs[0] if len(outs) == 1 else relax.Tuple(outs))
            self.bb.emit_func_output(result)
        self.built.mod = self.bb.get()
        missing = set(self.choices) - {c.name for c in self.built.convs}
        if missing:
            raise TvmvizError(f"{self.label}: the plan chooses layouts for convs the model does not compute: "
                              + ", ".join(sorted(missing)))
        return self.built

    def _node(self, node, name: str) -> None:
        op = node.op_type
        if op == "Conv":
            out = self._conv(node, name)
        elif op in ELEMENTWISE:
            out = self._elementwise(node, name)
        elif op == "BatchNormalization":
            out = self._batch_norm(node, name)
        elif op in BINARY or (op == "Sum" and len(node.input) == 2):
            out = self._binary(node, name)
        elif op == "Concat":
            out = self._concat(node, name)
        elif op in POOLS:
            out = self._pool(node, name)
        elif op in NCHW_OPS:
            out = self._nchw_op(node, name)
        else:
            raise self._err(name, op, "the plan builder does not support this op; supported: "
                            + ", ".join(SUPPORTED_OPS))
        outputs = [t for t in node.output if t]
        self.env[outputs[0]] = out

    def _attr(self, node, key, default=None):
        from tvmviz.graph.onnx_import import _attr

        return _attr(node, key, default)

    def _conv(self, node, name: str) -> _Value:
        op = "Conv"
        try:
            gnode = self.graph.by_name(name)
        except KeyError:
            raise self._err(name, op, "not in the layout graph: is it the same model?") from None
        if gnode.conv is None or gnode.conv.groups != 1:
            raise self._err(name, op, "grouped / depthwise convs have no conv2d_NCHWc.x86 records")
        if self._attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            raise self._err(name, op, "auto_pad SAME_* is not supported by the plan builder; give explicit pads")
        if name not in self.choices:
            raise self._err(name, op, "the plan has no layout for this conv")
        ic_bn, oc_bn, entity = self.choices[name]
        attrs = conv_attrs(gnode.conv.workload())
        knobs = knobs_of(entity, ic_bn, oc_bn)
        x = self.to_block(self.env[node.input[0]], ic_bn, name)
        w = self._weight(node.input[1], name, op)
        o, _, _, _ = attrs.kernel_shape
        n, _, _, _ = attrs.data_shape
        oh, ow = attrs.output_hw()
        expr, fname = self._call_kernel(conv_kernel(self.target_key, attrs, knobs),
                                     [x.expr, self._const(pack_kernel(w.astype(attrs.dtype), ic_bn, oc_bn))],
                                     (n, o // oc_bn, oh, ow, oc_bn), attrs.out_dtype)
        self.built.convs.append(BuiltConv(name, fname, ic_bn, oc_bn, knobs, (n, o, oh, ow)))
        out = _Value(expr, oc_bn, name, (n, o, oh, ow))
        if len(node.input) >= 3 and node.input[2]:
            bias = self._weight(node.input[2], name, op).astype(attrs.out_dtype)
            out = _Value(self._emit(self.relax.op.add(out.expr, self._const(self.packed_channel(bias, out)))),
                         out.block, out.key, out.shape)
        return out

    def _elementwise(self, node, name: str) -> _Value:
        relax = self.relax
        x = self.env[node.input[0]]
        op = node.op_type
        if op == "Relu":
            e = relax.op.nn.relu(x.expr)
        elif op == "Sigmoid":
            e = relax.op.sigmoid(x.expr)
        elif op == "Tanh":
            e = relax.op.tanh(x.expr)
        elif op in ("Identity", "Dropout"):
            return x
        elif op == "LeakyRelu":
            e = relax.op.nn.leakyrelu(x.expr, float(self._attr(node, "alpha", 0.01)))
        elif op == "Clip":
            lo, hi = self._clip_bounds(node, name)
            e = relax.op.clip(x.expr, relax.PrimValue(lo), relax.PrimValue(hi))
        else:
            e = getattr(relax.op, {"Exp": "exp", "Abs": "abs", "Neg": "negative", "Sqrt": "sqrt"}[op])(x.expr)
        return _Value(self._emit(e), x.block, x.key, x.shape)

    def _clip_bounds(self, node, name):
        lo, hi = self._attr(node, "min", -3.4e38), self._attr(node, "max", 3.4e38)
        for slot in (1, 2):
            if len(node.input) > slot and node.input[slot]:
                if node.input[slot] in self.env:
                    raise self._err(name, "Clip", "bounds computed from data are not supported")
                value = float(np.asarray(self._weight(node.input[slot], name, "Clip")).reshape(()))
                lo, hi = (value, hi) if slot == 1 else (lo, value)
        return float(lo), float(hi)

    def _batch_norm(self, node, name: str) -> _Value:
        x = self.env[node.input[0]]
        gamma, beta, mean, var = (self._weight(t, name, "BatchNormalization").astype(np.float64)
                                  for t in node.input[1:5])
        scale = gamma / np.sqrt(var + float(self._attr(node, "epsilon", 1e-5)))
        shift = beta - mean * scale
        dtype = str(x.expr.ty.dtype)
        e = self.relax.op.add(self.relax.op.multiply(x.expr, self._const(self.packed_channel(scale.astype(dtype), x))),
                              self._const(self.packed_channel(shift.astype(dtype), x)))
        return _Value(self._emit(e), x.block, x.key, x.shape)

    def _binary(self, node, name: str) -> _Value:
        relax = self.relax
        fn = getattr(relax.op, BINARY.get(node.op_type, "add"))
        data = [t for t in node.input if t in self.env]
        if len(data) == 2:
            lead = self.env[data[0]]
            other = self.to_block(self.env[data[1]], lead.block, name)
            if lead.shape != other.shape:
                lead, other = self.to_block(lead, None, name), self.to_block(other, None, name)
            args = [lead.expr, other.expr] if node.input[0] == data[0] else [other.expr, lead.expr]
            return _Value(self._emit(fn(*args)), lead.block, name, lead.shape)
        x = self.env[data[0]]
        c = np.asarray(self._weight(next(t for t in node.input if t not in self.env), name, node.op_type))
        c = c.astype(str(x.expr.ty.dtype))
        if c.size == 1:
            const = self._const(c.reshape(()))
        elif x.block is not None and c.size == x.channels and c.shape[-2:] in ((1, 1),) and c.ndim in (3, 4):
            const = self._const(self.packed_channel(c.reshape(-1), x))
        else:
            x = self.to_block(x, None, name)
            const = self._const(c)
        args = [x.expr, const] if node.input[0] in self.env else [const, x.expr]
        return _Value(self._emit(fn(*args)), x.block, x.key, x.shape)

    def _concat(self, node, name: str) -> _Value:
        axis = int(self._attr(node, "axis", 1))
        ins = [self.env[t] for t in node.input if t]
        if any(t not in self.env for t in node.input if t):
            raise self._err(name, "Concat", "concatenating weights with data is not supported")
        rank = len(ins[0].shape)
        axis = axis + rank if axis < 0 else axis
        block = ins[0].block
        if axis != 1 or block is None or any(v.channels % block for v in ins):
            block = None  # the lead's block must divide every input's channels (else NCHW, like AlterOpLayout)
        ins = [self.to_block(v, block, name) for v in ins]
        shape = list(ins[0].shape)
        shape[axis] = sum(v.shape[axis] for v in ins)
        return _Value(self._emit(self.relax.op.concat([v.expr for v in ins], axis=axis)), block, name, tuple(shape))

    def _pool(self, node, name: str) -> _Value:
        relax = self.relax
        x = self.env[node.input[0]]
        op = node.op_type
        if len(x.shape) != 4:
            raise self._err(name, op, "only 2-D pooling is supported")
        layout = layout_name(x.block)
        n, c, h, w = x.shape
        if op == "GlobalAveragePool":
            e = relax.op.nn.adaptive_avg_pool2d(x.expr, (1, 1), layout=layout)
            return _Value(self._emit(e), x.block, x.key, (n, c, 1, 1))
        if op == "GlobalMaxPool":
            e = relax.op.nn.max_pool2d(x.expr, (h, w), (1, 1), (0, 0, 0, 0), layout=layout)
            return _Value(self._emit(e), x.block, x.key, (n, c, 1, 1))
        if self._attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            raise self._err(name, op, "auto_pad SAME_* is not supported by the plan builder; give explicit pads")
        kernel = tuple(self._attr(node, "kernel_shape"))
        strides = tuple(self._attr(node, "strides", (1, 1)))
        pads = tuple(self._attr(node, "pads", (0, 0, 0, 0)))
        dilations = tuple(self._attr(node, "dilations", (1, 1)))
        ceil = bool(self._attr(node, "ceil_mode", 0))
        padding = (pads[0], pads[1], pads[2], pads[3])  # ONNX: (t, l, b, r) = relax's order
        if op == "MaxPool":
            e = relax.op.nn.max_pool2d(x.expr, kernel, strides, padding, dilations, ceil, layout=layout)
        else:
            e = relax.op.nn.avg_pool2d(x.expr, kernel, strides, padding, dilations, ceil,
                                       count_include_pad=bool(self._attr(node, "count_include_pad", 0)), layout=layout)
        v = self._emit(e)
        out_shape = tuple(int(d) for d in v.ty.shape)
        if x.block is not None:
            out_shape = (out_shape[0], out_shape[1] * out_shape[4], out_shape[2], out_shape[3])
        return _Value(v, x.block, x.key, out_shape)

    def _nchw_op(self, node, name: str) -> _Value:
        relax = self.relax
        op = node.op_type
        x = self.to_block(self.env[node.input[0]], None, name)
        if op == "Flatten":
            axis = int(self._attr(node, "axis", 1))
            axis = axis + len(x.shape) if axis < 0 else axis
            shape = (math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))
            e = relax.op.reshape(x.expr, shape)
        elif op == "Reshape":
            target = [int(d) for d in np.asarray(self._weight(node.input[1], name, op)).reshape(-1)]
            target = [x.shape[i] if d == 0 and not self._attr(node, "allowzero", 0) else d for i, d in enumerate(target)]
            if -1 in target:
                known = math.prod(d for d in target if d != -1)
                target[target.index(-1)] = math.prod(x.shape) // known
            shape = tuple(target)
            e = relax.op.reshape(x.expr, shape)
        elif op == "Gemm":
            return self._gemm(node, name, x)
        elif op == "MatMul":
            if node.input[1] in self.env:
                raise self._err(name, op, "a MatMul of two data tensors is not supported")
            b = self._weight(node.input[1], name, op).astype(str(x.expr.ty.dtype))
            e = relax.op.matmul(x.expr, self._const(b))
            shape = tuple(x.shape[:-1]) + (b.shape[-1],)
        elif op in ("Softmax", "LogSoftmax"):
            axis = int(self._attr(node, "axis", -1))
            e = (relax.op.nn.softmax if op == "Softmax" else relax.op.nn.log_softmax)(x.expr, axis=axis)
            shape = x.shape
        elif op == "Transpose":
            perm = list(self._attr(node, "perm", list(range(len(x.shape)))[::-1]))
            e = relax.op.permute_dims(x.expr, perm)
            shape = tuple(x.shape[p] for p in perm)
        else:  # Squeeze / Unsqueeze: a reshape to TVM's inferred output shape
            shape = tuple(int(d) for d in self.graph.by_name(name).shape) if self._has(name) else None
            if shape is None:
                raise self._err(name, op, "its output shape is unknown")
            e = relax.op.reshape(x.expr, shape)
        return _Value(self._emit(e), None, name, tuple(shape))

    def _has(self, name: str) -> bool:
        try:
            self.graph.by_name(name)
            return True
        except KeyError:
            return False

    def _gemm(self, node, name: str, x: _Value) -> _Value:
        relax = self.relax
        if node.input[1] in self.env:
            raise self._err(name, "Gemm", "a Gemm whose B is data is not supported")
        dtype = str(x.expr.ty.dtype)
        a = x.expr
        if len(x.shape) != 2:
            a = self._emit(relax.op.reshape(a, (x.shape[0], math.prod(x.shape[1:]))))
        if self._attr(node, "transA", 0):
            a = self._emit(relax.op.permute_dims(a, [1, 0]))
        b = self._weight(node.input[1], name, "Gemm")
        if self._attr(node, "transB", 0):
            b = b.T
        b = b * float(self._attr(node, "alpha", 1.0))
        e = self._emit(relax.op.matmul(a, self._const(b.astype(dtype))))
        if len(node.input) >= 3 and node.input[2]:
            c = self._weight(node.input[2], name, "Gemm") * float(self._attr(node, "beta", 1.0))
            e = self._emit(relax.op.add(e, self._const(c.astype(dtype))))
        return _Value(e, None, name, tuple(int(d) for d in e.ty.shape))
