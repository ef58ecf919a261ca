"""Margin-scored pairs from the nearest neighbours of both sides, as LASER and stopes mine them.

A run knows, for every source, its ``k`` best targets (forward) and, for every target, its
``k`` best sources (backward), with their raw scores. The neighbour means ``r(x)`` and ``r(y)``
of those lists correct every candidate pair's score (:func:`seqsim.ranking.margin_scores`:
ratio, distance, absolute or CSLS); each utterance keeps its best candidates by margin, and the
directions are combined (:data:`~seqsim.mining.defaults.DIRECTIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import check_choice, check_count
from ..ranking import Margin, margin_scores, neighbour_means, top_k
from .defaults import DIRECTIONS


class MiningError(ValueError):
    """Inputs or options that a mining run cannot use; the message names the item or option.

    A subclass of ``ValueError``; the command line prints it as a one-line error.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.mining import MiningError, mine
    >>> try:
    ...     mine([], [np.ones((2, 4), np.float32)])
    ... except MiningError as error:
    ...     print(error)
    the sources are empty: nothing to mine
    """


@dataclass(frozen=True)
class Neighbours:
    """The ``k`` nearest utterances of the other side for every utterance of one side.

    Parameters
    ----------
    scores : numpy.ndarray
        (N, k) raw scores, best first.
    ids : numpy.ndarray
        (N, k) positions on the other side; ``-1`` (score ``-inf``) pads a short list.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.mining.margins import Neighbours
    >>> Neighbours(np.array([[0.9, 0.5]]), np.array([[2, 0]])).means()
    array([0.7])
    """

    scores: np.ndarray
    ids: np.ndarray

    def means(self) -> np.ndarray:
        """The mean of each list (``r(x)``), over the entries found."""
        found = self.ids >= 0
        if found.all():
            return neighbour_means(self.scores, self.scores.shape[1])
        totals = np.where(found, self.scores, 0.0).sum(axis=1)
        return totals / np.maximum(found.sum(axis=1), 1)


@dataclass(frozen=True)
class Pairs:
    """Candidate pairs: positions on both sides, raw scores and margins (one entry each)."""

    source: np.ndarray
    target: np.ndarray
    score: np.ndarray
    margin: np.ndarray

    def subset(self, chosen: np.ndarray) -> Pairs:
        """The pairs at ``chosen`` (positions or a bool mask), in that order."""
        return Pairs(*(values[chosen] for values in self.columns()))

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.source, self.target, self.score, self.margin


def check_margin_options(margin: str, direction: str, k: int, keep: int) -> None:
    """Raise a clear ``ValueError`` for a margin, direction, ``k`` or ``keep`` a run cannot use.

    Examples
    --------
    >>> from seqsim.mining.margins import check_margin_options
    >>> check_margin_options("ratio", "union", k=4, keep=1)
    >>> check_margin_options("ratio", "union", k=4, keep=5)
    Traceback (most recent call last):
        ...
    ValueError: keep=5 is more than k=4: an utterance keeps some of its k neighbours
    """
    from ..ranking import MARGINS

    check_choice("margin", margin, MARGINS)
    check_choice("direction", direction, DIRECTIONS)
    check_count("k", k, 1)
    check_count("keep", keep, 1)
    if keep > k:
        raise ValueError(
            f"keep={keep} is more than k={k}: an utterance keeps some of its k neighbours"
        )


def candidate_pairs(
    forward: Neighbours, backward: Neighbours, margin: Margin, direction: str, keep: int
) -> Pairs:
    """The pairs that ``direction`` keeps, each utterance keeping its ``keep`` best by margin.

    Parameters
    ----------
    forward : Neighbours
        Every source's nearest targets.
    backward : Neighbours
        Every target's nearest sources.
    margin : {"ratio", "distance", "absolute", "csls"}
        The margin (:func:`~seqsim.ranking.margin_scores`); its ``r(x)`` and ``r(y)`` are the
        means of the forward and backward lists.
    direction : {"union", "intersection", "forward", "backward"}
        Which pairs to keep (a pair found both ways is kept once, with its forward values).
    keep : int
        Candidates each utterance keeps in its own direction.

    Returns
    -------
    Pairs
        Forward pairs first (by source, then margin), then the backward ones not among them.

    Examples
    --------
    Both sources prefer target 0, which prefers source 0; target 1 prefers source 0 too:

    >>> import numpy as np
    >>> from seqsim.mining.margins import Neighbours, candidate_pairs
    >>> forward = Neighbours(np.array([[0.9, 0.3], [0.8, 0.2]]), np.array([[0, 1], [0, 1]]))
    >>> backward = Neighbours(np.array([[0.9, 0.8], [0.3, 0.2]]), np.array([[0, 1], [0, 1]]))
    >>> pairs = candidate_pairs(forward, backward, "ratio", "intersection", keep=1)
    >>> pairs.source, pairs.target, np.round(pairs.margin, 4)  # 0.9 / ((0.6 + 0.85) / 2)
    (array([0]), array([0]), array([1.2414]))
    >>> union = candidate_pairs(forward, backward, "ratio", "union", keep=1)
    >>> union.source, union.target
    (array([0, 1, 0]), array([0, 0, 1]))
    """
    source_means, target_means = forward.means(), backward.means()
    ahead = _best_by_margin(forward, source_means, target_means, margin, keep)
    back = _best_by_margin(backward, target_means, source_means, margin, keep)
    back = Pairs(back.target, back.source, back.score, back.margin)  # as (source, target)
    if direction == "forward":
        return ahead
    if direction == "backward":
        return back
    width = max(len(target_means), 1)
    in_back = np.isin(ahead.source * width + ahead.target, back.source * width + back.target)
    if direction == "intersection":
        return ahead.subset(in_back)
    only_back = ~np.isin(back.source * width + back.target, ahead.source * width + ahead.target)
    return Pairs(
        *(
            np.concatenate(c)
            for c in zip(ahead.columns(), back.subset(only_back).columns(), strict=True)
        )
    )


def _best_by_margin(
    neighbours: Neighbours,
    own_means: np.ndarray,
    other_means: np.ndarray,
    margin: Margin,
    keep: int,
) -> Pairs:
    """Every utterance's ``keep`` best neighbours by margin, as (utterance, neighbour) pairs
    (the margins are symmetric in ``r(x)`` and ``r(y)``, so either side can ask)."""
    found = neighbours.ids >= 0
    other = other_means[np.where(found, neighbours.ids, 0)]
    margins = margin_scores(neighbours.scores, own_means[:, None], other, margin)
    margins = np.where(found, margins, -np.inf)
    best_margins, columns = top_k(margins, keep)
    rows = np.repeat(np.arange(len(margins)), columns.shape[1])
    columns = columns.ravel()
    ids = neighbours.ids[rows, columns]
    kept = ids >= 0
    return Pairs(
        rows[kept], ids[kept], neighbours.scores[rows, columns][kept], best_margins.ravel()[kept]
    )


def selected_pairs(pairs: Pairs, threshold: float | None, max_per_utterance: int | None) -> Pairs:
    """``pairs`` best margin first, those at or above ``threshold``, and at most
    ``max_per_utterance`` pairs per source and per target (taken greedily, best first:
    ``max_per_utterance=1`` with the union is LASER's ``max`` retrieval).

    Equal margins are ordered by source, then target.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.mining.margins import Pairs, selected_pairs
    >>> pairs = Pairs(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([0.9, 0.8, 0.7]),
    ...               np.array([1.2, 1.1, 1.3]))
    >>> selected_pairs(pairs, threshold=None, max_per_utterance=1).target
    array([1, 0])
    >>> selected_pairs(pairs, threshold=1.15, max_per_utterance=None).margin
    array([1.3, 1.2])
    """
    order = np.lexsort((pairs.target, pairs.source, -pairs.margin))
    pairs = pairs.subset(order)
    if threshold is not None:
        pairs = pairs.subset(pairs.margin >= threshold)
    if max_per_utterance is None:
        return pairs
    taken_sources: dict[int, int] = {}
    taken_targets: dict[int, int] = {}
    kept = []
    for number, (source, target) in enumerate(
        zip(pairs.source.tolist(), pairs.target.tolist(), strict=True)
    ):
        if (
            taken_sources.get(source, 0) < max_per_utterance
            and taken_targets.get(target, 0) < max_per_utterance
        ):
            taken_sources[source] = taken_sources.get(source, 0) + 1
            taken_targets[target] = taken_targets.get(target, 0) + 1
            kept.append(number)
    return pairs.subset(np.array(kept, dtype=np.int64))
