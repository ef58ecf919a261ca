"""A metric's scores in chunks of query rows, each reduced as it comes, as scikit-learn's
``pairwise_distances_chunked(reduce_func=)`` does for distances: a (Q, R) matrix too large to
hold is never held, and whatever scores the chunks (this process, or a wrapper such as
:class:`seqsim.distributed.ClusterMetric`) is the metric's business."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .._defaults import DEFAULT_CHUNK_QUERIES
from ..checks import check_count, check_flag
from ..progress import progress_bar
from ..sequences import SequencesLike
from .base import Metric, pack_pair, sum_diagnostics

ReduceFunc = Callable[[np.ndarray, int], Any]
"""``reduce_func(scores, start)``: a chunk's (rows, R) scores and the number of its first
query; what it returns is yielded."""


def matrix_chunked(
    metric: Metric,
    queries: SequencesLike,
    candidates: SequencesLike,
    *,
    reduce_func: ReduceFunc | None = None,
    chunk_size: int = DEFAULT_CHUNK_QUERIES,
    progress: bool = False,
) -> Iterator[Any]:
    """``metric.matrix(queries, candidates)`` a chunk of query rows at a time, each reduced.

    The chunks are consecutive runs of ``chunk_size`` queries, scored against every candidate
    by ``metric.matrix_with_diagnostics``, so each row equals the same row of
    ``metric.matrix``. The solver diagnostics of all chunks are recorded in ``metric`` once,
    when the iteration ends (a Sinkhorn OT warns once for the whole call).

    Parameters
    ----------
    metric : Metric
        The metric, or an object with its methods (:class:`seqsim.distributed.ClusterMetric`).
    queries, candidates : list of (frames, dim) arrays or tensors, or PackedSequences
        The two sides, of one frame dimension (checked before any chunk is scored).
    reduce_func : callable, optional
        ``reduce_func(scores, start)``, called on each chunk's (rows, R) scores and the number
        of its first query; what it returns is yielded. Without it, the scores are.
    chunk_size : int, default DEFAULT_CHUNK_QUERIES (256)
        Queries per chunk (the last one may be shorter).
    progress : bool, default False
        Show a progress bar over the chunks.

    Yields
    ------
    Any
        Each chunk's scores, or what ``reduce_func`` made of them, in query order.

    Raises
    ------
    ValueError
        For bad sequences (:func:`~seqsim.metrics.base.pack_pair`) or a ``chunk_size``
        below 1, before any scoring.

    Examples
    --------
    The best candidate of each query, with at most two queries' scores held at a time:

    >>> import numpy as np
    >>> from seqsim import SeqSim, matrix_chunked
    >>> frames = [np.eye(3)[i : i + 1] for i in range(3)]
    >>> best = matrix_chunked(SeqSim(backend="numba"), frames, frames[::-1],
    ...                       reduce_func=lambda scores, start: scores.argmax(axis=1),
    ...                       chunk_size=2)
    >>> np.concatenate(list(best))
    array([2, 1, 0])
    """
    check_count("chunk_size", chunk_size, 1)
    check_flag("progress", progress)
    packed_queries, packed_candidates = pack_pair(queries, candidates)
    return _chunks(metric, packed_queries, packed_candidates, reduce_func, chunk_size, progress)


def _chunks(
    metric: Metric,
    queries: Any,
    candidates: Any,
    reduce_func: ReduceFunc | None,
    chunk_size: int,
    progress: bool,
) -> Iterator[Any]:
    """The iteration of :func:`matrix_chunked`, on checked sequences (a generator apart, so
    that the checks run when it is called)."""
    chunks = progress_bar(
        queries.chunks(chunk_size),
        total=-(-len(queries) // chunk_size),
        desc="scoring",
        disable=not progress,
    )
    diagnostics = []
    try:
        for start, chunk in chunks:
            scores, diagnosed = metric.matrix_with_diagnostics(chunk, candidates)
            diagnostics.append(diagnosed)
            yield scores if reduce_func is None else reduce_func(scores, start)
    finally:
        metric.record_diagnostics(sum_diagnostics(diagnostics))
