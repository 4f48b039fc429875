"""``tvmviz run-plan`` results as uploads: one built and measured plan per upload, stored as a profile.

Kind ``tvmviz_run_plan``: the run-plan JSON (``target, cpu, threads, tvm_version, plans``) holding one
plan. Its convs and layout transforms fill ``executor_node`` (the built graph: NCHW[x]c shapes, ic_bn /
oc_bn, is_conv / is_layout_transform) and their in-place times ``executor_profile``, so Profile vs tuned
compares them like a debug-executor dump. The whole document is kept in the upload's ``meta`` (key
``run_plan``) for the Reality check page.
"""

from __future__ import annotations

import json
import os
import re

from tvmviz.errors import TvmvizError
from tvmviz.ingest.base import LoadResult, Source, insert_rows
from tvmviz.ingest.executor import _CHECKS, _NODE_COLUMNS, _PROFILE_COLUMNS, MAX_FILE_BYTES, _decode, layout_block

KIND = "tvmviz_run_plan"
KINDS = (KIND,)
SCHEMA: list = []  # executor_node / executor_profile belong to tvmviz.ingest.executor
MAX_ROWS = 100_000

_HEAD_RE = re.compile(r'^\{\s*"target"\s*:')


def sniff(head: bytes) -> str | None:
    text = head.decode("utf-8", errors="replace").lstrip()
    if _HEAD_RE.match(text) and '"plans"' in text and '"measured_runs_s"' in text:
        return KIND
    return None


def read_document(data: bytes, name: str) -> dict:
    """The run-plan JSON, checked for the fields the store needs."""
    try:
        doc = json.loads(data)
        plans = doc["plans"]
        for key in ("target", "cpu", "threads", "tvm_version"):
            doc[key]  # noqa: B018 - presence check
        for p in plans:
            for key in ("plan", "predicted_s", "measured_s", "layers", "transforms"):
                p[key]  # noqa: B018
    except (ValueError, KeyError, TypeError) as e:
        raise TvmvizError(f"{name}: not a tvmviz run-plan result ({type(e).__name__}: {e})") from None
    if len(plans) != 1:
        raise TvmvizError(f"{name}: holds {len(plans)} plans; one upload stores one built plan (the Reality "
                          "check page stores each plan on its own)")
    return doc


def _nchwc_shape(nchw: list, block: int | None) -> list:
    if not block or block == 1 or len(nchw) != 4:
        return list(nchw)
    n, c, h, w = nchw
    return [n, c // block, h, w, block]


def load(con, upload_id: int, source: Source, kind: str) -> LoadResult:
    if os.path.getsize(source.path) > MAX_FILE_BYTES:
        raise TvmvizError(f"{source.name}: over the {MAX_FILE_BYTES // 1024**2} MiB limit for a run-plan result")
    doc = read_document(_decode(source), source.name)
    plan = doc["plans"][0]
    nodes, profile = [], []
    index_of: dict = {}

    def add_node(name, func, shape, is_conv, is_lt, ic_bn, oc_bn, time_s, inputs=(), is_param=False):
        index = len(nodes)
        index_of.setdefault(name, index)
        time_us = None if time_s is None else float(time_s) * 1e6
        nodes.append((upload_id, KIND, index, name, "param" if is_param else "tvm_op", func, is_param, False,
                      json.dumps(list(inputs)), list(inputs), 1, json.dumps(shape), "float32",
                      *([None] * 6), is_conv, is_lt, ic_bn, oc_bn, "{}", time_us))
        if time_us is not None:
            profile.append((upload_id, KIND, len(profile), 0, name, func, time_us, time_us, None, 1, "cpu",
                            json.dumps(shape), None, "float32", None, 1, None, None, is_conv, is_lt, "{}"))
        return index

    transforms = list(plan["transforms"])
    convs = {layer["name"] for layer in plan["layers"]}
    for t in transforms:  # producers that are not convs: graph inputs (NCHW) are params, merges are not
        if t["src"] not in index_of and t["src"] not in convs:
            add_node(t["src"], None, list(t.get("shape") or []), False, False, None, None, None,
                     is_param=t["src_layout"] == "NCHW")
    for layer in plan["layers"]:
        block = int(layer["oc_bn"])
        add_node(layer["name"], "tvmviz_conv2d_NCHWc", _nchwc_shape(layer.get("shape") or [], block), True, False,
                 int(layer["ic_bn"]), block, layer["measured_s"])
    for k, t in enumerate(transforms):
        if t.get("measured_s") is None:
            continue  # predicted but not inserted: nothing ran
        src = index_of.get(t["src"])
        add_node(f"layout_transform_{k} ({t['src']} -> {t['dst']})", "tvmviz_layout_transform",
                 list(t.get("shape") or []), False, True, layout_block(t["src_layout"]),
                 layout_block(t["dst_layout"]), t["measured_s"], inputs=[src] if src is not None else [])
    if len(nodes) > MAX_ROWS:
        raise TvmvizError(f"{source.name}: {len(nodes)} nodes, more than the {MAX_ROWS} a run-plan result may hold")
    for table, rows in (("executor_node", nodes), ("executor_profile", profile)):
        for k, row in enumerate(rows):
            if problem := _CHECKS[table].problem(row):
                raise TvmvizError(f"{source.name}: {table} row {k + 1}: {problem}")
    insert_rows(con, "executor_node", _NODE_COLUMNS, nodes)
    insert_rows(con, "executor_profile", _PROFILE_COLUMNS, profile)
    meta = {"target": str(doc["target"]), "cpu": str(doc["cpu"]), "tvm_version": str(doc["tvm_version"]),
            "plan": str(plan["plan"]), "run_plan": doc}
    return LoadResult(rows=len(nodes), meta=meta)
