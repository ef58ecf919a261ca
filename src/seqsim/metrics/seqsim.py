"""SeqSim: a BERTScore-style F1 over frames.

With frames L2-normalised, for query ``x`` and candidate ``y``::

    R = mean over x of (max over y of x.y)      # recall: each query frame finds its best match
    P = mean over y of (max over x of x.y)      # precision: each candidate frame likewise
    SeqSim = 2 P R / (P + R)                     # defined as 0 where P + R = 0
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import numpy as np
from typing_extensions import Unpack

from ..backends import Backend
from ..checks import check_choice
from ..kernels import numba_kernels, torch_kernels
from ..sequences import PackedSequences, SequencesLike
from .base import (
    Metric,
    RunOptions,
    blockwise_scores,
    check_run_options,
    pack_pair,
    register_metric,
)

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


def _check_output(output: str) -> None:
    check_choice("output", output, SeqSimScores._fields)


def f1_score(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """Harmonic mean ``2PR / (P + R)``, 0 where ``P + R`` is 0."""
    total = precision + recall
    safe = np.where(total == 0, 1.0, total)
    return np.where(total == 0, 0.0, 2 * precision * recall / safe)


def seqsim_scores(
    queries: SequencesLike,
    candidates: SequencesLike,
    *,
    backend: str | Backend = "auto",
    working_memory: float | None = None,
    progress: bool = False,
) -> SeqSimScores:
    """Precision, recall and F1 (SeqSim) of every query against every candidate."""
    resolved = check_run_options(backend, working_memory, progress)
    packed_queries, packed_candidates = pack_pair(queries, candidates)
    precision, recall = blockwise_scores(
        packed_queries,
        packed_candidates,
        resolved,
        numba_scorer=_numba_scorer,
        torch_scorer=torch_kernels.seqsim_tiles,
        triton_scorer=_triton_scorer,
        kinds=2,
        bytes_per_cell=8,
        working_memory_mb=working_memory,
        progress=progress,
    )
    return SeqSimScores(precision, recall, f1_score(precision, recall))


def seqsim_matrix(
    queries: SequencesLike,
    candidates: SequencesLike,
    *,
    output: SeqSimOutput = "f1",
    backend: str | Backend = "auto",
    working_memory: float | None = None,
    progress: bool = False,
) -> np.ndarray:
    """One SeqSim matrix (Q, R): ``output`` picks F1 (the default), precision or recall."""
    _check_output(output)
    scores = seqsim_scores(
        queries, candidates, backend=backend, working_memory=working_memory, progress=progress
    )
    return getattr(scores, output)


@register_metric("seqsim")
class SeqSim(Metric):
    """SeqSim (frame-level F1 of best-match cosines); see :func:`seqsim_matrix`."""

    def __init__(
        self,
        output: SeqSimOutput = "f1",
        **run_options: Unpack[RunOptions],
    ) -> None:
        super().__init__(**run_options)
        _check_output(output)
        self.output = output

    def matrix(self, queries: SequencesLike, candidates: SequencesLike) -> np.ndarray:
        return seqsim_matrix(queries, candidates, output=self.output, **self._run_options())

    def scores(self, queries: SequencesLike, candidates: SequencesLike) -> SeqSimScores:
        """Precision, recall and F1 matrices in one pass."""
        return seqsim_scores(queries, candidates, **self._run_options())

    @property
    def symmetric(self) -> bool:
        return self.output == "f1"

    def _options(self) -> dict[str, Any]:
        return {"output": self.output}
