"""Any file from anyone: containers read as streams within stated limits, folders without following
links, raw copies only for stored uploads, concurrent sessions told what happened."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import resource
import signal
import threading
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from tvmviz import ingest
from tvmviz.errors import TvmvizError
from tvmviz.store import Store
from tests.paths import R18

LOG = (R18 / "tuning.log").read_bytes()
LINES = LOG.decode().splitlines()


def zipped(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def store(tmp_path):
    s = Store.open(str(tmp_path / "t.duckdb"))
    yield s
    s.close()


def test_zip_bomb_stops_at_the_upload_budget_in_bounded_memory(store, monkeypatch):
    monkeypatch.setattr(ingest, "MAX_DECODED_BYTES", 8 * 1024**2)
    # one member that declares its size honestly: refused before anything is decompressed
    (r,) = store.ingest_bytes("bomb.zip", zipped({"a.log": b"\n" * (9 * 1024**2)}))
    assert r.upload_id is None and "limit of one upload" in r.error
    # a gzip inside a zip does not declare its size: stopped while it streams
    (r,) = store.ingest_bytes("bomb.zip", zipped({"a.log.gz": gzip.compress(b" " * (9 * 1024**2))}))
    assert r.upload_id is None and "over the 0 GiB limit of one upload" in r.error or "limit of one upload" in r.error


def test_many_members_are_refused_whole_with_the_limit(store):
    members = {f"l{k}.log": LINES[k].encode() for k in range(ingest.MAX_FILES + 1)}
    (r,) = store.ingest_bytes("many.zip", zipped(members))
    assert r.upload_id is None and f"over the limit of {ingest.MAX_FILES} files" in r.error
    assert store.uploads() == []


def test_nesting_is_capped_and_damaged_containers_are_reasons(store):
    data = LOG
    for _ in range(ingest.MAX_NESTING + 2):
        data = gzip.compress(data)
    (r,) = store.ingest_bytes("deep.gz", data)
    assert r.upload_id is None and f"nested more than {ingest.MAX_NESTING} deep" in r.error
    ok = gzip.compress(gzip.compress(LOG))
    (r,) = store.ingest_bytes("twice.gz", ok)
    assert r.rows == 704
    good = zipped({"t.log": LOG})
    crc = bytearray(good)
    at = crc.index(b"PK\x01\x02")  # corrupt the compressed data, before the central directory
    crc[at // 2] ^= 0xFF
    reports = store.ingest_bytes("crc.zip", bytes(crc))
    assert all(x.upload_id is None and x.error for x in reports)
    gz = bytearray(gzip.compress(LOG))
    gz[len(gz) // 2] ^= 0xFF
    (r,) = store.ingest_bytes("bad.gz", bytes(gz))
    assert r.upload_id is None and "gzip data is damaged" in r.error
    (r,) = store.ingest_bytes("cut.zip", good[: len(good) // 2])
    assert r.upload_id is None and "zip archive is damaged" in r.error


def test_encrypted_member_is_a_reason(store):
    data = bytearray(zipped({"t.log": LOG}, zipfile.ZIP_STORED))
    data[6] |= 0x1  # general purpose flag: encrypted (local header and central directory)
    data[data.index(b"PK\x01\x02") + 8] |= 0x1
    (r,) = store.ingest_bytes("enc.zip", bytes(data))
    assert r.upload_id is None and "cannot be read" in r.error and "encrypted" in r.error


def test_folders_skip_links_and_special_files_and_never_echo_content(store, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "t.log").write_bytes(LOG)
    secret = tmp_path / "secret.key"
    secret.write_text("-----BEGIN PRIVATE KEY----- abcdef\n")
    (logs / "link.log").symlink_to(secret)
    (logs / "linked_dir").symlink_to(tmp_path)
    os.mkfifo(logs / "pipe")
    (logs / "key.txt").write_text("-----BEGIN PRIVATE KEY----- abcdef\n")
    reports = {r.file: r for r in store.ingest_paths([logs])}
    assert reports["logs/t.log"].rows == 704
    assert "symbolic link" in reports["logs/link.log"].error and "symbolic link" in reports["logs/linked_dir"].error
    assert "not a regular file" in reports["logs/pipe"].error
    assert "PRIVATE" not in reports["logs/key.txt"].error and "not a format tvmviz reads" in reports["logs/key.txt"].error
    assert all("PRIVATE" not in (r.error or "") for r in reports.values())


def test_raw_copies_follow_their_uploads_and_leftovers_are_swept(tmp_path):
    db = tmp_path / "r.duckdb"
    store = Store.open(str(db))
    (a,) = store.ingest_bytes("a.log", LOG)
    (bad,) = store.ingest_bytes("bad.log", b'{"input": [1\n')
    files = db.parent / "r.duckdb.files"
    assert bad.upload_id is None and len(list(files.iterdir())) == 1
    store.delete_upload(a.upload_id)
    assert list(files.iterdir()) == []
    store.close()
    (files / "x.raw.partial").write_bytes(b"half")
    (files / ("0" * 64)).write_bytes(b"orphan")
    store = Store.open(str(db))
    assert list(files.iterdir()) == []
    store.close()


def test_a_full_disk_leaves_nothing_behind(tmp_path):
    """Writes past RLIMIT_FSIZE fail as on a full disk (EFBIG): the upload fails with a message and
    neither a partial copy nor an upload row is left."""
    db = tmp_path / "f.duckdb"
    store = Store.open(str(db))
    files = tmp_path / "f.duckdb.files"
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
    try:
        reports = store.ingest_paths([R18 / "tuning.log"]) + store.ingest_bytes("a.log.gz", gzip.compress(LOG))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert all(r.upload_id is None and r.error for r in reports), reports
    assert all(str(tmp_path) not in r.error for r in reports)
    assert store.uploads() == [] and list(files.iterdir()) == []
    (r,) = store.ingest_paths([R18 / "tuning.log"])  # and the next upload works
    assert r.rows == 704 and len(list(files.iterdir())) == 1
    store.close()


def _race(target, n=4):
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(k):
        barrier.wait()
        try:
            results[k] = target(k)
        except TvmvizError as e:
            results[k] = e

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_identical_uploads_store_one(store):
    sessions = [store.cursor() for _ in range(4)]
    results = _race(lambda k: sessions[k].ingest_bytes(f"same{k}.log", LOG)[0])
    stored = [r for r in results if not r.duplicate]
    assert len(stored) == 1 and stored[0].upload_id is not None and stored[0].error is None, results
    assert all(r.duplicate and r.upload_id == stored[0].upload_id and r.error is None for r in results if r.duplicate)
    assert len(store.uploads()) == 1


def test_concurrent_deletes_one_succeeds_the_others_are_told_it_is_gone(store):
    (r,) = store.ingest_bytes("a.log", LOG)
    sessions = [store.cursor() for _ in range(4)]
    results = _race(lambda k: sessions[k].delete_upload(r.upload_id))
    assert results.count(None) == 1, results
    assert all(isinstance(e, TvmvizError) and "is gone" in str(e) for e in results if e is not None)
    assert store.uploads() == []




def test_duckdb_memory_cap_is_applied_and_running_out_is_a_reason(tmp_path, monkeypatch):
    """The cap reaches DuckDB (bench/ingest_limits.py shows memory staying flat under it); a cap too
    small for the reader refuses the file with the setting to raise, keeping what was stored before;
    a cap that is no size is a clear error."""
    db = str(tmp_path / "cap.duckdb")
    small = tmp_path / "small.log"
    small.write_bytes(LOG)
    with contextlib.closing(Store.open(db)) as s:
        assert s.con.execute("SELECT current_setting('memory_limit')").fetchone()[0] in ("953.6 MiB", "1.0 GB")
        (first,) = s.ingest_paths([str(small)])
        assert first.error is None and first.rows > 0
    monkeypatch.setenv("TVMVIZ_MEMORY_LIMIT", "40MB")
    with contextlib.closing(Store.open(db)) as s:
        assert s.con.execute("SELECT current_setting('memory_limit')").fetchone()[0] in ("38.1 MiB", "40.0 MB")
        again = tmp_path / "again.log"
        again.write_bytes(LOG + b"\n")
        (second,) = s.ingest_paths([str(again)])
        assert second.error is not None and "memory cap of 40MB" in second.error and "TVMVIZ_MEMORY_LIMIT" in second.error
        assert [(Path(u.file_name).name, u.rows) for u in s.uploads()] == [("small.log", first.rows)]
    monkeypatch.setenv("TVMVIZ_MEMORY_LIMIT", "1GB'; DROP TABLE upload; --")
    with pytest.raises(TvmvizError, match="TVMVIZ_MEMORY_LIMIT"):
        Store.open(db)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from([b",", b" ", b"\t", b"]", b"}", b"\n", b"a", b"[", b"\x00"]), max_size=60).map(b"".join),
       st.integers(1, 9))
def test_line_scan_finds_every_long_line_and_trailing_comma(tmp_path_factory, data, limit):
    """scan_lines in chunks of ``limit`` bytes (so brackets and commas fall on chunk edges) against a plain
    split of the lines."""
    import re

    from tvmviz.ingest.base import scan_lines

    path = tmp_path_factory.mktemp("scan") / "f"
    path.write_bytes(data)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    scan = scan_lines(str(path), max_line_bytes=limit)
    assert scan.count == len(lines)
    assert scan.over_long == [n for n, line in enumerate(lines, 1) if len(line) > limit]
    assert scan.trailing_comma_suspects == [n for n, line in enumerate(lines, 1) if re.search(rb",[ \t]*[\]}]", line)]
