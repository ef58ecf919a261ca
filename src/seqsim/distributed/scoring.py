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

from ..metrics.base import KernelMetric, Metric, pack_pair, sum_diagnostics
from ..sequences import PackedSequences, SequencesLike, as_packed
from .cluster import RayCluster

if TYPE_CHECKING:
    from ..search.index import SequenceIndex

CHUNKS_PER_WORKER = 4
"""Query chunks per worker: enough to even out chunks of unequal cost."""


def query_runs(count: int, cluster: RayCluster) -> list[np.ndarray]:
    """``range(count)`` cut into consecutive runs, :data:`CHUNKS_PER_WORKER` per worker.

    Parameters
    ----------
    count : int
        The number of queries (>= 1).
    cluster : RayCluster
        The cluster; only its :meth:`~RayCluster.worker_count` is read (given ``workers``,
        nothing connects).

    Returns
    -------
    list of numpy.ndarray
        ``min(count, CHUNKS_PER_WORKER * workers)`` runs of consecutive query numbers, whose
        lengths differ by one at most, together ``0 .. count - 1`` in order.

    Examples
    --------
    >>> from seqsim.distributed import RayCluster
    >>> from seqsim.distributed.scoring import query_runs
    >>> len(query_runs(10, RayCluster(workers=2)))    # 4 runs per worker
    8
    >>> [run.tolist() for run in query_runs(3, RayCluster(workers=2))]
    [[0], [1], [2]]
    """
    parts = min(count, CHUNKS_PER_WORKER * cluster.worker_count())
    return np.array_split(np.arange(count), parts)  # lengths differ by one at most


def _score_rows(
    shared: tuple[Metric, PackedSequences], queries: PackedSequences
) -> tuple[np.ndarray, dict[str, int]]:
    metric, candidates = shared
    return metric.resolved_here().matrix_with_diagnostics(queries, candidates)


