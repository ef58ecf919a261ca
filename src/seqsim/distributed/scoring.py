"""All-pairs scores and index searches split over a Ray cluster by query.

The candidates (or the index) are the shared payload that each worker reads once; the queries
go out in parts, each scored by the same code as a local call (the metric's block kernels, the
index's search) on the backend the worker resolves for itself: the query blocks of the local
call's block plan for a metric of block kernels (so every block pair, and every score, is the
local one), else runs of queries, a few per worker so that a slow run does not hold the rest
back. Rows are put back in order, so the result is the local one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics.base import KernelMetric, Metric, pack_pair
from ..sequences import PackedSequences, SequencesLike, as_packed
from .cluster import RayCluster

if TYPE_CHECKING:
    from ..search.index import SequenceIndex

CHUNKS_PER_WORKER = 4
"""Query chunks per worker: enough to even out chunks of unequal cost."""


def query_runs(count: int, cluster: RayCluster) -> list[np.ndarray]:
    """``range(count)`` cut into consecutive runs, :data:`CHUNKS_PER_WORKER` per worker."""
    parts = min(count, CHUNKS_PER_WORKER * cluster.worker_count())
    return np.array_split(np.arange(count), parts)  # lengths differ by one at most


def _score_rows(shared: tuple[Metric, PackedSequences], queries: PackedSequences) -> np.ndarray:
    metric, candidates = shared
    return metric.resolved_here().checked_matrix(queries, candidates)


def _score_query_block(
    shared: tuple[KernelMetric, PackedSequences, list[np.ndarray]], queries: PackedSequences
) -> np.ndarray:
    metric, candidates, candidate_blocks = shared
    return metric.resolved_here().checked_matrix(queries, candidates, candidate_blocks)


def cluster_matrix(
    metric: Metric,
    queries: SequencesLike,
    candidates: SequencesLike,
    cluster: RayCluster,
    *,
    progress: bool = False,
) -> np.ndarray:
    """``metric.matrix(queries, candidates)``, its query rows scored on ``cluster``.

    A metric of block kernels is split as a local call splits it (:meth:`KernelMetric.
    block_plan`, from this process's backend and ``working_memory``): each worker scores whole
    query blocks against the plan's candidate blocks, so every score equals the local one
    exactly. Any other metric is split into runs of query rows (its pairs are scored one by
    one anyway).
    """
    return checked_cluster_matrix(
        metric, *pack_pair(queries, candidates), cluster, progress=progress
    )


def checked_cluster_matrix(
    metric: Metric,
    packed_queries: PackedSequences,
    packed_candidates: PackedSequences,
    cluster: RayCluster,
    *,
    progress: bool = False,
) -> np.ndarray:
    """:func:`cluster_matrix` of sequences checked already (as
    :meth:`Metric.checked_matrix` takes them). Candidates memory-mapped from a store travel as
    the path of their file (:class:`~seqsim.sequences.MappedFile`), anything else by value."""
    if isinstance(metric, KernelMetric):
        query_blocks, candidate_blocks = metric.block_plan(packed_queries, packed_candidates)
        shared: Any = (metric, packed_candidates, candidate_blocks)
        function: Any = _score_query_block
    else:
        query_blocks = query_runs(len(packed_queries), cluster)
        shared, function = (metric, packed_candidates), _score_rows
    rows = cluster.map(
        shared,
        function,
        [packed_queries.subset(block) for block in query_blocks],
        progress=progress,
        desc="scoring",
    )
    scores = np.empty((len(packed_queries), len(packed_candidates)))
    for block, block_rows in zip(query_blocks, rows, strict=True):
        scores[block] = block_rows
    return scores


def _search_rows(
    index: SequenceIndex, task: tuple[PackedSequences, int]
) -> tuple[np.ndarray, np.ndarray]:
    queries, k = task
    index.metric = index.metric.resolved_here()
    return index.search(queries, k)


def cluster_search(
    index: SequenceIndex,
    queries: SequencesLike,
    k: int,
    cluster: RayCluster,
    *,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``index.search(queries, k)`` (shortlist, then exact rerank) with the queries searched
    on ``cluster``. Each worker receives the index once: its shortlist and, for an index of a
    store, the store's path (read there, so the store must be on a filesystem every node
    sees). Each query's search is independent of the others', so results equal local ones."""
    packed = as_packed(queries, "queries", dim=index.dim)
    tasks = [(packed.subset(run), k) for run in query_runs(len(packed), cluster)]
    found = cluster.map(index, _search_rows, tasks, progress=progress, desc="searching")
    return np.concatenate([s for s, _ in found]), np.concatenate([i for _, i in found])
