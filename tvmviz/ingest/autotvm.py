"""AutoTVM record logs: tuning trials, layout_transform benchmarks and graph-tuner choices.

Bulk path: DuckDB's ``read_json`` (explicit columns) loads the lines, and typed columns are
extracted in SQL. Python touches individual lines only to explain rejected ones.
Versions 0.2 (``input``/``config``/``result``) and 0.1 (``i``/``r``/``v``) may be mixed in one file;
0.1's ``topi_x86_conv2d_NCHWc`` args are rewritten to the ``conv2d_NCHWc.x86`` form so both join
on the same workload key.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor

from tvmviz.errors import TvmvizError
from tvmviz.ingest.base import LoadResult, Rejected, Source
from tvmviz.records import ERROR_NAMES

KINDS = ("autotvm", "autotvm_selection", "layout_transform")

SCHEMA = [
    """
CREATE TABLE IF NOT EXISTS autotvm_record (
    upload_id INTEGER NOT NULL,
    line_no INTEGER NOT NULL,        -- 1-based line in the uploaded file
    version DOUBLE,                  -- record format: 0.1 or 0.2
    tvm_version VARCHAR,
    target VARCHAR,
    mcpu VARCHAR,                    -- -mcpu= of the target, if any
    task VARCHAR,                    -- normalized task name (conv2d_NCHWc.x86, dense_nopack.x86, ...)
    task_logged VARCHAR,             -- the task name as written in the file
    workload VARCHAR,                -- compact JSON [task, *args]: the key records are matched by
    n INTEGER, c INTEGER, h INTEGER, w INTEGER,          -- conv2d data (NCHW)
    o INTEGER, i INTEGER, kh INTEGER, kw INTEGER,        -- conv2d kernel (OIHW)
    stride_h INTEGER, stride_w INTEGER,
    pad_t INTEGER, pad_l INTEGER, pad_b INTEGER, pad_r INTEGER,
    dil_h INTEGER, dil_w INTEGER,
    dtype VARCHAR, out_dtype VARCHAR,
    config_index BIGINT,
    entity JSON,
    ic_bn INTEGER,                   -- last factor of tile_ic
    oc_bn INTEGER,                   -- last factor of tile_oc
    costs DOUBLE[],
    cost0 DOUBLE,                    -- costs[0]: what the graph tuner uses
    cost_mean DOUBLE,
    cost_min DOUBLE,
    error_no INTEGER,
    error_name VARCHAR,
    all_cost DOUBLE,
    timestamp DOUBLE,
    is_selection BOOLEAN             -- a graph-tuner output line, not a trial
)
""",
    """
CREATE TABLE IF NOT EXISTS layout_transform (
    upload_id INTEGER NOT NULL,
    line_no INTEGER NOT NULL,
    tvm_version VARCHAR,
    target VARCHAR,
    shape INTEGER[],                 -- input shape in the source layout
    dtype VARCHAR,
    src_layout VARCHAR,
    dst_layout VARCHAR,
    costs DOUBLE[],
    cost0 DOUBLE,
    error_no INTEGER,
    all_cost DOUBLE,
    timestamp DOUBLE
)
""",
    # Every knob of every record, one row each (a view: a map column would cost a third of ingest time).
    """
CREATE VIEW IF NOT EXISTS autotvm_knob AS
SELECT upload_id, line_no, k[1] ->> '$' AS knob, k[2] ->> '$' AS knob_type, k[3] AS value
FROM (SELECT upload_id, line_no, unnest(CAST(entity AS JSON[])) AS e FROM autotvm_record),
     LATERAL (SELECT json_extract(e, ['$[0]', '$[1]', '$[2]']) AS k)
""",
]

# Objects larger than this are rejected (a log line is ~500 bytes; this leaves room for odd tasks).
MAX_LINE_BYTES = 16 * 1024 * 1024

# read_json keeps file order in the table (rowid), and reads in parallel. The v0.2 columns are typed
# as far as their JSON allows, so the reader's one parse splits them (input and result are mixed
# lists: their items stay JSON); v0.1's i/r stay JSON, they are rare.
_READ = """
CREATE OR REPLACE TEMP TABLE _autotvm_raw AS
SELECT * FROM read_json(?, format = 'newline_delimited', ignore_errors = true,
    maximum_object_size = {max_bytes},
    columns = {{'input': 'JSON[]', 'config': 'STRUCT("index" BIGINT, entity JSON)', 'result': 'JSON[]',
               'version': 'DOUBLE', 'tvm_version': 'VARCHAR', 'i': 'JSON', 'r': 'JSON', 'v': 'DOUBLE'}})
