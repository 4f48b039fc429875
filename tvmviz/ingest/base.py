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

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    name: str  # file name as the user gave it (inside a zip: "archive.zip/member")
    path: str  # a local file holding the decoded content (gunzipped, BOM stripped, CRLF kept)
    data: bytes  # the same content, in memory


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


def insert_rows(con, table: str, columns: list[str], rows: list[tuple]) -> None:
    """Insert Python rows in one statement through an Arrow table (DuckDB's executemany is slow)."""
    if not rows:
        return
    import pyarrow as pa

    arrow = pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)})
    con.complete()  # DuckDB 2 refuses register() while an execute() result is pending
    con.register("_tvmviz_rows", arrow)
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM _tvmviz_rows")
    finally:
        con.unregister("_tvmviz_rows")
