"""Fuzzing ingest with mutations of the real logs, every format: per line "stored and valid, or
rejected with its line number", and never an exception (a seeded corpus, plus Hypothesis)."""

from __future__ import annotations

import json
import math
import random

from hypothesis import HealthCheck, given, settings, strategies as st

from tvmviz.records import ERROR_NAMES
from tvmviz.store import Store
from tests.paths import R18, THIRDPARTY

SEED_FILES = [R18 / "tuning.log", R18 / "layout_transform.log", R18 / "opt_dp.log", THIRDPARTY / "tophub_llvm_v0.01.log",
              R18 / "onednn_verbose.txt", R18 / "debug_profile.txt", R18 / "graph.json", R18 / "_tvmdbg_graph_dump.json",
              R18 / "_tvmdbg_execution_trace.json", R18.parent.parent / "tests/data/tvm019/resnet18/profiler_report.json",
              R18.parent.parent / "tests/data/tvm019/resnet18/profiler_report.txt"]
TOKENS = ["NaN", "Infinity", "-1", "0", "-8", "7", "1e999", "9" * 400, "null", '"x"', "true", "[]", "{}", ",", "]", "}",
          "[" * 300, "\\ud800", "\x00", "\u202e", "1.5", "-0.5", "99999999999"]


def mutate(data: bytes, rng: random.Random, n: int) -> bytes:
    """Swap numbers and tokens in place, cut, duplicate or blank lines: near-valid hostile files."""
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")[:60]
    for _ in range(n):
        k = rng.randrange(len(lines))
        line = lines[k]
        op = rng.random()
        if op < 0.6 and line:
            at = rng.randrange(len(line))
            end = min(len(line), at + rng.randrange(1, 8))
            lines[k] = line[:at] + rng.choice(TOKENS) + line[end:]
        elif op < 0.7:
            lines[k] = line[: rng.randrange(len(line) + 1)]
        elif op < 0.8:
            lines.insert(k, rng.choice(["", "   ", "# note", "WARNING: x", line]))
        else:
            lines[k] = line.replace("0", rng.choice(TOKENS), 1)
    return "\n".join(lines).encode("utf-8", errors="surrogatepass")


def valid_record(text: str) -> bool:
    """An independent statement of a valid AutoTVM record (json.loads, then the documented rules)."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return False
    if not isinstance(obj, dict):
        return False
    inp, res = (obj.get("input"), obj.get("result")) if "input" in obj else (obj.get("i"), obj.get("r"))
    if not (isinstance(inp, list) and len(inp) >= 3 and isinstance(res, list) and len(res) == 4):
        return False
    costs, error_no = res[0], res[1]
    num = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)  # noqa: E731
    if not (isinstance(costs, list) and costs and all(num(c) for c in costs)):
        return False
    if not (isinstance(error_no, int) and not isinstance(error_no, bool) and error_no in ERROR_NAMES):
        return False
    try:
        finite = all(math.isfinite(c) for c in [*costs, res[2], res[3]] if num(c))
    except OverflowError:
        finite = False
    return finite and num(res[2]) and num(res[3]) and (error_no != 0 or min(costs) > 0)


def check(store: Store, name: str, data: bytes) -> None:
    reports = store.ingest_bytes(name, data)  # must not raise
    assert reports
    for r in reports:
        assert r.error is None or r.upload_id is None
        assert "Traceback" not in (r.error or "")
        for x in r.rejected_lines:
            assert isinstance(x["line"], int) and x["reason"]
        if r.upload_id is None or r.duplicate or r.kind not in ("autotvm", "autotvm_selection", "layout_transform"):
            continue
        lines = data.split(b"\n")
        stored = {n for (n,) in store.con.execute(
            "SELECT line_no FROM autotvm_record WHERE upload_id = ? UNION SELECT line_no FROM layout_transform "
            "WHERE upload_id = ?", [r.upload_id, r.upload_id]).fetchall()}
        rejected = {x["line"] for x in r.rejected_lines}
        for n, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith(b"#"):
                continue
            assert (n in stored) != (n in rejected), (n, line[:200])
            if n in stored:  # stored means valid, by rules stated independently of the SQL
                assert valid_record(text.decode("utf-8", errors="replace")), (n, line[:200])
        bad = store.con.execute(
            "SELECT count(*) FROM autotvm_record WHERE upload_id = ? AND (NOT isfinite(cost0) OR error_no NOT BETWEEN 0 AND 8 "
            "OR (error_no = 0 AND list_min(costs) <= 0) OR (task = 'conv2d_NCHWc.x86' AND (ic_bn IS NULL OR ic_bn <= 0 "
            "OR c % ic_bn <> 0 OR oc_bn IS NULL OR oc_bn <= 0 OR o % oc_bn <> 0)))", [r.upload_id]).fetchone()[0]
        assert bad == 0


def test_seeded_mutations_of_every_real_format():
    store = Store.open(":memory:")
    rng = random.Random(20240611)
    for path in SEED_FILES:
        seed = path.read_bytes()[:200_000]
        for k in range(12):
            check(store, f"{path.name}.{k}", mutate(seed, rng, rng.randrange(1, 12)))
    store.close()


_STORE = Store.open(":memory:")
_GOOD = (R18 / "tuning.log").read_text().splitlines()[:3]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(_GOOD), st.text(max_size=80),
                          st.builds(lambda line, at, tok: line[:at] + tok + line[at + 1:],
                                    st.sampled_from(_GOOD), st.integers(0, 400), st.sampled_from(TOKENS))),
                min_size=1, max_size=8))
def test_hypothesis_lines(lines):
    check(_STORE, "h.log", "\n".join(lines).encode("utf-8", errors="surrogatepass"))
