"""oneDNN verbose ingest on the real ResNet-18 log (oneDNN 3.12) and on the older DNNL / MKL-DNN forms.

Expected values come from the log text itself (read here with plain string splitting), from the data
README, or from TVM's own tuning log of the same model; never from running the parser.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest

from tvmviz.errors import TvmvizError
from tvmviz.graph.model import workload_key
from tvmviz.ingest import executor, onednn
from tvmviz.ingest.base import Source
from tests.paths import DATA, R18, THIRDPARTY, ONEDNN_VERBOSE
from tests.ingest_helpers import connect_with, on_disk

VERBOSE = ONEDNN_VERBOSE
TVM_TUNING_LOG = R18 / "tuning.log"


# Older forms, as DNNL 1.x and MKL-DNN 0.x print them (see the data README and the oneDNN docs).
OLD_FORM_LOG = "\n".join(
    [
        "dnnl_verbose,info,DNNL v1.1.0 (commit 8a7f0b1e8d6c1a0e9e5d5a7e0d0a3b5c8e9f0a1b)",
        "dnnl_verbose,info,cpu,runtime:OpenMP",
        "dnnl_verbose,info,cpu,isa:Intel AVX-512 with AVX512BW, AVX512VL, and AVX512DQ extensions",
        "dnnl_verbose,info,gpu,runtime:none",
        "some program output that is not a verbose line",
        "dnnl_verbose,exec,cpu,reorder,jit:uni,undef,src_f32::blocked:abcd:f0 dst_f32::blocked:aBcd16b:f0,,,"
        "1x64x56x56,0.0439453",
        "dnnl_verbose,exec,cpu,convolution,jit:avx512_common,forward_inference,src_f32::blocked:aBcd16b:f0 "
        "wei_f32::blocked:ABcd16b16a:f0 bia_f32::blocked:a:f0 dst_f32::blocked:aBcd16b:f0,,"
        "alg:convolution_direct,mb1_ic64oc64_ih56oh56kh3sh1dh0ph1_iw56ow56kw3sw1dw0pw1,0.51",
        "dnnl_verbose,exec,cpu,convolution,jit:avx512_common,forward_inference,src_f32::blocked:aBcd16b:f0 "
        "wei_f32::blocked:ABcd16b16a:f0 bia_f32::blocked:a:f0 dst_f32::blocked:aBcd16b:f0,,"
        "alg:convolution_direct,mb1_ic64oc64_ih56oh56kh3sh1dh0ph1_iw56ow56kw3sw1dw0pw1,0.49",
        # truncated by a crash: the problem descriptor is cut, the time is missing
        "dnnl_verbose,exec,cpu,convolution,jit:avx512_common,forward_inference,src_f32::blocked:aBcd16b:f0 "
        "wei_f32::blocked:ABcd16b16a:f0 bia_f32::blocked:a:f0 dst_f32::blocked:aBcd16b:f0,,"
        "alg:convolution_direct,mb1_ic64oc64_ih56",
        "mkldnn_verbose,exec,convolution,jit:avx2,forward_training,fsrc:nChw8c fwei:OIhw8i8o fbia:x fdst:nChw8c,"
        "alg:convolution_direct,mb2_g1ic32oc32_ih16oh16kh3sh1dh0ph1_iw16ow16kw3sw1dw0pw1,0.139893",
        "mkldnn_verbose,exec,reorder,jit:uni,undef,in:f32_nchw out:f32_nChw8c,num:1,2x32x16x16,0.0710449",
        # two threads' output interleaved on one line: the time field is not a number
        "dnnl_verbose,exec,cpu,sum,simple:any,undef,src_f32::blocked:aBcd16b:f0 dst_f32::blocked:aBcd16b:f0,,,"
        "1x64x56x56,0.0771dnnl_verbose",
        "",
    ]
)


def _con():
    return connect_with(onednn.SCHEMA)


def _load(con, data: bytes, upload_id: int = 1, name: str = "verbose.txt"):
    return onednn.load(con, upload_id, Source(name, on_disk(data)), "onednn_verbose")


def _exec_lines(text: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every primitive exec line, by plain prefix matching."""
    out = []
    for no, line in enumerate(text.splitlines(), start=1):
        if line.startswith("onednn_verbose,v1,primitive,exec,"):
            out.append((no, line.split(",")))
    return out


@pytest.fixture(scope="module")
def real():
    con = _con()
    result = _load(con, VERBOSE.read_bytes())
    return con, result, VERBOSE.read_text()


