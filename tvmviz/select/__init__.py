"""The layout selector: TVM's graph-tuner cost model, its DP / PBQP solvers, an exact solver,
explanations and what-if scenarios. See COST_MODEL.md for the objective.

The names below load on first use: ``tvmviz.select.options`` (what a run is asked to do) then imports
without NumPy and the solvers, which keeps the dashboard's first page light."""

import importlib

_WHERE = {
    "SelectOptions": "options", "Selection": "api", "NodeChoice": "api", "EdgeChoice": "api", "select": "api",
    "solve": "api", "Problem": "costmodel", "build_problem": "costmodel", "explain_node": "explain",
    "regret_table": "explain", "LayerExplanation": "explain", "RegretTable": "explain", "Scenario": "whatif",
    "SelectionDiff": "whatif", "WhatIfResult": "whatif", "diff_selections": "whatif", "run_scenario": "whatif",
}

__all__ = [
    "SelectOptions", "Selection", "NodeChoice", "EdgeChoice", "select", "solve", "Problem", "build_problem",
    "explain_node", "regret_table", "LayerExplanation", "RegretTable", "Scenario", "SelectionDiff",
    "WhatIfResult", "diff_selections", "run_scenario",
]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    try:  # a submodule, as `tvmviz.select.costmodel` after `import tvmviz.select`
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__():
    return sorted(set(globals()) | set(__all__))
