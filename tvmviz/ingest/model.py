"""Model graphs as uploads: an ONNX model or a tvmviz layout-graph JSON, stored as the LayoutGraph
the selector works on (tvmviz/graph), so every page reads the same graph without importing again.
"""

from __future__ import annotations

import json

from tvmviz.errors import TvmvizError
from tvmviz.graph.json_format import to_json
from tvmviz.graph.load import load_graph
from tvmviz.ingest.base import LoadResult, Source, insert_rows

KINDS = ("onnx_model", "layout_graph")

SCHEMA = [
    """
CREATE TABLE IF NOT EXISTS model_graph (
    upload_id INTEGER NOT NULL,
    name VARCHAR,                    -- the file name the model came in
    nodes INTEGER,
    convs INTEGER,
    graph JSON                       -- tvmviz layout-graph JSON (tvmviz/graph/json_format.py)
)
"""
]

# ONNX ModelProto fields that follow ir_version (field 1): producer_name, producer_version, domain,
# model_version, doc_string, graph, opset_import. Checked as protobuf tags right after the varint.
_ONNX_NEXT_TAGS = {0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42}


def sniff(head: bytes) -> str | None:
    if len(head) > 3 and head[0] == 0x08 and head[1] < 0x80 and head[2] in _ONNX_NEXT_TAGS:
        return "onnx_model"
    if head.lstrip().startswith(b"{") and b'"tvmviz-layout-graph"' in head:
        return "layout_graph"
    return None


def load(con, upload_id: int, source: Source, kind: str) -> LoadResult:
    try:
        graph = load_graph(source.path)
    except TvmvizError as e:
        raise TvmvizError(f"{source.name}: {e}") from None
    convs = len(graph.convs())
    insert_rows(
        con, "model_graph", ["upload_id", "name", "nodes", "convs", "graph"],
        [(upload_id, source.name, len(graph.nodes), convs, json.dumps(to_json(graph)))],
    )
    return LoadResult(rows=len(graph.nodes), meta={"convs": str(convs)})
