"""AutoTVM record logs: tuning trials, layout_transform benchmarks and graph-tuner choices.

Bulk path: DuckDB's ``read_json`` (explicit columns) loads the lines, and typed columns are
extracted in SQL. Python touches individual lines only to explain rejected ones.
Versions 0.2 (``input``/``config``/``result``) and 0.1 (``i``/``r``/``v``) may be mixed in one file;
0.1's ``topi_x86_conv2d_NCHWc`` args are rewritten to the ``conv2d_NCHWc.x86`` form so both join
on the same workload key.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

from tvmviz.errors import TvmvizError
from tvmviz.ingest.base import (MAX_REJECTED_LISTED, LineScan, LoadResult, Rejected, RejectedList, Source, count_lines,
                                 iter_lines, scan_lines)
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
# as far as their JSON allows, so the reader's one parse splits them (result is a mixed list: its
# items stay JSON); input stays whole, it is split once per distinct value (few in a log); scalars
# stay JSON so their types can be checked (a typed column would turn "abc" into NULL, 1.5 into 2);
# v0.1's i/r stay JSON, they are rare.
_READ = """
CREATE OR REPLACE TEMP TABLE _autotvm_raw AS
SELECT * FROM read_json(?, format = 'newline_delimited', ignore_errors = true,
    maximum_object_size = {max_bytes},
    columns = {{'input': 'JSON', 'config': 'STRUCT("index" JSON, entity JSON)', 'result': 'JSON[]',
               'version': 'JSON', 'tvm_version': 'JSON', 'i': 'JSON', 'r': 'JSON', 'v': 'JSON'}})
"""

# The factors of a split knob, found by name in an entity; the rules of a valid entity.
_KNOB_MACRO = """
CREATE OR REPLACE TEMP MACRO _knob_value(entity, knob) AS
    json_extract(entity, '$[*][2]')[list_position(json_extract_string(entity, '$[*][0]'), knob)];
CREATE OR REPLACE TEMP MACRO _kind(j) AS CASE json_type(j) WHEN 'OBJECT' THEN 'an object' WHEN 'ARRAY' THEN 'a list'
    WHEN 'VARCHAR' THEN 'a string' WHEN 'BOOLEAN' THEN 'a boolean' WHEN 'NULL' THEN 'null' ELSE 'a number' END;
CREATE OR REPLACE TEMP MACRO _is_int(t) AS coalesce(t IN ('UBIGINT', 'BIGINT'), false);
CREATE OR REPLACE TEMP MACRO _is_num(t) AS coalesce(t IN ('UBIGINT', 'BIGINT', 'DOUBLE'), false);
-- A value as the reason quotes it: as text (a cut JSON text is no JSON), at most 60 characters.
CREATE OR REPLACE TEMP MACRO _shown(j) AS CASE WHEN j IS NULL THEN 'null' WHEN length(CAST(j AS VARCHAR)) > 60
    THEN left(CAST(j AS VARCHAR), 57) || '...' ELSE CAST(j AS VARCHAR) END;
-- Why one split knob is invalid (NULL when it is fine): AutoTVM's SplitEntity takes positive
-- factors and at most one -1 (inferred); when the axis length is known their product must divide it
-- (with a -1) or equal it.
CREATE OR REPLACE TEMP MACRO _split_problem(name, v, channels) AS
    CASE WHEN json_type(v) <> 'ARRAY' OR json_array_length(v) = 0
              OR NOT list_bool_and(list_transform(json_type(v, '$[*]'), lambda t: _is_int(t)))
         THEN concat(name, ' split ', _shown(v), ' is not a list of integers')
         WHEN list_bool_or(list_transform(TRY_CAST(v AS BIGINT[]), lambda f: f IS NULL OR f = 0 OR f < -1))
         THEN concat(name, ' factor ', coalesce(CAST(list_filter(TRY_CAST(v AS BIGINT[]),
                     lambda f: f = 0 OR f < -1)[1] AS VARCHAR), _shown(v)), ' is not positive (or -1, the inferred one)')
         WHEN len(list_filter(CAST(v AS BIGINT[]), lambda f: f = -1)) > 1
         THEN concat(name, ' split ', _shown(v), ' has more than one inferred (-1) factor')
         WHEN channels IS NULL THEN NULL
         WHEN list_contains(CAST(v AS BIGINT[]), -1)
              AND channels % coalesce(list_aggregate(list_filter(CAST(v AS BIGINT[]), lambda f: f > 0), 'product'), 1) <> 0
         THEN concat(name, CASE WHEN len(list_filter(CAST(v AS BIGINT[]), lambda f: f > 0)) = 1
                                THEN concat(' factor ', list_filter(CAST(v AS BIGINT[]), lambda f: f > 0)[1], ' does not divide ')
                                ELSE concat(' factors ', _shown(v), ' do not divide ') END, channels, ' channels')
         WHEN NOT list_contains(CAST(v AS BIGINT[]), -1)
              AND list_aggregate(CAST(v AS BIGINT[]), 'product') <> channels
         THEN concat(name, ' factors ', _shown(v), ' multiply to ',
                     CAST(list_aggregate(CAST(v AS BIGINT[]), 'product') AS HUGEINT), ', not the ', channels, ' channels')
    END;
