"""oneDNN / DNNL / MKL-DNN verbose logs (``ONEDNN_VERBOSE=1``): the vendor baseline.

Every ``exec`` line of every primitive becomes one row of ``onednn_exec``. Three line forms exist:

- oneDNN >= 3.2 (``v1`` schema): ``onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,
  forward_training,src:f32:a:blocked:aBcd8b::f0 wei:...,attr-scratchpad:user,alg:convolution_direct,
  mb1_ic64oc64_ih56oh56kh3sh1dh0ph1_iw56ow56kw3sw1dw0pw1,1.47412`` (optionally with a timestamp field)
- DNNL 1.x - oneDNN 3.1: ``dnnl_verbose,exec,cpu,convolution,jit:avx512_common,forward_inference,
  src_f32::blocked:aBcd16b:f0 wei_f32::...,,alg:convolution_direct,mb1_ic64oc64_...,0.51``
- MKL-DNN 0.x (no engine, no attributes field): ``mkldnn_verbose,exec,convolution,jit:avx2,
  forward_training,fsrc:nChw8c fwei:OIhw8i8o fbia:x fdst:nChw8c,alg:convolution_direct,mb2_g1ic32...,0.14``

Lines that are not verbose lines (Python warnings, the program's own output) and verbose lines that are
not primitive exec lines (info, create, graph API) are skipped silently; info lines fill the meta.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from functools import lru_cache

from tvmviz.errors import TvmvizError
from tvmviz.graph.model import ConvAttrs, workload_key
from tvmviz.ingest.base import MAX_LINE_CHARS, LoadResult, Rejected, RejectedList, RowChecker, Source, insert_rows, open_text

KINDS = ("onednn_verbose",)

# Problem-descriptor fields in benchdnn's vocabulary. Dilations are oneDNN's: 0 means dense (TVM's 1).
DESC_FIELDS = (
    "mb", "g", "ic", "oc",
    "id", "ih", "iw", "od", "oh", "ow",
    "kd", "kh", "kw", "sd", "sh", "sw",
    "dd", "dh", "dw", "pd", "ph", "pw",
)  # fmt: skip

SCHEMA = [
    """