def test_sniff_tells_verbose_logs_from_everything_else():
    assert onednn.sniff(VERBOSE.read_bytes()[:65536]) == "onednn_verbose"
    assert onednn.sniff(OLD_FORM_LOG.encode()) == "onednn_verbose"
    others = [
        TVM_TUNING_LOG,
        THIRDPARTY / "tophub_llvm_v0.01.log",
        R18 / "graph.json",
        R18 / "debug_profile.txt",
        DATA / "README.md",
    ]
    for path in others:
        assert onednn.sniff(path.read_bytes()[:65536]) is None, path
    assert executor.sniff(VERBOSE.read_bytes()[:65536]) is None


def test_real_log_stores_every_exec_line_of_every_primitive(real):
    con, result, text = real
    lines = _exec_lines(text)
    assert result.rows == len(lines) and result.rejected == []
    expected = {}
    for _, f in lines:
        expected[f[5]] = expected.get(f[5], 0) + 1
    got = dict(con.execute("SELECT primitive, count(*) FROM onednn_exec GROUP BY 1").fetchall())
    assert got == expected
    assert {"convolution", "reorder", "sum", "pooling", "eltwise", "inner_product"} <= set(got)
    stored = con.execute("SELECT line_no, time_ms FROM onednn_exec ORDER BY line_no").fetchall()
    assert [no for no, _ in stored] == [no for no, _ in lines]
    assert [t for _, t in stored] == [float(f[-1]) for _, f in lines]


def test_real_log_meta_from_info_lines(real):
    _, result, text = real
    assert "oneDNN v3.12.0" in text and "nthr:2" in text and "isa:Intel AVX2" in text
    assert result.meta["onednn_version"] == "3.12.0"
    assert result.meta["onednn_isa"] == "Intel AVX2"
    assert result.meta["onednn_threads"] == "2"


def test_conv_problem_fields_match_the_printed_descriptor(real):
    con, _, text = real
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT line_no, mb, ic, oc, ih, oh, kh, sh, dh, ph, iw, ow, kw, sw, dw, pw, src_tag, dst_tag, "
            "src_block, dst_block, implementation, prop_kind, alg FROM onednn_exec WHERE primitive = 'convolution'"
        ).fetchall()
    }
    convs = [(no, f) for no, f in _exec_lines(text) if f[5] == "convolution"]
    assert len(rows) == len(convs) == 60
    keys = ("mb", "ic", "oc", "ih", "oh", "kh", "sh", "dh", "ph", "iw", "ow", "kw", "sw", "dw", "pw")
    for no, f in convs:
        printed = {k: int(v) for k, v in re.findall(r"([a-z]+)(\d+)", f[11])}
        tags = dict(re.findall(r"(src|dst):f32:a:blocked:(\w+)::f0", f[8]))
        row = rows[no]
        assert tuple(row[: len(keys)]) == tuple(printed[k] for k in keys)
        assert row[len(keys) : len(keys) + 2] == (tags["src"], tags["dst"])
        assert row[-3:] == (f[6], f[7], "convolution_direct")
        # The README: oneDNN picks aBcd8b (nChw8c) here; the first conv reads the plain abcd image.
        assert row[len(keys) + 3] == 8
        assert row[len(keys) + 2] == (1 if tags["src"] == "abcd" else 8)


def test_reorder_blocks_of_src_and_dst(real):
    con, _, _ = real
    got = con.execute(
        "SELECT DISTINCT src_tag, src_block, dst_tag, dst_block FROM onednn_exec WHERE primitive = 'reorder'"
    ).fetchall()
    by_tags = {(s, d): (sb, db) for s, sb, d, db in got}
    assert by_tags[("abcd", "Acdb16a")] == (1, 1)  # weights: blocked on dim a (oc), not on dim b
    assert by_tags[("a", "a")] == (None, None)  # 1-D bias has no channel dim 1


