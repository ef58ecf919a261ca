"""AvgSim: the cosine of the two sequences' mean frames (raw frames, not normalised first);
see :class:`AvgSim`."""

from __future__ import annotations

import numpy as np
import torch

from ..kernels import BlockKernels, numba_kernels
from ..sequences import PackedSequences
from .base import KernelMetric, metric_function, register_metric


def _numba_scorer(queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
    return numba_kernels.cosine_block(queries, candidates)[None]


def _torch_scorer(queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
    q, c = queries.frames, candidates.frames
    assert isinstance(q, torch.Tensor) and isinstance(c, torch.Tensor)
    return (q @ c.T)[None].cpu().numpy()


AVGSIM_KERNELS = BlockKernels(
    numba=_numba_scorer,
    torch=_torch_scorer,
    prepare="unit_mean",  # the reduction to unit mean frames, per backend; then one GEMM
    bytes_per_cell=8,  # blocks sized as SeqSim's: a block's raw frames are what it holds
)


@register_metric("avgsim")
class AvgSim(KernelMetric):
    """AvgSim: the cosine of mean raw frames for every (query, candidate), a GEMM on the means
    (computed in float64, once per sequence).

    For a query ``x`` of n frames and a candidate ``y`` of m frames::

        AvgSim = cos(mean_i x_i, mean_j y_j)

    The frames are averaged as they are, not scaled to unit norm first, so longer frames weigh
    more. AvgSim is symmetric and ignores the order of the frames.

    Parameters
    ----------
    backend, device, working_memory, progress
        The keyword-only run options of every :class:`~seqsim.metrics.Metric`; AvgSim has no
        options of its own.

    Raises
    ------
    ValueError
        If a run option is not one of the accepted values.

    Examples
    --------
    Orthogonal means give 0.0, and equal means 1.0 whatever the lengths:

    >>> import numpy as np
    >>> from seqsim import AvgSim
    >>> AvgSim()(np.array([[1.0, 0.0], [3.0, 0.0]]), np.array([[0.0, 1.0]]))
    0.0
    >>> round(AvgSim()(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 1.0]])), 4)
    1.0

    The raw frames are averaged: the mean of (3, 0) and (0, 1) is (1.5, 0.5), whose cosine
    with (1, 0) is 1.5 / sqrt(2.5) = 0.9487 (with unit frames first it would be 0.7071).

    >>> round(AvgSim()(np.array([[3.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0]])), 4)
    0.9487
    """

    symmetric = True

    @property
    def kernels(self) -> BlockKernels:
        """The numba and torch kernels: unit mean frames (the preparation), then one GEMM."""
        return AVGSIM_KERNELS


avgsim_matrix = metric_function(AvgSim, AvgSim.matrix, "avgsim_matrix")