-- Why one entity item is invalid: [name, type, value]; splits checked as above (tile_ic / tile_oc
-- of conv2d_NCHWc against the data's and the kernel's channel counts).
CREATE OR REPLACE TEMP MACRO _knob_problem(x, in_channels, out_channels) AS
    CASE WHEN json_type(x) <> 'ARRAY' OR json_array_length(x) <> 3 OR json_type(x, '$[0]') <> 'VARCHAR'
              OR json_type(x, '$[1]') <> 'VARCHAR'
         THEN concat('config entity item ', _shown(x), ' is not [name, type, value]')
         WHEN x->>'$[1]' = 'sp'
         THEN _split_problem(x->>'$[0]', x->'$[2]',
                             CASE x->>'$[0]' WHEN 'tile_ic' THEN in_channels WHEN 'tile_oc' THEN out_channels END)
    END
"""

# The non-blank, not refused lines with their 1-based numbers, the JSON values of either record form.
_BASE = """
CREATE OR REPLACE TEMP VIEW _autotvm_base AS
SELECT line_no,
       CASE WHEN input IS NOT NULL THEN 0.2 WHEN i IS NOT NULL THEN 0.1 END AS form,
       CASE WHEN input IS NOT NULL THEN version ELSE v END AS version_json,
       tvm_version AS tvm_version_json,
       CASE WHEN input IS NOT NULL THEN input ELSE i END AS input_json,
       CASE WHEN input IS NOT NULL THEN config.entity ELSE i->'$[5].e' END AS entity,
       CASE WHEN input IS NOT NULL THEN config.index ELSE i->'$[5].i' END AS index_json,
       CASE WHEN input IS NOT NULL THEN result ELSE TRY_CAST(r AS JSON[]) END AS res