def test_onednn_convs_match_tvm_workloads_and_aggregate_times(real):
    con, _, text = real
    convs = onednn.onednn_convs(con, [1])
    tvm_workloads = set()
    for line in TVM_TUNING_LOG.read_text().splitlines():
        rec = json.loads(line)
        tvm_workloads.add(workload_key([rec["input"][1], *rec["input"][2]]))
    assert len(tvm_workloads) == 11
    assert {c.workload_key for c in convs} == tvm_workloads

    times: dict[str, list[float]] = {}
    for _, f in _exec_lines(text):
        if f[5] == "convolution":
            times.setdefault(f[11], []).append(float(f[-1]))
    desc = "mb1_ic64oc64_ih56oh56kh3sh1dh0ph1_iw56ow56kw3sw1dw0pw1"
    (c,) = [c for c in convs if c.attrs.data_shape == (1, 64, 56, 56) and c.attrs.kernel_shape == (64, 64, 3, 3)]
    assert c.count == len(times[desc])
    assert c.median_ms == pytest.approx(statistics.median(times[desc]))
    assert c.min_ms == min(times[desc])
    assert (c.src_block, c.dst_block, c.src_tag) == (8, 8, "aBcd8b")
    assert c.attrs.strides == (1, 1) and c.attrs.padding == (1, 1, 1, 1) and c.attrs.dilation == (1, 1)
    assert sum(c.count for c in convs) == sum(len(v) for v in times.values())
    assert onednn.onednn_convs(con, []) == []
    assert onednn.onednn_convs(con, [999]) == []


def test_crlf_copy_gives_the_same_rows(real):
    con, result, _ = real
    crlf = VERBOSE.read_bytes().replace(b"\n", b"\r\n")
    con2 = _con()
    result2 = _load(con2, crlf)
    assert result2.rows == result.rows and result2.rejected == [] and result2.meta == result.meta
    q = "SELECT * EXCLUDE (upload_id) FROM onednn_exec ORDER BY line_no"
    assert con2.execute(q).fetchall() == con.execute(q).fetchall()


def test_old_dnnl_and_mkldnn_forms():
    con = _con()
    result = _load(con, OLD_FORM_LOG.encode())
    assert result.rows == 5
    assert [r.line for r in result.rejected] == [9, 12]
    assert "fields" in result.rejected[0].reason and "not a number" in result.rejected[1].reason
    assert result.meta["onednn_version"] == "1.1.0"
    assert result.meta["onednn_isa"].startswith("Intel AVX-512 with AVX512BW")
    rows = con.execute(
        "SELECT line_no, marker, engine, primitive, prop_kind, src_dt, src_tag, src_block, wei_tag, dst_dt, "
        "dst_tag, dst_block, alg, mb, g, ic, oc, ih, iw, oh, ow, kh, kw, ph, pw, dims, time_ms "
        "FROM onednn_exec ORDER BY line_no"
    ).fetchall()
    reorder, conv, conv2, mk_conv, mk_reorder = rows
    assert reorder[:12] == (6, "dnnl_verbose", "cpu", "reorder", "undef", "f32", "abcd", 1, None, "f32", "aBcd16b", 16)
    assert reorder[-2:] == ([1, 64, 56, 56], 0.0439453)
    assert conv[:13] == (
        7, "dnnl_verbose", "cpu", "convolution", "forward_inference", "f32", "aBcd16b", 16, "ABcd16b16a", "f32",
        "aBcd16b", 16, "convolution_direct",
    )  # fmt: skip
    assert conv[13:25] == (1, 1, 64, 64, 56, 56, 56, 56, 3, 3, 1, 1)
    assert conv[-1] == 0.51 and conv2[-1] == 0.49
    assert mk_conv[:12] == (10, "mkldnn_verbose", None, "convolution", "forward_training", None, "nChw8c", 8,
                            "OIhw8i8o", None, "nChw8c", 8)  # fmt: skip
    assert mk_conv[13:17] == (2, 1, 32, 32)
    assert mk_reorder[5:12] == ("f32", "nchw", 1, None, "f32", "nChw8c", 8)
    assert mk_reorder[-2:] == ([2, 32, 16, 16], 0.0710449)

    # the two DNNL runs of one conv aggregate; the MKL-DNN 0.x conv is another workload
    by_shape = {x.attrs.data_shape: x for x in onednn.onednn_convs(con, [1])}
    assert set(by_shape) == {(1, 64, 56, 56), (2, 32, 16, 16)}
    assert by_shape[(1, 64, 56, 56)].count == 2
    assert by_shape[(1, 64, 56, 56)].median_ms == pytest.approx(0.5)
    assert by_shape[(1, 64, 56, 56)].min_ms == 0.49


