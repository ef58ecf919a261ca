"""Mining parallel speech: the pairs of two collections of utterances that are translations of
each other, scored by a margin over the raw metric, and their evaluation against gold pairs.

- ``miner``: :func:`~seqsim.mining.miner.mine` (also ``seqsim.mine``), the pairs as a table;
  :func:`~seqsim.mining.miner.mined_corpus` turns them into a corpus for a manifest.
- ``margins``: the candidate pairs of both directions and their selection;
  :class:`~seqsim.mining.margins.MiningError`.
- ``evaluate``: BUCC-style precision, recall and F1 at a threshold and at the best one, the
  precision-recall curve and its plot.
- ``defaults``: the choices and defaults, shared with ``seqsim mine``.

Every public name is imported on first use, so that ``seqsim mine --help`` loads neither torch
nor pandas. See docs/mining.md.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .evaluate import (
        MiningScores,
        best_threshold,
        gold_pairs,
        mining_scores,
        plot_precision_recall,
        precision_recall,
    )
    from .margins import MiningError
    from .miner import mine, mined_corpus

_LAZY = {
    "MiningError": "margins",
    "MiningScores": "evaluate",
    "best_threshold": "evaluate",
    "gold_pairs": "evaluate",
    "mine": "miner",
    "mined_corpus": "miner",
    "mining_scores": "evaluate",
    "plot_precision_recall": "evaluate",
    "precision_recall": "evaluate",
}


def __getattr__(name: str) -> Any:
    """Import the module of a public name when the name is first used."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'seqsim.mining' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "MiningError",
    "MiningScores",
    "best_threshold",
    "gold_pairs",
    "mine",
    "mined_corpus",
    "mining_scores",
    "plot_precision_recall",
    "precision_recall",
]