FROM _autotvm_rows
WHERE line_no NOT IN (SELECT line_no FROM _autotvm_refused)
"""

# A log holds few distinct inputs (target, task, args): each is parsed and judged once, here, and its
# rows get the results by a join (of scalars: joining lists would copy them for every row). A table:
# both inserts join it, and the DISTINCT over every row's input runs once.
_WORKLOADS = """
CREATE OR REPLACE TEMP TABLE _autotvm_workloads AS
WITH logged AS (
    SELECT form, input_json, inp, inp[3] AS args_logged,
           json_extract_string(inp[1], '$') AS target, json_extract_string(inp[2], '$') AS task_logged,
           CASE WHEN json_type(input_json) <> 'ARRAY'
                THEN concat(CASE form WHEN 0.2 THEN 'input' ELSE 'i' END, ' is ', _kind(input_json), ', not a list')
                WHEN len(inp) < 3 OR json_type(inp[1]) IS DISTINCT FROM 'VARCHAR'
                     OR json_type(inp[2]) IS DISTINCT FROM 'VARCHAR' OR json_type(inp[3]) IS DISTINCT FROM 'ARRAY'
                THEN 'input is not [target, task name, args, ...]' END AS input_problem
    FROM (SELECT form, input_json, TRY_CAST(input_json AS JSON[]) AS inp FROM (SELECT DISTINCT form, input_json FROM _autotvm_base))
), norm AS (
    SELECT *,
        CASE WHEN task_logged = 'topi_x86_conv2d_NCHWc' THEN 'conv2d_NCHWc.x86' ELSE task_logged END AS task,
        -- 0.1 conv args: data, kernel, num_filter, kernel_size, strides, (ph, pw), layout, out_layout, dtype
        CASE WHEN task_logged = 'topi_x86_conv2d_NCHWc' THEN json_array(
                args_logged->'$[0]', args_logged->'$[1]', args_logged->'$[4]',
                json_array(args_logged->'$[5][0]', args_logged->'$[5][1]', args_logged->'$[5][0]', args_logged->'$[5][1]'),
                json_array(1, 1), args_logged->'$[6]', args_logged->'$[7]', args_logged->'$[8]')
             ELSE args_logged END AS args
    FROM logged
), parts AS (
    SELECT *,
        task LIKE 'conv2d%' OR task LIKE 'depthwise_conv2d%' OR task LIKE 'group_conv2d%' AS is_conv,
        task = 'conv2d_NCHWc.x86' AS is_nchwc,
        -- data shape, kernel shape, strides, padding, dilation, dtype, out_dtype (conv) / shape, src, dst (transform)
        json_extract(args, ['$[0][1]', '$[1][1]', '$[2]', '$[3]', '$[4]', '$[0][2]', '$[7]', '$[1]', '$[2]']) AS a,
        CAST(args AS VARCHAR) AS args_text
    FROM norm
), shapes AS (
    SELECT *,
       CASE WHEN is_conv THEN TRY_CAST(a[1] AS INTEGER[]) END AS d,
       CASE WHEN is_conv THEN TRY_CAST(a[2] AS INTEGER[]) END AS k,
       CASE WHEN is_conv THEN TRY_CAST(a[3] AS INTEGER[]) END AS st,
       CASE WHEN is_conv THEN TRY_CAST(a[4] AS INTEGER[]) END AS pd,
       CASE WHEN is_conv THEN TRY_CAST(a[5] AS INTEGER[]) END AS dl,
       CASE WHEN task = 'layout_transform' THEN TRY_CAST(a[1] AS INTEGER[]) END AS lt_shape,
       CASE WHEN task = 'layout_transform' THEN json_extract_string(a[8], '$') END AS lt_src,
       CASE WHEN task = 'layout_transform' THEN json_extract_string(a[9], '$') END AS lt_dst
    FROM parts
)
SELECT form, input_json, input_problem, target, task_logged, task, args, is_nchwc, lt_shape, lt_src, lt_dst,
   regexp_extract(target, '-mcpu=(\\S+)', 1) AS mcpu,
   '[' || to_json(task) || CASE WHEN args_text = '[]' THEN ']' ELSE ',' || substr(args_text, 2) END AS workload,
   d[1] AS n, d[2] AS c, d[3] AS h, d[4] AS w, k[1] AS o, k[2] AS i, k[3] AS kh, k[4] AS kw,
   st[1] AS stride_h, st[2] AS stride_w, pd[1] AS pad_t, pd[2] AS pad_l, pd[3] AS pad_b, pd[4] AS pad_r,
   dl[1] AS dil_h, dl[2] AS dil_w,
   CASE WHEN is_conv THEN json_extract_string(a[6], '$') END AS dtype,
   CASE WHEN is_conv THEN json_extract_string(a[7], '$') END AS out_dtype,
   CASE WHEN task = 'layout_transform' THEN json_extract_string(a[6], '$') END AS lt_dtype,
   -- the fast path's test of the args (see below): shapes of plain positive integers
   CASE WHEN is_nchwc THEN regexp_full_match(a[1], '{shape4}') AND regexp_full_match(a[2], '{shape4}')
        WHEN task = 'layout_transform' THEN regexp_full_match(a[1], '{shape}') AND lt_src IS NOT NULL AND lt_dst IS NOT NULL
        ELSE true END AS args_plain,
   -- the rules on args alone (checked in their place among the rules below)
   CASE WHEN is_nchwc AND (len(d) IS DISTINCT FROM 4 OR len(k) IS DISTINCT FROM 4
                           OR NOT list_bool_and(list_transform(json_type(a[1], '$[*]') || json_type(a[2], '$[*]'),
                                                               lambda t: _is_int(t)))
                           OR list_bool_or(list_transform(d || k, lambda x: x IS NULL OR x <= 0)))
        THEN 'conv2d_NCHWc args have no data and kernel shape of 4 positive integers' END AS conv_args_problem,
   CASE WHEN task <> 'layout_transform' THEN NULL
        WHEN lt_shape IS NULL OR len(lt_shape) = 0
             OR NOT list_bool_and(list_transform(json_type(a[1], '$[*]'), lambda t: _is_int(t)))
             OR list_bool_or(list_transform(lt_shape, lambda x: x IS NULL OR x <= 0))
        THEN 'layout_transform args have no tensor shape of positive integers'
        WHEN lt_src IS NULL OR lt_dst IS NULL
        THEN 'layout_transform args have no source and destination layout' END AS transform_args_problem
