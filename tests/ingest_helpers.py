"""What the format readers' tests share: bytes on disk (readers take files) and a connection with a schema."""

from __future__ import annotations

import os
import tempfile

import duckdb


def on_disk(data: bytes) -> str:
    """Readers take a file (they never hold one in memory): write the bytes to a temp file."""
    fd, path = tempfile.mkstemp(suffix=".ingest")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def connect_with(schema) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for stmt in schema:
        con.execute(stmt)
    return con
