"""What to measure next: every (ic_bn, oc_bn) the x86 conv2d_NCHWc template allows per conv workload,
with its status in the log (kept / pruned / failed / untried), the kernel time below which the selector
would choose it (break-even, exactly, by re-solving), an estimate of its kernel time from its measured
neighbours, and the potential gain, ranked.

    ranking = rank_next(graph, tuning, transforms, SelectOptions())
    ranking.candidates[0]  # NextCandidate: the one to measure first
    convs, transforms = measure_cells(graph, tuning, transforms, ranking.top(3))  # tvmviz.next.measure (TVM)
"""

from tvmviz.next.ranking import NextCandidate, NextRanking, rank_next
from tvmviz.next.space import ESTIMATE_METHOD, SpaceCell, candidate_space

__all__ = ["rank_next", "NextRanking", "NextCandidate", "candidate_space", "SpaceCell", "ESTIMATE_METHOD"]
