"""Records as the selector consumes them: plain dataclasses, read from the store (tvmviz.store).

A TuningRecord is one AutoTVM trial (or one graph-tuner choice) of any task; for conv2d_NCHWc.x86
``ic_bn`` / ``oc_bn`` are the last factors of the ``tile_ic`` / ``tile_oc`` knobs. A TransformRecord is
one measured layout_transform. ``seq`` is the record's position in the order it was logged (upload
order, then line order): the graph tuner's ties and "last record wins" depend on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

FAILED_COST = 1e9  # what AutoTVM logs as costs for a failed trial

ERROR_NAMES = {
    0: "NO_ERROR",
    1: "INSTANTIATION_ERROR",
    2: "COMPILE_HOST",
    3: "COMPILE_DEVICE",
    4: "RUNTIME_DEVICE",
    5: "WRONG_ANSWER",
    6: "BUILD_TIMEOUT",
    7: "RUN_TIMEOUT",
    8: "UNKNOWN_ERROR",
}


def error_name(error_no: int) -> str:
    return ERROR_NAMES.get(error_no, f"ERROR_{error_no}")


@dataclass(frozen=True)
class TuningRecord:
    workload: str  # canonical key: compact JSON of [task_name, *args] (tvmviz.graph.model.workload_key)
    ic_bn: int | None
    oc_bn: int | None
    costs: tuple[float, ...]  # result[0], seconds
    error_no: int
    entity: str  # compact JSON of config.entity
    seq: int
    target: str = "llvm"
    config_index: int = -1
    all_cost: float = -1.0
    timestamp: float = -1.0
    tvm_version: str = ""

    @property
    def cost0(self) -> float:
        """costs[0]: the one number the graph tuner looks at (never the mean)."""
        return self.costs[0]

    @property
    def failed(self) -> bool:
        return self.error_no != 0

    def to_autotvm_json(self) -> str:
        """The record as an AutoTVM v0.2 log line (what apply_graph_best reads)."""
        task, *args = json.loads(self.workload)
        return json.dumps(
            {
                "input": [self.target, task, args, {}],
                "config": {"index": self.config_index, "code_hash": None, "entity": json.loads(self.entity)},
                "result": [list(self.costs), self.error_no, self.all_cost, self.timestamp],
                "version": 0.2,
                "tvm_version": self.tvm_version,
            }
        )


@dataclass(frozen=True)
class TransformRecord:
    shape: tuple[int, ...]  # input shape, in the source layout
    src: str  # e.g. "NCHW8c"
    dst: str
    cost0: float  # seconds
    seq: int
    dtype: str = "float32"
    error_no: int = 0