CREATE TABLE IF NOT EXISTS onednn_exec (
    upload_id INTEGER NOT NULL,
    line_no INTEGER NOT NULL,    -- 1-based line of the exec line in the file
    marker VARCHAR NOT NULL,     -- onednn_verbose | dnnl_verbose | mkldnn_verbose
    engine VARCHAR,              -- cpu / gpu; NULL for MKL-DNN 0.x lines (no engine field)
    primitive VARCHAR NOT NULL,  -- convolution, reorder, sum, pooling, eltwise, inner_product, ...
    implementation VARCHAR,      -- e.g. jit:avx2, jit_1x1:avx2, brg_matmul:avx2
    prop_kind VARCHAR,           -- forward_training, forward_inference, undef, ...
    mem_desc VARCHAR,            -- all memory descriptors as printed
    src_dt VARCHAR, src_tag VARCHAR,  -- first src (else data / diff_src) descriptor: data type, format tag
    wei_dt VARCHAR, wei_tag VARCHAR,
    dst_dt VARCHAR, dst_tag VARCHAR,  -- dst (else data / diff_dst)
    src_block INTEGER,           -- inner block of dim 1 (channels): aBcd8b / nChw8c -> 8, abcd / nchw -> 1
    dst_block INTEGER,           --   NULL when the tag has no dim 1 (a, x) or is not a plain tag (any)
    attributes VARCHAR,          -- e.g. attr-scratchpad:user attr-post-ops:eltwise_relu
    aux VARCHAR,                 -- auxiliary field as printed, e.g. alg:eltwise_relu alpha:0 beta:0
    alg VARCHAR,                 -- the alg: value of aux, e.g. convolution_direct
    problem VARCHAR,             -- problem descriptor as printed
    dims INTEGER[],              -- for dims-style descriptors (reorder, sum, eltwise): 1x64x56x56
    mb INTEGER, g INTEGER, ic INTEGER, oc INTEGER,  -- parsed key-style descriptor, with benchdnn's
    id INTEGER, ih INTEGER, iw INTEGER,             -- defaults for what is omitted (iw = ih, w = h,
    od INTEGER, oh INTEGER, ow INTEGER,             -- output / padding deduced, stride 1, dilation 0,
    kd INTEGER, kh INTEGER, kw INTEGER,             -- mb 2, g 1); depth fields stay NULL unless 3-D
    sd INTEGER, sh INTEGER, sw INTEGER,
    dd INTEGER, dh INTEGER, dw INTEGER,             -- oneDNN dilation: 0 = dense (TVM dilation - 1)
    pd INTEGER, ph INTEGER, pw INTEGER,             -- front / top / left padding
    time_ms DOUBLE NOT NULL
)
"""
]

_MARKERS = ("onednn_verbose", "dnnl_verbose", "mkldnn_verbose")
_SNIFF_RE = re.compile(r"^\s*(?:onednn|dnnl|mkldnn)_verbose,", re.MULTILINE)
_KEY_DESC_RE = re.compile(r"(?:[a-z]+\d+)+")
_KEY_TOKEN_RE = re.compile(r"([a-z]+)(\d+)")
_DIMS_RE = re.compile(r"\d+(?:x\d+)*")
_TAG_RE = re.compile(r"([a-zA-Z]+)((?:\d+[a-zA-Z])*)")
_BLOCK_RE = re.compile(r"(\d+)([a-zA-Z])")
_DTYPES = sorted(
    ("f64", "f32", "f16", "bf16", "s32", "s8", "u8", "s4", "u4", "f8_e5m2", "f8_e4m3", "f4_e2m1", "boolean", "undef"),
    key=len,
    reverse=True,
)
_COLUMNS = [
    "upload_id", "line_no", "marker", "engine", "primitive", "implementation", "prop_kind", "mem_desc",
    "src_dt", "src_tag", "wei_dt", "wei_tag", "dst_dt", "dst_tag", "src_block", "dst_block",
    "attributes", "aux", "alg", "problem", "dims", *DESC_FIELDS, "time_ms",
]  # fmt: skip


_CHECK = RowChecker(SCHEMA[0], _COLUMNS)


def sniff(head: bytes) -> str | None:
    text = head.decode("utf-8", errors="replace")
    return "onednn_verbose" if _SNIFF_RE.search(text) else None


# ----------------------------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class MemDesc:
    arg: str  # src, wei, bia, dst, data, diff_src, ...
    dtype: str | None
    tag: str | None


def parse_mem_desc(token: str) -> MemDesc | None:
    """One memory descriptor in any of the three verbose forms; None when it is not one."""
    parts = token.split(":")
    if len(parts) < 2:
        return None
    head = parts[0]
    for dt in _DTYPES:  # DNNL 1.x - oneDNN 3.1: src_f32::blocked:aBcd8b:f0
        if head.endswith("_" + dt) and len(head) > len(dt) + 1:
            return MemDesc(head[: -len(dt) - 1], dt, parts[3] or None if len(parts) > 3 else None)
    if len(parts) == 2:  # MKL-DNN 0.x: fsrc:nChw8c, in:f32_nchw, out:f32_nChw8c
        if head in ("in", "out"):
            dt, _, tag = parts[1].partition("_")
            return MemDesc("src" if head == "in" else "dst", dt or None, tag or None)
        if head.startswith("f") and len(head) > 1:
            return MemDesc(head[1:], None, parts[1] or None)
        return None
    # oneDNN >= 3.2: src:f32:a:blocked:aBcd8b::f0  (arg:dt:properties:format_kind:tag:strides:flags)
    return MemDesc(head, parts[1] or None, parts[4] or None if len(parts) > 4 else None)


def channel_block(tag: str | None) -> int | None:
    """Inner block of dim 1 of a format tag: aBcd8b -> 8, ABcd8b8a -> 8, abcd -> 1, nChw16c -> 16.

    Tags of the abc family name dims by letter (dim 1 is ``b``); MKL-DNN 0.x named tags (nchw,
    nChw8c) name the channel dim ``c``. None when the tag has no dim 1 or is not a plain tag."""
    if not tag:
        return None
    m = _TAG_RE.fullmatch(tag)
    if not m:
        return None
    outer = m.group(1).lower()
    abc_family = sorted(outer) == list(string.ascii_lowercase[: len(outer)])
    dim = "b" if abc_family else "c"
    if dim not in outer:
        return None
    block = 1
    for size, letter in _BLOCK_RE.findall(m.group(2)):
        if letter.lower() == dim:
            block *= int(size)
    return block


def _cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero), as benchdnn computes."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _complete_spatial(p: dict, deconv: bool) -> None:
    """benchdnn's implicit rules for kernel problems (conv, deconv, pooling), in place."""
    for ax in "dhw":
        p.setdefault("s" + ax, 1)
        p.setdefault("d" + ax, 0)
        p.setdefault("p" + ax, -1)  # -1: not given
    present = {}
    for ax in "dhw":
        given = any(p.get(k + ax) for k in "iko") or p["d" + ax] != 0
        present[ax] = given or p["s" + ax] != 1 or p["p" + ax] >= 1
        if not present[ax]:
            continue
        i, k, s, d = p.get("i" + ax), p.get("k" + ax), p["s" + ax], p["d" + ax]
        if not i or not k or s <= 0:
            continue  # not deducible; leave the rest as given
        keff = (k - 1) * (d + 1) + 1
        if not p.get("o" + ax):
            p["p" + ax] = max(p["p" + ax], 0)
            pad = p["p" + ax]
            p["o" + ax] = (i - 1) * s + keff - 2 * pad if deconv else _cdiv(i - keff + 2 * pad, s) + 1
        elif p["p" + ax] < 0:
            o = p["o" + ax]
            p["p" + ax] = _cdiv((i - 1) * s - o + keff, 2) if deconv else _cdiv((o - 1) * s - i + keff, 2)
    if present["d"] and not present["h"] and not present["w"]:
        for k in "iokspd":
            p[k + "h"] = p[k + "w"] = p.get(k + "d")
    elif present["h"] and not present["w"]:
        for k in "iokspd":
            p[k + "w"] = p.get(k + "h")
    elif present["w"] and not present["h"]:  # 1-D: h takes the defaults
        p.update(ih=1, oh=1, kh=1, sh=1, ph=0, dh=0)
    for ax in "hw":
        if p.get("p" + ax, 0) < 0:
            p["p" + ax] = 0
    if not present["d"]:
        for k in "iokspd":
            p.pop(k + "d", None)


