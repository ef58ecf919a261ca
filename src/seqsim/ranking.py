"""Ranking measures of retrieval, shared by the evaluator and search: ranks, top-k lists,
R@n / MRR, hubness correction, bootstrap intervals. Pure numpy.

Scores are higher-is-better; ranks are 1-based. The tie rule, everywhere: among equal scores
the candidate with the smaller column (id) ranks first, so a candidate scoring exactly the same
as the correct one ranks before it when its column is smaller.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from .checks import check_choice, check_count

Normalization = Literal["none", "csls", "margin"]
NORMALIZATIONS = ("none", "csls", "margin")
"""The hubness corrections of the scores (the first: none, the default)."""
DEFAULT_NORMALIZATION: Normalization = NORMALIZATIONS[0]
"""No hubness correction unless asked."""
DEFAULT_NEIGHBOURS = 10
"""Neighbours of the hubness corrections (CSLS, ratio margin) unless told otherwise."""
Margin = Literal["ratio", "distance", "absolute", "csls"]
MARGINS = ("ratio", "distance", "absolute", "csls")
"""The margins of :func:`margin_scores`, as LASER and stopes define them, and CSLS."""
MEASURES = ("r@1", "r@5", "r@10", "mrr")


def _matrix(scores: ArrayLike) -> np.ndarray:
    """``scores`` as a numpy array, refused unless it is 2-D."""
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be a (queries, candidates) matrix, got {scores.shape}")
    return scores


def ranks_of_targets(scores: ArrayLike, targets: ArrayLike | None = None) -> np.ndarray:
    """Rank (1 = best) of each query's correct candidate in a (Q, R) score matrix.

    Scores are higher-is-better. Ties follow the module's rule: a candidate scoring exactly the
    same as the correct one ranks before it when its column is smaller.

    Parameters
    ----------
    scores : array_like
        (Q, R) scores of every query (row) against every candidate (column).
    targets : array_like or None, default None
        The correct candidates: None for the diagonal (query ``i`` -> candidate ``i``, needs
        Q == R); an integer array (Q,) of the correct column per query; or a bool (Q, R) mask of
        correct candidates (multi-positive: the rank of the best-ranked correct one; at least
        one per query).

    Returns
    -------
    numpy.ndarray
        (Q,) int64 ranks, from 1.

    Raises
    ------
    ValueError
        When ``scores`` is not 2-D; for diagonal targets of a matrix that is not square; for a
        mask of another shape than ``scores`` or with a query without correct candidate; for
        column targets that are not Q integers or lie outside ``[0, R)``.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.ranking import ranks_of_targets
    >>> scores = np.array([[0.9, 0.1, 0.2],
    ...                    [0.5, 0.5, 0.3],
    ...                    [0.7, 0.8, 0.6]])
    >>> ranks_of_targets(scores)  # query 1 ties with column 0, which comes first
    array([1, 2, 3])
    >>> ranks_of_targets(scores, np.array([0, 0, 0]))
    array([1, 1, 2])
    >>> mask = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1]], dtype=bool)
    >>> ranks_of_targets(scores, mask)  # query 2: the better of columns 0 and 2 counts
    array([1, 2, 2])
    """
    scores = _matrix(scores)
    n_queries, n_candidates = scores.shape
    rows = np.arange(n_queries)
    if targets is None:
        if n_queries != n_candidates:
            raise ValueError(f"diagonal targets need a square matrix, got {scores.shape}")
        columns = rows
    else:
        columns = np.asarray(targets)
    if columns.dtype == bool:
        if columns.shape != scores.shape:
            raise ValueError(f"a target mask must have the shape {scores.shape}")
        if not columns.any(axis=1).all():
            raise ValueError("every query needs at least one correct candidate in the mask")
        best = np.where(columns, scores, scores.min()).max(axis=1)  # best score of a correct one
        columns = (columns & (scores == best[:, None])).argmax(axis=1)  # its first column
    if columns.shape != (n_queries,) or not np.issubdtype(columns.dtype, np.integer):
        raise ValueError(f"targets must be {n_queries} integer columns, got {columns.shape}")
    if n_queries and not (0 <= columns.min() and columns.max() < n_candidates):
        raise ValueError(f"targets must be columns in [0, {n_candidates})")
    correct = scores[rows, columns][:, None]
    better = (scores > correct).sum(axis=1)
    earlier_ties = ((scores == correct) & (np.arange(n_candidates) < columns[:, None])).sum(axis=1)
    return 1 + better + earlier_ties


def top_k(scores: ArrayLike, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best candidates of every query of a (Q, R) score matrix, best first.

    Equal scores are listed in column order (the tie rule of :func:`ranks_of_targets`), also
    where candidates tie with the ``k``-th best.

    Parameters
    ----------
    scores : array_like
        (Q, R) scores, higher-is-better.
    k : int
        Candidates per query (at least 1); all ``R`` when ``k > R``.

    Returns
    -------
    scores : numpy.ndarray
        (Q, min(k, R)) the best scores of every query, in decreasing order.
    ids : numpy.ndarray
        (Q, min(k, R)) their columns.

    Raises
    ------
    ValueError
        When ``scores`` is not 2-D or has no column, or ``k`` is not an integer >= 1.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.ranking import top_k
    >>> scores = np.array([[0.9, 0.1, 0.2],
    ...                    [0.5, 0.5, 0.3],
    ...                    [0.7, 0.8, 0.6]])
    >>> best, ids = top_k(scores, 2)
    >>> ids
    array([[0, 2],
           [0, 1],
           [1, 0]])
    >>> best
    array([[0.9, 0.2],
           [0.5, 0.5],
           [0.8, 0.7]])
    """
    scores = _matrix(scores)
    check_count("k", k, 1)
    n_candidates = scores.shape[1]
    if n_candidates == 0:
        raise ValueError("top_k needs at least one candidate")
    k = min(k, n_candidates)
    ids = np.argpartition(scores, n_candidates - k, axis=1)[:, n_candidates - k :]
    values = np.take_along_axis(scores, ids, axis=1)
    # argpartition may keep any of the candidates tied with the k-th best: keep the first ones
    kth = values.min(axis=1)
    tied = (scores == kth[:, None]).sum(axis=1) > (values == kth[:, None]).sum(axis=1)
    for row in np.flatnonzero(tied):
        better = np.flatnonzero(scores[row] > kth[row])
        ids[row] = np.concatenate([better, np.flatnonzero(scores[row] == kth[row])])[:k]
        values[row] = scores[row, ids[row]]
    order = np.lexsort((-ids, values), axis=1)[:, ::-1]  # scores down, then columns up
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(ids, order, axis=1)


