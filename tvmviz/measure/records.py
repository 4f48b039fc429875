"""Measurements as AutoTVM v0.2 log lines, the form every other part of tvmviz (and TVM) reads.

``{"input": [target, task, args, {}], "config": {"index", "code_hash": null, "entity"},
"result": [costs, error_no, all_cost, timestamp], "version": 0.2, "tvm_version": ...}``.
costs[0] is the median over the timing repeats (what the graph tuner reads); the repeats follow.
"""

from __future__ import annotations

import json
import os

from tvmviz.errors import TvmvizError
from tvmviz.measure.conv import ConvMeasurement
from tvmviz.measure.timing import resolve_target, target_string, tvm_version
from tvmviz.measure.transform import TransformMeasurement


def _line(target: str, task: str, args: list, index: int, entity: list, m, version: str) -> str:
    return json.dumps({
        "input": [target, task, args, {}],
        "config": {"index": index, "code_hash": None, "entity": entity},
        "result": [[float(c) for c in m.costs], int(m.error_no), float(m.all_cost), float(m.timestamp)],
        "version": 0.2,
        "tvm_version": version,
    })


def record_line(m, target: str | None = None, version: str | None = None) -> str:
    """One AutoTVM v0.2 line for a TransformMeasurement or ConvMeasurement."""
    target = target or target_string(resolve_target())
    version = version or tvm_version()
    if isinstance(m, TransformMeasurement):
        return _line(target, "layout_transform", m.key.args(), 0, [], m, version)
    if isinstance(m, ConvMeasurement):
        task, *args = m.workload
        return _line(target, task, args, m.config_index, m.knobs.entity(), m, version)
    raise TypeError(f"not a measurement: {type(m).__name__}")


def write_log(path, measurements, target=None, append: bool = False) -> int:
    """Write (or append) the measurements as an AutoTVM log; returns the number of lines written."""
    target_text = target if isinstance(target, str) else target_string(resolve_target(target))
    version = tvm_version()
    lines = [record_line(m, target_text, version) for m in measurements]
    try:
        with open(os.fspath(path), "a" if append else "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
    except OSError as e:
        raise TvmvizError(f"cannot write {os.fspath(path)}: {e.strerror}") from None
    return len(lines)
