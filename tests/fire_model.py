"""A small SqueezeNet-like model with a residual add, and real-config records for it: what the plan-building
tests (test_build.py, test_app_reality.py) build and run."""

from __future__ import annotations

from onnx import helper

from tvmviz.build.plans import block_for
from tvmviz.graph.onnx_import import onnx_model_to_graph
from tvmviz.measure.conv import sweep
from tvmviz.synth import GraphBuilder, record_line

BLOCKS = (4, 8, 16)


def fire_model():
    """conv -> maxpool -> fire (squeeze, expand 1x1 | 3x3, concat) -> conv, conv + residual add -> bn ->
    global pool -> flatten -> gemm -> softmax."""
    g = GraphBuilder("fire", (1, 3, 16, 16), weights="inputs")
    x = g.relu(g.conv(g.input_name, 16, 3, bias=True, name="conv0"))
    x = g.max_pool(x, 2, 2)
    s = g.relu(g.conv(x, 8, 1, name="squeeze"))
    cat = g.concat([g.relu(g.conv(s, 16, 1, name="expand1")), g.relu(g.conv(s, 8, 3, name="expand3"))], name="cat")
    y = g.conv(g.relu(g.conv(cat, 24, 3, name="conv1")), 24, 3, name="conv2")
    y = g.relu(g.add(y, cat, name="res"))
    y = g.batch_norm(y, name="bn")
    out = g.flatten_gemm(g.global_avg_pool(y), 10, name="fc")
    model = g.build([out]).proto
    model.graph.node.append(helper.make_node("Softmax", [out], ["prob"], name="softmax", axis=1))
    model.graph.output[0].name = "prob"
    return model


def fire_records(model) -> list[str]:
    """Records with real x86 configs for every conv at NCHW{x}c, x in BLOCKS; costs scale with the FLOPs
    and favour 8 (so the tuner's plans are not the uniform ones)."""
    graph = onnx_model_to_graph(model, "fire.onnx")
    lines = []
    for node in graph.convs():
        attrs = node.conv
        for x in BLOCKS:
            for y in BLOCKS:
                ic, oc = block_for(attrs.data_shape[1], x), block_for(attrs.kernel_shape[0], y)
                knobs = sweep(attrs, ic, oc, 1)[0]
                cost = attrs.flops() / 40e9 * (1.0 if (x, y) == (8, 8) else 1.3 + 0.05 * (x + y) / 8)
                task, *args = attrs.workload()
                lines.append(record_line(task, args, knobs.entity(), [cost]))
    return list(dict.fromkeys(lines))
