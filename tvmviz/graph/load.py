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
from tvmviz.graph.onnx_structure import read_structure

# A JSON graph is parsed whole; real ones are a few MB.
MAX_JSON_BYTES = 256 * 1024**2


def load_graph(path: str | os.PathLike, data_inputs: list[str] | None = None) -> LayoutGraph:
    """The LayoutGraph in ``path``, whatever graph format it holds. ``data_inputs`` applies to ONNX."""
    path = os.fspath(path)
    name = os.path.basename(path) or path
    if os.path.isdir(path):
        return tuner_view(load_executor_graph(path))
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            size = os.fstat(f.fileno()).st_size
            is_json = head.lstrip()[:1] in (b"{", b"[")
            raw = f.read() if is_json and size <= MAX_JSON_BYTES else b""
    except OSError as err:
        raise TvmvizError(f"{name}: cannot read ({err.strerror})") from None
    if not head.strip() and size <= len(head):
        raise TvmvizError(f"{name}: the file is empty")
    if is_json:
        if size > MAX_JSON_BYTES:
            raise TvmvizError(f"{name}: a {size / 1024**2:,.0f} MiB JSON graph, over the {MAX_JSON_BYTES // 1024**2} MiB limit")
        try:
            obj = json.loads(head + raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise TvmvizError(f"{name}: looks like JSON but does not parse ({err})") from None
        except (RecursionError, ValueError) as err:
            raise TvmvizError(f"{name}: JSON too deeply nested or with numbers too long to read ({type(err).__name__})") from None
        if is_layout_graph_json(obj):
            return from_json(obj, source=path)
        if is_executor_graph_json(obj):
            return tuner_view(load_executor_graph(obj, source=path))
        raise TvmvizError(
            f"{name}: a JSON file, but neither a tvmviz layout graph (\"format\": \"tvmviz-layout-graph\") "
            "nor a graph-executor JSON / debug-executor graph dump"
        )
    if _looks_like_onnx(path):
        from tvmviz.graph.onnx_import import load_onnx

        return load_onnx(path, data_inputs=data_inputs)
    raise TvmvizError(f"{name}: not a model graph tvmviz reads (ONNX, tvmviz layout-graph JSON, graph-executor JSON)")


def _looks_like_onnx(path: str) -> bool:
    """A ModelProto that parses (structure only, weights skipped) and has a graph with nodes."""
    try:
        model = read_structure(path)
    except TvmvizError:
        return False
    return model.HasField("graph") and len(model.graph.node) > 0
