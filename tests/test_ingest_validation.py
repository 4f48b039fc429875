"""Bad values never become data: every rule of a valid AutoTVM record, and of the other formats' rows,
with the reason a rejected line gets (real records from sample_logs/, mutated one field at a time)."""

from __future__ import annotations

import json

import pytest

from tvmviz.ingest import autotvm
from tvmviz.store import Store
from tests.paths import R18, THIRDPARTY

GOOD = json.loads((R18 / "tuning.log").read_text().splitlines()[0])  # conv2d_NCHWc, C = 3, O = 64
TRANSFORM = json.loads((R18 / "layout_transform.log").read_text().splitlines()[0])


@pytest.fixture
def store():
    s = Store.open(":memory:")
    yield s
    s.close()


def mutated(change, base=GOOD) -> str:
    rec = json.loads(json.dumps(base))
    change(rec)
    return json.dumps(rec)


def setter(*path_and_value):
    *path, value = path_and_value

    def change(rec):
        node = rec
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


CASES = [
    (setter("result", 0, [None]), "costs [null] are not a non-empty list of numbers"),
    (setter("result", 0, ["0.1"]), 'costs ["0.1"] are not a non-empty list of numbers'),
    (setter("result", 0, []), "are not a non-empty list of numbers"),
    (setter("result", 0, [-0.001]), "cost -0.001 is not positive on a successful trial"),
    (setter("result", 0, [0]), "is not positive on a successful trial"),
    (setter("result", 1, 9), "error_no 9 is not one of AutoTVM's MeasureErrorNo values (0-8)"),
    (setter("result", 1, -1), "error_no -1 is not one of"),
    (setter("result", 1, 1.5), "error_no 1.5 is not one of"),
    (setter("result", 1, "0"), 'error_no "0" is not one of'),
    (setter("result", 2, None), "all_cost null is not a finite number"),
    (setter("result", 3, "now"), 'timestamp "now" is not a finite number'),
    (lambda r: r["result"].pop(), "result is not [costs, error_no, all_cost, timestamp]"),
    (lambda r: r.pop("config"), "config has no entity list"),
    (setter("config", "index", 1.5), "config index 1.5 is not an integer"),
    (lambda r: r["config"].pop("index"), "config has no index"),
    (setter("version", "0.2"), 'version "0.2" is not a number'),
    (setter("tvm_version", 19), "tvm_version 19 is not a string"),
    (setter("input", 1, 7), "input is not [target, task name, args, ...]"),
    (setter("input", "llvm"), "input is a string, not a list"),
    (setter("config", "entity", 0, 2, 1, 0), "tile_ic factor 0 is not positive (or -1, the inferred one)"),
    (setter("config", "entity", 1, 2, 1, -8), "tile_oc factor -8 is not positive (or -1, the inferred one)"),
    (setter("config", "entity", 1, 2, [-1, 7]), "tile_oc factor 7 does not divide 64 channels"),
    (setter("config", "entity", 1, 2, [2, 4]), "tile_oc factors [2,4] multiply to 8, not the 64 channels"),
    (setter("config", "entity", 1, 2, [-1, -1]), "has more than one inferred (-1) factor"),
    (setter("config", "entity", 2, 2, [-1, 2.5]), "tile_ow split [-1,2.5] is not a list of integers"),
    (setter("config", "entity", 0, ["tile_ic", "sp"]), 'config entity item ["tile_ic","sp"] is not [name, type, value]'),
    (lambda r: r["config"].__setitem__("entity", r["config"]["entity"][2:]), "no tile_ic and tile_oc splits"),
    (setter("input", 2, 0, 1, [1, 3, 224]), "args have no data and kernel shape of 4 positive integers"),
    # values over 60 characters are shown cut: the cut text is no JSON, and must stay text
    (setter("config", "index", int("2" + "9" * 401)), "config index 2999999999"),
    (setter("result", 1, [0] * 40), "error_no [0,0,0"),
    (setter("result", 0, ["slow"] * 20), 'costs ["slow","slow"'),
    (setter("version", "v" * 80), 'version "vvvv'),
]


@pytest.mark.parametrize("change, reason", CASES)
def test_a_broken_rule_rejects_the_line_with_its_reason(store, change, reason):
    text = "\n".join([json.dumps(GOOD), mutated(change), json.dumps(GOOD)])
    (r,) = store.ingest_bytes("x.log", text.encode())
    assert r.rows == 2, r
    assert [x["line"] for x in r.rejected_lines] == [2]
    assert reason in r.rejected_lines[0]["reason"]
    assert store.con.execute("SELECT list(line_no ORDER BY line_no) FROM autotvm_record").fetchone()[0] == [1, 3]


@pytest.mark.parametrize("line, reason", [
    ('{"input": ["llvm", "x", [], {}], "config": {"index": 1, "entity": []}, "result": [[1e-3,], 0, 1, 1]}',
     "not valid JSON"),  # DuckDB's reader takes trailing commas; JSON and AutoTVM do not
    ("[" * 5000 + "]" * 5000, "JSON nested too deeply"),
    (json.dumps(GOOD).replace('"result": [[', '"result": [[' + "9" * 400 + ", "), "cost is infinite"),
    (json.dumps(GOOD).replace('"result": [[', '"result": [[NaN, '), "cost is NaN"),
])
def test_lenient_or_hostile_json_is_a_reason_not_a_crash(store, line, reason):
    (r,) = store.ingest_bytes("x.log", (json.dumps(GOOD) + "\n" + line + "\n").encode())
    assert r.rows == 1 and [x["line"] for x in r.rejected_lines] == [2]
    assert reason in r.rejected_lines[0]["reason"]


