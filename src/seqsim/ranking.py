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
MEASURES = ("r@1", "r@5", "r@10", "mrr")


def _matrix(scores: ArrayLike) -> np.ndarray:
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be a (queries, candidates) matrix, got {scores.shape}")
    return scores


def ranks_of_targets(scores: ArrayLike, targets: ArrayLike | None = None) -> np.ndarray:
    """Rank (1 = best) of each query's correct candidate in a (Q, R) score matrix, as int64.

    ``targets``: None for the diagonal (query ``i`` -> candidate ``i``, Q == R); an int array
    (Q,) of the correct column per query; or a bool (Q, R) mask of correct candidates
    (multi-positive: the rank of the best-ranked correct one, at least one per query).
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
    """The ``k`` best candidates of every query of a (Q, R) matrix: ``(scores, ids)``, each
    (Q, min(k, R)), best first, equal scores in column order (the tie rule of the ranks)."""
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
    """Rank (1-based position) of each query's target in its best-first list of ``k`` ids, as
    float64, ``inf`` when not retrieved (then a miss for every R@n and 0 in the MRR, i.e. MRR@k).

    ``targets``: one id per query, or a collection of correct ids per query (the first found
    counts). Ids that are no target (e.g. -1 padding) never match.
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
    """
    ranks = np.asarray(ranks)
    for cutoff in cutoffs:
        check_count("cutoff", cutoff, 1)
    measures = {f"r@{n}": float(np.mean(ranks <= n)) for n in cutoffs}
    measures["mrr"] = float(np.mean(1.0 / ranks))
    return measures


def normalize_scores(scores: np.ndarray, method: Normalization, k: int = 10) -> np.ndarray:
    """Hubness correction of a (Q, R) score matrix, as in multilingual bitext mining.

    ``csls``: ``2 s(x, y) - r(x) - r(y)``; ``margin`` (ratio): ``s(x, y) / ((r(x) + r(y)) / 2)``;
    ``r(x)`` is the mean of the ``k`` best scores of query ``x`` over all candidates, ``r(y)`` the
    same for candidate ``y`` over all queries. The ratio margin assumes positive scores.
    """
    check_choice("normalization", method, NORMALIZATIONS)
    check_count("k (neighbours for csls / margin)", k, 1)
    if method == "none":
        return scores
    k = min(k, scores.shape[0], scores.shape[1])
    query_side = np.sort(scores, axis=1)[:, -k:].mean(axis=1)[:, None]
    candidate_side = np.sort(scores, axis=0)[-k:, :].mean(axis=0)[None, :]
    if method == "csls":
        return 2 * scores - query_side - candidate_side
    return scores / ((query_side + candidate_side) / 2)  # margin


def bootstrap_interval(
    ranks: np.ndarray, samples: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of R@1 over queries."""
    check_count("bootstrap (samples)", samples, 1)
    rng = np.random.default_rng(seed)
    hits = (ranks <= 1).astype(float)
    means = hits[rng.integers(0, len(hits), size=(samples, len(hits)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def check_scoring_options(normalization: str, k: int, bootstrap: int, seed: int) -> None:
    """Raise a clear ``ValueError`` for a scoring option the evaluator cannot use."""
    check_choice("normalization", normalization, NORMALIZATIONS)
    check_count("k (neighbours for csls / margin)", k, 1)
    check_count("bootstrap (samples; 0 for none)", bootstrap, 0)
    check_count("seed", seed, 0)
