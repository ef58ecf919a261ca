"""Mined pairs against gold pairs, as BUCC scores them: precision, recall and F1 at a threshold
on the margin and at the F1-optimal one, the precision-recall curve and its plot.

A mined pair is correct when it is a gold pair; precision is the share of mined pairs that are
correct, recall the share of gold pairs that are mined, F1 their harmonic mean. At a threshold
``t``, the pairs mined are those whose margin is at least ``t``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .margins import MiningError

GoldPairs = Iterable[tuple[Hashable, Hashable]]
"""Gold pairs, in the terms of two columns of :func:`~seqsim.mine`'s table: (source, target)
positions by default, or keys (``on=("source_key", "target_key")``)."""
POSITIONS = ("source", "target")


@dataclass(frozen=True)
class MiningScores:
    """BUCC-style scores of mined pairs at one threshold.

    Attributes
    ----------
    threshold : float or None
        The margin threshold (None: every pair mined counts).
    mined, correct, gold : int
        Pairs mined (at the threshold), those of them that are gold pairs, and gold pairs.
    precision, recall, f1 : float
        ``correct / mined`` (0 for none mined), ``correct / gold``, their harmonic mean.
    """

    threshold: float | None
    mined: int
    correct: int
    gold: int
    precision: float
    recall: float
    f1: float

    def as_dict(self) -> dict[str, float | int | None]:
        """The scores as a JSON-ready dict."""
        return asdict(self)


def gold_pairs(
    source_sentences: Sequence[str], target_sentences: Sequence[str]
) -> set[tuple[int, int]]:
    """Every (source, target) pair of positions whose utterances say the same sentence.

    Parameters
    ----------
    source_sentences, target_sentences : sequence of str
        The sentence of every utterance of each side (a manifest's ``sentence`` column, or a
        store key's id where one id names one sentence in every language).

    Returns
    -------
    set of (int, int)
        The gold pairs.

    Examples
    --------
    >>> from seqsim.mining import gold_pairs
    >>> sorted(gold_pairs(["s1", "s2", "s3"], ["s3", "s9", "s1"]))
    [(0, 2), (2, 0)]
    """
    targets_of = defaultdict(list)
    for target, sentence in enumerate(target_sentences):
        targets_of[sentence].append(target)
    return {
        (source, target)
        for source, sentence in enumerate(source_sentences)
        for target in targets_of.get(sentence, [])
    }


def _correct(
    pairs: pd.DataFrame, gold: set[tuple[Hashable, Hashable]], on: Sequence[str]
) -> np.ndarray:
    """Whether each mined pair (in the table's order) is a gold pair; refuses an empty gold."""
    if not gold:
        raise MiningError("there are no gold pairs to score the mined pairs against")
    source, target = on
    named = zip(pairs[source].tolist(), pairs[target].tolist(), strict=True)
    return np.array([pair in gold for pair in named], dtype=bool)


def _scores(threshold: float | None, mined: int, correct: int, gold: int) -> MiningScores:
    precision = correct / mined if mined else 0.0
    recall = correct / gold
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return MiningScores(threshold, mined, correct, gold, precision, recall, f1)


def mining_scores(
    pairs: pd.DataFrame,
    gold: GoldPairs,
    threshold: float | None = None,
    on: Sequence[str] = POSITIONS,
) -> MiningScores:
    """Precision, recall and F1 of the pairs whose margin is at least ``threshold``.

    Parameters
    ----------
    pairs : pandas.DataFrame
        :func:`~seqsim.mine`'s table (``source``, ``target``, ``margin``).
    gold : iterable of (int, int)
        The gold pairs (:func:`gold_pairs`).
    threshold : float, optional
        The margin threshold; every pair counts without it.
    on : (str, str), default ("source", "target")
        The columns that name a pair in ``gold``'s terms.

    Returns
    -------
    MiningScores

    Raises
    ------
    MiningError
        When there are no gold pairs.

    Examples
    --------
    Three pairs mined, two of them among three gold pairs:

    >>> import pandas as pd
    >>> from seqsim.mining import mining_scores
    >>> pairs = pd.DataFrame({"source": [0, 1, 2], "target": [0, 1, 0],
    ...                       "margin": [1.3, 1.2, 1.1]})
    >>> scores = mining_scores(pairs, {(0, 0), (1, 1), (2, 2)})
    >>> scores.precision, scores.recall, round(scores.f1, 4)
    (0.6666666666666666, 0.6666666666666666, 0.6667)
    >>> mining_scores(pairs, {(0, 0), (1, 1), (2, 2)}, threshold=1.15).precision
    1.0
    """
    gold = set(gold)
    correct = _correct(pairs, gold, on)
    if threshold is not None:
        correct = correct[pairs["margin"].to_numpy() >= threshold]
    return _scores(threshold, len(correct), int(correct.sum()), len(gold))


def precision_recall(
    pairs: pd.DataFrame, gold: GoldPairs, on: Sequence[str] = POSITIONS
) -> pd.DataFrame:
    """Precision, recall and F1 at every threshold that changes them: each distinct margin.

    Parameters
    ----------
    pairs : pandas.DataFrame
        :func:`~seqsim.mine`'s table (``source``, ``target``, ``margin``), in any order.
    gold : iterable of (int, int)
        The gold pairs (:func:`gold_pairs`).
    on : (str, str), default ("source", "target")
        The columns that name a pair in ``gold``'s terms.

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold``, ``mined``, ``correct``, ``precision``, ``recall``, ``f1``; one
        row per distinct margin, the highest first.

    Raises
    ------
    MiningError
        When there are no gold pairs.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.mining import precision_recall
    >>> pairs = pd.DataFrame({"source": [0, 1, 2], "target": [0, 1, 0],
    ...                       "margin": [1.3, 1.2, 1.1]})
    >>> curve = precision_recall(pairs, {(0, 0), (1, 1), (2, 2)})
    >>> curve[["threshold", "mined", "correct"]].values.tolist()
    [[1.3, 1.0, 1.0], [1.2, 2.0, 2.0], [1.1, 3.0, 2.0]]
    """
    gold = set(gold)
    order = np.argsort(-pairs["margin"].to_numpy(), kind="stable")
    margins = pairs["margin"].to_numpy()[order]
    correct = np.cumsum(_correct(pairs, gold, on)[order])
    last_of_each = np.flatnonzero(np.append(margins[1:] != margins[:-1], margins.size > 0))
    mined = last_of_each + 1
    found = correct[last_of_each]
    precision = found / mined
    recall = found / len(gold)
    with np.errstate(invalid="ignore"):
        f1 = np.where(found > 0, 2 * precision * recall / (precision + recall), 0.0)
    return pd.DataFrame(
        {
            "threshold": margins[last_of_each],
            "mined": mined,
            "correct": found,
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }
    )


def best_threshold(
    pairs: pd.DataFrame, gold: GoldPairs, on: Sequence[str] = POSITIONS
) -> MiningScores:
    """The scores at the F1-optimal threshold: what calibration on a labelled set picks.

    Among thresholds of equal F1, the highest (fewest pairs) is taken.

    Parameters
    ----------
    pairs : pandas.DataFrame
        :func:`~seqsim.mine`'s table of a labelled (development) set, mined without threshold.
    gold : iterable of (int, int)
        Its gold pairs (:func:`gold_pairs`).
    on : (str, str), default ("source", "target")
        The columns that name a pair in ``gold``'s terms.

    Returns
    -------
    MiningScores
        At the best threshold: give its ``threshold`` to :func:`~seqsim.mine` on other data.

    Raises
    ------
    MiningError
        When no pair was mined, or there are no gold pairs.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.mining import best_threshold
    >>> pairs = pd.DataFrame({"source": [0, 1, 2], "target": [0, 1, 0],
    ...                       "margin": [1.3, 1.2, 1.1]})
    >>> best = best_threshold(pairs, {(0, 0), (1, 1), (2, 2)})
    >>> best.threshold, best.mined, round(best.f1, 4)
    (1.2, 2, 0.8)
    """
    curve = precision_recall(pairs, gold, on)
    if curve.empty:
        raise MiningError("no pair was mined: there is no threshold to choose")
    row = curve.iloc[int(np.argmax(curve["f1"].to_numpy()))]
    return _scores(float(row["threshold"]), int(row["mined"]), int(row["correct"]), len(set(gold)))


def plot_precision_recall(
    curve: pd.DataFrame, path: str | Path, best: MiningScores | None = None
) -> Path:
    """Draw the precision-recall curve (:func:`precision_recall`) to ``path``.

    Parameters
    ----------
    curve : pandas.DataFrame
        The curve.
    path : str or Path
        The picture (``.png``, ``.svg`` or ``.pdf``).
    best : MiningScores, optional
        A point to mark (the F1-optimal threshold), labelled with its threshold and F1.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from seqsim.mining import best_threshold, plot_precision_recall, precision_recall
    >>> pairs = pd.DataFrame({"source": [0, 1], "target": [0, 0], "margin": [1.2, 1.1]})
    >>> gold = {(0, 0), (1, 1)}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = plot_precision_recall(precision_recall(pairs, gold),
    ...                                  Path(folder) / "pr.png", best_threshold(pairs, gold))
    ...     print(path.name, path.stat().st_size > 0)
    pr.png True
    """
    from matplotlib.figure import Figure

    from ..report import save_figure

    figure = Figure(figsize=(5, 4), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(curve["recall"], curve["precision"], marker=".", linewidth=1)
    if best is not None:
        axes.plot([best.recall], [best.precision], "o", color="crimson")
        axes.annotate(
            f"margin >= {best.threshold:.4g}: F1 {best.f1:.3f}",
            (best.recall, best.precision),
            textcoords="offset points",
            xytext=(-10, -14),
            ha="right",
        )
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02))
    axes.set_title("mined pairs against gold")
    axes.grid(alpha=0.3)
    return save_figure(figure, path)
