"""TVM graph-executor and profiling outputs: the graph JSON, the debug executor's dump, the profilers.

Kinds (told apart by content only):

- ``graph_executor_json``: ``lib.get_graph_json()`` - nodes (op ``null`` / ``tvm_op``), arg_nodes,
  heads, node_row_ptr, attrs.shape / attrs.dltype lists.
- ``debug_graph_dump``: ``_tvmdbg_graph_dump.json`` - nodes with op (``param`` or the function), name,
  inputs by name, attrs and shape.
- ``chrome_trace``: ``_tvmdbg_execution_trace.json`` - traceEvents, B/E (or X) per node, ts in us.
- ``debug_profile_table``: the debug executor's printed table (``Node Name  Ops  Time(us)  Time(%)
  Shape  Inputs  Outputs  Measurements(us)`` ... ``Total_time``).
- ``profiler_report``: ``profile()``'s report, as JSON (``report.json()``: calls / device_metrics /
  configuration) or as the printed table (``Name  Duration (us)  Percent  Device  Count ...``).

The two graph kinds fill ``executor_node``; the three profile kinds fill ``executor_profile``.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field

from tvmviz.errors import TvmvizError
from tvmviz.ingest.base import LoadResult, Rejected, RowChecker, Source, insert_rows

GRAPH_JSON = "graph_executor_json"
GRAPH_DUMP = "debug_graph_dump"
CHROME_TRACE = "chrome_trace"
PROFILE_TABLE = "debug_profile_table"
PROFILER_REPORT = "profiler_report"
KINDS = (GRAPH_JSON, GRAPH_DUMP, CHROME_TRACE, PROFILE_TABLE, PROFILER_REPORT)

LAYOUT_ATTRS = ("data_layout", "out_layout", "kernel_layout", "src_layout", "dst_layout", "layout")

SCHEMA = [
    """
CREATE TABLE IF NOT EXISTS executor_node (
    upload_id INTEGER NOT NULL,
    source_kind VARCHAR NOT NULL,  -- graph_executor_json | debug_graph_dump
    node_index INTEGER NOT NULL,   -- position in the graph's node list (execution order)
    name VARCHAR NOT NULL,
    op VARCHAR,                    -- as written: null / tvm_op (graph JSON), param / function (dump)
    func_name VARCHAR,             -- attrs.func_name; NULL for graph inputs and weights
    is_param BOOLEAN NOT NULL,     -- graph input or weight (op null / param)
    is_output BOOLEAN NOT NULL,    -- listed in heads
    inputs VARCHAR,                -- JSON as written: [[node, index, version], ...] or input names
    input_nodes INTEGER[],         -- producer node indices
    num_outputs INTEGER,
    shape VARCHAR,                 -- JSON list: the first output's shape (5-D for NCHW[x]c)
    dtype VARCHAR,
    data_layout VARCHAR, out_layout VARCHAR, kernel_layout VARCHAR,
    src_layout VARCHAR, dst_layout VARCHAR, layout VARCHAR,
    is_conv BOOLEAN NOT NULL,      -- the function contains a conv2d (conv2d_NCHWc, depthwise, ...)
    is_layout_transform BOOLEAN NOT NULL,  -- the function contains a layout_transform
    ic_bn INTEGER,                 -- channel block of the input layout (data_layout, src_layout, layout):
    oc_bn INTEGER,                 --   NCHW8c -> 8, NCHW -> 1; output: out_layout, dst_layout, layout
    attrs VARCHAR,                 -- JSON object: every node attribute as written
    time_us DOUBLE                 -- measured time, when the source has one
)
""",
    """