def ranks_from_top_k(
    candidate_ids: ArrayLike, targets: np.ndarray | Sequence[int] | Sequence[Collection[int]]
) -> np.ndarray:
    """Rank (1-based position) of each query's target in its best-first list of ``k`` ids.

    A target not in the list gets rank ``inf``: a miss for every R@n and 0 in the MRR, so that
    :func:`retrieval_measures` gives MRR@k.

    Parameters
    ----------
    candidate_ids : array_like
        (Q, k) ids retrieved per query, best first (e.g. the ids of :func:`top_k`). Ids that
        are no target (e.g. -1 padding) never match.
    targets : sequence of int, or sequence of collections of int
        One correct id per query, or a collection of correct ids per query (the first one
        found in the list counts).

    Returns
    -------
    numpy.ndarray
        (Q,) float64 ranks, ``inf`` where the target was not retrieved.

    Raises
    ------
    ValueError
        When ``candidate_ids`` is not 2-D or the number of targets is not its number of rows.

    Examples
    --------
    >>> from seqsim.ranking import ranks_from_top_k
    >>> ranks_from_top_k([[0, 2], [0, 1], [1, 0]], [0, 1, 2])
    array([ 1.,  2., inf])
    >>> ranks_from_top_k([[0, 2], [0, 1], [1, -1]], [{2, 5}, {0, 1}, {2}])
    array([ 2.,  1., inf])
    """
    candidate_ids = np.asarray(candidate_ids)
    if candidate_ids.ndim != 2 or len(candidate_ids) != len(targets):
        raise ValueError(
            f"need a (queries, k) id array and one target per query, got {candidate_ids.shape} "
            f"and {len(targets)} targets"
        )
    if len(targets) and isinstance(next(iter(targets)), numbers.Integral):
        hits = candidate_ids == np.asarray(targets)[:, None]
    else:
        hits = np.array(
            [np.isin(row, list(t)) for row, t in zip(candidate_ids, targets, strict=True)],
            dtype=bool,
        ).reshape(candidate_ids.shape)
    return np.where(hits.any(axis=1), hits.argmax(axis=1) + 1.0, np.inf)