def parse_problem(desc: str, primitive: str = "convolution") -> tuple[dict, list[int] | None]:
    """(key fields with defaults applied, dims) of a problem descriptor; ({}, None) when neither form."""
    text = desc.strip().replace("_", "")
    if '"' in text:  # a benchdnn name: n"resnet:conv1"
        text = text[: text.index('"')].rstrip("n")
    if _DIMS_RE.fullmatch(text):
        return {}, [int(x) for x in text.split("x")]
    if not text or not _KEY_DESC_RE.fullmatch(text):
        return {}, None
    p: dict = {}
    for key, value in _KEY_TOKEN_RE.findall(text):
        if key in DESC_FIELDS and key not in p:
            p[key] = int(value)
    if not p:
        return {}, None
    p.setdefault("mb", 2)
    if any(k in p for k in ("kd", "kh", "kw")):
        _complete_spatial(p, deconv="deconv" in primitive)
        if "oc" in p:
            p.setdefault("g", 1)
    elif "ih" in p and "iw" not in p:
        p["iw"] = p["ih"]
    return p, None


@dataclass(frozen=True)
class ExecLine:
    marker: str
    engine: str | None
    primitive: str
    implementation: str
    prop_kind: str
    mem_desc: str
    attributes: str | None
    aux: str
    problem: str
    time_ms: float


def parse_exec_fields(marker: str, fields: list[str]) -> ExecLine:
    """The fields after ``exec``; raises ValueError with the reason when malformed."""
    n = len(fields)
    if n >= 9:  # engine, primitive, impl, prop, mem descs, attrs, aux..., problem, time
        engine, primitive, impl, prop, mds, attrs = fields[:6]
        aux = ",".join(fields[6:-2])
    elif n == 7 and fields[0] not in ("cpu", "gpu"):  # MKL-DNN 0.x
        primitive, impl, prop, mds = fields[:4]
        engine, attrs, aux = None, None, fields[4]
    else:
        raise ValueError(f"expected 9 fields after 'exec', found {n}")
    problem, time_text = fields[-2], fields[-1].strip()
    if not primitive:
        raise ValueError("empty primitive name")
    try:
        time_ms = float(time_text)
    except ValueError:
        raise ValueError(f"time {time_text[:40]!r} is not a number") from None
    if not math.isfinite(time_ms) or time_ms < 0:
        raise ValueError(f"time {time_text!r} is not a finite non-negative number")
    return ExecLine(marker, engine, primitive, impl, prop, mds, attrs, aux, problem, time_ms)


