"""The layout selector: TVM's graph-tuner cost model, its DP / PBQP solvers, an exact solver,
explanations and what-if scenarios. See COST_MODEL.md for the objective."""

from tvmviz.select.api import EdgeChoice, NodeChoice, Selection, select, solve
from tvmviz.select.costmodel import Problem, build_problem
from tvmviz.select.explain import LayerExplanation, RegretTable, explain_node, regret_table
from tvmviz.select.options import SelectOptions
from tvmviz.select.whatif import Scenario, SelectionDiff, WhatIfResult, diff_selections, run_scenario

__all__ = [
    "SelectOptions", "Selection", "NodeChoice", "EdgeChoice", "select", "solve", "Problem", "build_problem",
    "explain_node", "regret_table", "LayerExplanation", "RegretTable", "Scenario", "SelectionDiff",
    "WhatIfResult", "diff_selections", "run_scenario",
]