def retrieval_measures(ranks: ArrayLike, cutoffs: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Mean recall at each cutoff (``r@n``: rank <= n) and the mean reciprocal rank (``mrr``).

    With ranks from :func:`ranks_from_top_k`, ``r@n`` holds for ``n <= k`` and ``mrr`` is MRR@k.

    Parameters
    ----------
    ranks : array_like
        1-based rank of every query's correct candidate (``inf`` for a miss).
    cutoffs : sequence of int, default (1, 5, 10)
        The ``n`` of each ``r@n``.

    Returns
    -------
    dict of str to float
        ``r@n`` for each cutoff, in order, then ``mrr``; fractions in [0, 1].

    Raises
    ------
    ValueError
        When a cutoff is not an integer >= 1.

    Examples
    --------
    >>> from seqsim.ranking import retrieval_measures
    >>> measures = retrieval_measures([1, 2, 11])  # mrr = (1 + 1/2 + 1/11) / 3
    >>> {name: round(value, 4) for name, value in measures.items()}
    {'r@1': 0.3333, 'r@5': 0.6667, 'r@10': 0.6667, 'mrr': 0.5303}
    """
    ranks = np.asarray(ranks)
    for cutoff in cutoffs:
        check_count("cutoff", cutoff, 1)
    measures = {f"r@{n}": float(np.mean(ranks <= n)) for n in cutoffs}
    measures["mrr"] = float(np.mean(1.0 / ranks))
    return measures


def normalize_scores(
    scores: np.ndarray, method: Normalization, k: int = DEFAULT_NEIGHBOURS
) -> np.ndarray:
    """Hubness correction of a (Q, R) score matrix, as in multilingual bitext mining.

    ``csls``: ``2 s(x, y) - r(x) - r(y)``; ``margin`` (ratio): ``s(x, y) / ((r(x) + r(y)) / 2)``;
    ``r(x)`` is the mean of the ``k`` best scores of query ``x`` over all candidates, ``r(y)`` the
    same for candidate ``y`` over all queries. The ratio margin assumes positive scores.

    Parameters
    ----------
    scores : numpy.ndarray
        (Q, R) scores, higher-is-better.
    method : {"none", "csls", "margin"}
        The correction; ``"none"`` returns ``scores`` itself.
    k : int, default 10
        Neighbours averaged in ``r(x)`` and ``r(y)``; at most Q and R are used.

    Returns
    -------
    numpy.ndarray
        The (Q, R) corrected scores, higher-is-better.

    Raises
    ------
    ValueError
        For another ``method``, or a ``k`` that is not an integer >= 1.

    Examples
    --------
    Candidate 0 is a hub (both queries score it highest); with ``k=1``, ``r(x)`` is each row's
    maximum (0.9, 0.6) and ``r(y)`` each column's (0.9, 0.5), and CSLS sends query 1 to
    candidate 1:

    >>> import numpy as np
    >>> from seqsim.ranking import normalize_scores
    >>> scores = np.array([[0.9, 0.5],
    ...                    [0.6, 0.5]])
    >>> np.round(normalize_scores(scores, "csls", k=1), 4)
    array([[ 0. , -0.4],
           [-0.3, -0.1]])
    >>> np.round(normalize_scores(scores, "margin", k=1), 4)
    array([[1.    , 0.7143],
           [0.8   , 0.9091]])
    """
    check_choice("normalization", method, NORMALIZATIONS)
    check_count("k (neighbours for csls / margin)", k, 1)
    if method == "none":
        return scores
    k = min(k, scores.shape[0], scores.shape[1])
    query_side = neighbour_means(scores, k)[:, None]
    candidate_side = neighbour_means(scores.T, k)[None, :]
    return margin_scores(
        scores, query_side, candidate_side, "csls" if method == "csls" else "ratio"
    )


def neighbour_means(scores: ArrayLike, k: int) -> np.ndarray:
    """Mean of the ``k`` best scores of every row: ``r(x)`` of the hubness corrections.

    Parameters
    ----------
    scores : array_like
        (Q, R) scores, higher-is-better: a whole score matrix, or each row's best scores only
        (a search's top list).
    k : int
        Scores averaged per row; all ``R`` when ``k > R``.

    Returns
    -------
    numpy.ndarray
        (Q,) the means.

    Raises
    ------
    ValueError
        When ``scores`` is not 2-D, or ``k`` is not an integer >= 1.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.ranking import neighbour_means
    >>> neighbour_means(np.array([[0.9, 0.1, 0.5], [0.2, 0.4, 0.6]]), k=2)
    array([0.7, 0.5])
    """
    scores = _matrix(scores)
    check_count("k (neighbours)", k, 1)
    return np.sort(scores, axis=1)[:, -k:].mean(axis=1)


def margin_scores(
    scores: ArrayLike, query_means: ArrayLike, candidate_means: ArrayLike, margin: Margin
) -> np.ndarray:
    """Scores corrected by the neighbour means of their query and candidate, as in bitext mining.

    With ``s = s(x, y)``, ``r(x)`` and ``r(y)`` (:func:`neighbour_means` of the query among the
    candidates and of the candidate among the queries) and ``m = (r(x) + r(y)) / 2``: ``ratio``
    is ``s / m`` (LASER's default; it assumes positive scores), ``distance`` ``s - m``,
    ``absolute`` ``s`` itself, and ``csls`` ``2 s - r(x) - r(y)``. The arguments broadcast
    against each other: a (Q, R) matrix with (Q, 1) and (1, R) means, or one score per pair.

    Parameters
    ----------
    scores : array_like
        Raw scores, higher-is-better.
    query_means, candidate_means : array_like
        ``r(x)`` and ``r(y)``, broadcastable to ``scores``.
    margin : {"ratio", "distance", "absolute", "csls"}
        The correction.

    Returns
    -------
    numpy.ndarray
        The corrected scores, higher-is-better.

    Raises
    ------
    ValueError
        For another ``margin``.

    Examples
    --------
    One pair scoring 0.8, whose query's neighbours average 0.6 and candidate's 0.4:

    >>> from seqsim.ranking import margin_scores
    >>> [round(float(margin_scores(0.8, 0.6, 0.4, m)), 4) for m in ("ratio", "distance", "csls")]
    [1.6, 0.3, 0.6]
    """
    check_choice("margin", margin, MARGINS)
    score, query, candidate = (np.asarray(v) for v in (scores, query_means, candidate_means))
    if margin == "csls":
        return 2 * score - query - candidate
    if margin == "absolute":
        return score
    mean = (query + candidate) / 2
    return score / mean if margin == "ratio" else score - mean


def bootstrap_interval(
    ranks: np.ndarray, samples: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of R@1 over queries.

    The queries are resampled with replacement ``samples`` times; the interval holds the
    central ``level`` of the resampled R@1 values.

    Parameters
    ----------
    ranks : numpy.ndarray
        1-based rank of every query's correct candidate.
    samples : int
        Bootstrap resamples (at least 1).
    seed : int
        Seed of the resampling: the same seed gives the same interval.
    level : float, default 0.95
        Coverage of the interval.

    Returns
    -------
    tuple of float
        ``(low, high)`` bounds of R@1, fractions in [0, 1].

    Raises
    ------
    ValueError
        When ``samples`` is not an integer >= 1.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.ranking import bootstrap_interval
    >>> bootstrap_interval(np.array([1, 1, 1]), samples=100, seed=0)  # every query a hit
    (1.0, 1.0)
    >>> ranks = np.array([1, 1, 2, 1, 3, 1, 1, 2])  # R@1 = 5/8
    >>> low, high = bootstrap_interval(ranks, samples=1000, seed=0)
    >>> bool(low < 0.625 < high), (low, high) == bootstrap_interval(ranks, 1000, seed=0)
    (True, True)
    """
    check_count("bootstrap (samples)", samples, 1)
    rng = np.random.default_rng(seed)
    hits = (ranks <= 1).astype(float)
    means = hits[rng.integers(0, len(hits), size=(samples, len(hits)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def check_scoring_options(normalization: str, k: int, bootstrap: int, seed: int) -> None:
    """Raise a clear ``ValueError`` for a scoring option the evaluator cannot use.

    Called before any embedding or scoring starts, so a bad option fails at once.

    Parameters
    ----------
    normalization : str
        ``"none"``, ``"csls"`` or ``"margin"`` (:func:`normalize_scores`).
    k : int
        Neighbours for csls / margin (at least 1).
    bootstrap : int
        Bootstrap samples (0 for none).
    seed : int
        Seed (at least 0).

    Raises
    ------
    ValueError
        Naming the option and the value it got.

    Examples
    --------
    >>> from seqsim.ranking import check_scoring_options
    >>> check_scoring_options("csls", k=10, bootstrap=0, seed=0)
    >>> check_scoring_options("csls", k=0, bootstrap=0, seed=0)
    Traceback (most recent call last):
        ...
    ValueError: k (neighbours for csls / margin) must be an integer >= 1, got 0
    """
    check_choice("normalization", normalization, NORMALIZATIONS)
    check_count("k (neighbours for csls / margin)", k, 1)
    check_count("bootstrap (samples; 0 for none)", bootstrap, 0)
    check_count("seed", seed, 0)