CREATE TABLE IF NOT EXISTS executor_profile (
    upload_id INTEGER NOT NULL,
    source_kind VARCHAR NOT NULL,  -- chrome_trace | debug_profile_table | profiler_report
    seq INTEGER NOT NULL,          -- row order in the file: execution order (trace, report JSON) or
                                   --   printed order (tables, sorted by time)
    repeat_index INTEGER NOT NULL, -- which measurement of the row (table: Measurements(us) entries;
                                   --   trace: n-th execution of the node); 0 when there is one
    node_name VARCHAR,             -- NULL for profiler_report, which names functions, not nodes
    func_name VARCHAR,             -- table: Ops; report: Name; NULL for the trace
    time_us DOUBLE NOT NULL,       -- this measurement
    node_time_us DOUBLE NOT NULL,  -- the row's time as the source states it (table: mean Time(us);
                                   --   report: Duration of all Count calls); sum over repeat_index = 0
    percent DOUBLE,
    count INTEGER,                 -- calls aggregated in the row (profiler_report); else 1
    device VARCHAR,
    shape VARCHAR,                 -- JSON list: output shape (table: Shape; report: last argument)
    arg_shapes VARCHAR,            -- JSON list of shapes of all arguments (profiler_report)
    dtype VARCHAR,
    num_inputs INTEGER,
    num_outputs INTEGER,
    start_us DOUBLE,               -- trace timestamp of the begin event
    hash VARCHAR,
    is_conv BOOLEAN NOT NULL,
    is_layout_transform BOOLEAN NOT NULL,
    attrs VARCHAR                  -- JSON object: any other column of the source (layouts, ...)
)
""",
]

_NODE_COLUMNS = [
    "upload_id", "source_kind", "node_index", "name", "op", "func_name", "is_param", "is_output",
    "inputs", "input_nodes", "num_outputs", "shape", "dtype", *LAYOUT_ATTRS, "is_conv",
    "is_layout_transform", "ic_bn", "oc_bn", "attrs", "time_us",
]  # fmt: skip
_PROFILE_COLUMNS = [
    "upload_id", "source_kind", "seq", "repeat_index", "node_name", "func_name", "time_us",
    "node_time_us", "percent", "count", "device", "shape", "arg_shapes", "dtype", "num_inputs",
    "num_outputs", "start_us", "hash", "is_conv", "is_layout_transform", "attrs",
]  # fmt: skip

# ----------------------------------------------------------------------------------------------- sniffing

_TABLE_HEADER_RE = re.compile(r"^Node Name\s+Ops\s+Time\(us\)", re.MULTILINE)
_REPORT_HEADER_RE = re.compile(r"^Name\s+Duration \(us\)\s+Percent", re.MULTILINE)
_REPORT_JSON_RE = re.compile(r'^\{\s*"calls"\s*:\s*\[')
_TRACE_ARRAY_RE = re.compile(r'^\[\s*\{[^{}]*"ph"\s*:')
_OP_RE = re.compile(r'"op"\s*:\s*"([^"]*)"')


def _is_autotvm_line(text: str) -> bool:
    """The first line is one JSON object with AutoTVM's keys: the lead's kind, never ours."""
    first = text.lstrip().split("\n", 1)[0].strip()
    if not first.startswith("{"):
        return False
    try:
        obj = json.loads(first)
    except ValueError:
        return False
    return isinstance(obj, dict) and bool({"input", "i", "result", "r"} & obj.keys())


def sniff(head: bytes) -> str | None:
    text = head.decode("utf-8", errors="replace")
    if _TABLE_HEADER_RE.search(text):
        return PROFILE_TABLE
    if _REPORT_HEADER_RE.search(text):
        return PROFILER_REPORT
    body = text.lstrip()
    if not body.startswith(("{", "[")) or _is_autotvm_line(body):
        return None
    if re.search(r'"traceEvents"\s*:', body) or _TRACE_ARRAY_RE.match(body):
        return CHROME_TRACE
    if _REPORT_JSON_RE.match(body) or ('"calls"' in body and '"Duration (us)"' in body):
        return PROFILER_REPORT
    if '"nodes"' in body and '"type_key"' not in body:
        ops = set(_OP_RE.findall(body))
        graphish = any(k in body for k in ('"func_name"', '"arg_nodes"', '"node_row_ptr"', '"heads"'))
        if ops and graphish:
            return GRAPH_JSON if ops & {"null", "tvm_op"} else GRAPH_DUMP
    return None


# ----------------------------------------------------------------------------------------------- helpers

_BLOCK_RE = re.compile(r"(\d+)c")


def layout_block(layout: str | None) -> int | None:
    """Channel block of a TVM layout: NCHW8c -> 8, NCHW -> 1; None without a C axis."""
    if not layout:
        return None
    m = _BLOCK_RE.search(layout)
    if m:
        return int(m.group(1))
    return 1 if "C" in layout else None


def _kind_flags(*names: str | None) -> tuple[bool, bool]:
    text = " ".join(n for n in names if n)
    return "conv2d" in text, "layout_transform" in text


def _json_text(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


# Graphs, traces and profiles are read whole (one JSON document, or a table held as rows): files
# over this size are refused before they are read (a real one is a few MB).
MAX_FILE_BYTES = 128 * 1024**2


def _decode(source: Source) -> str:
    with open(source.path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def _load_json(source: Source):
    try:
        return json.loads(_decode(source))
    except json.JSONDecodeError as exc:
        raise TvmvizError(f"{source.name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise TvmvizError(f"{source.name}: JSON nested too deeply for a TVM graph or profile") from None
    except ValueError as exc:  # e.g. an integer over Python's digit limit
        raise TvmvizError(f"{source.name}: not readable JSON ({str(exc)[:80]})") from None


def _first_nonempty(*values: str | None) -> str | None:
    for v in values:
        if v:
            return v
    return None


@dataclass
class _Collected:
    rows: list[tuple] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # the line of each row, for sources read line by line
    rejected: list[Rejected] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)


_CHECKS = {"executor_node": RowChecker(SCHEMA[0], _NODE_COLUMNS), "executor_profile": RowChecker(SCHEMA[1], _PROFILE_COLUMNS)}


def _finish(con, source: Source, table: str, columns: list[str], got: _Collected, what: str) -> LoadResult:
    checker, rows = _CHECKS[table], []
    for k, row in enumerate(got.rows):
        if problem := checker.problem(row):
            line = got.lines[k] if k < len(got.lines) else 0
            got.rejected.append(Rejected(line, f"{what} {k + 1}: {problem}"))
        else:
            rows.append(row)
    got.rows = rows
    if not got.rows:
        detail = ""
        if got.rejected:
            first = got.rejected[0]
            where = f"line {first.line}: " if first.line else ""
            detail = f" ({len(got.rejected)} rejected; first: {where}{first.reason})"
        raise TvmvizError(f"{source.name}: no valid {what} found{detail}")
    insert_rows(con, table, columns, got.rows)
    return LoadResult(rows=len(got.rows), rejected=got.rejected, meta=got.meta)


# ----------------------------------------------------------------------------------------------- graphs


def _node_row(upload_id, kind, index, node, *, op, is_param, is_output, inputs, input_nodes, num_outputs,
              shape, dtype, attrs) -> tuple:  # fmt: skip
    func = attrs.get("func_name") or None
    layouts = {k: (attrs.get(k) if isinstance(attrs.get(k), str) else None) for k in LAYOUT_ATTRS}
    in_layout = _first_nonempty(layouts["data_layout"], layouts["src_layout"], layouts["layout"])
    out_layout = _first_nonempty(
        layouts["out_layout"], layouts["dst_layout"], layouts["layout"], layouts["data_layout"]
    )  # conv2d_NCHWc: an empty out_layout means "same as data_layout"
    is_conv, is_lt = _kind_flags(func) if not is_param else (False, False)
    time_us = node.get("time_us")
    return (
        upload_id, kind, index, str(node["name"]), op, func, is_param, is_output, _json_text(inputs),
        input_nodes, num_outputs, None if shape is None else _json_text(shape), dtype,
        *(layouts[k] for k in LAYOUT_ATTRS), is_conv, is_lt,
        None if is_param else layout_block(in_layout), None if is_param else layout_block(out_layout),
        _json_text(attrs), float(time_us) if isinstance(time_us, (int, float)) else None,
    )  # fmt: skip


def _graph_nodes(source: Source) -> tuple[dict, list]:
    doc = _load_json(source)
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
        raise TvmvizError(f"{source.name}: no 'nodes' list: not a TVM graph JSON")
    return doc, doc["nodes"]


def _typed_list(doc: dict, key: str) -> list:
    """attrs.shape / attrs.dltype / attrs.storage_id are ["list_<type>", [...]]."""
    value = (doc.get("attrs") or {}).get(key) if isinstance(doc.get("attrs"), dict) else None
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], list):
        return value[1]
    return []


def _heads(doc: dict) -> set[int]:
    out = set()
    for h in doc.get("heads") or []:
        if isinstance(h, list) and h and isinstance(h[0], int):
            out.add(h[0])
    return out


def load_graph_json(upload_id: int, source: Source) -> _Collected:
    doc, nodes = _graph_nodes(source)
    shapes, dtypes = _typed_list(doc, "shape"), _typed_list(doc, "dltype")
    row_ptr = doc.get("node_row_ptr") if isinstance(doc.get("node_row_ptr"), list) else None
    heads = _heads(doc)
    got = _Collected()
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("name"), str) or "op" not in node:
            got.rejected.append(Rejected(0, f"node {i}: not an object with 'op' and 'name'"))
            continue
        attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
        inputs = node.get("inputs") if isinstance(node.get("inputs"), list) else []
        input_nodes = [e[0] for e in inputs if isinstance(e, list) and e and isinstance(e[0], int)]
        if len(input_nodes) != len(inputs) or any(not 0 <= j < len(nodes) for j in input_nodes):
            reason = f"node {i} ({node['name']}): inputs {str(inputs)[:80]} are not [node, index, version] here"
            got.rejected.append(Rejected(0, reason))
            continue
        entry = row_ptr[i] if row_ptr and i < len(row_ptr) else i
        shape = shapes[entry] if isinstance(entry, int) and entry < len(shapes) else None
        dtype = dtypes[entry] if isinstance(entry, int) and entry < len(dtypes) else None
        n_out = attrs.get("num_outputs")
        op = str(node["op"])
        got.rows.append(
            _node_row(upload_id, GRAPH_JSON, i, node, op=op, is_param=op == "null", is_output=i in heads,
                      inputs=inputs, input_nodes=input_nodes,
                      num_outputs=int(n_out) if str(n_out).isdigit() else (1 if op == "null" else None),
                      shape=shape, dtype=dtype, attrs=attrs)  # fmt: skip
        )
    return got


def load_graph_dump(upload_id: int, source: Source) -> _Collected:
    doc, nodes = _graph_nodes(source)
    index_of = {n["name"]: i for i, n in enumerate(nodes) if isinstance(n, dict) and isinstance(n.get("name"), str)}
    heads = _heads(doc)
    got = _Collected()
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("name"), str) or "op" not in node:
            got.rejected.append(Rejected(0, f"node {i}: not an object with 'op' and 'name'"))
            continue
        attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
        inputs = node.get("inputs") if isinstance(node.get("inputs"), list) else []
        # inputs are names, sometimes "name:output" in older dumps
        resolved = [index_of.get(str(x), index_of.get(str(x).rsplit(":", 1)[0])) for x in inputs]
        if any(j is None for j in resolved):
            reason = f"node {i} ({node['name']}): input names {str(inputs)[:80]} are not nodes of this dump"
            got.rejected.append(Rejected(0, reason))
            continue
        dtype_attr = attrs.get("T")
        dtype = dtype_attr.removeprefix("type: ").strip() if isinstance(dtype_attr, str) else None
        shape = node.get("shape") if isinstance(node.get("shape"), list) else None
        op = str(node["op"])
        n_out = attrs.get("num_outputs")
        got.rows.append(
            _node_row(upload_id, GRAPH_DUMP, i, node, op=op, is_param=op in ("param", "null"),
                      is_output=i in heads, inputs=inputs, input_nodes=resolved,
                      num_outputs=int(n_out) if str(n_out).isdigit() else 1, shape=shape, dtype=dtype,
                      attrs=attrs)  # fmt: skip
        )
    return got


# ----------------------------------------------------------------------------------------------- profiles


def _profile_row(upload_id, kind, seq, repeat_index, *, node_name=None, func_name=None, time_us,
                 node_time_us, percent=None, count=1, device=None, shape=None, arg_shapes=None, dtype=None,
                 num_inputs=None, num_outputs=None, start_us=None, hash_=None, attrs=None) -> tuple:  # fmt: skip
    is_conv, is_lt = _kind_flags(func_name or node_name)
    return (
        upload_id, kind, seq, repeat_index, node_name, func_name, time_us, node_time_us, percent, count,
        device, None if shape is None else _json_text(shape),
        None if arg_shapes is None else _json_text(arg_shapes), dtype, num_inputs, num_outputs, start_us,
        hash_, is_conv, is_lt, None if not attrs else _json_text(attrs),
    )  # fmt: skip


def _finite(x) -> bool:
    try:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    except OverflowError:  # an integer too large for a float
        return False


def load_chrome_trace(upload_id: int, source: Source) -> _Collected:
    doc = _load_json(source)
    events = doc.get("traceEvents") if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        raise TvmvizError(f"{source.name}: no 'traceEvents' list: not a Chrome trace")
    got = _Collected()
    spans: list[tuple[float, int, str, float]] = []  # (begin ts, event index, name, duration)
    open_: dict[tuple, list[tuple[float, int]]] = {}
    for k, ev in enumerate(events):
        if not isinstance(ev, dict):
            got.rejected.append(Rejected(0, f"traceEvents[{k}]: not an object"))
            continue
        ph = ev.get("ph")
        if ph not in ("B", "E", "X"):
            continue  # metadata, counters, instants: no duration
        name, ts = ev.get("name"), ev.get("ts")
        if not isinstance(name, str) or not _finite(ts):
            got.rejected.append(Rejected(0, f"traceEvents[{k}]: needs a string 'name' and a numeric 'ts'"))
            continue
        key = (ev.get("pid"), ev.get("tid"), name)
        if ph == "X":
            dur = ev.get("dur")
            if not _finite(dur) or dur < 0:
                got.rejected.append(Rejected(0, f"traceEvents[{k}] ({name}): complete event without a valid 'dur'"))
                continue
            spans.append((float(ts), k, name, float(dur)))
        elif ph == "B":
            open_.setdefault(key, []).append((float(ts), k))
        elif open_.get(key):
            begin, at = open_[key].pop()
            if ts < begin:
                got.rejected.append(Rejected(0, f"traceEvents[{k}] ({name}): ends at {ts} before it begins at {begin}"))
                continue
            spans.append((begin, at, name, float(ts) - begin))
        else:
            got.rejected.append(Rejected(0, f"traceEvents[{k}] ({name}): end event without a begin"))
    for stack in open_.values():
        for begin, at in stack:
            reason = f"traceEvents[{at}] ({events[at]['name']}): begins at {begin} and never ends"
            got.rejected.append(Rejected(0, reason))
    spans.sort(key=lambda s: (s[0], s[1]))
    seen: dict[str, int] = {}
    for seq, (begin, _, name, dur) in enumerate(spans):
        rep = seen.get(name, 0)
        seen[name] = rep + 1
        got.rows.append(_profile_row(upload_id, CHROME_TRACE, seq, rep, node_name=name, time_us=dur,
                                     node_time_us=dur, start_us=begin))  # fmt: skip
    return got


_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf"
_TABLE_ROW_RE = re.compile(
    rf"^(?P<name>\S+)\s+(?P<op>\S+)\s+(?P<time>{_NUM})\s+(?P<pct>{_NUM})\s+(?P<shape>\([^)]*\))"
    rf"\s+(?P<inputs>\d+)\s+(?P<outputs>\d+)(?:\s+(?P<meas>\[[^\]]*\]))?\s*$"  # older TVM: no Measurements
)
_TOTAL_RE = re.compile(rf"^Total_time\s+-\s+(?P<time>{_NUM})\b")


def _ints(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"-?\d+", text)]


def load_profile_table(upload_id: int, source: Source) -> _Collected:
    got = _Collected()
    in_table = False
    seq = 0
    for line_no, raw in enumerate(_decode(source).split("\n"), start=1):
        line = raw.rstrip("\r").rstrip()
        if _TABLE_HEADER_RE.match(line):
            in_table = True
            continue
        if not in_table or not line.strip() or set(line.strip()) <= {"-", " "}:
            continue
        if m := _TOTAL_RE.match(line):
            got.meta["total_time_us"] = m.group("time")
            in_table = False  # what follows is other output
            continue
        m = _TABLE_ROW_RE.match(line)
        if not m:
            got.rejected.append(Rejected(line_no, "not a row of the debug executor's profile table"))
            continue
        try:
            node_time = float(m.group("time"))
            measurements = [float(x) for x in (m.group("meas") or "[]")[1:-1].split(",") if x.strip()]
            common = dict(
                node_name=m.group("name"), func_name=m.group("op"), node_time_us=node_time,
                percent=float(m.group("pct")), shape=_ints(m.group("shape")), num_inputs=int(m.group("inputs")),
                num_outputs=int(m.group("outputs")),
            )  # fmt: skip
        except ValueError as exc:  # Measurements(us) not numbers, or a number over Python's digit limit
            got.rejected.append(Rejected(line_no, f"not a row of numbers: {str(exc)[:80]}"))
            continue
        if not math.isfinite(node_time) or node_time < 0:
            got.rejected.append(Rejected(line_no, f"Time(us) {m.group('time')!r} is not a finite non-negative number"))
            continue
        for rep, t in enumerate(measurements or [node_time]):
            got.rows.append(_profile_row(upload_id, PROFILE_TABLE, seq, rep, time_us=t, **common))
            got.lines.append(line_no)
        seq += 1
    return got


_ARG_RE = re.compile(r"(\w+)\[([^\]]*)\]")


def _arg_shapes(text: str) -> tuple[list[list[int]], str | None]:
    found = _ARG_RE.findall(text or "")
    return [_ints(dims) for _, dims in found], (found[0][0] if found else None)


_REPORT_KNOWN = {"Name", "Duration (us)", "Percent", "Count", "Device", "Hash", "Argument Shapes"}


def _report_value(cell):
    """A report JSON cell is {type: value}: {"microseconds": 1.5}, {"string": "cpu0"}, ..."""
    if isinstance(cell, dict) and len(cell) == 1:
        return next(iter(cell.values()))
    return cell


def _report_row(upload_id, seq, cells: dict, got: _Collected, where: Rejected) -> None:
    try:
        _add_report_row(upload_id, seq, cells, got, where)
    except (ValueError, OverflowError) as exc:  # a number over Python's digit limit or a float's range
        got.rejected.append(Rejected(where.line, f"{where.reason}: {str(exc)[:80]}"))


def _add_report_row(upload_id, seq, cells: dict, got: _Collected, where: Rejected) -> None:
    name, duration = cells.get("Name"), cells.get("Duration (us)")
    if isinstance(duration, str):
        duration = duration.replace(",", "")
        try:
            duration = float(duration)
        except ValueError:
            duration = None
    if not isinstance(name, str) or not name or not _finite(duration) or duration < 0:
        got.rejected.append(Rejected(where.line, where.reason + ": needs a Name and a numeric Duration (us)"))
        return
    shapes, dtype = _arg_shapes(cells.get("Argument Shapes") if isinstance(cells.get("Argument Shapes"), str) else "")

    def num(key, cast):
        v = cells.get(key)
        try:
            return cast(str(v).replace(",", "")) if v not in (None, "") else None
        except ValueError:
            return None

    extras = {k: v for k, v in cells.items() if k not in _REPORT_KNOWN and v not in (None, "")}
    got.lines.append(where.line)
    got.rows.append(
        _profile_row(upload_id, PROFILER_REPORT, seq, 0, func_name=name, time_us=float(duration),
                     node_time_us=float(duration), percent=num("Percent", float),
                     count=num("Count", int) or 1, device=cells.get("Device") or None,
                     shape=shapes[-1] if shapes else None, arg_shapes=shapes or None, dtype=dtype,
                     hash_=cells.get("Hash") or None, attrs=extras)  # fmt: skip
    )


def load_report_json(upload_id: int, source: Source) -> _Collected:
    doc = _load_json(source)
    if not isinstance(doc, dict) or not isinstance(doc.get("calls"), list):
        raise TvmvizError(f"{source.name}: no 'calls' list: not a TVM profiler report")
    got = _Collected()
    for k, call in enumerate(doc["calls"]):
        if not isinstance(call, dict):
            got.rejected.append(Rejected(0, f"calls[{k}]: not an object"))
            continue
        cells = {key: _report_value(v) for key, v in call.items()}
        _report_row(upload_id, len(got.rows), cells, got, Rejected(0, f"calls[{k}]"))
    for device, metrics in (doc.get("device_metrics") or {}).items():
        if isinstance(metrics, dict) and _finite(_report_value(metrics.get("Duration (us)"))):
            got.meta[f"total_us.{device}"] = str(_report_value(metrics["Duration (us)"]))
    for key, value in (doc.get("configuration") or {}).items():
        got.meta[f"config.{key}"] = str(_report_value(value))
    return got


def _header_columns(header: str) -> list[tuple[str, int]]:
    """(title, end column) per header cell; titles are separated by two or more spaces."""
    return [(m.group(), m.end()) for m in re.finditer(r"\S+(?: \S+)*", header)]


def load_report_text(upload_id: int, source: Source) -> _Collected:
    """The printed report: Name left-aligned, every other column right-aligned to its title's end."""
    got = _Collected()
    columns: list[tuple[str, int]] | None = None
    section = None
    for line_no, raw in enumerate(_decode(source).split("\n"), start=1):
        line = raw.rstrip("\r").rstrip()
        stripped = line.strip()
        if _REPORT_HEADER_RE.match(line):
            columns, section = _header_columns(line), "calls"
            continue
        if not stripped:
            continue
        if set(stripped) <= {"-"}:
            if section == "calls":
                section = "totals"
            continue
        if stripped == "Configuration":
            section = "config"
            continue
        if section == "config":
            key, sep, value = stripped.partition(":")
            if sep:
                got.meta[f"config.{key.strip()}"] = value.strip()
            continue
        if section == "totals" and columns:
            cells = _cells(line, columns)
            if cells.get("Name") in ("Sum", "Total") and cells.get("Duration (us)"):
                suffix = f".{cells['Device']}" if cells.get("Device") else ""
                got.meta[f"{cells['Name'].lower()}_us{suffix}"] = cells["Duration (us)"].replace(",", "")
            continue
        if section != "calls" or not columns:
            continue
        _report_row(upload_id, len(got.rows), _cells(line, columns), got,
                    Rejected(line_no, "not a row of the profiler report table"))  # fmt: skip
    return got


