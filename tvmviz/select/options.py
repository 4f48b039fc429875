"""What a selection run is asked to do: solver, cost model and what-if changes."""

from __future__ import annotations

from dataclasses import dataclass, field

SOLVERS = ("dp", "pbqp", "exact")
COST_MODELS = ("tvm", "true")

Pin = "tuple[int, int] | int"  # (ic_bn, oc_bn), or x: any candidate whose oc_bn == x


@dataclass(frozen=True)
class SelectOptions:
    solver: str = "dp"
    cost_model: str = "tvm"
    max_sch_num: int = 20
    estimate_transforms: bool = False  # TVM's infer_layout=True
    pins: dict = field(default_factory=dict)  # node name -> (ic_bn, oc_bn) | x
    exclude_x: frozenset = frozenset()  # no candidate reading or writing NCHW{x}c
    transform_scale: float = 1.0
    kernel_scale: dict = field(default_factory=dict)  # node name -> factor on its kernel costs
    kernel_override: dict = field(default_factory=dict)  # node name -> {(ic_bn, oc_bn): seconds}
    # Additive, not in TVM: a needed transform without record or estimate costs 0 ("missing")
    # instead of raising; and whether dp/pbqp results get an optimality proof.
    allow_missing_transforms: bool = False
    compute_optimum: bool = True
    exact_time_limit_s: float = 20.0

    def __post_init__(self):
        from tvmviz.errors import TvmvizError

        if self.solver not in SOLVERS:
            raise TvmvizError(f"unknown solver {self.solver!r}: use one of {', '.join(SOLVERS)}")
        if self.cost_model not in COST_MODELS:
            raise TvmvizError(f"unknown cost model {self.cost_model!r}: use one of {', '.join(COST_MODELS)}")
        if int(self.max_sch_num) < 1:
            raise TvmvizError(f"max_sch_num must be at least 1, got {self.max_sch_num}")
        if not self.transform_scale >= 0:
            raise TvmvizError(f"transform_scale must be >= 0, got {self.transform_scale}")