def _score_query_block(
    shared: tuple[KernelMetric, PackedSequences, list[np.ndarray]], queries: PackedSequences
) -> tuple[np.ndarray, dict[str, int]]:
    metric, candidates, candidate_blocks = shared
    return metric.resolved_here().matrix_with_diagnostics(queries, candidates, candidate_blocks)


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
    one anyway). The workers' solver diagnostics are recorded here, once for the whole call
    (:meth:`Metric.record_diagnostics`: a Sinkhorn OT warns once).

    Parameters
    ----------
    metric : Metric
        The metric (a registered one, or any the workers can unpickle).
    queries, candidates : list of (frames, dim) arrays or tensors, or PackedSequences
        The two sides, of one frame dimension.
    cluster : RayCluster
        The cluster whose workers score (joined or started on first use, left open).
    progress : bool, default False
        Show a progress bar over the parts sent out.

    Returns
    -------
    numpy.ndarray
        The (Q, R) float64 similarities, equal to ``metric.matrix(queries, candidates)``.

    Raises
    ------
    ValueError
        If ``queries`` or ``candidates`` are empty, not 2-D float frames, hold NaN/inf, or
        differ in dimension (checked here, before any work is sent out).
    RayNotInstalledError, RayConnectionError
        If Ray is missing or the cluster cannot be joined (:meth:`RayCluster.connect`).

    Warns
    -----
    SinkhornConvergenceWarning
        Once for the call, if a Sinkhorn OT left pairs unconverged (the workers' counts
        summed).

    Examples
    --------
    The :class:`~seqsim.distributed.RayCluster` example starts a local cluster and scores on
    it (a cluster takes seconds to start, so it is not repeated here).
    """
    scores, diagnostics = cluster_matrix_with_diagnostics(
        metric, *pack_pair(queries, candidates), cluster, progress=progress
    )
    metric.record_diagnostics(diagnostics)
    return scores


def cluster_matrix_with_diagnostics(
    metric: Metric,
    packed_queries: PackedSequences,
    packed_candidates: PackedSequences,
    cluster: RayCluster,
    *,
    progress: bool = False,
) -> tuple[np.ndarray, dict[str, int]]:
    """:func:`cluster_matrix` of sequences checked already (as
    :meth:`Metric.matrix_with_diagnostics` takes them), and the workers' solver diagnostics
    summed, neither recorded nor warned about (the caller records them, once).

    Candidates memory-mapped from a store travel as the path of their file
    (:class:`~seqsim.sequences.MappedFile`), anything else by value.

    Parameters
    ----------
    metric : Metric
        The metric.
    packed_queries, packed_candidates : PackedSequences
        The two sides, checked by :func:`~seqsim.sequences.as_packed` (one dimension).
    cluster : RayCluster
        The cluster whose workers score.
    progress : bool, default False
        Show a progress bar over the parts sent out.

    Returns
    -------
    tuple[numpy.ndarray, dict[str, int]]
        The (Q, R) similarities and the call's diagnostics (counts by name, see
        :meth:`Metric.diagnostics`).

    Raises
    ------
    RayNotInstalledError, RayConnectionError
        If Ray is missing or the cluster cannot be joined (:meth:`RayCluster.connect`).

    Examples
    --------
    See :class:`~seqsim.distributed.RayCluster` (``SequenceIndex.search(exhaustive=True,
    cluster=...)`` scores through this function).
    """
    if isinstance(metric, KernelMetric):
        query_blocks, candidate_blocks = metric.block_plan(packed_queries, packed_candidates)
        shared: Any = (metric, packed_candidates, candidate_blocks)
        function: Any = _score_query_block
    else:
        query_blocks = query_runs(len(packed_queries), cluster)
        shared, function = (metric, packed_candidates), _score_rows
    parts = cluster.map(
        shared,
        function,
        [packed_queries.subset(block) for block in query_blocks],
        progress=progress,
        desc="scoring",
    )
    scores = np.empty((len(packed_queries), len(packed_candidates)))
    for block, (block_rows, _) in zip(query_blocks, parts, strict=True):
        scores[block] = block_rows
    return scores, sum_diagnostics(diagnostics for _, diagnostics in parts)


def _search_rows(
    index: SequenceIndex, task: tuple[PackedSequences, int]
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """A worker's run of queries: the index's two-stage search, and its solver diagnostics
    (sent back, neither recorded nor warned about on the worker: the driver warns once)."""
    queries, k = task
    index.metric = index.metric.resolved_here()
    return index._reranked(queries, k, progress=False)


def cluster_search(
    index: SequenceIndex,
    queries: SequencesLike,
    k: int,
    cluster: RayCluster,
    *,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``index.search(queries, k)`` (shortlist, then exact rerank) with the queries searched
    on ``cluster``.

    Each worker receives the index once: its shortlist and, for an index of a store, the
    store's path (read there, so the store must be on a filesystem every node sees). Each
    query's search is independent of the others', so results equal local ones. The workers'
    solver diagnostics are recorded in ``index.metric``, once for the call (a Sinkhorn OT
    warns once, here, not on the workers).

    Parameters
    ----------
    index : SequenceIndex
        The index (pickled to the workers: its generator's class must be importable there,
        or picklable by value).
    queries : list of (frames, dim) arrays or tensors, or PackedSequences
        The queries, of the index's dimension.
    k : int
        How many results per query; more than the index holds is clamped to its size.
    cluster : RayCluster
        The cluster whose workers search (joined or started on first use, left open).
    progress : bool, default False
        Show a progress bar over the runs of queries sent out.

    Returns
    -------
    scores, ids : numpy.ndarray
        As :meth:`SequenceIndex.search <seqsim.search.SequenceIndex.search>` returns them:
        (Q, k) scores and int64 ids, best first.

    Raises
    ------
    SearchIndexError
        If the index is empty (checked here, before any work is sent out, as by
        ``index.search``).
    ValueError
        If ``k`` is not an integer >= 1, or ``queries`` are empty, not 2-D float frames,
        hold NaN/inf, or differ in dimension from the index (checked here too).
    RayNotInstalledError, RayConnectionError
        If Ray is missing or the cluster cannot be joined (:meth:`RayCluster.connect`).

    Warns
    -----
    UserWarning
        If ``k`` is larger than the index (it is clamped).

    Examples
    --------
    The :class:`~seqsim.distributed.RayCluster` example searches on a local cluster with
    ``index.search(..., cluster=cluster)``, which calls this function.
    """
    k = index._checked_k(k)
    packed = as_packed(queries, "queries", dim=index.dim)
    tasks = [(packed.subset(run), k) for run in query_runs(len(packed), cluster)]
    found = cluster.map(index, _search_rows, tasks, progress=progress, desc="searching")
    index.metric.record_diagnostics(sum_diagnostics(d for _, _, d in found))
    return np.concatenate([s for s, _, _ in found]), np.concatenate([i for _, i, _ in found])
