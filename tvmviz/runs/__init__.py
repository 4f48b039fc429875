"""Runs: what one tuning session on one machine produced (model graph, AutoTVM records, layout-transform
benchmarks, profiles, vendor logs of one target and CPU), the unit every page, report and command analyses.

``catalog`` holds the ``run`` table, the ``Run`` object and the edits (new, rename, move); ``forming``
decides which run an upload joins; ``inputs`` gives a run's graph and records exactly as ``select``
reads them from files, matched to the run's machine and model, and says what the run lacks.
"""

from tvmviz.runs.catalog import (
    Machine, Run, catalog_version, get_run, list_runs, move_upload, new_run, rename_run, resolve_run, run_members,
)
from tvmviz.runs.forming import Placement
from tvmviz.runs.inputs import (
    CostSource, InputsInfo, Lack, default_run, needs_same_model, run_inputs, run_status,
)

__all__ = [
    "CostSource", "InputsInfo", "Lack", "Machine", "Placement", "Run", "catalog_version", "default_run", "get_run", "list_runs",
    "move_upload", "needs_same_model", "new_run", "rename_run", "resolve_run", "run_inputs", "run_members",
    "run_status",
]
