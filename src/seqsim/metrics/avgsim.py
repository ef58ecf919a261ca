"""AvgSim: the cosine of the two sequences' mean frames (raw frames, not normalised first)."""

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
    (computed in float64, once per sequence)."""

    symmetric = True

    @property
    def kernels(self) -> BlockKernels:
        return AVGSIM_KERNELS


avgsim_matrix = metric_function(AvgSim, AvgSim.matrix, "avgsim_matrix")
