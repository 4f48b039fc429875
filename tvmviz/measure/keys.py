"""Which layout transforms a model needs: the keys the selector's cost model asks for.

Built on tvmviz.select's Problem (COST_MODEL.md §4-§5): every (shape, src, dst) of every
registered transform table with src != dst, in TVM's registration order. "Missing" keys are those
the given transform records do not cover (the cost model marks them MISSING).
"""

from __future__ import annotations

from tvmviz.measure.transform import TransformKey


def needed_transform_keys(graph, tuning: list, transforms: list = (), only_missing: bool = False,
                          cost_model: str = "tvm", max_sch_num: int = 20) -> list[TransformKey]:
    """The distinct transform keys the graph tuner would benchmark for ``graph`` with these candidates.

    ``only_missing``: just those without a record in ``transforms``. Under the ``true`` cost model
    keys whose destination block does not divide the channels are left out (no real tensor has them).
    """
    from tvmviz.select.costmodel import IDENTITY, MISSING, build_problem
    from tvmviz.select.options import SelectOptions

    opts = SelectOptions(cost_model=cost_model, max_sch_num=max_sch_num, estimate_transforms=False,
                         allow_missing_transforms=True, compute_optimum=False)
    problem = build_problem(graph, list(tuning), list(transforms), opts)
    keys: dict = {}
    for table in problem.pairs.values():
        for a in range(len(table.shapes)):
            for b in range(len(table.dst_layouts)):
                code = int(table.source[a, b])
                if code == IDENTITY or (only_missing and code != MISSING):
                    continue
                shape, src, dst = table.key(a, b)
                key = TransformKey(tuple(shape), src, dst, _dtype(problem, table))
                if cost_model == "true" and not key.keeps_elements:
                    continue
                keys.setdefault(key, None)
    return list(keys)


def _dtype(problem, table) -> str:
    node = problem.graph.nodes[table.dst]
    return node.conv.dtype if node.conv is not None else node.dtype
