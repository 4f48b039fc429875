"""Measure the top of the ranking: the chosen cells' conv2d candidates, then the layout transforms their
records bring into the problem that no log has yet, on this machine or an RPC device."""

from __future__ import annotations

from tvmviz.measure.conv import DEFAULT_TRIALS, ConvTask, measure_convs
from tvmviz.measure.keys import needed_transform_keys
from tvmviz.measure.transform import measure_transforms


def measure_cells(graph, tuning: list, transforms: list, cells, trials: int = DEFAULT_TRIALS, device=None,
                  progress=None, max_sch_num: int = 20, cost_model: str = "tvm") -> tuple[list, list]:
    """(conv measurements, transform measurements) for ``cells`` (NextCandidates, or anything with workload /
    ic_bn / oc_bn). ``device``: tvmviz.measure.rpc LocalDevice (default) or RemoteDevice."""
    tasks = list(dict.fromkeys(ConvTask.of(c.workload, c.ic_bn, c.oc_bn) for c in cells))
    convs = measure_convs(tasks, trials, progress=progress, device=device)
    seq = max((r.seq for r in tuning), default=0) + 1
    target = ""
    if device is not None:
        from tvmviz.measure.timing import target_string

        target = target_string(device.target)
    new = [m.to_tuning_record(seq + i, target) for i, m in enumerate(convs) if m.error_no == 0]
    keys = needed_transform_keys(graph, list(tuning) + new, transforms, only_missing=True, cost_model=cost_model,
                                 max_sch_num=max_sch_num)
    measured = measure_transforms(keys, progress=progress, device=device) if keys else []
    return convs, measured