def _cells(line: str, columns: list[tuple[str, int]]) -> dict[str, str]:
    name = line.split(None, 1)[0] if line.strip() else ""
    cells = {columns[0][0]: name}
    start = len(name)
    for title, end in columns[1:]:
        cells[title] = line[start:end].strip()
        start = end
    return cells


# ----------------------------------------------------------------------------------------------- entry


def load(con, upload_id: int, source: Source, kind: str) -> LoadResult:
    size = os.path.getsize(source.path)
    if size > MAX_FILE_BYTES:
        raise TvmvizError(f"{source.name}: {size / 1024**2:,.0f} MiB, over the {MAX_FILE_BYTES // 1024**2} MiB limit "
                          "for a graph JSON, trace or profile (they are read whole)")
    if kind == GRAPH_JSON:
        return _finish(con, source, "executor_node", _NODE_COLUMNS, load_graph_json(upload_id, source), "graph node")
    if kind == GRAPH_DUMP:
        return _finish(con, source, "executor_node", _NODE_COLUMNS, load_graph_dump(upload_id, source), "graph node")
    if kind == CHROME_TRACE:
        got = load_chrome_trace(upload_id, source)
        return _finish(con, source, "executor_profile", _PROFILE_COLUMNS, got, "trace event with a duration")
    if kind == PROFILE_TABLE:
        got = load_profile_table(upload_id, source)
        return _finish(con, source, "executor_profile", _PROFILE_COLUMNS, got, "profile table row")
    if kind == PROFILER_REPORT:
        text_start = _decode(source).lstrip()[:1].encode()
        got = load_report_json(upload_id, source) if text_start in (b"{", b"[") else load_report_text(upload_id, source)
        return _finish(con, source, "executor_profile", _PROFILE_COLUMNS, got, "profiler report call")
    raise TvmvizError(f"{source.name}: executor module cannot load kind {kind!r}")