def test_failed_trials_may_carry_autotvms_failure_cost_and_keep_their_error_name(store):
    failed = mutated(lambda r: r["result"].__setitem__(0, [1e9]) or r["result"].__setitem__(1, 6))
    (r,) = store.ingest_bytes("x.log", (json.dumps(GOOD) + "\n" + failed).encode())
    assert (r.rows, r.rejected_lines, r.failed_trials) == (2, [], {"BUILD_TIMEOUT": 1})
    assert store.con.execute("SELECT error_no, error_name FROM autotvm_record WHERE line_no = 2").fetchone() == (6, "BUILD_TIMEOUT")


@pytest.mark.parametrize("change, reason", [
    (setter("result", 0, [-1e-5]), "is not positive on a successful trial"),
    (setter("input", 2, 0, 1, [1, 0, 56, 56]), "no tensor shape of positive integers"),
    (setter("input", 2, 1, None), "no source and destination layout"),
])
def test_layout_transform_rows_follow_the_same_rules(store, change, reason):
    text = "\n".join([json.dumps(TRANSFORM), mutated(change, TRANSFORM)])
    (r,) = store.ingest_bytes("lt.log", text.encode())
    assert r.rows == 1 and [x["line"] for x in r.rejected_lines] == [2]
    assert reason in r.rejected_lines[0]["reason"]


def test_real_logs_are_stored_whole(store):
    """Every line of the real logs is valid: the rules must not refuse what AutoTVM writes."""
    for path in (R18 / "tuning.log", R18 / "layout_transform.log", R18 / "opt_dp.log",
                 THIRDPARTY / "resnet50-v2-7_autotvm_tvm0.13.log", THIRDPARTY / "tophub_llvm_v0.01.log",
                 THIRDPARTY / "tophub_llvm_v0.04.log"):
        (r,) = store.ingest_paths([path])
        assert r.error is None and r.rejected_lines == [], (path.name, r.rejected_lines[:3])


def test_many_rejected_lines_are_counted_not_all_listed(store):
    bad = mutated(setter("result", 1, 99))
    (r,) = store.ingest_bytes("x.log", ("\n".join([json.dumps(GOOD)] + [bad] * 1500)).encode())
    assert len(r.rejected_lines) == autotvm.MAX_REJECTED_LISTED + 1
    assert r.rejected_lines[-1]["line"] == 0 and "500 more rejected lines" in r.rejected_lines[-1]["reason"]
    assert store.uploads()[0].rejected_lines == 1500


def test_onednn_out_of_range_integer_rejects_the_line_not_the_file(store):
    good = ("onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,forward_inference,src:f32::blocked:aBcd8b::f0 "
            "wei:f32::blocked:ABcd8b8a::f0 dst:f32::blocked:aBcd8b::f0,,alg:convolution_direct,"
            "mb1_ic64oc64_ih56oh56kh3sh1dh0ph1_iw56ow56kw3sw1dw0pw1,0.5")
    bad = good.replace("mb1_ic64", "mb1_ic99999999999")
    (r,) = store.ingest_bytes("v.log", f"{good}\n{bad}\n".encode())
    assert r.error is None and r.rows == 1, r
    assert [x["line"] for x in r.rejected_lines] == [2] and "ic 99999999999 is out of range" in r.rejected_lines[0]["reason"]


def test_profile_table_bad_numbers_reject_their_line(store):
    header = "Node Name  Ops  Time(us)  Time(%)  Shape  Inputs  Outputs  Measurements(us)\n---------  ---\n"
    rows = ["conv1  fused_conv  10.5  50.0  (1, 64, 56, 56)  2  1  [10.5]",
            "conv2  fused_conv  1e999  50.0  (1, 64, 56, 56)  2  1  [10.5]",
            "conv3  fused_conv  10.5  nan  (1, 64, 56, 56)  2  1  [10.5]",
            "conv4  fused_conv  10.5  50.0  (1, 64, 56, 56)  2  99999999999  [10.5]",
            "conv5  fused_conv  10.5  50.0  (1, 64, 56, 56)  2  1  [" + "9" * 5000 + "]"]
    (r,) = store.ingest_bytes("t.txt", (header + "\n".join(rows) + "\nTotal_time  -  21.0\n").encode())
    assert r.error is None and r.rows == 1, r
    assert [x["line"] for x in r.rejected_lines] == [4, 5, 6, 7]


@pytest.mark.parametrize("text", [
    "  " + json.dumps(GOOD),  # leading whitespace
    json.dumps({k: GOOD[k] for k in reversed(list(GOOD))}),  # another key order
    "WARNING:autotvm:Too many errors happened\nINFO: tuning task 1/20\n" + json.dumps(GOOD),  # lines a run printed
])
def test_sniffer_takes_what_autotvm_and_tvm_write(store, text):
    (r,) = store.ingest_bytes("x.log", (text + "\n" + json.dumps(GOOD) + "\n").encode())
    assert r.error is None and r.kind == "autotvm" and r.rows == 2, r
