"""Synthetic ONNX models and AutoTVM records, for conformance tests and benchmarks.

Only numpy and onnx: the same code runs in tvmviz's venv and is read by the oracle venv's files.

Models are small (spatial 4..16, 8..48 channels) and written with opset 13 / IR version 8, so TVM 0.19's
Relay importer (onnx <= 1.16) reads them as well as TVM Relax does. Weights are shape-only graph inputs
or random initializers.

Every synthetic cost (kernel, transform, estimate rate) is a small multiple of a power of two, so every
sum the graph tuner forms is exact in float32 (its DP tables) and in float64: a tie is a real tie, and a
difference is never a rounding artefact. That lets the conformance test demand identical choices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

DTYPE = "float32"
OPSET = 13
IR_VERSION = 8
CONV_TASK = "conv2d_NCHWc.x86"
FAILED_COST = 1e9  # what AutoTVM logs for a failed trial
KERNEL_QUANTUM = 2.0**-26  # ~15 ns
TRANSFORM_RATE_QUANTUM = 2.0**-32  # per element


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ConvInfo:
    name: str  # ONNX node name
    workload: list  # [task, *args] as AutoTVM logs it
    weight: str


@dataclass(frozen=True)
class SynthModel:
    name: str
    proto: onnx.ModelProto
    input_name: str
    input_shape: tuple[int, ...]
    convs: tuple[ConvInfo, ...]  # in ONNX node order
    features: frozenset[str] = frozenset()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(self.proto.SerializeToString())
        return path

    def workloads(self) -> list[list]:
        """Distinct conv workloads, in first-appearance order."""
        seen: dict[str, list] = {}
        for c in self.convs:
            seen.setdefault(json.dumps(c.workload), c.workload)
        return list(seen.values())


def conv_workload(data_shape, kernel_shape, strides, padding, dilation=(1, 1)) -> list:
    return [
        CONV_TASK,
        ["TENSOR", list(data_shape), DTYPE],
        ["TENSOR", list(kernel_shape), DTYPE],
        list(strides),
        list(padding),
        list(dilation),
        "NCHW",
        "NCHW",
        DTYPE,
    ]


def _pooled(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int) -> int:
    return (size + pad_begin + pad_end - kernel) // stride + 1


class GraphBuilder:
    """Builds an ONNX graph node by node, tracking NCHW shapes; each method returns the output tensor name.

    Node names are explicit (``conv3``, ``add1``...): node and output tensor share the name.
    """

    def __init__(self, name: str, input_shape=(1, 3, 16, 16), *, weights: str = "inputs", seed: int = 0,
                 input_name: str = "data"):
        if weights not in ("inputs", "initializers"):
            raise ValueError(f"weights must be 'inputs' or 'initializers', not {weights!r}")
        self.name = name
        self.weights = weights
        self.rng = np.random.default_rng(seed)
        self.input_name = input_name
        self.input_shape = tuple(input_shape)
        self.shapes: dict[str, tuple[int, ...]] = {input_name: self.input_shape}
        self.nodes: list[onnx.NodeProto] = []
        self.inputs = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))]
        self.initializers: list[onnx.TensorProto] = []
        self.convs: list[ConvInfo] = []
        self.features: set[str] = set()
        self._counts: dict[str, int] = {}

    def _name(self, prefix: str, name: str | None) -> str:
        if name is not None:
            return name
        k = self._counts.get(prefix, 0)
        self._counts[prefix] = k + 1
        return f"{prefix}{k}"

    def _param(self, name: str, shape: tuple[int, ...]) -> str:
        if self.weights == "inputs":
            self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        else:
            data = (self.rng.standard_normal(shape) * 0.1).astype(np.float32)
            self.initializers.append(onnx.numpy_helper.from_array(data, name))
        return name

    def shape(self, x: str) -> tuple[int, ...]:
        return self.shapes[x]

    def conv(self, x: str, out_channels: int, kernel: int = 3, stride: int = 1, pad: int | tuple | None = None,
             bias: bool = False, name: str | None = None) -> str:
        n, c, h, w = self.shapes[x]
        if pad is None:
            pad = kernel // 2
        pads = (pad,) * 4 if isinstance(pad, int) else tuple(pad)  # top, left, bottom, right
        name = self._name("conv", name)
        weight = self._param(f"{name}_W", (out_channels, c, kernel, kernel))
        ins = [x, weight]
        if bias:
            ins.append(self._param(f"{name}_B", (out_channels,)))
        # ONNX pads are [x1_begin, x2_begin, x1_end, x2_end] = top, left, bottom, right
        self.nodes.append(helper.make_node("Conv", ins, [name], name=name, kernel_shape=[kernel, kernel],
                                           strides=[stride, stride], pads=list(pads)))
        oh = _pooled(h, kernel, stride, pads[0], pads[2])
        ow = _pooled(w, kernel, stride, pads[1], pads[3])
        self.shapes[name] = (n, out_channels, oh, ow)
        wl = conv_workload((n, c, h, w), (out_channels, c, kernel, kernel), (stride, stride), pads)
        self.convs.append(ConvInfo(name, wl, weight))
        self.features.add(f"conv{kernel}x{kernel}")
        if stride > 1:
            self.features.add("strided")
        if kernel > 1 and pads[0] == 0:
            self.features.add("valid_pad")
        if x == self.input_name:
            self._input_uses = getattr(self, "_input_uses", 0) + 1
            if self._input_uses > 1:
                self.features.add("input_fork")
        return name

    def relu(self, x: str, name: str | None = None) -> str:
        name = self._name("relu", name)
        self.nodes.append(helper.make_node("Relu", [x], [name], name=name))
        self.shapes[name] = self.shapes[x]
        return name

    def batch_norm(self, x: str, name: str | None = None) -> str:
        name = self._name("bn", name)
        c = self.shapes[x][1]
        params = [self._param(f"{name}_{p}", (c,)) for p in ("scale", "bias", "mean", "var")]
        if self.weights == "initializers":  # a usable variance
            self.initializers[-1] = onnx.numpy_helper.from_array(np.ones(c, np.float32), params[-1])
        self.nodes.append(helper.make_node("BatchNormalization", [x, *params], [name], name=name, epsilon=1e-5))
        self.shapes[name] = self.shapes[x]
        self.features.add("batch_norm")
        return name

    def add(self, a: str, b: str, name: str | None = None) -> str:
        if self.shapes[a] != self.shapes[b]:
            raise ValueError(f"Add of {self.shapes[a]} and {self.shapes[b]}")
        name = self._name("add", name)
        self.nodes.append(helper.make_node("Add", [a, b], [name], name=name))
        self.shapes[name] = self.shapes[a]
        self.features.add("add")
        return name

    def concat(self, xs: list[str], name: str | None = None) -> str:
        shapes = [self.shapes[x] for x in xs]
        if len({(s[0], s[2], s[3]) for s in shapes}) != 1:
            raise ValueError(f"Concat of {shapes}")
        name = self._name("concat", name)
        self.nodes.append(helper.make_node("Concat", list(xs), [name], name=name, axis=1))
        n, _, h, w = shapes[0]
        self.shapes[name] = (n, sum(s[1] for s in shapes), h, w)
        self.features.add("concat")
        return name

    def _pool(self, op: str, x: str, kernel: int, stride: int, pad: int, name: str | None) -> str:
        n, c, h, w = self.shapes[x]
        name = self._name(op.lower().replace("pool", "_pool"), name)
        self.nodes.append(helper.make_node(op, [x], [name], name=name, kernel_shape=[kernel, kernel],
                                           strides=[stride, stride], pads=[pad] * 4))
        self.shapes[name] = (n, c, _pooled(h, kernel, stride, pad, pad), _pooled(w, kernel, stride, pad, pad))
        self.features.add("max_pool" if op == "MaxPool" else "avg_pool")
        return name

    def max_pool(self, x: str, kernel: int = 2, stride: int = 2, pad: int = 0, name: str | None = None) -> str:
        return self._pool("MaxPool", x, kernel, stride, pad, name)

    def avg_pool(self, x: str, kernel: int = 2, stride: int = 2, pad: int = 0, name: str | None = None) -> str:
        return self._pool("AveragePool", x, kernel, stride, pad, name)

    def global_avg_pool(self, x: str, name: str | None = None) -> str:
        n, c, _, _ = self.shapes[x]
        name = self._name("gap", name)
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], [name], name=name))
        self.shapes[name] = (n, c, 1, 1)
        self.features.add("global_pool")
        return name

    def flatten_gemm(self, x: str, n_out: int = 10, name: str | None = None) -> str:
        shape = self.shapes[x]
        flat = self._name("flatten", None if name is None else f"{name}_flatten")
        self.nodes.append(helper.make_node("Flatten", [x], [flat], name=flat, axis=1))
        k = int(np.prod(shape[1:]))
        self.shapes[flat] = (shape[0], k)
        name = self._name("gemm", name)
        w = self._param(f"{name}_W", (n_out, k))
        b = self._param(f"{name}_B", (n_out,))
        self.nodes.append(helper.make_node("Gemm", [flat, w, b], [name], name=name, transB=1))
        self.shapes[name] = (shape[0], n_out)
        self.features.add("flatten_gemm")
        return name

    def build(self, outputs: list[str]) -> SynthModel:
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, list(self.shapes[o])) for o in outputs]
        graph = helper.make_graph(self.nodes, self.name, self.inputs, outs, initializer=self.initializers)
        model = helper.make_model(graph, producer_name="tvmviz.synth",
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        features = set(self.features)
        if len(outputs) > 1:
            features.add("multi_output")
        features.add(f"weights_{self.weights}")
        return SynthModel(self.name, model, self.input_name, self.input_shape, tuple(self.convs), frozenset(features))


# --------------------------------------------------------------------------- random small models

BLOCKS = ("conv", "conv_stride2", "residual", "residual_swapped", "residual_proj", "fork_add", "fork_concat",
          "inception", "max_pool", "avg_pool", "valid_conv", "add_chain", "bn_relu_conv")


def _block(g: GraphBuilder, x: str, kind: str, rng: np.random.Generator, channels: list[int]) -> str:
    n, c, h, w = g.shape(x)
    ch = int(rng.choice(channels))

    def conv(inp, oc, k=None, **kw):
        k = int(rng.choice([1, 3])) if k is None else k
        out = g.conv(inp, oc, k, bias=bool(rng.random() < 0.3), **kw)
        return g.relu(out) if rng.random() < 0.7 else out

    if kind == "conv":
        return conv(x, ch)
    if kind == "conv_stride2" and h >= 4:
        return conv(x, ch, k=int(rng.choice([1, 3])), stride=2)
    if kind == "valid_conv" and h >= 5:
        return conv(x, ch, k=3, pad=0)
    if kind in ("residual", "residual_swapped"):
        y = conv(conv(x, ch), c, k=3)
        if kind == "residual_swapped":
            g.features.add("add_swapped")
            return g.add(x, y)  # Add(b, a): the skip first, so post-order visits it first
        return g.add(y, x)
    if kind == "residual_proj":
        stride = 2 if h >= 4 else 1
        y = conv(conv(x, ch, k=1), ch, k=3, stride=stride)
        s = g.conv(x, ch, 1, stride=stride, pad=0)
        return g.add(y, s) if rng.random() < 0.5 else g.add(s, y)
    if kind == "fork_add":
        a, b = conv(x, ch, k=1), conv(x, ch, k=3)
        g.features.add("fork")
        return g.add(a, b)
    if kind == "fork_concat":
        a, b = conv(x, ch, k=1), conv(x, int(rng.choice(channels)), k=3)
        g.features.add("fork")
        return g.concat([a, b] if rng.random() < 0.5 else [b, a])
    if kind == "inception":
        a = conv(x, ch, k=1)
        b = conv(conv(x, ch, k=1), int(rng.choice(channels)), k=3)
        p = conv(g.max_pool(x, 3, 1, 1), int(rng.choice(channels)), k=1)
        return g.concat([a, b, p])
    if kind == "max_pool" and h >= 4:
        return conv(g.max_pool(x, 2, 2), ch)
    if kind == "avg_pool" and h >= 4:
        return conv(g.avg_pool(x, 3, 1, 1), ch)
    if kind == "add_chain":  # a merge whose lead is a merge
        a, b, d = conv(x, ch, k=1), conv(x, ch, k=3), conv(x, ch, k=1)
        return g.add(g.add(a, b), d)
    if kind == "bn_relu_conv":
        return conv(g.relu(g.batch_norm(x)), ch)
    return conv(x, ch)


def random_model(name: str, seed: int, *, must_have: str | None = None, n_blocks: int | None = None) -> SynthModel:
    """A small random model: a stem conv (sometimes a forked input), random blocks, a head."""
    rng = np.random.default_rng(seed)
    size = int(rng.choice([8, 12, 16]))
    in_c = int(rng.choice([3, 4, 8]))
    channels = [int(c) for c in rng.choice([8, 16, 24, 32, 48], size=3, replace=False)]
    weights = "initializers" if rng.random() < 0.3 else "inputs"
    g = GraphBuilder(name, (1, in_c, size, size), weights=weights, seed=seed)
    if rng.random() < 0.15:  # input fork: two convs read the graph input
        x = g.add(g.conv(g.input_name, channels[0], 3), g.conv(g.input_name, channels[0], 1))
    else:
        x = g.conv(g.input_name, channels[0], int(rng.choice([1, 3])))
    kinds = list(rng.choice(BLOCKS, size=n_blocks or int(rng.integers(2, 5))))
    if must_have is not None:
        kinds.insert(int(rng.integers(0, len(kinds) + 1)), must_have)
    side = None
    for k in kinds:
        x = _block(g, x, str(k), rng, channels)
        if side is None and rng.random() < 0.15:
            side = x  # a second graph output
    head = rng.random()
    if head < 0.3:
        out = g.flatten_gemm(g.global_avg_pool(x), 10)
    elif head < 0.45 and g.shape(x)[2] <= 4:
        out = g.flatten_gemm(x, 10)
    else:
        out = x
    outputs = [out] if side is None or side == x else [out, side]
    return g.build(outputs)


def generate_models(count: int = 24, seed: int = 0) -> list[SynthModel]:
    """``count`` varied models; model i contains block BLOCKS[i % len(BLOCKS)], so all kinds appear."""
    return [random_model(f"m{i:02d}", seed * 1000 + i, must_have=BLOCKS[i % len(BLOCKS)]) for i in range(count)]


def random_dag(n_convs: int, seed: int = 0, channels: int = 64, size: int = 8) -> SynthModel:
    """A benchmark DAG of exactly ``n_convs`` convs (residuals, forks, concats, pooling) whose DP stays tractable:
    at most two producers are pending at any time. Weights are shape-only inputs."""
    rng = np.random.default_rng(seed)
    g = GraphBuilder(f"dag{n_convs}_{seed}", (1, channels, size, size), weights="inputs", seed=seed)
    x = g.relu(g.conv(g.input_name, channels, 3))
    while len(g.convs) < n_convs:
        left = n_convs - len(g.convs)
        r = rng.random()
        if r < 0.35:  # residual over 1..2 convs
            y = g.relu(g.conv(x, channels, int(rng.choice([1, 3]))))
            if left >= 2 and rng.random() < 0.5:
                y = g.conv(y, channels, int(rng.choice([1, 3])))
            x = g.relu(g.add(y, x) if rng.random() < 0.7 else g.add(x, y))
        elif r < 0.55 and left >= 3:  # fork-concat and a 1x1 back to the width
            a = g.relu(g.conv(x, channels // 2, 1))
            b = g.relu(g.conv(x, channels // 2, 3))
            x = g.relu(g.conv(g.concat([a, b]), channels, 1))
        elif r < 0.65:
            x = g.relu(g.conv(g.max_pool(x, 3, 1, 1), channels, 1))
        else:
            x = g.relu(g.conv(x, channels, int(rng.choice([1, 3]))))
    return g.build([g.flatten_gemm(g.global_avg_pool(x), 10)])


# --------------------------------------------------------------------------- ResNet-50


def resnet50_onnx(version: str = "v2", weights: str = "inputs") -> SynthModel:
    """ResNet-50 (batch 1, 3x224x224) with the conv workloads of the ONNX model zoo's resnet50-v2-7 (Gluon
    BottleneckV2: pre-activation, stride in the 3x3, projection from the pre-activated input). ``v1`` is the
    post-activation variant with the same 23 workloads (Gluon V1b)."""
    if version not in ("v1", "v2"):
        raise ValueError(f"version must be v1 or v2, not {version!r}")
    g = GraphBuilder(f"resnet50_{version}", (1, 3, 224, 224), weights=weights)
    x = g.input_name
    if version == "v2":
        x = g.batch_norm(x, name="bn_data")
    x = g.conv(x, 64, 7, stride=2, pad=3, name="conv0")
    x = g.relu(g.batch_norm(x))
    x = g.max_pool(x, 3, 2, 1)
    for stage, (blocks, width, stride) in enumerate([(3, 256, 1), (4, 512, 2), (6, 1024, 2), (3, 2048, 2)], 1):
        for b in range(blocks):
            s = stride if b == 0 else 1
            p = f"stage{stage}_unit{b + 1}_"
            mid = width // 4
            if version == "v2":
                act = g.relu(g.batch_norm(x))
                short = g.conv(act, width, 1, s, 0, name=p + "sc") if b == 0 else x
                y = g.conv(act, mid, 1, 1, 0, name=p + "conv1")
                y = g.conv(g.relu(g.batch_norm(y)), mid, 3, s, 1, name=p + "conv2")
                y = g.conv(g.relu(g.batch_norm(y)), width, 1, 1, 0, name=p + "conv3")
                x = g.add(y, short, name=p + "add")
            else:
                short = g.batch_norm(g.conv(x, width, 1, s, 0, name=p + "sc")) if b == 0 else x
                y = g.relu(g.batch_norm(g.conv(x, mid, 1, 1, 0, name=p + "conv1")))
                y = g.relu(g.batch_norm(g.conv(y, mid, 3, s, 1, name=p + "conv2")))
                y = g.batch_norm(g.conv(y, width, 1, 1, 0, name=p + "conv3"))
                x = g.relu(g.add(y, short, name=p + "add"))
    if version == "v2":
        x = g.relu(g.batch_norm(x))
    return g.build([g.flatten_gemm(g.global_avg_pool(x), 1000, name="fc")])


# --------------------------------------------------------------------------- records


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def record_line(task: str, args: list, entity: list, costs: list[float], error_no: int = 0, *,
                index: int = -1, target: str = "llvm", timestamp: float = 1.7e9) -> str:
    """One AutoTVM v0.2 JSON line."""
    return json.dumps({
        "input": [target, task, args, {}],
        "config": {"index": index, "code_hash": None, "entity": entity},
        "result": [list(costs), error_no, 0.5 if error_no == 0 else 10.0, timestamp],
        "version": 0.2,
        "tvm_version": "0.19.0",
    })


def _entity(workload: list, ic_bn: int, oc_bn: int, rng: np.random.Generator) -> list:
    (_, c, _, w), (o, _, kh, kw) = workload[1][1], workload[2][1]
    strides, pads, dil = workload[3], workload[4], workload[5]
    ow = (w + pads[1] + pads[3] - ((kw - 1) * dil[1] + 1)) // strides[1] + 1
    ow_bn = int(rng.choice(_divisors(ow)))
    ent = [["tile_ic", "sp", [c // ic_bn, ic_bn]], ["tile_oc", "sp", [o // oc_bn, oc_bn]]]
    if kh == 1 and kw == 1:
        ent += [["tile_oh", "ot", int(rng.choice([1, 2]))], ["tile_ow", "sp", [ow // ow_bn, ow_bn]]]
    else:
        ent += [["tile_ow", "sp", [ow // ow_bn, ow_bn]], ["unroll_kw", "ot", bool(rng.random() < 0.5)]]
    return ent


def _quantize(seconds: float, quantum: float) -> float:
    return max(1, round(seconds / quantum)) * quantum


def workload_flops(workload: list) -> int:
    (n, c, h, w), (o, _, kh, kw) = workload[1][1], workload[2][1]
    strides, pads, dil = workload[3], workload[4], workload[5]
    oh = (h + pads[0] + pads[2] - ((kh - 1) * dil[0] + 1)) // strides[0] + 1
    ow = (w + pads[1] + pads[3] - ((kw - 1) * dil[1] + 1)) // strides[1] + 1
    return 2 * n * o * oh * ow * c * kh * kw


@dataclass
class RecordOptions:
    pairs: tuple[int, int] = (2, 7)  # distinct (ic_bn, oc_bn) pairs per workload, [lo, hi)
    records_per_pair: tuple[int, int] = (1, 4)
    failed_rate: float = 0.25  # chance that a workload gets a failed record (error_no 6, costs [1e9])
    tie_rate: float = 0.2  # chance that a pair copies another pair's best cost exactly
    multi_cost_rate: float = 0.2  # chance that a record has several costs whose mean differs from costs[0]
    gflops: tuple[float, float] = (20.0, 80.0)
    max_bn: int = 64


def tuning_records(workloads: list[list], seed: int = 0, options: RecordOptions | None = None) -> list[str]:
    """Synthetic AutoTVM trials of every workload, interleaved across workloads as a tuner writes them."""
    opts = options or RecordOptions()
    rng = np.random.default_rng(seed)
    per_workload: list[list[str]] = []
    for wl in workloads:
        task, *args = wl
        c, o = wl[1][1][1], wl[2][1][0]
        ics = [d for d in _divisors(c) if d <= opts.max_bn]
        ocs = [d for d in _divisors(o) if d <= opts.max_bn]
        all_pairs = [(i, j) for i in ics for j in ocs]
        k = min(len(all_pairs), int(rng.integers(*opts.pairs)))
        pairs = [all_pairs[i] for i in rng.choice(len(all_pairs), size=k, replace=False)]
        base = workload_flops(wl) / (rng.uniform(*opts.gflops) * 1e9)
        lines: list[tuple[int, str]] = []  # (position, line)
        best: list[float] = []
        for ic_bn, oc_bn in pairs:
            n_rec = int(rng.integers(*opts.records_per_pair))
            pair_costs = []
            for _ in range(n_rec):
                if best and rng.random() < opts.tie_rate:
                    cost = float(rng.choice(best))
                else:
                    cost = _quantize(base * rng.uniform(0.8, 1.25), KERNEL_QUANTUM)
                pair_costs.append(cost)
                costs = [cost]
                if rng.random() < opts.multi_cost_rate:  # mean != costs[0]
                    costs += [cost * 4, cost * 0.5]
                lines.append((len(lines), record_line(task, args, _entity(wl, ic_bn, oc_bn, rng), costs,
                                                      index=int(rng.integers(0, 10_000)))))
            best.append(min(pair_costs))
        if rng.random() < opts.failed_rate:
            ic_bn, oc_bn = all_pairs[int(rng.integers(len(all_pairs)))]  # often a new pair: a 1e9 candidate
            pos = int(rng.integers(0, len(lines) + 1))
            lines.insert(pos, (-1, record_line(task, args, _entity(wl, ic_bn, oc_bn, rng), [FAILED_COST], 6)))
        per_workload.append([ln for _, ln in lines])
    out: list[str] = []
    while any(per_workload):  # interleave
        for lst in per_workload:
            if lst:
                out.append(lst.pop(0))
    return out


@dataclass(frozen=True)
class TransformKey:
    shape: tuple[int, ...]
    src: str
    dst: str
    valid: bool = True  # False when topi.layout_transform changes the element count

    @property
    def elements(self) -> int:
        return int(np.prod(self.shape))

    def args(self) -> list:
        return [["TENSOR", list(self.shape), DTYPE], self.src, self.dst]


def transform_keys_from_json(items: list[dict]) -> list[TransformKey]:
    return [TransformKey(tuple(i["shape"]), i["src"], i["dst"], bool(i.get("valid", True))) for i in items]


def measured_transform_records(keys: list[TransformKey], seed: int = 0, duplicates: int = 2) -> list[str]:
    """A record for every key (as if the graph tuner had benchmarked them all) and a few keys logged twice
    (the last one counts). Keys whose transform changes the element count get a finite cost too: benchmarking
    runs them (padded); only infer_layout=True rules them out."""
    rng = np.random.default_rng(seed)
    lines = []
    for key in keys:
        cost = key.elements * int(rng.integers(1, 17)) * TRANSFORM_RATE_QUANTUM * 4
        lines.append(record_line("layout_transform", key.args(), [], [cost], index=0))
    valid = [k for k in keys if k.valid]
    for i in rng.choice(len(valid), size=min(duplicates, len(valid)), replace=False) if valid else []:
        key = valid[int(i)]
        stale = key.elements * int(rng.integers(1, 17)) * TRANSFORM_RATE_QUANTUM * 4
        lines.insert(int(rng.integers(0, len(lines))), record_line("layout_transform", key.args(), [], [stale]))
    return lines


def _decoy(key: TransformKey, taken: set) -> TransformKey:
    e = key.elements
    for x in (8, 4, 2, 1):
        if e % x == 0:
            cand = TransformKey((1, e // x, 1, 1, x), f"NCHW{x}c", "NCHW1c" if x != 1 else "NCHW2c")
            if (cand.shape, cand.src, cand.dst) not in taken:
                return cand
    raise ValueError(f"no decoy for {key}")


def inferred_transform_records(keys: list[TransformKey], seed: int = 0, n_matching: int = 2) -> list[str]:
    """A few layout records for ``infer_layout=True``: some keys the graph needs (used as given) and as many
    keys it does not need, paired so the per-element average is a power-of-two multiple (exact estimates)."""
    rng = np.random.default_rng(seed)
    valid = [k for k in keys if k.valid]
    rate = int(rng.integers(1, 9)) * TRANSFORM_RATE_QUANTUM * 4
    taken = {(k.shape, k.src, k.dst) for k in keys}
    lines = []
    picks = rng.choice(len(valid), size=min(n_matching, len(valid)), replace=False) if valid else []
    for i in picks:
        key = valid[int(i)]
        decoy = _decoy(key, taken)
        taken.add((decoy.shape, decoy.src, decoy.dst))
        lines.append(record_line("layout_transform", key.args(), [], [key.elements * rate * 1.5]))
        lines.append(record_line("layout_transform", decoy.args(), [], [decoy.elements * rate * 0.5]))
    if not lines:  # nothing needed: one unrelated record still sets the rate
        k = TransformKey((1, 2, 4, 4, 8), "NCHW8c", "NCHW16c")
        lines.append(record_line("layout_transform", k.args(), [], [k.elements * rate]))
    return lines


def write_lines(path: str | Path, lines: list[str]) -> Path:
    path = Path(path)
    path.write_text("".join(line + "\n" for line in lines))
    return path
