"""DTWSim: exact dynamic time warping over the cosine distance ``1 - x.y`` of unit frames.

Steps (1, 0), (0, 1) and (1, 1), each adding the cost of the cell entered::

    D[i, j] = c(i, j) + min(D[i-1, j-1], D[i-1, j], D[i, j-1]),   D[0, 0] = c(0, 0)

The similarity is ``-D[n-1, m-1] / Z`` with ``Z`` = 1 (``"none"``), ``n + m`` (``"sum"``, the
default) or the number of cells on the optimal path (``"path"``; among equal-cost paths the
diagonal step is preferred, then (1, 0), then (0, 1)). A Sakoe-Chiba band of radius ``window``
allows only cells with ``|i - j| <= max(window, |n - m|)`` (widened so that a path always exists).
``method="fastdtw"`` calls the approximate fastdtw package per pair, for comparison only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np
from fastdtw import fastdtw

from ..checks import check_choice, check_count
from ..kernels import BlockKernels, numba_kernels, torch_kernels
from ..sequences import PackedSequences
from .base import KernelMetric, metric_function, register_metric

DTWNormalization = Literal["none", "sum", "path"]
_NORMALIZATIONS = {
    "none": numba_kernels.NORMALIZE_NONE,
    "sum": numba_kernels.NORMALIZE_SUM,
    "path": numba_kernels.NORMALIZE_PATH,
}


def _numba_costs(
    queries: PackedSequences, candidates: PackedSequences, *, window: int, normalization: int
) -> np.ndarray:
    cosines = numba_kernels.cosine_block(queries, candidates)
    return numba_kernels.dtw_tiles(
        cosines, queries.offsets, candidates.offsets, window, normalization
    )


def _wavefront_costs(
    queries: PackedSequences,
    candidates: PackedSequences,
    *,
    triton: bool,
    window: int,
    normalization: int,
) -> np.ndarray:
    cost, q_len, c_len = torch_kernels.pair_costs(queries, candidates)
    if triton:
        from ..kernels import triton_kernels

        result = triton_kernels.dtw_wavefront(cost, q_len, c_len, window, normalization)
    else:
        result = torch_kernels.dtw_wavefront(cost, q_len, c_len, window, normalization)
    return result.view(1, len(queries), len(candidates)).cpu().numpy()


def _fastdtw_costs(
    queries: PackedSequences, candidates: PackedSequences, *, normalization: str, radius: int
) -> np.ndarray:
    """fastdtw per pair, on unit frames in float64: a CPU-only "kernel" in Python."""
    costs = np.empty((1, len(queries), len(candidates)))
    for i in range(len(queries)):
        x = np.asarray(queries[i], dtype=np.float64)
        for j in range(len(candidates)):
            y = np.asarray(candidates[j], dtype=np.float64)
            total, path = fastdtw(x, y, radius=radius, dist=lambda a, b: 1.0 - a @ b)
            divisor = {"none": 1, "sum": len(x) + len(y), "path": len(path)}[normalization]
            costs[0, i, j] = total / divisor
    return costs


@register_metric("dtw")
@dataclass(eq=False, repr=False)
class DTWSim(KernelMetric):
    """DTW similarity ``-cost / Z`` over cosine distance; see the module doc."""

    normalization: DTWNormalization = "sum"
    window: int | None = None
    method: Literal["exact", "fastdtw"] = "exact"
    radius: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("normalization", self.normalization, _NORMALIZATIONS)
        if self.window is not None:
            check_count("window", self.window, 0)
        check_choice("method", self.method, ("exact", "fastdtw"))
        check_count("radius", self.radius, 1)  # fastdtw fails inside with radius 0

    @property
    def kernels(self) -> BlockKernels:
        if self.method == "fastdtw":
            fast = partial(_fastdtw_costs, normalization=self.normalization, radius=self.radius)
            return BlockKernels(numba=fast)
        band = -1 if self.window is None else int(self.window)
        code = _NORMALIZATIONS[self.normalization]
        return BlockKernels(
            numba=partial(_numba_costs, window=band, normalization=code),
            torch=partial(_wavefront_costs, triton=False, window=band, normalization=code),
            triton=partial(_wavefront_costs, triton=True, window=band, normalization=code),
            bytes_per_cell=32,
        )

    def similarities(self, scores: np.ndarray) -> np.ndarray:
        return -scores[0]

    @property
    def symmetric(self) -> bool:
        # exact DTW cost is symmetric; path-length ties are not broken symmetrically
        return self.method == "exact" and self.normalization != "path"


dtw_matrix = metric_function(DTWSim, DTWSim.matrix, "dtw_matrix")
