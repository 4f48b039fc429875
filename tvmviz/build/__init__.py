"""Build layout plans into real models with TVM (Relax) and run them here: predicted against measured.

- ``plans.py``: which plans (dp, pbqp, exact, per-op-best, uniform:X, scenario:S) as Selections, from a
  layout graph and its records (``make_plans``).
- ``model.py``: an ONNX model + a plan -> a Relax module (conv2d_NCHWc with the record's schedule,
  layout transforms where the plan puts them, other ops in the layout they receive).
- ``kernels.py``: the conv / transform kernels plans call, compiled once per process for every plan, and
  compiling split over the cores.
- ``run.py``: compile, check against ``onnx.reference``, time end to end and per layer in place, at N
  threads and at 1 (``run_plans`` -> ``RunReport``).
- ``job.py``: a ``run_plans`` call on a stored run in its own process, for the dashboard (``PlanJob``).
- ``cli.py``: ``python -m tvmviz run-plan``.

TVM is imported only when something is built.
"""

from tvmviz.build.plans import Plan, make_plans, parse_plans
from tvmviz.build.run import LayerTiming, PlanRun, RunReport, TransformTiming, run_plans

__all__ = ["Plan", "make_plans", "parse_plans", "run_plans", "RunReport", "PlanRun", "LayerTiming",
           "TransformTiming"]
