"""SeqSim: a BERTScore-style F1 over frames; see :class:`SeqSim`."""

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
    """The three SeqSim matrices, each float64 (Q, R), as :meth:`SeqSim.scores` gives them.

    Attributes
    ----------
    precision : numpy.ndarray
        P: each candidate frame's best cosine with the query's frames, averaged.
    recall : numpy.ndarray
        R: each query frame's best cosine with the candidate's frames, averaged.
    f1 : numpy.ndarray
        ``2PR / (P + R)`` (0 where ``P + R`` is 0).

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim import SeqSim
    >>> scores = SeqSim(backend="numba").scores([np.eye(2)[:1]], [np.eye(2)])
    >>> scores.precision, scores.recall, np.round(scores.f1, 4)
    (array([[0.5]]), array([[1.]]), array([[0.6667]]))
    """

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
    """Harmonic mean ``2PR / (P + R)``, 0 where ``P + R`` is 0.

    Parameters
    ----------
    precision, recall : numpy.ndarray
        Arrays of one shape.

    Returns
    -------
    numpy.ndarray
        The F1, element by element.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.metrics.seqsim import f1_score
    >>> f1_score(np.array([1.0, 0.5, 0.0]), np.array([1.0, 1.0, 0.0])).round(4)
    array([1.    , 0.6667, 0.    ])
    """
    total = precision + recall
    safe = np.where(total == 0, 1.0, total)
    return np.where(total == 0, 0.0, 2 * precision * recall / safe)


@register_metric("seqsim")
@dataclass(eq=False, repr=False)
class SeqSim(KernelMetric):
    """SeqSim, the frame-level F1 of best-match cosines (BERTScore's F1 over frames).

    With frames scaled to unit L2 norm, for a query ``x`` of n frames and a candidate ``y``
    of m frames::

        R = (1/n) sum_i max_j x_i.y_j      # recall: each query frame finds its best match
        P = (1/m) sum_j max_i x_i.y_j      # precision: each candidate frame likewise
        SeqSim = 2 P R / (P + R)           # defined as 0 where P + R = 0

    Swapping ``x`` and ``y`` swaps P and R and leaves F1 unchanged.

    Parameters
    ----------
    output : {"f1", "precision", "recall"}
        What :meth:`matrix` (and a call on one pair) returns: F1 (the default), precision or
        recall. :meth:`scores` gives all three.
    backend, device, working_memory, progress
        The keyword-only run options of every :class:`~seqsim.metrics.Metric`.

    Raises
    ------
    ValueError
        If ``output`` or a run option is not one of the accepted values.

    Examples
    --------
    A sequence against itself: each frame's best match is itself, so P = R = 1.

    >>> import numpy as np
    >>> from seqsim import SeqSim
    >>> x = np.array([[1.0, 0.0]])              # one frame
    >>> y = np.array([[1.0, 0.0], [0.0, 1.0]])  # two orthogonal frames
    >>> print(f"{SeqSim()(y, y):.4f}")
    1.0000

    ``x`` against ``y``: the frame of ``x`` finds its copy in ``y`` (cosine 1), so R = 1; the
    frames of ``y`` find cosines 1 and 0 in ``x``, so P = (1 + 0) / 2 = 0.5, and
    F1 = 2 PR / (P + R) = 1 / 1.5 = 2/3.

    >>> print(f"{SeqSim()(x, y):.4f}")
    0.6667
    >>> p, r, f1 = SeqSim().scores([x], [y])    # (1, 1) matrices
    >>> print(f"P = {p[0, 0]:.4f}, R = {r[0, 0]:.4f}, F1 = {f1[0, 0]:.4f}")
    P = 0.5000, R = 1.0000, F1 = 0.6667
    >>> print(f"{SeqSim(output='precision')(x, y):.4f}")
    0.5000
    """

    output: SeqSimOutput = "f1"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("output", self.output, SeqSimScores._fields)

    @property
    def kernels(self) -> BlockKernels:
        """The numba, torch and triton kernels; their scores are precision and recall."""
        return SEQSIM_KERNELS

    def scores(self, queries: SequencesLike, candidates: SequencesLike) -> SeqSimScores:
        """Precision, recall and F1 matrices in one pass.

        Parameters
        ----------
        queries, candidates : list of (frames, dim) arrays or tensors, or PackedSequences
            As :meth:`~seqsim.metrics.Metric.matrix` takes them.

        Returns
        -------
        SeqSimScores
            The three float64 (Q, R) matrices, whatever ``output`` is.

        Raises
        ------
        ValueError
            For bad input, naming the item and the problem.

        Examples
        --------
        Each frame of the identity matrix finds itself; against one of its two frames,
        P = 1 and R = (1 + 0) / 2:

        >>> import numpy as np
        >>> from seqsim import SeqSim
        >>> precision, recall, f1 = SeqSim().scores([np.eye(2)], [np.eye(2), np.eye(2)[:1]])
        >>> precision, recall, np.round(f1, 4)
        (array([[1., 1.]]), array([[1. , 0.5]]), array([[1.    , 0.6667]]))
        """
        precision, recall = self.block_scores(queries, candidates)
        return SeqSimScores(precision, recall, f1_score(precision, recall))

    def similarities(self, scores: np.ndarray) -> np.ndarray:
        """F1, precision or recall (as ``output`` asks) from the kernels' scores.

        Parameters
        ----------
        scores : numpy.ndarray
            The kernels' scores (2, Q, R): precision, then recall.

        Returns
        -------
        numpy.ndarray
            The (Q, R) similarities.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import SeqSim
        >>> precision_recall = np.array([[[0.5]], [[1.0]]])
        >>> SeqSim().similarities(precision_recall).round(4)
        array([[0.6667]])
        >>> SeqSim(output="recall").similarities(precision_recall)
        array([[1.]])
        """
        precision, recall = scores
        if self.output == "f1":
            return f1_score(precision, recall)
        return precision if self.output == "precision" else recall

    @property
    def symmetric(self) -> bool:
        """True for F1; swapping the sides swaps precision and recall."""
        return self.output == "f1"


seqsim_matrix = metric_function(SeqSim, SeqSim.matrix, "seqsim_matrix")
seqsim_scores = metric_function(SeqSim, SeqSim.scores, "seqsim_scores")
