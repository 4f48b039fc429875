"""The DuckDB store: one table per kind, every row keyed by its upload, one transaction per upload.

The schema is the interface: open ``tvmviz.duckdb`` in any DuckDB client and query
``upload``, ``autotvm_record``, ``layout_transform`` and the profiling tables. Raw files are kept
in ``<db>.files/`` next to the database so it can be rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from tvmviz.errors import TvmvizError
from tvmviz.idle import in_idle_time
from tvmviz.ingest import FileRef, PendingFile, as_source, expand_upload, format_modules, list_files, module_for_kind, read_file, sniff
from tvmviz.records import TransformRecord, TuningRecord
from tvmviz.runs import catalog as run_catalog
from tvmviz.runs.forming import Placement, placements

DEFAULT_DB = "tvmviz.duckdb"

_UPLOAD_SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS upload_id_seq START 1;
CREATE TABLE IF NOT EXISTS upload (
    upload_id INTEGER PRIMARY KEY DEFAULT nextval('upload_id_seq'),
    sha256 VARCHAR NOT NULL UNIQUE,     -- of the decoded content: the same file twice is one upload
    file_name VARCHAR NOT NULL,
    uploader VARCHAR,
    label VARCHAR,
    kind VARCHAR NOT NULL,
    uploaded_at TIMESTAMP NOT NULL,
    rows INTEGER NOT NULL,
    rejected_lines INTEGER NOT NULL,
    failed_trials JSON,                 -- error name -> count
    target VARCHAR,
    cpu VARCHAR,
    tvm_version VARCHAR,
    meta JSON
);
"""


@dataclass
class IngestReport:
    """What happened to one file; the CLI's --json prints these as they are."""

    file: str
    kind: str | None
    upload_id: int | None
    duplicate: bool = False
    rows: int = 0
    failed_trials: dict[str, int] = field(default_factory=dict)
    rejected_lines: list[dict] = field(default_factory=list)  # {"line": 7, "reason": "..."}
    error: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Upload:
    upload_id: int
    file_name: str
    uploader: str | None
    label: str | None
    kind: str
    uploaded_at: datetime
    rows: int
    rejected_lines: int
    failed_trials: dict[str, int]
    target: str | None
    cpu: str | None
    tvm_version: str | None
    sha256: str
    run_id: int | None = None  # the run it belongs to (tvmviz.runs)


def _is_zip(data) -> bool:
    """Whether a path, bytes or a binary file object holds a zip archive (one run of its members)."""
    magic = b"PK\x03\x04"
    if data is None:
        return False
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data[:4]) == magic
    if isinstance(data, (str, os.PathLike)):
        try:
            with open(data, "rb") as f:
                return f.read(4) == magic
        except OSError:
            return False
    pos = data.tell()
    head = data.read(4)
    data.seek(pos)
    return head == magic


def _sql_literal(text: str) -> str:
    """A string inside single quotes in SQL (EXPORT DATABASE takes no bound parameters)."""
    return text.replace("'", "''")


def _unreadable(e: Exception, source, scrub) -> str:
    """The reason for a parser failure no reader anticipated, in words (a report, never a traceback)."""
    if isinstance(e, RecursionError):
        return "nested too deeply to read"
    if isinstance(e, MemoryError):
        return "too large to read in the memory this server has"
    if isinstance(e, UnicodeError):
        return f"not valid text ({e.reason if hasattr(e, 'reason') else e})"
    return f"could not be read ({type(e).__name__}: {scrub(str(e), source)[:200]})"


def _is_conflict(e: duckdb.Error) -> bool:
    """Another session's transaction got there first (same sha256, same upload deleted)."""
    return isinstance(e, (duckdb.ConstraintException, duckdb.TransactionException)) or "conflict" in str(e).lower()


