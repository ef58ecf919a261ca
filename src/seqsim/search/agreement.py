"""How close an index's search stays to exhaustive search: the measure users of approximate
late-interaction search ask for first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._defaults import DEFAULT_SEED
from ..checks import check_count
from ..ranking import ranks_from_top_k, retrieval_measures
from ..sequences import SequencesLike, as_packed
from .index import SequenceIndex


@dataclass(frozen=True)
class Agreement:
    """How close an index's search stays to exhaustive search (what :func:`agreement` returns).

    Parameters
    ----------
    queries : int
        The number of queries measured (all, or a sample).
    recall : dict of int to float
        ``recall[n]``: the fraction of queries whose exhaustive top-1 is among the index's
        top ``n`` (``recall[1]`` is top-1 agreement).

    Examples
    --------
    >>> from seqsim.search import Agreement
    >>> kept = Agreement(queries=4, recall={1: 0.75, 10: 1.0})
    >>> kept.top1
    0.75
    """

    queries: int
    recall: dict[int, float]

    @property
    def top1(self) -> float:
        """Top-1 agreement, ``recall[1]`` (a ``KeyError`` where 1 was not a cutoff)."""
        return self.recall[1]


def agreement(
    index: SequenceIndex,
    queries: SequencesLike,
    *,
    cutoffs: tuple[int, ...] = (1, 10),
    sample: int | None = None,
    seed: int = DEFAULT_SEED,
) -> Agreement:
    """Measure how often ``index`` keeps the exhaustive top-1 of each query.

    Searches ``queries`` (or a seeded ``sample`` of them) twice, through the index and
    exhaustively (both scored by the index's metric, so on a cluster for an index of a
    :class:`~seqsim.distributed.ClusterMetric`). Because the rerank is exact,
    ``recall[1]`` is also the index's top-1 agreement with exhaustive search.

    Parameters
    ----------
    index : SequenceIndex
        A non-empty index.
    queries : list of (frames, dim) arrays or tensors, or PackedSequences
        The queries, of the index's dimension.
    cutoffs : tuple of int, default (1, 10)
        The ``n`` of ``recall[n]``; the index is searched for the largest (at most the
        index's size).
    sample : int, optional
        Measure on this many queries drawn at random (without replacement; all where there
        are no more); default: all.
    seed : int, default 0
        Seed of the sample.

    Returns
    -------
    Agreement
        The number of queries measured and ``recall`` per cutoff.

    Raises
    ------
    ValueError
        If ``sample`` is not an integer >= 1, or ``queries`` are empty, not 2-D float
        frames, hold NaN/inf, or differ in dimension from the index.
    SearchIndexError
        If the index is empty.

    Examples
    --------
    Each query is an indexed sequence, so its exhaustive top-1 is itself (SeqSim 1), and the
    index keeps it:

    >>> import numpy as np
    >>> from seqsim.search import SequenceIndex, agreement
    >>> rng = np.random.default_rng(0)
    >>> corpus = [rng.standard_normal((n, 8)).astype(np.float32) for n in (4, 6, 5, 7)]
    >>> index = SequenceIndex(generator="mean", candidates=2)
    >>> index.add(corpus)
    >>> agreement(index, corpus, sample=3)
    Agreement(queries=3, recall={1: 1.0, 10: 1.0})
    """
    packed = as_packed(queries, "queries", dim=index.dim)
    chosen = np.arange(len(packed))
    if sample is not None:
        check_count("sample", sample, 1)
        if sample < len(packed):
            chosen = np.sort(np.random.default_rng(seed).choice(len(packed), sample, replace=False))
    subset = packed.subset(chosen)
    _, exhaustive = index.search(subset, 1, exhaustive=True)
    _, found = index.search(subset, min(max(cutoffs), len(index)))
    measures = retrieval_measures(ranks_from_top_k(found, exhaustive[:, 0]), cutoffs)
    return Agreement(len(chosen), {n: measures[f"r@{n}"] for n in cutoffs})