"""

# The last factor of a split knob, found by name in an entity.
_KNOB_MACRO = """
CREATE OR REPLACE TEMP MACRO _knob_last(entity, knob) AS
    json_extract_string(json_extract(entity, '$[*][2]')[list_position(json_extract_string(entity, '$[*][0]'), knob)], '$[#-1]')
"""

# One row per non-blank line, in file order, every typed column extracted in one pass (a view: the
# inserts below read it once, and the other queries only compute the columns they use). Each JSON
# value is parsed once: json_extract with a list of paths returns all of them from one parse.
_NORMALIZED = """
CREATE OR REPLACE TEMP VIEW _autotvm_norm AS
WITH base AS (
    SELECT line_no,
           CASE WHEN input IS NOT NULL THEN coalesce(version, 0.2) WHEN i IS NOT NULL THEN coalesce(v, 0.1) END AS version,
           tvm_version,
           CASE WHEN input IS NOT NULL THEN input ELSE TRY_CAST(i AS JSON[]) END AS inp,
           CASE WHEN input IS NOT NULL THEN config.entity ELSE i->'$[5].e' END AS entity,
           CASE WHEN input IS NOT NULL THEN config.index ELSE TRY_CAST(i->>'$[5].i' AS BIGINT) END AS config_index,
           CASE WHEN input IS NOT NULL THEN result ELSE TRY_CAST(r AS JSON[]) END AS res
    FROM _autotvm_rows
), typed AS (
    SELECT line_no, version, tvm_version, config_index, entity,
           json_extract_string(inp[1], '$') AS target,
           json_extract_string(inp[2], '$') AS task_logged,
           inp[3] AS args_logged,
           TRY_CAST(res[1] AS DOUBLE[]) AS costs,
           TRY_CAST(res[2] AS INTEGER) AS error_no,
           TRY_CAST(res[3] AS DOUBLE) AS all_cost,
           TRY_CAST(res[4] AS DOUBLE) AS timestamp
    FROM base
), norm AS (
    SELECT *,
        CASE WHEN task_logged = 'topi_x86_conv2d_NCHWc' THEN 'conv2d_NCHWc.x86' ELSE task_logged END AS task,
        -- 0.1 conv args: data, kernel, num_filter, kernel_size, strides, (ph, pw), layout, out_layout, dtype
        CASE WHEN task_logged = 'topi_x86_conv2d_NCHWc' THEN json_array(
                args_logged->'$[0]', args_logged->'$[1]', args_logged->'$[4]',
                json_array(args_logged->'$[5][0]', args_logged->'$[5][1]', args_logged->'$[5][0]', args_logged->'$[5][1]'),
                json_array(1, 1), args_logged->'$[6]', args_logged->'$[7]', args_logged->'$[8]')
             ELSE args_logged END AS args
    FROM typed
), parts AS (
    SELECT *,
        task LIKE 'conv2d%' OR task LIKE 'depthwise_conv2d%' OR task LIKE 'group_conv2d%' AS is_conv,
        -- data shape, kernel shape, strides, padding, dilation, dtype, out_dtype (conv) / shape, src, dst (transform)
        json_extract(args, ['$[0][1]', '$[1][1]', '$[2]', '$[3]', '$[4]', '$[0][2]', '$[7]', '$[1]', '$[2]']) AS a,
        CAST(args AS VARCHAR) AS args_text,
        -- conv2d_NCHWc entities start with tile_ic, tile_oc: read those two from one parse, and look
        -- the knobs up by name only for entities in another order
        json_extract_string(entity, ['$[0][0]', '$[0][2][#-1]', '$[1][0]', '$[1][2][#-1]']) AS first_knobs
    FROM norm
)
SELECT line_no, version, tvm_version, target, regexp_extract(target, '-mcpu=(\\S+)', 1) AS mcpu,
       task, task_logged, args, entity, config_index, costs, error_no, all_cost, timestamp,
       '[' || to_json(task) || CASE WHEN args_text = '[]' THEN ']' ELSE ',' || substr(args_text, 2) END AS workload,
       CASE WHEN is_conv THEN TRY_CAST(a[1] AS INTEGER[]) END AS d,
       CASE WHEN is_conv THEN TRY_CAST(a[2] AS INTEGER[]) END AS k,
       CASE WHEN is_conv THEN TRY_CAST(a[3] AS INTEGER[]) END AS st,
       CASE WHEN is_conv THEN TRY_CAST(a[4] AS INTEGER[]) END AS pd,
       CASE WHEN is_conv THEN TRY_CAST(a[5] AS INTEGER[]) END AS dl,
       CASE WHEN is_conv THEN json_extract_string(a[6], '$') END AS dtype,
       CASE WHEN is_conv THEN json_extract_string(a[7], '$') END AS out_dtype,
       CASE WHEN task = 'layout_transform' THEN TRY_CAST(a[1] AS INTEGER[]) END AS lt_shape,
       CASE WHEN task = 'layout_transform' THEN json_extract_string(a[6], '$') END AS lt_dtype,
       CASE WHEN task = 'layout_transform' THEN json_extract_string(a[8], '$') END AS lt_src,
       CASE WHEN task = 'layout_transform' THEN json_extract_string(a[9], '$') END AS lt_dst,
       TRY_CAST(CASE WHEN first_knobs[1] = 'tile_ic' THEN first_knobs[2] ELSE _knob_last(entity, 'tile_ic') END AS INTEGER) AS ic_bn,
       TRY_CAST(CASE WHEN first_knobs[3] = 'tile_oc' THEN first_knobs[4] ELSE _knob_last(entity, 'tile_oc') END AS INTEGER) AS oc_bn,
       -- why a row is unusable (NULL when it is fine); _diagnose says the same in words, with detail
       CASE WHEN version IS NULL THEN 'not an AutoTVM record (no "input" or "i" key, or not valid JSON)'
            WHEN task IS NULL OR NOT starts_with(args_text, '[') THEN 'input has no task name and args'
            WHEN costs IS NULL OR len(costs) = 0 THEN 'result has no list of costs'
            WHEN error_no IS NULL THEN 'result has no error_no'
            WHEN list_bool_or(list_transform(costs, lambda x: isnan(x) OR isinf(x))) THEN 'a cost is NaN or infinite'
            WHEN task = 'layout_transform' AND lt_shape IS NULL THEN 'layout_transform args have no tensor shape'
       END AS problem