def _remove(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def default_db_path() -> str:
    return os.environ.get("TVMVIZ_DB") or DEFAULT_DB


_process_stores: dict = {}
_process_stores_lock = threading.Lock()


def process_store(path: str | None = None) -> "Store":
    """This process's one connection to ``path``: the dashboard's sessions and the HTTP API share it
    (each works on its own ``cursor()``), so the process that serves is the database's one writer."""
    path = os.path.abspath(path or default_db_path())
    with _process_stores_lock:
        if path not in _process_stores:
            _process_stores[path] = Store.open(path)
        return _process_stores[path]


# DuckDB's working memory (its buffer pool: the raw rows of a log being read, query state). Beyond it
# DuckDB spills to disk (<db>.tmp/), so ingest memory stays flat however large the file is.
DEFAULT_MEMORY_LIMIT = "1GB"
_MEMORY_LIMIT = re.compile(r"^[1-9][0-9]*(\.[0-9]+)?\s*(MB|MiB|GB|GiB)$", re.IGNORECASE)


def memory_limit() -> str:
    value = os.environ.get("TVMVIZ_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT).strip()
    if not _MEMORY_LIMIT.match(value):
        raise TvmvizError(f"TVMVIZ_MEMORY_LIMIT={value!r} is not a size like 512MB or 2GB")
    return value


def _configure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET enable_progress_bar = false")  # it would write into --json output
    con.execute(f"SET memory_limit = '{memory_limit()}'")  # checked by the pattern above: no quotes possible


class Store:
    def __init__(self, con: duckdb.DuckDBPyConnection, path: str):
        self.con = con
        self.path = path
        self.files_dir = None if path == ":memory:" else Path(f"{path}.files")
        self.snapshot_dir: str | None = None
        self.snapshot_note: str | None = None

    @classmethod
    def open(cls, path: str | None = None, read_only: bool = False) -> "Store":
        path = path or default_db_path()
        try:
            con = duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as e:
            if "lock" in str(e).lower():
                raise TvmvizError(
                    f"database {path} is in use by another process (a running tvmviz app?): {e}. "
                    "Stop it, or pass another --db / TVMVIZ_DB."
                ) from None
            raise TvmvizError(f"cannot open database {path}: {e}") from None
        _configure(con)
        store = cls(con, path)
        if not read_only:
            store._create_schema()
            store.sweep_files()
        return store

    @classmethod
    def open_for_reading(cls, path: str | None = None) -> "Store":
        """A read-only store; when another process (a running app) holds DuckDB's lock, a snapshot copy.

        DuckDB lets one process open a file read-write and no other process open it at all, so readers
        work on a copy of the file and its WAL taken now; ``snapshot_note`` then says so."""
        path = path or default_db_path()
        if path == ":memory:" or not os.path.exists(path):
            raise TvmvizError(f"no database at {path}: store logs first (python -m tvmviz ingest FILE... --db {path})")
        try:
            return cls.open(path, read_only=True)
        except TvmvizError as e:
            if "in use by another process" not in str(e):
                raise
        tmp = tempfile.mkdtemp(prefix="tvmviz-snapshot-")
        copy = os.path.join(tmp, os.path.basename(path))
        try:
            shutil.copyfile(path, copy)
            if os.path.exists(f"{path}.wal"):
                shutil.copyfile(f"{path}.wal", f"{copy}.wal")
            con = duckdb.connect(copy)  # read-write so DuckDB may replay the copied WAL; the copy is ours
        except (OSError, duckdb.Error) as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise TvmvizError(f"database {path} is in use by another process and a snapshot copy failed ({e}); "
                              "try again, or stop that process") from None
        _configure(con)
        store = cls(con, path)
        store._create_schema()  # the copy is ours: bring an older database's schema up to date
        store.snapshot_dir = tmp
        store.snapshot_note = (f"{path} is in use by another process (a running tvmviz app?): "
                               f"read from a snapshot copy taken at {datetime.now().isoformat(timespec='seconds')}")
        return store

    def export(self, out_dir: str, fmt: str = "parquet") -> list[str]:
        """Every table as a file in ``out_dir`` via DuckDB's EXPORT DATABASE (plus schema.sql, load.sql)."""
        if fmt not in ("parquet", "csv"):
            raise TvmvizError(f"export format {fmt!r}: choose parquet or csv")
        out = Path(out_dir)
        if out.exists() and any(out.iterdir()):
            raise TvmvizError(f"{out_dir} is not empty: give a new or empty folder")
        out.mkdir(parents=True, exist_ok=True)
        self.con.execute(f"EXPORT DATABASE '{_sql_literal(str(out))}' (FORMAT {fmt})")
        return sorted(p.name for p in out.iterdir())

    def cursor(self) -> "Store":
        """A store on a new cursor of the same connection (one per app session)."""
        return Store(self.con.cursor(), self.path)

    def close(self) -> None:
        self.con.close()
        if self.snapshot_dir:
            shutil.rmtree(self.snapshot_dir, ignore_errors=True)

    def _create_schema(self) -> None:
        from tvmviz.server import accounts

        self.con.execute(_UPLOAD_SCHEMA)
        accounts.ensure_schema(self.con)
        for module in format_modules():
            for statement in module.SCHEMA:
                self.con.execute(statement)
        run_catalog.create_schema(self.con)

    # ---- ingest -------------------------------------------------------------------------------

    def ingest_paths(self, paths, label=None, uploader=None, kind=None, progress=None, run=None) -> list[IngestReport]:
        """Ingest files, folders and zips, one decoded file on disk at a time (never a whole file in
        memory). ``progress(done, total, name)`` is called per file. Every file gets a report. Each folder
        or zip is one run, single files join runs by tvmviz.runs.forming's rules; ``run`` (a run id) takes
        them all."""
        files = [(path, ref) for path in paths for ref in list_files([path])]
        place = placements(paths, label, uploader, run)
        reports = []
        for done, (path, ref) in enumerate(files):
            if progress:
                progress(done, len(files), ref.name)
            reports += self._ingest_all(lambda: read_file(ref, self._tmp_dir()), ref.name, label, uploader, kind,
                                        place(path, _is_zip(ref.path)))
        if progress:
            progress(len(files), len(files), "")
        return reports

    def ingest_file(self, path, name: str, label=None, uploader=None, kind=None, run=None) -> list[IngestReport]:
        """One file on disk reported under ``name`` (an HTTP upload saved to a temporary file); it forms or
        joins a run as a single uploaded file does (``run``: a run id takes it)."""
        place = placements([name], label, uploader, run)(name, _is_zip(path))
        return self._ingest_all(lambda: read_file(FileRef(name, Path(path)), self._tmp_dir()), name, label,
                                uploader, kind, place)

    def ingest_bytes(self, name: str, data, label=None, uploader=None, kind=None,
                     run: "int | Placement | None" = None) -> list[IngestReport]:
        """Ingest one uploaded blob, bytes or a binary file object (a zip gives its members, one run).
        ``run``: a run id, or one Placement shared by files sent together (Placement(batch=True))."""
        if not isinstance(run, Placement):
            run = placements([name], label, uploader, run)(name, _is_zip(data))
        return self._ingest_all(lambda: expand_upload(name, data, self._tmp_dir()), name, label, uploader, kind, run)

    def _ingest_all(self, items, name: str, label, uploader, kind, place: Placement) -> list[IngestReport]:
        reports = []
        try:
            for item in items():
                reports.append(self._ingest_one(item, label, uploader, kind, place))
        except Exception as e:  # noqa: BLE001 - a container that fails half-way still reports what it gave
            reports.append(IngestReport(name, None, None, error=f"{name}: {_unreadable(e, None, self._scrub)}"))
        return reports

    def _tmp_dir(self) -> str | None:
        """Decoded uploads go next to the raw files (swept at start if a crash leaves them)."""
        if self.files_dir is None:
            return None
        self.files_dir.mkdir(exist_ok=True)
        return str(self.files_dir)

    def _ingest_one(self, item: PendingFile, label, uploader, kind, place: Placement) -> IngestReport:
        if item.error:
            return IngestReport(item.name, None, None, error=f"{item.name}: {item.error}")
        source = as_source(item)
        try:
            kind = kind or sniff(item.path)
        except TvmvizError as e:
            return IngestReport(item.name, None, None, error=f"{item.name}: {e}")
        except OSError as e:
            return IngestReport(item.name, None, None, error=f"{item.name}: cannot be read ({e.strerror or type(e).__name__})")
        # hashing a large file takes as long as a third of its parse: do it while DuckDB parses (both
        # release the GIL), at low priority so it takes the CPU the parse leaves; the duplicate check then
        # comes before the commit
        with ThreadPoolExecutor(max_workers=2, initializer=in_idle_time) as pool:
            sha = pool.submit(_sha256, item.path)
            raw_copy = pool.submit(self._copy_raw, source)
            try:
                return self._store(source, sha, raw_copy, kind, label, uploader, place)
            except TvmvizError as e:
                return IngestReport(item.name, kind, None, error=self._scrub(str(e), source))
            except duckdb.OutOfMemoryException:
                return IngestReport(item.name, kind, None, error=(
                    f"{item.name}: could not be stored: reading it needs more than DuckDB's memory cap of "
                    f"{memory_limit()} (raise TVMVIZ_MEMORY_LIMIT)"))
            except duckdb.Error as e:
                return IngestReport(item.name, kind, None, error=f"{item.name}: could not be stored: {self._scrub(str(e), source)}")
            except Exception as e:  # noqa: BLE001 - any input must give a report, never a traceback
                return IngestReport(item.name, kind, None, error=f"{item.name}: {_unreadable(e, source, self._scrub)}")

    def _store(self, source, sha_future, raw_copy, kind: str, label, uploader, place: Placement) -> IngestReport:
        """One upload in one transaction. The raw copy is named (kept) only after the commit, and
        removed whenever the upload is not stored: a failure leaves nothing behind."""
        module = module_for_kind(kind)
        committed = False
        self.con.execute("BEGIN TRANSACTION")
        try:
            upload_id = self.con.execute("SELECT nextval('upload_id_seq')").fetchone()[0]
            result = module.load(self.con, upload_id, source, kind)
            sha = sha_future.result()
            existing = self._upload_of(sha)
            if existing:  # the same bytes again: keep the first upload, store nothing
                self.con.execute("ROLLBACK")
                place.shared(self.con, existing[0])
                return IngestReport(source.name, existing[1], existing[0], duplicate=True, rows=existing[2])
            kind = result.meta.pop("kind", kind)
            run_id = place.run_for(self.con, upload_id, kind, source.name)
            self.con.execute(
                "INSERT INTO upload VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    upload_id, sha, source.name, uploader, label, kind, datetime.now(timezone.utc).replace(tzinfo=None),
                    result.rows, result.rejected_total if result.rejected_total is not None else len(result.rejected),
                    json.dumps(result.failed_trials),
                    result.meta.get("target"), result.meta.get("cpu"), result.meta.get("tvm_version"),
                    json.dumps(result.meta), run_id,
                ],
            )
            copied = raw_copy.result()  # a failed copy (a full disk) fails the upload before it commits
            self.con.execute("COMMIT")
            committed = True
        except duckdb.Error as e:
            self._rollback()
            existing = self._wait_for_upload(sha_future.result()) if _is_conflict(e) else None
            if existing:  # another session stored the same bytes first
                return IngestReport(source.name, existing[1], existing[0], duplicate=True, rows=existing[2])
            raise
        except BaseException:
            self._rollback()
            raise
        finally:
            if not committed:
                _remove(None if not raw_copy.done() or raw_copy.exception() else raw_copy.result())
        self._keep_raw(sha, copied)
        return IngestReport(
            source.name, kind, upload_id, rows=result.rows, failed_trials=result.failed_trials,
            rejected_lines=[{"line": r.line, "reason": r.reason} for r in result.rejected],
        )

    def _rollback(self) -> None:
        with contextlib.suppress(duckdb.Error):  # already rolled back by a failed COMMIT
            self.con.execute("ROLLBACK")

    def _wait_until_gone(self, upload_id: int, seconds: float = 5.0) -> bool:
        """Whether the upload disappears once the conflicting session's commit shows."""
        deadline = time.monotonic() + seconds
        while self.con.execute("SELECT 1 FROM upload WHERE upload_id = ?", [upload_id]).fetchone():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _wait_for_upload(self, sha: str, seconds: float = 5.0):
        """The upload another session is committing with these bytes, once its commit shows."""
        deadline = time.monotonic() + seconds
        while not (existing := self._upload_of(sha)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return existing

    def _upload_of(self, sha: str):
        return self.con.execute("SELECT upload_id, kind, rows FROM upload WHERE sha256 = ?", [sha]).fetchone()

    def _scrub(self, message: str, source) -> str:
        """A message without this server's paths: the file's own name stands for its temp copy."""
        for path, shown in ((source.path if source else None, source.name if source else ""), (str(self.files_dir), "<raw files>"), (self.path, "<database>"),
                            (tempfile.gettempdir(), "<tmp>")):
            if path and path != ":memory:":
                message = message.replace(str(path), shown)
        return message

    def _copy_raw(self, source) -> Path | None:
        """Copy the file next to the database (runs while it is parsed) as a .partial; _keep_raw
        names it after the commit. A failed copy removes what it wrote."""
        if self.files_dir is None:
            return None
        name = None
        try:
            self.files_dir.mkdir(exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.files_dir, suffix=".raw.partial")
            os.close(fd)
            shutil.copyfile(source.path, name)  # the kernel copies; no pass through Python
        except OSError as e:
            _remove(Path(name) if name else None)
            raise TvmvizError(f"{source.name}: cannot keep a copy next to the database: {e.strerror or e}") from None
        return Path(name)

    def _keep_raw(self, sha: str, copied: Path | None) -> None:
        if copied is None:
            return
        try:
            copied.replace(self.files_dir / sha)
        except OSError:  # the upload is stored; only its raw copy is lost
            _remove(copied)

    def sweep_files(self) -> None:
        """Remove what a killed process left next to the database: partial copies, decoded temp
        files, and raw copies of no stored upload."""
        if self.files_dir is None or not self.files_dir.is_dir():
            return
        kept = {sha for (sha,) in self.con.execute("SELECT sha256 FROM upload").fetchall()}
        for f in self.files_dir.iterdir():
            if f.name.endswith(".partial") or (f.name not in kept and f.is_file()):
                _remove(f)

    # ---- uploads ------------------------------------------------------------------------------

    def uploads(self, upload_id: int | None = None) -> list[Upload]:
        """Every upload, or just ``upload_id`` (an empty list when it does not exist)."""
        rows = self.con.execute(
            "SELECT upload_id, file_name, uploader, label, kind, uploaded_at, rows, rejected_lines, failed_trials, "
            "target, cpu, tvm_version, sha256, run_id FROM upload WHERE $id IS NULL OR upload_id = $id "
            "ORDER BY upload_id", {"id": upload_id}
        ).fetchall()
        return [Upload(*r[:8], json.loads(r[8] or "{}"), *r[9:]) for r in rows]

    def upload_meta(self, upload_id: int) -> dict:
        """What the format module recorded about an upload (the uploads table's ``meta`` JSON)."""
        row = self.con.execute("SELECT meta FROM upload WHERE upload_id = ?", [upload_id]).fetchone()
        if row is None:
            raise TvmvizError(f"no upload {upload_id}")
        return json.loads(row[0] or "{}")

    def raw_file(self, upload_id: int) -> Path | None:
        """The kept copy of an upload's file (None for an in-memory store or a missing copy)."""
        row = self.con.execute("SELECT sha256 FROM upload WHERE upload_id = ?", [upload_id]).fetchone()
        if row is None or self.files_dir is None or not (self.files_dir / row[0]).is_file():
            return None
        return self.files_dir / row[0]

    def delete_upload(self, upload_id: int) -> None:
        """Remove an upload, all its rows and its raw copy, in one transaction. TvmvizError when it
        is gone (another session deleted it first)."""
        tables = [t for (t,) in self.con.execute(
            "SELECT t.table_name FROM duckdb_tables() t JOIN duckdb_columns() c USING (database_name, schema_name, table_name) "
            "WHERE c.column_name = 'upload_id' AND t.table_name <> 'upload' AND NOT t.temporary "
            "AND t.database_name = current_database() AND t.schema_name = 'main'"
        ).fetchall()]
        gone = TvmvizError(f"upload {upload_id} is gone: it was deleted already")
        self.con.execute("BEGIN TRANSACTION")
        try:
            row = self.con.execute("SELECT sha256 FROM upload WHERE upload_id = ?", [upload_id]).fetchone()
            if row is None:
                raise gone
            for table in tables:
                self.con.execute(f'DELETE FROM "{table}" WHERE upload_id = ?', [upload_id])
            self.con.execute("DELETE FROM upload WHERE upload_id = ?", [upload_id])
            self.con.execute("COMMIT")
        except duckdb.Error as e:
            self._rollback()
            if _is_conflict(e) and self._wait_until_gone(upload_id):  # another session's delete got there first
                raise gone from None
            raise TvmvizError(f"upload {upload_id} could not be deleted: {e}") from None
        except BaseException:
            self._rollback()
            raise
        if self.files_dir is not None:
            _remove(self.files_dir / row[0])

    # ---- queries the selector and pages need --------------------------------------------------

    def tuning_records(self, upload_ids=None, workloads=None, include_selections=False, machine=None) -> list[TuningRecord]:
        """Records in logged order (upload, then line): the order the graph tuner's ties follow."""
        sql = (
            "SELECT workload, ic_bn, oc_bn, costs, error_no, CAST(entity AS VARCHAR), target, config_index, "
            "all_cost, timestamp, tvm_version FROM autotvm_record WHERE 1=1"
        )
        sql, params = _filters(sql, upload_ids, include_selections, machine=machine)
        if workloads is not None:
            sql += " AND list_contains(?, workload)"
            params.append(list(workloads))
        rows = self.con.execute(sql + " ORDER BY upload_id, line_no", params).fetchall()
        return [_tuning_record(r, seq) for seq, r in enumerate(rows)]

    def best_tuning_records(self, upload_ids=None, workloads=None, machine=None) -> list[TuningRecord]:
        """Only what the graph tuner's _fetch_cfg keeps of the records (tvmviz.select.costmodel.rank_records,
        cost model ``tvm``): the best record of each (workload, ic_bn, oc_bn) by costs[0], the first logged
        on ties, in the order each pair was first logged. Enough to select with; not for trial counts."""
        # the winners on narrow columns first, then their full rows: a long log has few of them
        sql, params = _filters(
            "SELECT workload, ic_bn, oc_bn, arg_min({'u': upload_id, 'l': line_no}, (cost0, upload_id, line_no)) AS best, "
            "min((upload_id, line_no)) AS first_seen FROM autotvm_record "
            "WHERE ic_bn IS NOT NULL AND oc_bn IS NOT NULL AND len(costs) > 0", upload_ids, False, machine=machine)
        if workloads is not None:
            sql += " AND list_contains(?, workload)"
            params.append(list(workloads))
        rows = self.con.execute(
            "SELECT r.workload, r.ic_bn, r.oc_bn, r.costs, r.error_no, CAST(r.entity AS VARCHAR), r.target, "
            "r.config_index, r.all_cost, r.timestamp, r.tvm_version "
            f"FROM ({sql} GROUP BY ALL) w JOIN autotvm_record r ON r.upload_id = w.best.u AND r.line_no = w.best.l "
            "ORDER BY w.first_seen", params).fetchall()
        return [_tuning_record(r, seq) for seq, r in enumerate(rows)]

    def transform_records(self, upload_ids=None, machine=None) -> list[TransformRecord]:
        sql, params = _filters(
            "SELECT shape, src_layout, dst_layout, cost0, dtype, error_no FROM layout_transform WHERE 1=1", upload_ids,
            machine=machine,
        )
        rows = self.con.execute(sql + " ORDER BY upload_id, line_no", params).fetchall()
        return [TransformRecord(tuple(r[0]), r[1], r[2], r[3], seq, r[4], r[5]) for seq, r in enumerate(rows)]

    def records_of_workload(self, workload: str, upload_ids=None, machine=None):
        """Every trial of one workload, as a DataFrame (one row per record)."""
        sql, params = _filters(
            "SELECT upload_id, line_no, ic_bn, oc_bn, config_index, CAST(entity AS VARCHAR) AS entity, cost0, "
            "cost_mean, cost_min, all_cost, error_no, error_name, timestamp FROM autotvm_record WHERE workload = ?",
            upload_ids,
            include_selections=False,  # graph-tuner copies are not trials
            params=[workload],
            machine=machine,
        )
        return self.con.execute(sql + " ORDER BY upload_id, line_no", params).df()

    def best_per_pair(self, workload: str, upload_ids=None, machine=None):
        """Per (ic_bn, oc_bn): best successful cost0, trial and failure counts (the search-space heatmap)."""
        sql, params = _filters(
            "SELECT ic_bn, oc_bn, min(cost0) FILTER (error_no = 0) AS best_cost_s, "
            "min(all_cost) FILTER (error_no = 0) AS best_all_cost_s, count(*) AS trials, "
            "count(*) FILTER (error_no <> 0) AS failed FROM autotvm_record WHERE workload = ?",
            upload_ids,
            include_selections=False,  # graph-tuner copies are not trials
            params=[workload],
            machine=machine,
        )
        return self.con.execute(sql + " GROUP BY ic_bn, oc_bn ORDER BY ic_bn, oc_bn", params).df()

    def workloads(self, upload_ids=None, machine=None):
        """Conv workloads with their shapes, trial counts and best cost."""
        sql, params = _filters(
            "SELECT workload, any_value(task) AS task, any_value(n) AS n, any_value(c) AS c, any_value(h) AS h, "
            "any_value(w) AS w, any_value(o) AS o, any_value(kh) AS kh, any_value(kw) AS kw, "
            "any_value(stride_h) AS stride, any_value(pad_t) AS pad, count(*) AS trials, "
            "count(*) FILTER (error_no <> 0) AS failed, min(cost0) FILTER (error_no = 0) AS best_cost_s "
            "FROM autotvm_record WHERE ic_bn IS NOT NULL",
            upload_ids,
            include_selections=False,  # graph-tuner copies are not trials
            machine=machine,
        )
        return self.con.execute(sql + " GROUP BY workload ORDER BY min(upload_id), min(line_no)", params).df()

    def models(self) -> list[tuple[int, str, int]]:
        """(upload_id, file name, conv count) of every stored model graph."""
        return self.con.execute("SELECT upload_id, name, convs FROM model_graph ORDER BY upload_id").fetchall()

    def model_graph(self, upload_id: int):
        from tvmviz.graph.json_format import from_json

        row = self.con.execute("SELECT graph, name FROM model_graph WHERE upload_id = ?", [upload_id]).fetchone()
        if row is None:
            raise TvmvizError(f"upload {upload_id} holds no model graph")
        return from_json(json.loads(row[0]), source=row[1])

    def transforms_of_shape(self, shape, upload_ids=None):
        sql, params = _filters(
            "SELECT upload_id, line_no, src_layout, dst_layout, cost0, error_no FROM layout_transform WHERE shape = ?",
            upload_ids,
            params=[list(shape)],
        )
        return self.con.execute(sql + " ORDER BY upload_id, line_no", params).df()


def _tuning_record(r: tuple, seq: int) -> TuningRecord:
    return TuningRecord(
        workload=r[0], ic_bn=r[1], oc_bn=r[2], costs=tuple(r[3]), error_no=r[4], entity=r[5], seq=seq,
        target=r[6], config_index=r[7] if r[7] is not None else -1, all_cost=r[8] if r[8] is not None else -1.0,
        timestamp=r[9] if r[9] is not None else -1.0, tvm_version=r[10] or "",
    )


def _filters(sql: str, upload_ids, include_selections=True, params=None, machine=None) -> tuple[str, list]:
    """``machine`` (tvmviz.runs.Machine): only records of that target kind and CPU."""
    params = list(params or [])
    if upload_ids is not None:
        sql += " AND list_contains(?, upload_id)"
        params.append([int(u) for u in upload_ids])
    if machine is not None:
        where, more = machine.sql()
        sql += where
        params += more
    if not include_selections:
        sql += " AND NOT is_selection"
    return sql, params