@pytest.mark.parametrize(
    "desc, expected",
    [
        # only h given: w takes h's values; output deduced (56 - 3 + 2*1) / 1 + 1 = 56
        ("mb1_ic64oc64_ih56kh3ph1", dict(mb=1, g=1, ic=64, oc=64, ih=56, iw=56, oh=56, ow=56, kh=3, kw=3,
                                           sh=1, sw=1, dh=0, dw=0, ph=1, pw=1)),  # fmt: skip
        # output given, padding not: ((56 - 1) * 1 - 56 + 3) / 2 = 1
        ("mb1ic8oc8_ih56oh56kh3", dict(ph=1, pw=1, ow=56, iw=56)),
        # C truncation: ((5 - 1) * 2 - 10 + 3) / 2 = 0.5 -> 0
        ("mb1_ic3oc8_ih10oh5kh3sh2", dict(ph=0, sh=2, sw=2, ow=5)),
        # dilation 1 (oneDNN), i.e. TVM dilation 2: effective kernel 5, out (20 - 5 + 0) / 1 + 1 = 16
        ("mb1_ic8oc8_ih20kh3dh1", dict(oh=16, ow=16, dh=1, dw=1, ph=0)),
        # 1-D problem: h takes the defaults; mb defaults to 2 (benchdnn)
        ("ic16oc16_iw100kw3", dict(mb=2, ih=1, kh=1, oh=1, sh=1, iw=100, kw=3, ow=98, pw=0)),
        # no kernel: inner product; bnorm-like with only ih
        ("mb1ic512oc1000", dict(mb=1, ic=512, oc=1000, ih=None, kh=None, g=None)),
        ("mb1ic64ih56", dict(ih=56, iw=56)),
    ],
)
def test_problem_descriptor_defaults(desc, expected):
    fields, dims = onednn.parse_problem(desc)
    assert dims is None
    for key, value in expected.items():
        assert fields.get(key) == value, (desc, key)


def test_problem_descriptor_dims_and_unknown_forms():
    assert onednn.parse_problem("1x64x56x56") == ({}, [1, 64, 56, 56])
    assert onednn.parse_problem("64") == ({}, [64])
    assert onednn.parse_problem("axis:1 1x64x56x56:1x64x56x56") == ({}, None)
    assert onednn.parse_problem("") == ({}, None)


@pytest.mark.parametrize(
    "tag, block",
    [("aBcd8b", 8), ("aBcd16b", 16), ("abcd", 1), ("acdb", 1), ("ABcd8b8a", 8), ("Acdb16a", 1),
     ("aBCd2b4c2b", 4), ("aBcde16b", 16), ("nChw16c", 16), ("nchw", 1), ("nhwc", 1), ("a", None),
     ("x", None), ("any", None), (None, None), ("", None)],
)  # fmt: skip
def test_channel_block(tag, block):
    assert onednn.channel_block(tag) == block


def test_file_without_a_valid_exec_line_is_rejected_whole():
    con = _con()
    info_only = b"UserWarning: something\nonednn_verbose,v1,info,oneDNN v3.12.0 (commit 80afa71)\n"
    with pytest.raises(TvmvizError, match="no valid oneDNN verbose exec line"):
        _load(con, info_only, name="info_only.txt")
    broken = b"onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,forward_training,src:f32\n"
    with pytest.raises(TvmvizError, match=r"broken.txt.*line 1"):
        _load(con, broken, name="broken.txt")
    with pytest.raises(TvmvizError):
        _load(con, b"", name="empty.txt")
    assert con.execute("SELECT count(*) FROM onednn_exec").fetchone() == (0,)


def test_graph_api_and_create_lines_are_not_primitive_execs():
    con = _con()
    text = (
        "onednn_verbose,v1,primitive,create:cache_miss,cpu,convolution,jit:avx2,forward_training,"
        "src:f32::blocked:abcd::f0,,alg:convolution_direct,mb1_ic3oc64_ih224kh7sh2ph3,0.5\n"
        "onednn_verbose,v1,graph,exec,cpu,100002,sdp,matmul;softmax;matmul,,in0_f32:0:strided:undef:1x16x384x64,"
        "fpm:strict,larger_partition_kernel_t,dnnl_backend,0.2\n"
        "onednn_verbose,v1,primitive,exec,cpu,pooling,jit:avx2,forward_inference,src:f32::blocked:aBcd8b::f0 "
        "dst:f32:a:blocked:aBcd8b::f0,attr-scratchpad:user,alg:pooling_max,"
        "mb1ic64_ih112oh56kh3sh2dh0ph1_iw112ow56kw3sw2dw0pw1,0.14209\n"
    )
    result = _load(con, text.encode())
    assert result.rows == 1 and result.rejected == []
    assert con.execute("SELECT line_no, primitive, ic, oh, ow FROM onednn_exec").fetchall() == [
        (3, "pooling", 64, 56, 56)
    ]
