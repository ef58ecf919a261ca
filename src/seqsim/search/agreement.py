"""How close an index's search stays to exhaustive search: the measure users of approximate
late-interaction search ask for first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..checks import check_count
from ..ranking import ranks_from_top_k, retrieval_measures
from ..sequences import SequencesLike, as_packed
from .index import SequenceIndex

if TYPE_CHECKING:
    from ..distributed.cluster import RayCluster


@dataclass(frozen=True)
class Agreement:
    """``recall[n]``: the fraction of queries whose exhaustive top-1 is among the index's top
    ``n`` (``recall[1]`` is top-1 agreement), over ``queries`` queries (all, or a sample)."""

    queries: int
    recall: dict[int, float]

    @property
    def top1(self) -> float:
        return self.recall[1]


def agreement(
    index: SequenceIndex,
    queries: SequencesLike,
    *,
    cutoffs: tuple[int, ...] = (1, 10),
    sample: int | None = None,
    seed: int = 0,
    cluster: RayCluster | None = None,
) -> Agreement:
    """Search ``queries`` (or a seeded ``sample`` of them) twice, through the index and
    exhaustively (on ``cluster``'s workers, where given), and measure how often the index
    keeps the exhaustive top-1."""
    packed = as_packed(queries, "queries", dim=index.dim)
    chosen = np.arange(len(packed))
    if sample is not None:
        check_count("sample", sample, 1)
        if sample < len(packed):
            chosen = np.sort(np.random.default_rng(seed).choice(len(packed), sample, replace=False))
    subset = packed.subset(chosen)
    _, exhaustive = index.search(subset, 1, exhaustive=True, cluster=cluster)
    _, found = index.search(subset, min(max(cutoffs), len(index)), cluster=cluster)
    measures = retrieval_measures(ranks_from_top_k(found, exhaustive[:, 0]), cutoffs)
    return Agreement(len(chosen), {n: measures[f"r@{n}"] for n in cutoffs})