def _alg(aux: str) -> str | None:
    for token in aux.split():
        if token.startswith("alg:"):
            return token[4:] or None
    return None


def _pick(descs: list[MemDesc], *args: str) -> MemDesc | None:
    for arg in args:
        for d in descs:
            if d.arg == arg:
                return d
    return None


@lru_cache(maxsize=4096)  # verbose logs repeat the same few layers thousands of times
def _mem_columns(mem_desc: str) -> tuple:
    descs = [d for d in (parse_mem_desc(t) for t in mem_desc.split()) if d is not None]
    src = _pick(descs, "src", "src_0", "data", "diff_src")
    wei = _pick(descs, "wei", "weights", "diff_wei")
    dst = _pick(descs, "dst", "data", "diff_dst")
    return (
        src and src.dtype, src and src.tag, wei and wei.dtype, wei and wei.tag, dst and dst.dtype,
        dst and dst.tag, channel_block(src and src.tag), channel_block(dst and dst.tag),
    )  # fmt: skip


@lru_cache(maxsize=4096)
def _problem_columns(problem: str, primitive: str) -> tuple:
    fields, dims = parse_problem(problem, primitive)
    return (dims, *(fields.get(k) for k in DESC_FIELDS))


def _row(upload_id: int, line_no: int, e: ExecLine) -> tuple:
    return (
        upload_id, line_no, e.marker, e.engine, e.primitive, e.implementation, e.prop_kind, e.mem_desc,
        *_mem_columns(e.mem_desc), e.attributes or None, e.aux or None, _alg(e.aux), e.problem,
        *_problem_columns(e.problem, e.primitive), e.time_ms,
    )  # fmt: skip


_VERSION_RE = re.compile(r"(?:oneDNN|DNNL|MKL-DNN)\s+v(\d+(?:\.\d+)+)")
_ISA_RE = re.compile(r"(?:isa:|Detected ISA is )(.+)$")
_NTHR_RE = re.compile(r"nthr:(\d+)")
_RUNTIME_RE = re.compile(r"runtime:([^,]+)")


def _read_info(fields: list[str], line: str, meta: dict[str, str]) -> None:
    if (m := _VERSION_RE.search(line)) and "onednn_version" not in meta:
        meta["onednn_version"] = m.group(1)
    if (m := _ISA_RE.search(line)) and "onednn_isa" not in meta:
        meta["onednn_isa"] = m.group(1).strip()
    if "cpu" in fields:
        if (m := _NTHR_RE.search(line)) and "onednn_threads" not in meta:
            meta["onednn_threads"] = m.group(1)
        if (m := _RUNTIME_RE.search(line)) and "onednn_runtime" not in meta:
            meta["onednn_runtime"] = m.group(1).strip()


def iter_exec_rows(lines, upload_id: int, rejected: list[Rejected], meta: dict[str, str]):
    """Yield one onednn_exec row per valid exec line of ``lines`` (text lines, or a text file);
    append malformed ones to ``rejected``."""
    for line_no, raw in enumerate(lines, start=1):
        if len(raw) > MAX_LINE_CHARS:
            if raw.lstrip().startswith(_MARKERS):
                rejected.append(Rejected(line_no, f"oneDNN line over {MAX_LINE_CHARS:,} characters"))
            continue
        line = raw.rstrip("\r").strip()
        marker = line.partition(",")[0]
        if marker not in _MARKERS:
            continue
        fields = line.split(",")
        head = fields[1:5]
        if "exec" not in head:
            if "info" in head:
                _read_info(fields, line, meta)
            continue
        at = head.index("exec") + 1
        if "graph" in fields[1:at]:
            continue  # graph-API partition exec lines: a different record, not a primitive
        try:
            row = _row(upload_id, line_no, parse_exec_fields(marker, fields[at + 1 :]))
        except (ValueError, OverflowError, ArithmeticError) as exc:
            rejected.append(Rejected(line_no, f"oneDNN exec line: {exc}"))
            continue
        if problem := _CHECK.problem(row):
            rejected.append(Rejected(line_no, f"oneDNN exec line: {problem}"))
            continue
        yield row


_CHUNK = 100_000  # rows per insert: bounds memory on long training logs