FROM shapes
"""

# One row per non-blank line, every typed column extracted in one pass (a view: the inserts below
# read it once, and the other queries only compute the columns they use). Per row only what differs
# from row to row is parsed (config, result); the input's columns come from _autotvm_workloads.
_NORMALIZED = """
CREATE OR REPLACE TEMP VIEW _autotvm_norm AS
WITH typed AS (
    -- per-row values after the join: rows a filter on the workload drops (the layout_transform
    -- insert) are never typed
    SELECT b.*, wl.* EXCLUDE (form, input_json),
           coalesce(TRY_CAST(version_json AS DOUBLE), b.form) AS version,
           json_extract_string(tvm_version_json, '$') AS tvm_version,
           TRY_CAST(index_json AS BIGINT) AS config_index,
           TRY_CAST(res[1] AS DOUBLE[]) AS costs,
           TRY_CAST(res[2] AS BIGINT) AS error_no,
           TRY_CAST(res[3] AS DOUBLE) AS all_cost,
           TRY_CAST(res[4] AS DOUBLE) AS timestamp,
           -- conv2d_NCHWc entities start with tile_ic, tile_oc, each [-1, factor]: read both factors
           -- with one anchored match, and look the knobs up by name only for other entities
           regexp_extract(entity, '{first_splits}', ['ic', 'oc']) AS first_splits
    FROM _autotvm_base b LEFT JOIN _autotvm_workloads wl ON b.form IS NOT DISTINCT FROM wl.form AND b.input_json IS NOT DISTINCT FROM wl.input_json
), knobs AS (
    SELECT *,
        CASE WHEN first_splits.ic <> '' THEN [-1, TRY_CAST(first_splits.ic AS BIGINT)]
             ELSE TRY_CAST(_knob_value(entity, 'tile_ic') AS BIGINT[]) END AS ic_split,
        CASE WHEN first_splits.oc <> '' THEN [-1, TRY_CAST(first_splits.oc AS BIGINT)]
             ELSE TRY_CAST(_knob_value(entity, 'tile_oc') AS BIGINT[]) END AS oc_split
    FROM typed
)
SELECT line_no, version, tvm_version, target, mcpu, task, task_logged, args, entity, config_index, costs, error_no,
       all_cost, timestamp, workload, n, c, h, w, o, i, kh, kw, stride_h, stride_w, pad_t, pad_l, pad_b, pad_r,
       dil_h, dil_w, dtype, out_dtype, lt_shape, lt_dtype, lt_src, lt_dst,
       TRY_CAST(ic_split[-1] AS INTEGER) AS ic_bn,
       TRY_CAST(oc_split[-1] AS INTEGER) AS oc_bn, is_nchwc,
       -- why a row is not a valid record (NULL when it is); the first rule broken is the reason.
       -- Rows no JSON object with an "input" / "i" key gave are explained in Python (_diagnose).
       -- A cheap test on the (minified) JSON texts passes the usual valid row first; only the others
       -- go through the rules one by one.
       CASE WHEN {fast_path} THEN NULL
            WHEN form IS NULL THEN 'not an AutoTVM record'
            WHEN version_json IS NOT NULL AND NOT _is_num(json_type(version_json))
                THEN concat('version ', _shown(version_json), ' is not a number')
            WHEN tvm_version_json IS NOT NULL AND json_type(tvm_version_json) <> 'VARCHAR'
                THEN concat('tvm_version ', _shown(tvm_version_json), ' is not a string')
            WHEN input_problem IS NOT NULL THEN input_problem
            WHEN entity IS NULL OR json_type(entity) <> 'ARRAY'
                THEN 'config has no entity list'
            WHEN index_json IS NULL OR NOT _is_int(json_type(index_json)) OR config_index IS NULL
                THEN CASE WHEN index_json IS NULL THEN 'config has no index'
                          ELSE concat('config index ', _shown(index_json), ' is not an integer') END
            WHEN res IS NULL OR len(res) <> 4
                THEN 'result is not [costs, error_no, all_cost, timestamp]'
            WHEN json_type(res[1]) IS DISTINCT FROM 'ARRAY' OR json_array_length(res[1]) = 0
                 OR NOT list_bool_and(list_transform(json_type(res[1], '$[*]'), lambda t: _is_num(t)))
                THEN concat('costs ', _shown(res[1]), ' are not a non-empty list of numbers')
            WHEN NOT _is_int(json_type(res[2])) OR error_no IS NULL OR error_no NOT BETWEEN 0 AND {max_error_no}
                THEN concat('error_no ', _shown(res[2]), ' is not one of AutoTVM''s MeasureErrorNo values (0-{max_error_no})')
            WHEN list_bool_or(list_transform(costs, lambda x: isnan(x))) THEN 'cost is NaN'
            WHEN list_bool_or(list_transform(costs, lambda x: isinf(x))) THEN 'cost is infinite'
            WHEN error_no = 0 AND list_bool_or(list_transform(costs, lambda x: x <= 0))
                THEN concat('cost ', list_filter(costs, lambda x: x <= 0)[1], ' is not positive on a successful trial')
            WHEN NOT _is_num(json_type(res[3])) OR NOT isfinite(all_cost)
                THEN concat('all_cost ', _shown(res[3]), ' is not a finite number')
            WHEN NOT _is_num(json_type(res[4])) OR NOT isfinite(timestamp)
                THEN concat('timestamp ', _shown(res[4]), ' is not a finite number')
            WHEN conv_args_problem IS NOT NULL THEN conv_args_problem
            WHEN list_filter(list_transform(TRY_CAST(entity AS JSON[]),
                     lambda x: _knob_problem(x, CASE WHEN is_nchwc THEN c END, CASE WHEN is_nchwc THEN o END)),
                     lambda p: p IS NOT NULL)[1] IS NOT NULL
                THEN list_filter(list_transform(TRY_CAST(entity AS JSON[]),
                     lambda x: _knob_problem(x, CASE WHEN is_nchwc THEN c END, CASE WHEN is_nchwc THEN o END)),
                     lambda p: p IS NOT NULL)[1]
            WHEN is_nchwc AND (ic_bn IS NULL OR oc_bn IS NULL)
                THEN 'conv2d_NCHWc config has no tile_ic and tile_oc splits'
            WHEN transform_args_problem IS NOT NULL THEN transform_args_problem
       END AS problem
