"""Open any model-graph file tvmviz reads, choosing the importer by content, never by file name.

- ONNX protobuf -> ``onnx_import.load_onnx`` (through TVM Relax)
- JSON with ``"format": "tvmviz-layout-graph"`` -> ``json_format.from_json``
- graph-executor JSON or debug-executor graph dump (or a ``_tvmdbg_*`` folder) -> ``executor_graph``,
  then ``tuner_view``: the conv-level graph the graph tuner saw before the build
"""

from __future__ import annotations

import json
import os

from tvmviz.errors import TvmvizError
from tvmviz.graph.executor_graph import is_executor_graph_json, load_executor_graph
from tvmviz.graph.json_format import from_json, is_layout_graph_json
from tvmviz.graph.model import LayoutGraph
from tvmviz.graph.tuner_view import tuner_view


def load_graph(path: str | os.PathLike, data_inputs: list[str] | None = None) -> LayoutGraph:
    """The LayoutGraph in ``path``, whatever graph format it holds. ``data_inputs`` applies to ONNX."""
    path = os.fspath(path)
    name = os.path.basename(path) or path
    if os.path.isdir(path):
        return tuner_view(load_executor_graph(path))
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise TvmvizError(f"{name}: cannot read ({err.strerror})") from None
    if not raw.strip():
        raise TvmvizError(f"{name}: the file is empty")
    if raw.lstrip()[:1] in (b"{", b"["):
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise TvmvizError(f"{name}: looks like JSON but does not parse ({err})") from None
        if is_layout_graph_json(obj):
            return from_json(obj, source=path)
        if is_executor_graph_json(obj):
            return tuner_view(load_executor_graph(obj, source=path))
        raise TvmvizError(
            f"{name}: a JSON file, but neither a tvmviz layout graph (\"format\": \"tvmviz-layout-graph\") "
            "nor a graph-executor JSON / debug-executor graph dump"
        )
    if _looks_like_onnx(raw):
        from tvmviz.graph.onnx_import import load_onnx

        return load_onnx(path, data_inputs=data_inputs)
    raise TvmvizError(f"{name}: not a model graph tvmviz reads (ONNX, tvmviz layout-graph JSON, graph-executor JSON)")


def _looks_like_onnx(raw: bytes) -> bool:
    """A ModelProto that parses and has a graph with nodes."""
    try:
        import onnx
    except ImportError:  # pragma: no cover
        return False
    try:
        model = onnx.load_model_from_string(raw)
    except Exception:  # protobuf's DecodeError and friends
        return False
    return model.HasField("graph") and len(model.graph.node) > 0
