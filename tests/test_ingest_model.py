"""Model graphs as uploads: stored once, read back as the same LayoutGraph the importer builds."""

import json
from pathlib import Path

from tvmviz.graph.json_format import to_json
from tvmviz.graph.load import load_graph
from tvmviz.store import Store
from tests.paths import R18

ONNX = R18 / "resnet18.onnx"


def test_onnx_upload_round_trips_to_the_imported_graph(tmp_path):
    store = Store.open(":memory:")
    (report,) = store.ingest_paths([ONNX])
    assert report.kind == "onnx_model" and report.error is None
    expected = load_graph(ONNX)
    assert store.models() == [(report.upload_id, str(ONNX), len(expected.convs()))]
    assert store.model_graph(report.upload_id).nodes == expected.nodes
    # the layout-graph JSON of it is a kind of its own, sniffed from content
    as_json = tmp_path / "graph.txt"
    as_json.write_text(json.dumps(to_json(expected)))
    (again,) = store.ingest_paths([as_json])
    assert again.kind == "layout_graph" and store.model_graph(again.upload_id).nodes == expected.nodes


def test_damaged_onnx_is_rejected_and_nothing_is_stored():
    store = Store.open(":memory:")
    (report,) = store.ingest_bytes("broken.onnx", ONNX.read_bytes()[:300])
    assert report.upload_id is None and "broken.onnx" in report.error
    assert store.models() == [] and store.uploads() == []
