"""AutoTVM logs into DuckDB: real files from sample_logs/ and tests/data/, and every kind of bad input."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from tvmviz.ingest import autotvm
from tvmviz.store import Store
from tests.paths import R18, THIRDPARTY

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store():
    s = Store.open(":memory:")
    yield s
    s.close()


def only(reports):
    assert len(reports) == 1, reports
    return reports[0]


def json_lines(path: Path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_real_tuning_log_typed_columns_match_the_file(store):
    r = only(store.ingest_paths([R18 / "tuning.log"]))
    assert (r.kind, r.rows, r.error, r.rejected_lines) == ("autotvm", 704, None, [])
    expected = json_lines(R18 / "tuning.log")
    rows = store.con.execute(
        "SELECT line_no, task, n, c, h, w, o, i, kh, kw, stride_h, pad_t, pad_r, dil_w, dtype, ic_bn, oc_bn, "
        "cost0, cost_mean, cost_min, error_no, all_cost, timestamp, mcpu, tvm_version, "
        "(SELECT value FROM autotvm_knob k WHERE k.line_no = r.line_no AND knob = 'tile_ow') "
        "FROM autotvm_record r ORDER BY line_no"
    ).fetchall()
    assert len(rows) == len(expected)
    for row, rec in zip(rows, expected):
        _, task, args, _ = rec["input"]
        knobs = {name: value for name, _, value in rec["config"]["entity"]}
        costs = rec["result"][0]
        assert row[1] == task
        assert list(row[2:10]) == args[0][1] + args[1][1]
        assert (row[10], row[11], row[12], row[13], row[14]) == (args[2][0], args[3][0], args[3][3], args[4][1], "float32")
        assert (row[15], row[16]) == (knobs["tile_ic"][-1], knobs["tile_oc"][-1])
        assert row[17] == costs[0] and math.isclose(row[18], sum(costs) / len(costs)) and row[19] == min(costs)
        assert (row[20], row[21], row[22]) == tuple(rec["result"][1:4])
        assert row[23] == "znver3" and row[24] == "0.19.0"
        assert json.loads(row[25]) == knobs["tile_ow"]


def test_failed_trials_are_counted_by_error_name(store):
    path = THIRDPARTY / "resnet50-v2-7_autotvm_tvm0.13.log"
    expected = Counter(rec["result"][1] for rec in json_lines(path) if rec["result"][1] != 0)
    r = only(store.ingest_paths([path]))
    assert r.rows == 1000
    assert r.failed_trials == {"BUILD_TIMEOUT": expected[6]} and expected[6] == 12
    # dense tasks are kept too, with no conv columns
    tasks = dict(store.con.execute("SELECT task, count(*) FROM autotvm_record GROUP BY task").fetchall())
    assert tasks["conv2d_NCHWc.x86"] == 23 * 40 and sum(tasks.values()) == 1000
    assert store.con.execute("SELECT count(*) FROM autotvm_record WHERE task LIKE 'dense%' AND n IS NOT NULL").fetchone()[0] == 0


def test_layout_transform_log(store):
    r = only(store.ingest_paths([R18 / "layout_transform.log"]))
    assert (r.kind, r.rows) == ("layout_transform", 258)
    expected = [(rec["input"][2][0][1], rec["input"][2][1], rec["input"][2][2], rec["result"][0][0]) for rec in json_lines(R18 / "layout_transform.log")]
    got = [(list(t.shape), t.src, t.dst, t.cost0) for t in store.transform_records()]
    assert got == expected
    assert store.tuning_records() == []


def test_graph_tuner_output_is_flagged_as_selection(store):
    trials, choice = store.ingest_paths([R18 / "tuning.log", R18 / "opt_dp.log"])
    assert trials.kind == "autotvm" and choice.kind == "autotvm_selection" and choice.rows == 20
    # candidates come from trials only; the selection's copies would add nothing but duplicates
    assert len(store.tuning_records()) == 704
    assert len(store.tuning_records(include_selections=True)) == 724


def test_version_01_and_02_of_tophub_give_the_same_workloads(store):
    v1, v2 = store.ingest_paths([THIRDPARTY / "tophub_llvm_v0.01.log", THIRDPARTY / "tophub_llvm_v0.04.log"])
    assert v1.rows == v2.rows == 35
    by_upload = lambda u: [(r.workload, r.ic_bn, r.oc_bn, r.cost0) for r in store.tuning_records(upload_ids=[u])]
    assert by_upload(v1.upload_id) == by_upload(v2.upload_id)
    assert store.con.execute("SELECT DISTINCT task_logged FROM autotvm_record WHERE version = 0.1").fetchall() == [("topi_x86_conv2d_NCHWc",)]


def test_workload_key_equals_python_compact_json(store):
    store.ingest_paths([R18 / "tuning.log"])
    expected = {json.dumps([rec["input"][1], *rec["input"][2]], separators=(",", ":")) for rec in json_lines(R18 / "tuning.log")}
    assert {r.workload for r in store.tuning_records()} == expected


# ---- bad input ---------------------------------------------------------------------------------

GOOD = (R18 / "tuning.log").read_text().splitlines()[:3]


def ingest_text(store, text: str | bytes, name="x.log"):
    data = text.encode() if isinstance(text, str) else text
    return only(store.ingest_bytes(name, data))


def test_malformed_lines_are_skipped_with_line_numbers(store):
    text = "\n".join([GOOD[0], '{"input": oops}', "", GOOD[1], "# a comment", '{"foo": 1}', GOOD[2]]) + "\n"
    r = ingest_text(store, text)
    assert r.rows == 3
    assert [x["line"] for x in r.rejected_lines] == [2, 6]
    assert "not valid JSON" in r.rejected_lines[0]["reason"]
    assert 'no "input" or "i" key' in r.rejected_lines[1]["reason"]
    assert [ln for (ln,) in store.con.execute("SELECT line_no FROM autotvm_record ORDER BY 1").fetchall()] == [1, 4, 7]


def test_truncated_last_line(store):
    r = ingest_text(store, "\n".join(GOOD) + "\n" + GOOD[0][:80])
    assert r.rows == 3 and r.rejected_lines[0]["line"] == 4
    assert "truncated" in r.rejected_lines[0]["reason"]


def test_bom_and_crlf(store):
    r = ingest_text(store, b"\xef\xbb\xbf" + "\r\n".join(GOOD).encode() + b"\r\n")
    assert (r.rows, r.rejected_lines, r.error) == (3, [], None)


def test_nan_and_inf_costs_are_rejected_with_reason(store):
    nan = GOOD[0].replace('"result": [[', '"result": [[NaN, ')
    inf = GOOD[1].replace('"result": [[', '"result": [[Infinity, ')
    r = ingest_text(store, "\n".join([nan, inf, GOOD[2]]))
    assert r.rows == 1
    assert [(x["line"], x["reason"]) for x in r.rejected_lines] == [(1, "cost is NaN"), (2, "cost is infinite")]


def test_unknown_keys_are_ignored(store):
    rec = json.loads(GOOD[0])
    rec["extra"] = {"anything": [1, 2]}
    rec["config"]["new_field"] = 3
    r = ingest_text(store, json.dumps(rec))
    assert (r.rows, r.rejected_lines) == (1, [])


def test_mixed_versions_in_one_file(store):
    v01 = (THIRDPARTY / "tophub_llvm_v0.01.log").read_text().splitlines()[2]
    r = ingest_text(store, "\n".join([GOOD[0], v01]))
    assert r.rows == 2
    assert sorted(v for (v,) in store.con.execute("SELECT version FROM autotvm_record").fetchall()) == [0.1, 0.2]


def test_huge_single_line_is_rejected_not_fatal(store):
    huge = '{"input": ["llvm", "x", [' + ", ".join(["1"] * 9_000_000) + "]]}"
    r = ingest_text(store, GOOD[0] + "\n" + huge + "\n" + GOOD[1])
    assert r.rows == 2 and r.rejected_lines[0]["line"] == 2
    assert "limit" in r.rejected_lines[0]["reason"]


def test_gzip_zip_and_folder(store, tmp_path):
    gz = gzip.compress("\n".join(GOOD).encode())
    assert ingest_text(store, gz, "a.log.gz").rows == 3
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("logs/t.log", "\n".join(GOOD[:2]))
        z.write(R18 / "layout_transform.log", "logs/lt.log")
    reports = store.ingest_bytes("team.zip", buf.getvalue())
    assert sorted((r.file, r.rows) for r in reports) == [("team.zip/logs/lt.log", 258), ("team.zip/logs/t.log", 2)]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "one.log").write_text(GOOD[2])
    (tmp_path / "two.log").write_text(GOOD[0] + "\n" + GOOD[2])
    assert sorted(r.rows for r in store.ingest_paths([tmp_path])) == [1, 2]


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "file is empty"),
        (b"\n\n  \n", "file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b"layer,time_ms,layout\nconv1,1.2,NCHW8c\n", "CSV"),
        (b'{"foo": 1}\n{"bar": 2}\n', "not a format tvmviz reads"),
    ],
)
def test_files_of_another_kind_are_rejected_whole(store, content, expected):
    r = ingest_text(store, content)
    assert r.upload_id is None and expected in r.error and "x.log" in r.error
    assert store.uploads() == []


def test_file_with_no_valid_record_is_rejected(store):
    r = ingest_text(store, '{"input": [1, 2\n{"input": ]}\n')
    assert r.upload_id is None
    assert "no valid AutoTVM record" in r.error and "line 1" in r.error


def test_same_bytes_twice_is_one_upload(store):
    first = only(store.ingest_paths([R18 / "tuning.log"]))
    again = only(store.ingest_bytes("renamed.log", (R18 / "tuning.log").read_bytes()))
    assert again.duplicate and again.upload_id == first.upload_id
    assert len(store.uploads()) == 1 and store.con.execute("SELECT count(*) FROM autotvm_record").fetchone()[0] == 704


def test_a_failure_mid_file_stores_nothing_and_loses_nothing(store, monkeypatch):
    kept = only(store.ingest_paths([R18 / "layout_transform.log"]))
    # records are inserted, then the transform insert fails: the whole upload must roll back
    monkeypatch.setattr(autotvm, "_INSERT_TRANSFORMS", "INSERT INTO no_such_table VALUES (?)")
    r = only(store.ingest_paths([R18 / "tuning.log"]))
    assert r.upload_id is None and "could not be stored" in r.error
    assert [u.upload_id for u in store.uploads()] == [kept.upload_id]
    assert store.con.execute("SELECT count(*) FROM autotvm_record").fetchone()[0] == 0
    assert len(store.transform_records()) == 258


def test_delete_upload_removes_its_rows_only(store):
    a, b = store.ingest_paths([R18 / "tuning.log", R18 / "layout_transform.log"])
    store.delete_upload(a.upload_id)
    assert [u.upload_id for u in store.uploads()] == [b.upload_id]
    assert store.tuning_records() == [] and len(store.transform_records()) == 258


def test_best_per_pair_counts_trials_and_failures(store):
    path = THIRDPARTY / "resnet50-v2-7_autotvm_tvm0.13.log"
    store.ingest_paths([path])
    recs = [r for r in json_lines(path) if r["input"][1] == "conv2d_NCHWc.x86"]
    first = recs[0]
    key = json.dumps([first["input"][1], *first["input"][2]], separators=(",", ":"))
    mine = [r for r in recs if r["input"][2] == first["input"][2]]
    pair = lambda r: tuple(next(v[-1] for n, _, v in r["config"]["entity"] if n == k) for k in ("tile_ic", "tile_oc"))
    trials = Counter(pair(r) for r in mine)
    df = store.best_per_pair(key)
    assert {(int(a), int(b)): int(t) for a, b, t in zip(df.ic_bn, df.oc_bn, df.trials)} == dict(trials)
    for a, b, best in zip(df.ic_bn, df.oc_bn, df.best_cost_s):
        ok = [r["result"][0][0] for r in mine if pair(r) == (a, b) and r["result"][1] == 0]
        assert (best == min(ok)) if ok else math.isnan(best)


# ---- CLI ---------------------------------------------------------------------------------------


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tvmviz", *map(str, args)], cwd=ROOT, capture_output=True, text=True)


def test_cli_ingest_json_and_uploads(tmp_path):
    db = tmp_path / "t.duckdb"
    bad = tmp_path / "bad.log"
    bad.write_text(GOOD[0] + "\nnot json\n")
    p = run_cli("ingest", R18 / "tuning.log", bad, "--db", db, "--json", "--label", "r18", "--uploader", "ana")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert [set(o) for o in out] == [{"file", "kind", "upload_id", "duplicate", "rows", "failed_trials", "rejected_lines", "error"}] * 2
    assert out[1]["rejected_lines"] == [{"line": 2, "reason": "not valid JSON: Expecting value at column 1"}]
    p = run_cli("uploads", "--db", db, "--json")
    uploads = json.loads(p.stdout)
    assert [(u["rows"], u["label"], u["uploader"], u["cpu"]) for u in uploads] == [(704, "r18", "ana", "znver3"), (1, "r18", "ana", "znver3")]
    # a file with no valid line: rejected whole, exit code 2, nothing new stored
    empty = tmp_path / "empty.log"
    empty.write_text("")
    p = run_cli("ingest", empty, "--db", db)
    assert p.returncode == 2 and "file is empty" in p.stdout
    assert len(json.loads(run_cli("uploads", "--db", db, "--json").stdout)) == 2


def test_cli_says_when_the_database_is_held_by_another_process(tmp_path):
    db = tmp_path / "held.duckdb"
    holder = Store.open(str(db))
    try:
        p = run_cli("ingest", R18 / "tuning.log", "--db", db)  # a writer; readers use a snapshot (test_cli_help)
    finally:
        holder.close()
    assert p.returncode == 2 and "in use by another process" in p.stderr and "Traceback" not in p.stderr


def test_line_numbers_survive_a_parallel_read_of_a_large_file(store, tmp_path):
    """DuckDB reads big files in parallel chunks: every row must still carry its own line number."""
    rec = json.loads(GOOD[0])
    path = tmp_path / "big.log"
    with open(path, "w") as f:
        for line_no in range(1, 60_001):
            rec["result"][3] = float(line_no)
            rec["config"]["index"] = line_no
            f.write(json.dumps(rec) + ("\n\n" if line_no % 7000 == 0 else "\n"))  # blank lines shift numbering
    (r,) = store.ingest_paths([path])
    assert r.rows == 60_000 and r.rejected_lines == []
    text_lines = path.read_text().split("\n")
    mismatched = store.con.execute(
        "SELECT count(*) FROM autotvm_record WHERE config_index <> timestamp::INTEGER OR line_no <> list_extract(?::INTEGER[], config_index)",
        [[n for n, t in enumerate(text_lines, 1) if t.strip()]],
    ).fetchone()[0]
    assert mismatched == 0


def test_knobs_are_found_by_name_in_any_order(store):
    """The fast path reads tile_ic/tile_oc at positions 0 and 1; other orders must still be right."""
    rec = json.loads(GOOD[0])
    entity = {name: value for name, _, value in rec["config"]["entity"]}
    rec["config"]["entity"] = [e for e in rec["config"]["entity"] if e[0] not in ("tile_ic", "tile_oc")]
    rec["config"]["entity"] += [["tile_oc", "sp", entity["tile_oc"]], ["tile_ic", "sp", entity["tile_ic"]]]
    r = ingest_text(store, json.dumps(rec))
    assert r.rows == 1
    (record,) = store.tuning_records()
    assert (record.ic_bn, record.oc_bn) == (entity["tile_ic"][-1], entity["tile_oc"][-1])
    assert json.loads(record.entity) == rec["config"]["entity"]


def test_raw_files_are_kept_next_to_the_database(tmp_path):
    """So the database can be rebuilt; a duplicate or a rejected file leaves nothing behind."""
    db = tmp_path / "kept.duckdb"
    store = Store.open(str(db))
    (first,) = store.ingest_paths([R18 / "tuning.log"])
    (again,) = store.ingest_bytes("copy.log", (R18 / "tuning.log").read_bytes())
    (bad,) = store.ingest_bytes("bad.log", b'{"input": [1, 2\n')
    store.close()
    assert again.duplicate and bad.upload_id is None
    kept = list((tmp_path / "kept.duckdb.files").iterdir())
    sha = hashlib.sha256((R18 / "tuning.log").read_bytes()).hexdigest()
    assert [p.name for p in kept] == [sha] and kept[0].read_bytes() == (R18 / "tuning.log").read_bytes()