FROM knobs
"""

_NUM = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?"
_FACTOR = "[1-9][0-9]{0,17}"
# a split's factors: positive, at most one of them -1 (the inferred one)
_SPLIT_ITEM = rf'\["[^"\\]*","sp",\[({_FACTOR}(,{_FACTOR})*(,-1(,{_FACTOR})*)?|-1(,{_FACTOR})*)\]\]'
_OTHER_ITEM = rf'\["[^"\\]*","(ot|re|an)",(true|false|{_NUM}|"[^"\\]*"|\[[^\[\]]*\])\]'
_ENTITY = rf"\[(({_SPLIT_ITEM}|{_OTHER_ITEM})(,({_SPLIT_ITEM}|{_OTHER_ITEM}))*)?\]"
_SHAPE = r"\[[1-9][0-9]{0,8}(,[1-9][0-9]{0,8})*\]"
_SHAPE4 = r"\[[1-9][0-9]{0,8}(,[1-9][0-9]{0,8}){3}\]"
_FIRST_SPLITS = r'^\[\["tile_ic","sp",\[-1,([1-9][0-9]{0,8})\]\],\["tile_oc","sp",\[-1,([1-9][0-9]{0,8})\]\]'
# Sufficient for validity, never necessary: a row it passes breaks none of the rules of ``problem``.
_FAST_PATH = f"""(form IS NOT NULL
    AND (version_json IS NULL OR strpos('-0123456789', left(version_json, 1)) > 0 AND TRY_CAST(version_json AS DOUBLE) IS NOT NULL)
    AND (tvm_version_json IS NULL OR starts_with(tvm_version_json, '"'))
    AND input_problem IS NULL
    AND regexp_full_match(entity, '{_ENTITY}')
    AND index_json = CAST(config_index AS VARCHAR)
    AND len(res) = 4 AND len(costs) > 0 AND NOT contains(res[1], '"') AND NOT contains(res[1], 'l') AND NOT contains(res[1], 'u')
    AND res[2] = CAST(error_no AS VARCHAR) AND error_no BETWEEN 0 AND {max(ERROR_NAMES)}
    AND strpos('-0123456789', left(res[3], 1)) > 0 AND strpos('-0123456789', left(res[4], 1)) > 0
    AND list_max(costs) < 'infinity'::DOUBLE AND isfinite(all_cost) AND isfinite(timestamp)
    AND (error_no <> 0 OR list_min(costs) > 0)
    AND args_plain
    AND (NOT is_nchwc OR (len(ic_split) = 2 AND ic_split[1] = -1 AND c % ic_split[2] = 0
                          AND len(oc_split) = 2 AND oc_split[1] = -1 AND o % oc_split[2] = 0)))"""


def _normalize(con) -> None:
    """The views and the workload table the inserts read (after _number_rows and _refuse_before_sql)."""
    con.execute(_KNOB_MACRO)
    con.execute(_BASE)
    con.execute(_WORKLOADS.replace("{shape4}", _SHAPE4).replace("{shape}", _SHAPE))
    con.execute(_NORMALIZED.replace("{max_error_no}", str(max(ERROR_NAMES))).replace("{fast_path}", _FAST_PATH)
                .replace("{first_splits}", _FIRST_SPLITS))


_INSERT_RECORDS = """
INSERT INTO autotvm_record
SELECT ?, line_no, version, tvm_version, target, mcpu, task, task_logged, workload,
       n, c, h, w, o, i, kh, kw, stride_h, stride_w, pad_t, pad_l, pad_b, pad_r, dil_h, dil_w, dtype, out_dtype,
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
WHERE task = 'layout_transform' AND problem IS NULL
"""


# Lines before the first record that a log may carry (a warning printed into it, a banner).
SNIFF_SKIPPED_LINES = 5
_RECORD_KEYS_RE = re.compile(rb'^\{.*"(input|i)"\s*:\s*\[')


def sniff(head: bytes) -> str | None:
    """AutoTVM logs are JSON lines: objects with an "input" (v0.2) or "i" (v0.1) list, keys in any
    order, leading whitespace allowed; comments and up to SNIFF_SKIPPED_LINES other lines may come
    first."""
    other = 0
    for raw in head.splitlines()[:200]:
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        if _is_record(line):
            return "autotvm"
        other += 1
        if other > SNIFF_SKIPPED_LINES:
            return None
    return None


def _is_record(line: bytes) -> bool:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # cut off by the sniffing window, or not JSON at all
        return bool(_RECORD_KEYS_RE.match(line[:4096]))
    return isinstance(obj, dict) and isinstance(obj.get("input", obj.get("i")), list)


def load(con, upload_id: int, source: Source, kind: str) -> LoadResult:
    with ThreadPoolExecutor(max_workers=1) as pool:  # count lines while DuckDB reads (it drops the GIL)
        scan = pool.submit(scan_lines, source.path, max_line_bytes=MAX_LINE_BYTES)
        con.execute(_READ.format(max_bytes=MAX_LINE_BYTES), [source.path])
        lines = scan.result()
        rows = _number_rows(con, source.path, lines.count)
    _refuse_before_sql(con, source.path, lines)
    _normalize(con)
    (records,) = con.execute(_INSERT_RECORDS.format(error_name_case=_ERROR_NAME_CASE), [upload_id]).fetchone()
    (transforms,) = con.execute(_INSERT_TRANSFORMS, [upload_id]).fetchone()
    rejected = RejectedList() if records + transforms == rows else _explain_rejected(con, upload_id, source)
    # On an error the caller rolls the transaction back, and these go with it.
    con.execute("DROP VIEW IF EXISTS _autotvm_norm; DROP TABLE IF EXISTS _autotvm_workloads; "
                "DROP VIEW IF EXISTS _autotvm_base; DROP VIEW IF EXISTS _autotvm_rows; "
                "DROP TABLE IF EXISTS _autotvm_segments; DROP TABLE IF EXISTS _autotvm_bad; DROP TABLE IF EXISTS _autotvm_refused; "
                "DROP TABLE IF EXISTS _autotvm_raw")

    if records + transforms == 0:
        first = "; ".join(f"line {r.line}: {r.reason}" for r in rejected.items[:3])
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
    return LoadResult(rows=records + transforms, rejected=rejected.listed(), failed_trials=failed, meta=meta,
                      rejected_total=rejected.total)


_SEGMENT_BATCH = 1 << 20


def _refuse_before_sql(con, path: str, lines: LineScan) -> None:
    """The table _autotvm_refused: lines the SQL must not read. Those over MAX_LINE_BYTES (DuckDB would
    parse them, at many times their size in memory), and those DuckDB's reader parsed but JSON (and
    AutoTVM) refuses, i.e. trailing commas: only the suspects scan_lines found are parsed again."""
    refused = list(lines.over_long)
    suspects = lines.trailing_comma_suspects
    if suspects:
        wanted = set(suspects)
        for line_no, text, _ in iter_lines(path, MAX_LINE_BYTES):
            if line_no in wanted and text is not None:
                try:
                    json.loads(text)
                except (ValueError, RecursionError):
                    refused.append(line_no)
            if line_no >= suspects[-1]:
                break
    con.execute("CREATE OR REPLACE TEMP TABLE _autotvm_refused AS SELECT unnest(?::BIGINT[]) AS line_no", [refused])


def _number_rows(con, path: str, lines: int) -> int:
    """The view _autotvm_rows: the raw rows with their 1-based line numbers; returns how many rows.

    read_json skips blank lines, so row k is the k-th non-blank line. Without blank lines (the usual
    case) row k is line k + 1; otherwise each run of non-blank lines is one segment (first row, first
    line) and rows find theirs by an ASOF join: memory grows with the blank lines, not the file."""
    row_idx = "rowid - (SELECT min(rowid) FROM _autotvm_raw)"  # rowids of a new table are consecutive
    rows = con.execute("SELECT count(*) FROM _autotvm_raw").fetchone()[0]
    if rows == lines:
        con.execute(f"CREATE OR REPLACE TEMP VIEW _autotvm_rows AS SELECT {row_idx} + 1 AS line_no, * FROM _autotvm_raw")
        return rows
    con.execute("CREATE OR REPLACE TEMP TABLE _autotvm_segments (row_start BIGINT, line_start BIGINT)")
    starts, firsts = [], []
    row, in_segment = 0, False
    for line_no, text, length in iter_lines(path, MAX_LINE_BYTES):
        blank = text is not None and not text.strip()
        if not blank:
            if not in_segment:
                starts.append(row)
                firsts.append(line_no)
                if len(starts) == _SEGMENT_BATCH:
                    _insert_segments(con, starts, firsts)
                    starts, firsts = [], []
            row += 1
        in_segment = not blank
    _insert_segments(con, starts, firsts)
    con.execute(
        "CREATE OR REPLACE TEMP VIEW _autotvm_rows AS SELECT s.line_start + (r.row_idx - s.row_start) AS line_no, r.* "
        f"FROM (SELECT {row_idx} AS row_idx, * FROM _autotvm_raw) r "
        "ASOF JOIN _autotvm_segments s ON r.row_idx >= s.row_start"
    )
    return rows


def _insert_segments(con, starts: list[int], firsts: list[int]) -> None:
    if starts:
        con.execute("INSERT INTO _autotvm_segments SELECT unnest(?::BIGINT[]), unnest(?::BIGINT[])", [starts, firsts])


_NOT_A_RECORD = "not an AutoTVM record"


def _explain_rejected(con, upload_id: int, source: Source) -> RejectedList:
    """Lines that became no row, each with its reason. Found by an anti-join on line numbers (cheap);
    the SQL's ``problem`` says why for those rows, and lines that were no JSON object with an input
    are parsed again, in Python, to say precisely what is wrong. Comment lines are not rejections
    (AutoTVM's own loader skips them)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _autotvm_bad AS SELECT line_no FROM _autotvm_rows "
        "EXCEPT SELECT line_no FROM autotvm_record WHERE upload_id = $1 "
        "EXCEPT SELECT line_no FROM layout_transform WHERE upload_id = $1",
        [upload_id],
    )
    rejected = RejectedList()
    if not con.execute("SELECT count(*) FROM _autotvm_bad").fetchone()[0]:
        return rejected
    last_line = count_lines(source.path)
    found: list[tuple[int, bytes | None, int]] = []  # the listed ones: line, text, length
    bad, at = [], 0  # a page of the bad line numbers, read as the file is
    for line_no, text, length in iter_lines(source.path, MAX_LINE_BYTES):
        if at == len(bad):
            bad = [n for (n,) in con.execute("SELECT line_no FROM _autotvm_bad WHERE line_no >= ? ORDER BY 1 LIMIT 10000",
                                             [line_no]).fetchall()]
            at = 0
            if not bad:
                break
        if bad[at] != line_no:
            continue
        at += 1
        if text is not None and text.strip().startswith(b"#"):
            continue
        rejected.total += 1
        if len(found) < MAX_REJECTED_LISTED:
            found.append((line_no, text, length))
    problems = dict(con.execute(
        "SELECT line_no, problem FROM _autotvm_norm WHERE line_no IN (SELECT unnest(?::BIGINT[]))",
        [[n for n, _, _ in found]],
    ).fetchall()) if found else {}
    for line_no, text, length in found:
        problem = problems.get(line_no)
        if problem is None or problem == _NOT_A_RECORD or text is None:
            problem = _diagnose(text, length, is_last=line_no >= last_line)
        rejected.items.append(Rejected(line_no, problem))
    return rejected


