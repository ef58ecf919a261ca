"""SeqSim: a BERTScore-style F1 over frames.

With frames L2-normalised, for query ``x`` and candidate ``y``::

    R = mean over x of (max over y of x.y)      # recall: each query frame finds its best match
    P = mean over y of (max over x of x.y)      # precision: each candidate frame likewise
    SeqSim = 2 P R / (P + R)                     # defined as 0 where P + R = 0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from ..checks import check_choice
from ..kernels import BlockKernels, numba_kernels, torch_kernels
from ..sequences import PackedSequences, SequencesLike
from .base import KernelMetric, metric_function, register_metric

SeqSimOutput = Literal["f1", "precision", "recall"]


class SeqSimScores(NamedTuple):
    """The three SeqSim matrices, each float64 (Q, R)."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray


def _numba_scorer(queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
    cosines = numba_kernels.cosine_block(queries, candidates)
    return numba_kernels.seqsim_tiles(cosines, queries.offsets, candidates.offsets)


def _triton_scorer(queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
    from ..kernels import triton_kernels

    return triton_kernels.seqsim_tiles(queries, candidates)


SEQSIM_KERNELS = BlockKernels(
    numba=_numba_scorer,
    torch=torch_kernels.seqsim_tiles,
    triton=_triton_scorer,
    kinds=2,  # precision, recall
    bytes_per_cell=8,
)


def f1_score(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """Harmonic mean ``2PR / (P + R)``, 0 where ``P + R`` is 0."""
    total = precision + recall
    safe = np.where(total == 0, 1.0, total)
    return np.where(total == 0, 0.0, 2 * precision * recall / safe)


@register_metric("seqsim")
@dataclass(eq=False, repr=False)
class SeqSim(KernelMetric):
    """SeqSim (frame-level F1 of best-match cosines, see the module doc): ``output`` picks F1
    (the default), precision or recall for :meth:`matrix`; :meth:`scores` gives all three."""

    output: SeqSimOutput = "f1"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("output", self.output, SeqSimScores._fields)

    @property
    def kernels(self) -> BlockKernels:
        return SEQSIM_KERNELS

    def scores(self, queries: SequencesLike, candidates: SequencesLike) -> SeqSimScores:
        """Precision, recall and F1 matrices in one pass."""
        precision, recall = self.block_scores(queries, candidates)
        return SeqSimScores(precision, recall, f1_score(precision, recall))

    def similarities(self, scores: np.ndarray) -> np.ndarray:
        precision, recall = scores
        if self.output == "f1":
            return f1_score(precision, recall)
        return precision if self.output == "precision" else recall

    @property
    def symmetric(self) -> bool:
        return self.output == "f1"


seqsim_matrix = metric_function(SeqSim, SeqSim.matrix, "seqsim_matrix")
seqsim_scores = metric_function(SeqSim, SeqSim.scores, "seqsim_scores")
