"""The layered-DAG layout the Graph page draws (tvmviz/graph/layout.py)."""

from pathlib import Path

import onnx

from tvmviz import synth
from tvmviz.graph.layout import condense, layout_graph
from tvmviz.graph.load import load_graph
from tvmviz.graph.onnx_import import onnx_model_to_graph

ONNX = Path(__file__).resolve().parents[1] / "sample_logs" / "resnet18" / "resnet18.onnx"


def test_every_edge_points_to_a_later_layer_and_nodes_do_not_overlap():
    graph = onnx_model_to_graph(synth.random_dag(200, seed=1).proto, source="dag")
    layout = layout_graph(graph)
    assert len(layout.nodes) == len(graph.nodes) > 500
    for e in layout.edges:
        assert layout.nodes[e.src].layer < layout.nodes[e.dst].layer
    spots = {(p.x, p.y) for p in layout.nodes.values()}
    assert len(spots) == len(layout.nodes)
    assert all(0 <= p.x <= layout.width and 0 <= p.y <= layout.height for p in layout.nodes.values())


def test_condensed_resnet18_keeps_convs_and_residual_adds():
    model = onnx.load(str(ONNX), load_external_data=False)
    n_conv = sum(n.op_type == "Conv" for n in model.graph.node)
    n_add = sum(n.op_type == "Add" for n in model.graph.node)
    graph = load_graph(ONNX)
    keep, edges = condense(graph)
    ops = [graph.nodes[i].op for i in keep]
    assert ops.count("conv2d") == n_conv
    into = {}
    for s, d in edges:
        into.setdefault(d, []).append(s)
    # the residual adds read two kept producers (the Gemm's bias add is kept only as the graph output)
    assert sum(len(into.get(i, [])) == 2 for i in keep if graph.nodes[i].op == "add") == n_add
    assert all(len(into[i]) == 1 for i in keep if graph.nodes[i].op == "conv2d")


def test_resnet18_blocks_follow_the_onnx_name_prefixes_and_collapse_to_one_node_each():
    from tvmviz.graph.layout import blocks

    graph = load_graph(ONNX)
    found = blocks(graph)
    model = onnx.load(str(ONNX), load_external_data=False)
    prefixes = {n.name.split(".")[0] for n in model.graph.node if "." in n.name}
    assert set(found) == prefixes == {"layer1", "layer2", "layer3", "layer4"}
    for name, members in found.items():
        named = {graph.nodes[i].name for i in members if "." in graph.nodes[i].name}
        assert named == {n.name for n in graph.nodes if n.name.startswith(name + ".")}
    full = layout_graph(graph)
    closed = layout_graph(graph, collapsed=["layer3"])
    assert len(closed.nodes) == len(full.nodes) - len(found["layer3"]) + 1
    assert "block:layer3" in closed.nodes
    inside = set(found["layer3"])
    for e in closed.edges:  # edges into and out of the block stand for the graph's edges that cross it
        if "block:layer3" in (e.src, e.dst):
            assert all((s in inside) != (d in inside) for s, d in e.pairs)
        assert closed.nodes[e.src].layer < closed.nodes[e.dst].layer


def test_no_edge_runs_through_a_label_and_no_two_labels_overlap():
    """The Graph page's ResNet-18 at its narrowest and widest widths: each label's box (its text at ~5.4 px a
    character, 12 px high, as the 11/12-px fonts draw) is crossed by no drawn edge segment, covers no other."""
    from tvmviz.charts import graph_spec, segment_crosses_box
    from tvmviz.select import SelectOptions, select
    from tvmviz.select.cli import load_records

    graph = load_graph(ONNX)
    tuning, transforms = load_records([str(ONNX.parent / "tuning.log")], [str(ONNX.parent / "layout_transform.log")])
    sel = select(graph, tuning, transforms, SelectOptions())
    for width in (900, 1500):
        data = graph_spec(graph, sel, max_width_px=width)["datasets"]
        lines: dict = {}
        for r in data["edges"]:
            lines.setdefault(r["edge"], []).append((r["seq"], (r["x"], r["y"])))
        segments = []
        for numbered in lines.values():
            points = [q for _, q in sorted(numbered)]
            segments += zip(points, points[1:])
        boxes = [(r["text"], (r["x"], r["y"] - 6, r["x"] + 5.4 * len(r["text"]), r["y"] + 6)) for r in data["labels"]]
        boxes += [(r["label"], (r["x"] + 12, r["y"] - 6, r["x"] + 12 + 5.4 * len(r["label"]), r["y"] + 6))
                  for r in data["nodes"] if r["label"]]
        assert sum(1 for r in data["labels"] if not r["stub"]) >= 10  # the costs of the transforms are drawn
        for text, box in boxes:
            assert not any(segment_crosses_box(a, b, box) for a, b in segments), (width, text)
        for i, (text, a) in enumerate(boxes):
            for other, b in boxes[i + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (width, text, other)
