"""What every ingest format module provides, and what it returns.

A format module (autotvm.py, onednn.py, executor.py, ...) exposes:

- ``KINDS``: the kinds it can produce (``"autotvm"``, ``"onednn_verbose"``, ...).
- ``SCHEMA``: a list of ``CREATE TABLE IF NOT EXISTS`` statements for its tables; every table has
  ``upload_id INTEGER NOT NULL`` as its first column.
- ``sniff(head: bytes) -> str | None``: the kind, judged from the first bytes of the content (up to
  64 KiB, BOM already stripped, never the file name), or None.
- ``load(con, upload_id, source: Source, kind: str) -> LoadResult``: parse and insert the rows into
  its tables through ``con`` (a DuckDB connection already inside the upload's transaction; raise
  on fatal errors and the store rolls the whole upload back). SQL parameters are always bound.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Source:
    name: str  # file name as the user gave it (inside a zip: "archive.zip/member")
    path: str  # a local file holding the decoded content (gunzipped, BOM stripped, CRLF kept); read
               # it in chunks or lines: memory must not grow with the file


@dataclass(frozen=True)
class Rejected:
    line: int  # 1-based line number in the file (0 when the reason is about the whole file)
    reason: str


@dataclass
class LoadResult:
    rows: int  # rows stored (for AutoTVM logs: records)
    rejected: list[Rejected] = field(default_factory=list)
    failed_trials: dict[str, int] = field(default_factory=dict)  # error name -> count
    meta: dict[str, str] = field(default_factory=dict)  # target, cpu, tvm_version, ... for the uploads table
    rejected_total: int | None = None  # when more lines were rejected than ``rejected`` lists


def insert_rows(con, table: str, columns: list[str], rows: list[tuple]) -> None:
    """Insert Python rows in one statement through an Arrow table (DuckDB's executemany is slow).
    Rows must have passed ``RowChecker`` for the table: nothing here is expected to fail on values."""
    if not rows:
        return
    import pyarrow as pa

    arrow = pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)})
    con.complete()  # DuckDB 2 refuses register() while an execute() result is pending
    con.register("_tvmviz_rows", arrow)
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM _tvmviz_rows")
    finally:
        try:
            con.unregister("_tvmviz_rows")
        except Exception:  # after a failed INSERT the transaction is aborted: the INSERT's error is the one to see
            pass


_INT32 = (-(2**31), 2**31 - 1)
_COLUMN_RE = re.compile(r"(\w+)\s+(INTEGER|BIGINT|DOUBLE|VARCHAR|BOOLEAN|JSON)(\[\])?")


class RowChecker:
    """Checks Python rows against a table's column types before they are inserted, so a value DuckDB
    would refuse (an integer over INTEGER's range, a NaN time, a string that is not valid Unicode)
    becomes a rejected row with its reason instead of aborting the whole upload."""

    def __init__(self, schema: str, columns: list[str]):
        columns_text = re.sub(r"--[^\n]*", "", schema)
        types = {name: (kind, bool(is_list)) for name, kind, is_list in _COLUMN_RE.findall(columns_text)}
        self.checks = [(i, name, *types[name]) for i, name in enumerate(columns) if name in types]

    def problem(self, row: tuple) -> str | None:
        for i, name, kind, is_list in self.checks:
            value = row[i]
            if value is None:
                continue
            for v in value if is_list else (value,):
                why = _value_problem(v, kind)
                if why:
                    return f"{name} {_shown(v)} {why}"
        return None


def _value_problem(v, kind: str) -> str | None:
    if kind in ("INTEGER", "BIGINT"):
        low, high = _INT32 if kind == "INTEGER" else (-(2**63), 2**63 - 1)
        if isinstance(v, bool) or not isinstance(v, int):
            return "is not an integer"
        return None if low <= v <= high else f"is out of range ({low:,} to {high:,})"
    if kind == "DOUBLE":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "is not a number"
        try:
            return None if math.isfinite(v) else "is not finite"
        except OverflowError:
            return "is out of range"
    if kind in ("VARCHAR", "JSON"):
        if not isinstance(v, str):
            return "is not text"
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid Unicode"
    return None


def _shown(v) -> str:
    text = repr(v) if not isinstance(v, int) or abs(v) < 10**30 else f"({v.bit_length()}-bit number)"
    return text if len(text) <= 60 else text[:57] + "..."


# Rejected lines listed one by one in a report; past this they are counted, not listed (a file of
# millions of bad lines must not cost memory per line).
MAX_REJECTED_LISTED = 1000
_READ_CHUNK = 1 << 20


def count_lines(path: str) -> int:
    """Lines in a file as a line reader sees them (a last line without a newline counts), in chunks."""
    return scan_lines(path, find_trailing_commas=False).count


@dataclass
class LineScan:
    count: int
    trailing_comma_suspects: list[int]  # lines that may hold "," then "]" or "}" (spaces and tabs between)
    over_long: list[int]  # lines longer than the limit asked for


def scan_lines(path: str, find_trailing_commas: bool = True, max_line_bytes: int | None = None) -> LineScan:
    """Lines counted, in chunks, and the lines SQL must not see: those that may hold a trailing comma
    (DuckDB's JSON reader accepts them, AutoTVM's json.loads refuses them; Python's parser checks those
    few again) and those over ``max_line_bytes`` (refused before any work on them). A comma split from
    its bracket by a chunk boundary is caught by carrying the last non-blank byte over."""
    count, found, long_lines, last, prev_tail, open_line = 0, [], [], b"\n", b"", 0
    chunk_size = min(16 * _READ_CHUNK, max_line_bytes or 16 * _READ_CHUNK)
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            data = np.frombuffer(chunk, np.uint8)
            if find_trailing_commas:
                found += _trailing_comma_lines(data, prev_tail, count)
                prev_tail = chunk.rstrip(b" \t")[-1:] or prev_tail
            if max_line_bytes is not None:
                # a line inside one chunk is shorter than the chunk, so no longer than the limit: only a line
                # running on from earlier chunks can be too long
                first = chunk.find(b"\n")
                if first < 0:
                    open_line += len(chunk)
                else:
                    if open_line + first > max_line_bytes:
                        long_lines.append(count + 1)
                    open_line = len(chunk) - chunk.rfind(b"\n") - 1
            count += int(np.count_nonzero(data == _NEWLINE))  # 3x bytes.count here
            last = chunk[-1:]
    if open_line > (max_line_bytes or math.inf):
        long_lines.append(count + 1)
    return LineScan(count + (last != b"\n"), sorted(set(found)), long_lines)


_COMMA, _BLANKS, _NEWLINE = ord(","), (ord(" "), ord("\t")), ord("\n")
_CLOSE_WITH_BIT5 = ord("}")  # "]" and "}" differ only in bit 5 (0x5D, 0x7D): one compare finds both


def _trailing_comma_lines(data: np.ndarray, prev_tail: bytes, lines_before: int) -> list[int]:
    """Lines of a chunk where "]" or "}" follows a comma with only spaces and tabs between, vectorised:
    the byte before each bracket is read, stepping back over blanks only for the brackets that have some.
    ``data``: the chunk's bytes; ``prev_tail``: the last non-blank byte of the chunks before (a comma
    may end the previous chunk)."""
    before_chunk = prev_tail[0] if prev_tail else 0
    closes = np.flatnonzero((data | 0x20) == _CLOSE_WITH_BIT5)
    at, hits = closes - 1, []
    while len(closes):
        byte = np.where(at >= 0, data[np.maximum(at, 0)], before_chunk)
        blank = (at >= 0) & ((byte == _BLANKS[0]) | (byte == _BLANKS[1]))
        hits.append(closes[~blank & (byte == _COMMA)])
        closes, at = closes[blank], at[blank] - 1
    found = np.concatenate(hits) if hits else closes
    if not len(found):
        return []
    newlines = np.flatnonzero(data == _NEWLINE)
    return (lines_before + 1 + np.searchsorted(newlines, found)).tolist()


def iter_lines(path: str, max_len: int):
    """(1-based line number, line without its newline or None when longer than ``max_len``, length),
    reading in chunks: memory stays bounded whatever the file's longest line."""
    line_no, parts, length = 1, [], 0
    with open(path, "rb") as f:
        while chunk := f.read(_READ_CHUNK):
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                length += end - start
                if length <= max_len:
                    parts.append(chunk[start:end])
                yield line_no, (b"".join(parts) if length <= max_len else None), length
                line_no, parts, length = line_no + 1, [], 0
                start = end + 1
            length += len(chunk) - start
            if length <= max_len:
                parts.append(chunk[start:])
            else:
                parts = []
    if length or parts:
        yield line_no, (b"".join(parts) if length <= max_len else None), length


# Longest line the text formats (oneDNN verbose, profile tables) read; longer ones are rejected by
# their length, and never held whole.
MAX_LINE_CHARS = 1 << 20


@contextlib.contextmanager
def open_text(path: str):
    """The file's lines as text (UTF-8, bad bytes replaced; split at "\\n" only, which is dropped,
    a "\\r" before it kept), one at a time. A line over MAX_LINE_CHARS comes as its first
    MAX_LINE_CHARS + 1 characters, the rest skipped: memory stays bounded."""
    with open(path, encoding="utf-8", errors="replace", newline="\n") as f:
        yield _bounded_lines(f)


def _bounded_lines(f):
    while line := f.readline(MAX_LINE_CHARS + 1):
        if line.endswith("\n"):
            yield line[:-1]
            continue
        if len(line) > MAX_LINE_CHARS:
            while (rest := f.readline(MAX_LINE_CHARS)) and not rest.endswith("\n"):
                pass
        yield line


class RejectedList:
    """Rejected lines as they are found: the first MAX_REJECTED_LISTED kept, the rest counted."""

    def __init__(self) -> None:
        self.items: list[Rejected] = []
        self.total = 0

    def add(self, line: int, reason: str) -> None:
        self.total += 1
        if len(self.items) < MAX_REJECTED_LISTED:
            self.items.append(Rejected(line, reason))

    def append(self, rejected: Rejected) -> None:
        self.add(rejected.line, rejected.reason)

    def listed(self) -> list[Rejected]:
        """What a report shows: the kept lines, then one line-0 entry counting the rest."""
        more = self.total - len(self.items)
        if more <= 0:
            return list(self.items)
        return [*self.items, Rejected(0, f"{more:,} more rejected lines (only the first {MAX_REJECTED_LISTED:,} "
                                         "are listed)")]