FROM parts
"""

_INSERT_RECORDS = """
INSERT INTO autotvm_record
SELECT ?, line_no, version, tvm_version, target, mcpu, task, task_logged, workload,
       d[1], d[2], d[3], d[4], k[1], k[2], k[3], k[4],
       st[1], st[2], pd[1], pd[2], pd[3], pd[4], dl[1], dl[2], dtype, out_dtype,
       config_index, entity, ic_bn, oc_bn,
       costs, costs[1], list_avg(costs), list_min(costs),
       error_no, {error_name_case}, all_cost, timestamp, false
FROM _autotvm_norm
WHERE problem IS NULL AND task <> 'layout_transform'
"""

_ERROR_NAME_CASE = (
    "CASE error_no "
    + " ".join(f"WHEN {no} THEN '{name}'" for no, name in ERROR_NAMES.items())
    + " ELSE 'ERROR_' || error_no END"
)

_INSERT_TRANSFORMS = """
INSERT INTO layout_transform
SELECT ?, line_no, tvm_version, target, lt_shape, lt_dtype, lt_src, lt_dst,
       costs, costs[1], error_no, all_cost, timestamp
FROM _autotvm_norm
WHERE problem IS NULL AND task = 'layout_transform'
"""


def sniff(head: bytes) -> str | None:
    """AutoTVM logs are JSON lines whose objects start with an "input" or "i" key."""
    for raw in head.splitlines()[:50]:
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        return "autotvm" if line.startswith((b'{"input"', b'{"i"')) else None
    return None


def load(con, upload_id: int, source: Source, kind: str) -> LoadResult:
    with ThreadPoolExecutor(max_workers=1) as pool:  # count lines while DuckDB reads (it drops the GIL)
        lines = pool.submit(lambda: source.data.count(b"\n") + (0 if source.data.endswith(b"\n") else 1))
        con.execute(_READ.format(max_bytes=MAX_LINE_BYTES), [source.path])
        _number_rows(con, _line_numbers_if_needed(con, source, lines.result()))
    con.execute(_KNOB_MACRO)
    con.execute(_NORMALIZED)
    try:
        con.execute(_INSERT_RECORDS.format(error_name_case=_ERROR_NAME_CASE), [upload_id])
        con.execute(_INSERT_TRANSFORMS, [upload_id])
        rejected = _explain_rejected(con, upload_id, source)
    finally:
        con.execute("DROP VIEW _autotvm_norm; DROP VIEW _autotvm_rows; DROP TABLE IF EXISTS _autotvm_line_map; "
                    "DROP TABLE _autotvm_raw")

    records, transforms = con.execute(
        "SELECT (SELECT count(*) FROM autotvm_record WHERE upload_id = $1), "
        "(SELECT count(*) FROM layout_transform WHERE upload_id = $1)", [upload_id]
    ).fetchone()
    if records + transforms == 0:
        first = "; ".join(f"line {r.line}: {r.reason}" for r in rejected[:3])
        raise TvmvizError(f"{source.name}: no valid AutoTVM record" + (f" ({first})" if first else ""))
    if kind == "autotvm":
        kind = "layout_transform" if records == 0 else "autotvm_selection" if _looks_like_selection(con, upload_id) else kind
    if kind == "autotvm_selection":
        con.execute("UPDATE autotvm_record SET is_selection = true WHERE upload_id = ?", [upload_id])

    failed = dict(
        con.execute(
            "SELECT error_name, count(*) FROM autotvm_record WHERE upload_id = ? AND error_no <> 0 "
            "GROUP BY ALL ORDER BY ALL",
            [upload_id],
        ).fetchall()
    )
    failed_transforms = con.execute(
        "SELECT count(*) FROM layout_transform WHERE upload_id = ? AND error_no <> 0", [upload_id]
    ).fetchone()[0]
    if failed_transforms:
        failed["layout_transform failed"] = failed_transforms
    meta = _meta(con, upload_id)
    meta["kind"] = kind
    return LoadResult(rows=records + transforms, rejected=rejected, failed_trials=failed, meta=meta)


def _line_numbers_if_needed(con, source: Source, lines: int) -> list[int] | None:
    """read_json skips blank lines, so row k is the k-th non-blank line. Map rows to line numbers
    only when the file has blank lines (fewer rows than lines)."""
    rows = con.execute("SELECT count(*) FROM _autotvm_raw").fetchone()[0]
    if rows == lines:
        return None  # no blank lines: row k is line k + 1
    return [n for n, line in enumerate(source.data.split(b"\n"), 1) if line.strip()]


def _number_rows(con, line_numbers: list[int] | None) -> None:
    """The view _autotvm_rows: the raw rows with their 1-based line numbers."""
    row_idx = "rowid - (SELECT min(rowid) FROM _autotvm_raw)"  # rowids of a new table are consecutive
    if line_numbers is None:
        con.execute(f"CREATE OR REPLACE TEMP VIEW _autotvm_rows AS SELECT {row_idx} + 1 AS line_no, * FROM _autotvm_raw")
        return
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _autotvm_line_map AS "
        "SELECT unnest(?::INTEGER[]) AS line_no, unnest(range(?)) AS row_idx",
        [line_numbers, len(line_numbers)],
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW _autotvm_rows AS SELECT m.line_no, r.* "
        f"FROM (SELECT {row_idx} AS row_idx, * FROM _autotvm_raw) r JOIN _autotvm_line_map m USING (row_idx)"
    )


def _explain_rejected(con, upload_id: int, source: Source) -> list[Rejected]:
    """Lines that became no row, each with its reason. Found by an anti-join on line numbers (cheap);
    only those few lines are then parsed again, in Python, to say precisely what is wrong."""
    bad = [line_no for (line_no,) in con.execute(
        "SELECT line_no FROM _autotvm_rows "
        "EXCEPT SELECT line_no FROM autotvm_record WHERE upload_id = $1 "
        "EXCEPT SELECT line_no FROM layout_transform WHERE upload_id = $1 ORDER BY 1",
        [upload_id],
    ).fetchall()]
    if not bad:
        return []
    lines = source.data.split(b"\n")
    rejected = []
    for line_no in bad:
        text = lines[line_no - 1].strip() if line_no <= len(lines) else b""
        if text.startswith(b"#"):
            continue  # AutoTVM's own loader skips comment lines too
        rejected.append(Rejected(line_no, _diagnose(text, is_last=line_no >= len(lines) - 1)))
    return rejected


def _diagnose(text: bytes, is_last: bool) -> str:
    """Why one line was not stored: the same rules as the SQL's ``problem``, with Python's parser
    to report the column of a JSON error."""
    if len(text) > MAX_LINE_BYTES:
        return f"line is {len(text):,} bytes, over the {MAX_LINE_BYTES:,}-byte limit for one record"
    try:
        obj = json.loads(text.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as e:
        # the parser ran off the end of the last line: the writer stopped mid-record
        cut = " (the file looks truncated)" if is_last and e.pos >= len(e.doc.rstrip()) - 1 else ""
        return f"not valid JSON: {e.msg} at column {e.colno}{cut}"
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    if "input" not in obj and "i" not in obj:
        keys = ", ".join(sorted(obj)[:5])
        return f'not an AutoTVM record: no "input" or "i" key (keys: {keys})'
    inp = obj.get("input", obj.get("i"))
    if not (isinstance(inp, list) and len(inp) >= 3 and isinstance(inp[1], str) and isinstance(inp[2], list)):
        return "input has no task name and args"
    result = obj.get("result", obj.get("r"))
    costs = result[0] if isinstance(result, list) and result else None
    if not (isinstance(costs, list) and costs and all(isinstance(c, (int, float)) for c in costs)):
        return "result has no list of costs"
    if any(not math.isfinite(c) for c in costs):
        return "a cost is NaN or infinite"
    if len(result) < 2 or not isinstance(result[1], int):
        return "result has no error_no"
    if inp[1] == "layout_transform":
        return "layout_transform args have no tensor shape"
    return "not readable as an AutoTVM record"


def _looks_like_selection(con, upload_id: int) -> bool:
    """A graph-tuner output (write_opt_sch2record_file) holds successful conv records in graph order,
    one config per (workload, layout pair), copied from trials, so their timestamps go back and forth;
    a trial log's timestamps only grow. Override with an explicit kind when this guesses wrong."""
    rows = "FROM autotvm_record WHERE upload_id = ?"
    if not con.execute(f"SELECT bool_and(task = 'conv2d_NCHWc.x86' AND error_no = 0) {rows}", [upload_id]).fetchone()[0]:
        return False  # cheap test first: most trial logs have a failure or another task
    return con.execute(
        "SELECT coalesce(bool_or(timestamp < prev), false) "
        "AND count(DISTINCT (workload, CAST(entity AS VARCHAR))) = count(DISTINCT (workload, ic_bn, oc_bn)) "
        f"FROM (SELECT *, lag(timestamp) OVER (ORDER BY line_no) AS prev {rows})",
        [upload_id],
    ).fetchone()[0]


def _meta(con, upload_id: int) -> dict[str, str]:
    row = con.execute(
        """
        SELECT string_agg(DISTINCT target, ' | '), string_agg(DISTINCT nullif(mcpu, ''), ' | '),
               string_agg(DISTINCT tvm_version, ' | '), count(DISTINCT workload)
        FROM (SELECT target, mcpu, tvm_version, workload FROM autotvm_record WHERE upload_id = ?
              UNION ALL
              SELECT target, regexp_extract(target, '-mcpu=(\\S+)', 1), tvm_version, NULL FROM layout_transform
              WHERE upload_id = ?)
        """,
        [upload_id, upload_id],
    ).fetchone()
    keys = ("target", "cpu", "tvm_version", "workloads")
    return {k: str(v) for k, v in zip(keys, row) if v not in (None, "", 0)}