def load(con, upload_id: int, source: Source, kind: str) -> LoadResult:
    if kind not in KINDS:
        raise TvmvizError(f"{source.name}: onednn module cannot load kind {kind!r}")
    rejected = RejectedList()
    meta: dict[str, str] = {}
    stored = 0
    chunk: list[tuple] = []
    with open_text(source.path) as lines:
        for row in iter_exec_rows(lines, upload_id, rejected, meta):
            chunk.append(row)
            if len(chunk) == _CHUNK:
                insert_rows(con, "onednn_exec", _COLUMNS, chunk)
                stored, chunk = stored + len(chunk), []
    if not stored and not chunk:
        detail = ""
        if rejected.items:
            first = rejected.items[0]
            detail = f"; {rejected.total} malformed exec line(s), first at line {first.line}: {first.reason}"
        raise TvmvizError(f"{source.name}: no valid oneDNN verbose exec line found{detail}")
    insert_rows(con, "onednn_exec", _COLUMNS, chunk)
    return LoadResult(rows=stored + len(chunk), rejected=rejected.listed(), meta=meta, rejected_total=rejected.total)


# ----------------------------------------------------------------------------------------------- queries

_ONEDNN_DTYPES = {"f32": "float32", "f16": "float16", "bf16": "bfloat16", "s8": "int8", "u8": "uint8",
                  "s32": "int32", "f64": "float64"}  # fmt: skip


@dataclass(frozen=True)
class OneDNNConv:
    """One forward 2-D convolution oneDNN ran, in TVM's NCHW workload terms, with its times aggregated."""

    upload_id: int
    attrs: ConvAttrs  # N,C,H,W / O,I,KH,KW / strides / padding (top, left, bottom, right) / dilation
    src_tag: str | None
    wei_tag: str | None
    dst_tag: str | None
    src_block: int | None  # oneDNN's x for the input: aBcd8b -> 8 (the counterpart of TVM's ic_bn)
    dst_block: int | None  # ... and for the output (oc_bn)
    implementation: str
    prop_kind: str
    count: int  # executions aggregated
    median_ms: float
    min_ms: float
    first_line: int

    @property
    def workload_key(self) -> str:
        """Same key as tvmviz.graph.model.workload_key of the TVM conv2d_NCHWc.x86 workload."""
        return workload_key(self.attrs.workload())


_CONV_SQL = """
SELECT upload_id, mb, g, ic, ih, iw, oc, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw,
       src_dt, wei_dt, dst_dt, src_tag, wei_tag, dst_tag, src_block, dst_block,
       implementation, prop_kind,
       count(*) AS n, median(time_ms) AS median_ms, min(time_ms) AS min_ms, min(line_no) AS first_line
FROM onednn_exec
WHERE upload_id IN (SELECT unnest(?::INTEGER[]))
  AND primitive = 'convolution' AND prop_kind LIKE 'forward%'
  AND id IS NULL AND ic IS NOT NULL AND oc IS NOT NULL AND ih IS NOT NULL AND kh IS NOT NULL
GROUP BY ALL
ORDER BY upload_id, first_line
"""


def onednn_convs(con, upload_ids: list[int]) -> list[OneDNNConv]:
    """Forward 2-D convolutions of these uploads, one per (workload, layouts, implementation)."""
    if not upload_ids:
        return []
    out = []
    for r in con.execute(_CONV_SQL, [list(upload_ids)]).fetchall():
        (upload_id, mb, g, ic, ih, iw, oc, _oh, _ow, kh, kw, sh, sw, ph, pw, dh, dw,
         src_dt, _wei_dt, dst_dt, src_tag, wei_tag, dst_tag, src_block, dst_block,
         impl, prop, n, median_ms, min_ms, first_line) = r  # fmt: skip
        # oneDNN prints top/left padding only; frameworks pass it symmetric, as TVM logs it (the
        # bottom/right padding that output size implies can be smaller, with the same output).
        dtype = _ONEDNN_DTYPES.get(src_dt or "f32", src_dt)
        attrs = ConvAttrs(
            data_shape=(mb, ic, ih, iw),
            kernel_shape=(oc, ic // g, kh, kw),
            strides=(sh, sw),
            padding=(ph, pw, ph, pw),
            dilation=(dh + 1, dw + 1),
            dtype=dtype,
            out_dtype=_ONEDNN_DTYPES.get(dst_dt or "f32", dst_dt),
            groups=g,
        )
        out.append(
            OneDNNConv(upload_id, attrs, src_tag, wei_tag, dst_tag, src_block, dst_block, impl, prop,
                       n, median_ms, min_ms, first_line)  # fmt: skip
        )
    return out
