"""A metric whose scores are split over a Ray cluster by query: :class:`ClusterMetric`.

The candidates are the shared payload that each worker reads once; the queries go out in
parts, each scored by the same code as a local call (the metric's block kernels, its rerank)
on the backend the worker resolves for itself: the query blocks of the local call's block plan
for a metric of block kernels (so every block pair, and every score, is the local one), else
runs of queries, a few per worker so that a slow run does not hold the rest back. Rows are put
back in order, so the result is the local one. An index, an evaluation or a chunked scoring of
a ClusterMetric run on the cluster through it: they only call the metric's methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..metrics.base import KernelMetric, Metric, pack_pair, sum_diagnostics
from ..sequences import PackedSequences, SequencesLike
from .cluster import RayCluster

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


def _score_shortlists(
    shared: tuple[Metric, PackedSequences], task: tuple[PackedSequences, list[np.ndarray]]
) -> tuple[list[np.ndarray], dict[str, int]]:
    metric, candidates = shared
    queries, shortlists = task
    return metric.resolved_here().shortlist_scores(queries, candidates, shortlists)


class ClusterMetric:
    """A metric whose scores are computed by a Ray cluster's workers, with the metric's own
    methods: :meth:`matrix`, :meth:`matrix_with_diagnostics` and :meth:`shortlist_scores`
    (so an index of it reranks there). Everything else (``name``, ``settings()``,
    ``diagnostics()``, ...) is the wrapped metric's, so a ClusterMetric goes wherever a
    metric goes: :func:`~seqsim.evaluation.evaluate`, :class:`~seqsim.search.SequenceIndex`,
    :func:`~seqsim.matrix_chunked`. Its scores equal the metric's exactly.

    A metric of block kernels is split as a local call splits it (:meth:`KernelMetric.
    block_plan`, from this process's backend and ``working_memory``): each worker scores whole
    query blocks against the plan's candidate blocks, so every score is the local one. Any
    other metric, and a rerank, are split into runs of queries. Each worker resolves the
    metric's backend for itself (``"auto"`` picks its CUDA where it has a GPU). The workers'
    solver diagnostics are recorded in the wrapped metric once per call (a Sinkhorn OT warns
    once). Candidates memory-mapped from a store travel as the path of their file
    (:class:`~seqsim.sequences.MappedFile`, which every node must see), anything else by
    value.

    Parameters
    ----------
    metric : Metric
        The metric (a registered one, or any the workers can unpickle).
    cluster : RayCluster
        The cluster whose workers score (joined or started on first use, left open).
    progress : bool, default False
        Show a progress bar over the parts sent out.

    Examples
    --------
    Wrapping starts nothing; the :class:`~seqsim.distributed.RayCluster` example scores on a
    local cluster.

    >>> from seqsim import SeqSim
    >>> from seqsim.distributed import ClusterMetric, RayCluster
    >>> metric = ClusterMetric(SeqSim(), RayCluster(workers=2))
    >>> metric.name, metric.settings()
    ('seqsim', {'metric': 'seqsim', 'output': 'f1'})
    >>> metric
    ClusterMetric(SeqSim(output='f1', backend='numba'), RayCluster(address=None, workers=2, ...))
    """

    def __init__(self, metric: Metric, cluster: RayCluster, *, progress: bool = False) -> None:
        if isinstance(metric, ClusterMetric):
            raise TypeError(f"{metric!r} runs on a cluster already")
        if not isinstance(metric, Metric):
            raise TypeError(f"a ClusterMetric wraps a Metric, not a {type(metric).__name__}")
        self.metric = metric
        self.cluster = cluster
        self.progress = progress

    def __getattr__(self, name: str) -> Any:
        """The wrapped metric's attribute (only reached for names this class lacks)."""
        if name in ("metric", "cluster", "progress"):  # not set yet (while unpickling)
            raise AttributeError(name)
        return getattr(self.metric, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.metric!r}, {self.cluster!r})"

    def matrix(self, queries: SequencesLike, candidates: SequencesLike) -> np.ndarray:
        """``metric.matrix(queries, candidates)``, its query rows scored on the cluster.

        Parameters
        ----------
        queries, candidates : list of (frames, dim) arrays or tensors, or PackedSequences
            The two sides, of one frame dimension.

        Returns
        -------
        numpy.ndarray
            The (Q, R) float64 similarities, equal to the wrapped metric's.

        Raises
        ------
        ValueError
            If ``queries`` or ``candidates`` are empty, not 2-D float frames, hold NaN/inf,
            or differ in dimension (checked here, before any work is sent out).
        RayNotInstalledError, RayConnectionError
            If Ray is missing or the cluster cannot be joined (:meth:`RayCluster.connect`).

        Warns
        -----
        SinkhornConvergenceWarning
            Once for the call, if a Sinkhorn OT left pairs unconverged (the workers' counts
            summed).
        """
        scores, diagnostics = self.matrix_with_diagnostics(*pack_pair(queries, candidates))
        self.metric.record_diagnostics(diagnostics)
        return scores

    def matrix_with_diagnostics(
        self, queries: PackedSequences, candidates: PackedSequences
    ) -> tuple[np.ndarray, dict[str, int]]:
        """:meth:`Metric.matrix_with_diagnostics <seqsim.metrics.Metric.
        matrix_with_diagnostics>` on the cluster: the scores of sequences checked already, and
        the workers' solver diagnostics summed, neither recorded nor warned about.

        Parameters
        ----------
        queries, candidates : PackedSequences
            The two sides, checked by :func:`~seqsim.metrics.base.pack_pair`.

        Returns
        -------
        tuple[numpy.ndarray, dict[str, int]]
            The (Q, R) similarities and the call's diagnostics.
        """
        metric = self.metric
        if isinstance(metric, KernelMetric):
            query_blocks, candidate_blocks = metric.block_plan(queries, candidates)
            shared: Any = (metric, candidates, candidate_blocks)
            function: Any = _score_query_block
        else:
            query_blocks = query_runs(len(queries), self.cluster)
            shared, function = (metric, candidates), _score_rows
        parts = self.cluster.map(
            shared,
            function,
            [queries.subset(block) for block in query_blocks],
            progress=self.progress,
            desc="scoring",
        )
        scores = np.empty((len(queries), len(candidates)))
        for block, (block_rows, _) in zip(query_blocks, parts, strict=True):
            scores[block] = block_rows
        return scores, sum_diagnostics(diagnostics for _, diagnostics in parts)

    def shortlist_scores(
        self,
        queries: PackedSequences,
        candidates: PackedSequences,
        shortlists: Sequence[np.ndarray],
        *,
        progress: bool = False,
    ) -> tuple[list[np.ndarray], dict[str, int]]:
        """:meth:`Metric.shortlist_scores <seqsim.metrics.Metric.shortlist_scores>` on the
        cluster: each worker receives the candidates once and reranks runs of queries.

        Parameters
        ----------
        queries, candidates : PackedSequences
            Sequences checked already.
        shortlists : sequence of numpy.ndarray
            For each query, the candidate numbers to score.
        progress : bool, default False
            Show a progress bar over the runs sent out.

        Returns
        -------
        tuple[list of numpy.ndarray, dict[str, int]]
            Per query, the scores of its shortlist; and the workers' diagnostics summed.
        """
        if len(shortlists) != len(queries):
            raise ValueError(f"{len(shortlists)} shortlists for {len(queries)} queries")
        runs = query_runs(len(queries), self.cluster)
        tasks = [(queries.subset(run), [shortlists[n] for n in run]) for run in runs]
        parts = self.cluster.map(
            (self.metric, candidates),
            _score_shortlists,
            tasks,
            progress=progress or self.progress,
            desc="reranking",
        )
        scores = [row for rows, _ in parts for row in rows]
        return scores, sum_diagnostics(diagnostics for _, diagnostics in parts)
