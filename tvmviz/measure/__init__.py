"""Measure missing costs on this machine with TVM (apache-tvm 0.27): layout transforms between
NCHW[x]c layouts and conv2d_NCHWc.x86 candidates, written as AutoTVM records.

Library use (the What-if page runs these under st.status)::

    keys = needed_transform_keys(graph, tuning, transforms, only_missing=True)
    results = measure_transforms(keys, progress=lambda done, total, label: ...)
    records = [m.to_transform_record(seq) for seq, m in enumerate(results)]
    write_log("measured.log", results)

TVM is imported only when something is measured.
"""

from tvmviz.measure.conv import (
    ConvKnobs, ConvMeasurement, ConvSpace, ConvTask, check_conv_output, conv_attrs, measure_conv, measure_convs, sweep,
)
from tvmviz.measure.keys import needed_transform_keys
from tvmviz.measure.records import record_line, write_log
from tvmviz.measure.timing import CONV_TIMING, TRANSFORM_TIMING, TimingPolicy, resolve_target, target_string
from tvmviz.measure.transform import TransformKey, TransformMeasurement, measure_transforms

__all__ = [
    "TransformKey", "TransformMeasurement", "measure_transforms", "needed_transform_keys",
    "ConvKnobs", "ConvMeasurement", "ConvSpace", "ConvTask", "measure_conv", "measure_convs", "sweep", "conv_attrs",
    "check_conv_output", "record_line", "write_log", "TimingPolicy", "TRANSFORM_TIMING", "CONV_TIMING",
    "resolve_target", "target_string",
]