def _diagnose(text: bytes | None, length: int, is_last: bool) -> str:
    """Why a line gave no record row: the JSON and its shape, with Python's parser to report the
    column of a JSON error. The values of a well-formed record are judged in SQL (``problem``)."""
    if text is None or length > MAX_LINE_BYTES:
        return f"line is {length:,} bytes, over the {MAX_LINE_BYTES:,}-byte limit for one record"
    text = text.strip()
    try:
        obj = json.loads(text.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as e:
        # the parser ran off the end of the last line: the writer stopped mid-record
        cut = " (the file looks truncated)" if is_last and e.pos >= len(e.doc.rstrip()) - 1 else ""
        return f"not valid JSON: {e.msg} at column {e.colno}{cut}"
    except RecursionError:
        return "JSON nested too deeply"
    except ValueError as e:  # e.g. an integer over Python's digit limit
        return f"not readable JSON: {str(e)[:80]}"
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {_json_type(obj)}"
    if "input" not in obj and "i" not in obj:
        keys = ", ".join(sorted(obj)[:5])
        return f'{_NOT_A_RECORD}: no "input" or "i" key (keys: {keys})'
    key = "input" if "input" in obj else "i"
    for name, want in ((key, list), ("result" if key == "input" else "r", list), ("config", dict)):
        if name in obj and obj[name] is not None and not isinstance(obj[name], want):
            return f"{name} is {_json_type(obj[name])}, not {'a list' if want is list else 'an object'}"
    return "not readable as an AutoTVM record"


def _json_type(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


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
