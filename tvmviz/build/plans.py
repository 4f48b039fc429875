"""Which layout plans to build: the graph tuner's and the ones a user would argue for.

A plan is a Selection (one candidate record per conv, with the predicted cost of that choice under
the graph tuner's objective):

- ``dp`` / ``pbqp`` / ``exact``: the solvers of tvmviz.select (TVM's DPTuner, PBQPTuner, the optimum).
- ``per-op-best``: every conv at its fastest record, transforms ignored (AutoTVM without the graph tuner).
- ``uniform:X``: every conv at NCHW[X]c (in and out), X replaced by the largest factor below it where it
  does not divide the channels: oneDNN's uniform 8c / 16c.
- ``scenario:S``: a What-if scenario string (the ``?s=`` of a What-if URL).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tvmviz.errors import TvmvizError
from tvmviz.graph.model import LayoutGraph
from tvmviz.select.api import Selection, select
from tvmviz.select.options import SelectOptions
from tvmviz.select.whatif import Scenario

SOLVER_PLANS = ("dp", "pbqp", "exact")
PLAN_KINDS = (*SOLVER_PLANS, "per-op-best", "uniform:X", "scenario:S")
MAX_PLANS = 12


@dataclass(frozen=True)
class Plan:
    name: str  # the spec as given: "dp", "uniform:16", ...
    selection: Selection

    def choices(self) -> dict:
        """conv name -> (ic_bn, oc_bn, entity): what the builder needs."""
        return {n.name: (n.ic_bn, n.oc_bn, n.entity) for n in self.selection.nodes}

    @property
    def predicted_s(self) -> float:
        return self.selection.total_cost_s


def parse_plans(text: str) -> list[str]:
    """Validated plan specs from ``dp,pbqp,uniform:16,...`` (duplicates dropped, order kept)."""
    specs = list(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    if not specs:
        raise TvmvizError("--plans: no plan given; use e.g. dp,pbqp,exact,per-op-best,uniform:16")
    if len(specs) > MAX_PLANS:
        raise TvmvizError(f"--plans: {len(specs)} plans given, at most {MAX_PLANS} are built in one run")
    for s in specs:
        _check_spec(s)
    return specs


def _check_spec(spec: str) -> None:
    kind, _, arg = spec.partition(":")
    if spec in SOLVER_PLANS or spec == "per-op-best":
        return
    if kind == "uniform":
        if not arg.isdigit() or int(arg) < 1:
            raise TvmvizError(f"plan {spec!r}: uniform needs a positive channel block, e.g. uniform:16")
        return
    if kind == "scenario":
        Scenario.from_string(arg)  # raises a clear error on a bad string
        return
    raise TvmvizError(f"unknown plan {spec!r}: use {', '.join(PLAN_KINDS)}")


def block_for(channels: int, x: int) -> int:
    """X if it divides the channels, else the largest factor of the channels below X."""
    return max(d for d in range(1, min(x, channels) + 1) if channels % d == 0)


def make_plans(graph: LayoutGraph, tuning: list, transforms: list, specs: list[str],
               estimate_transforms: bool = False) -> list[Plan]:
    """One Plan per spec, from a layout graph and its records: the one call that turns a run's
    inputs (graph, tuning records, transform records) into what ``run_plans`` builds."""
    base = SelectOptions(estimate_transforms=estimate_transforms, allow_missing_transforms=True,
                         compute_optimum=False)
    plans = []
    for spec in specs:
        _check_spec(spec)
        if spec.startswith("uniform:"):
            _check_uniform_records(graph, tuning, int(spec.partition(":")[2]))
        try:
            plans.append(Plan(spec, select(graph, tuning, transforms, _options(graph, spec, base))))
        except TvmvizError as e:
            raise TvmvizError(f"plan {spec}: {e}") from None
    return plans


def _check_uniform_records(graph: LayoutGraph, tuning: list, x: int) -> None:
    have = {(r.workload, r.ic_bn, r.oc_bn) for r in tuning}
    missing = []
    for n in graph.convs():
        pair = (block_for(n.conv.data_shape[1], x), block_for(n.conv.kernel_shape[0], x))
        if (n.conv.workload_key(), *pair) not in have:
            missing.append(f"{n.name} ({pair[0]}x{pair[1]})")
    if missing:
        raise TvmvizError(
            f"plan uniform:{x}: no tuning record at NCHW{x}c for {len(missing)} conv(s): " + ", ".join(missing[:6])
            + (" ..." if len(missing) > 6 else "") + f". Measure them (python -m tvmviz measure --graph MODEL "
            f"--kernels {x} --transforms none --out uniform{x}.log) and pass that log as another --tuning-log")


def _options(graph: LayoutGraph, spec: str, base: SelectOptions) -> SelectOptions:
    kind, _, arg = spec.partition(":")
    if spec in SOLVER_PLANS:
        return replace(base, solver=spec)
    if spec == "per-op-best":
        return replace(base, max_sch_num=1)  # only each conv's fastest record: nothing left to trade
    if kind == "uniform":
        x = int(arg)
        pins = {n.name: (block_for(n.conv.data_shape[1], x), block_for(n.conv.kernel_shape[0], x))
                for n in graph.convs()}
        return replace(base, pins=pins)
    return Scenario.from_string(arg).options(base)
