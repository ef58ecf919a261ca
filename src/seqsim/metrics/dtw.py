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

from typing import Any, Literal

import numpy as np
from fastdtw import fastdtw
from typing_extensions import Unpack

from ..backends import Backend
from ..checks import check_choice, check_count
from ..kernels import numba_kernels, torch_kernels
from ..sequences import Frames, PackedSequences, SequencesLike, to_float32_numpy
from .base import (
    Metric,
    RunOptions,
    blockwise_scores,
    check_run_options,
    pack_pair,
    register_metric,
)

DTWNormalization = Literal["none", "sum", "path"]
_NORMALIZATIONS = {
    "none": numba_kernels.NORMALIZE_NONE,
    "sum": numba_kernels.NORMALIZE_SUM,
    "path": numba_kernels.NORMALIZE_PATH,
}


def _check_options(normalization: str, window: int | None, method: str, radius: int) -> None:
    check_choice("normalization", normalization, _NORMALIZATIONS)
    if window is not None:
        check_count("window", window, 0)
    check_choice("method", method, ("exact", "fastdtw"))
    check_count("radius", radius, 1)  # fastdtw fails inside with radius 0


def _fastdtw_costs(
    queries: PackedSequences, candidates: PackedSequences, normalization: str, radius: int
) -> np.ndarray:
    def unit(frames: Frames) -> np.ndarray:
        return numba_kernels.unit_rows(to_float32_numpy(frames)).astype(np.float64)

    query_arrays = [unit(queries[i]) for i in range(len(queries))]
    candidate_arrays = [unit(candidates[j]) for j in range(len(candidates))]
    costs = np.empty((len(queries), len(candidates)))
    for i, x in enumerate(query_arrays):
        for j, y in enumerate(candidate_arrays):
            total, path = fastdtw(x, y, radius=radius, dist=lambda a, b: 1.0 - a @ b)
            divisor = {"none": 1, "sum": len(x) + len(y), "path": len(path)}[normalization]
            costs[i, j] = total / divisor
    return costs


def dtw_matrix(
    queries: SequencesLike,
    candidates: SequencesLike,
    *,
    normalization: DTWNormalization = "sum",
    window: int | None = None,
    method: Literal["exact", "fastdtw"] = "exact",
    radius: int = 1,
    backend: str | Backend = "auto",
    working_memory: float | None = None,
    progress: bool = False,
) -> np.ndarray:
    """DTW similarity ``-cost / Z`` of every query against every candidate; see the module doc."""
    _check_options(normalization, window, method, radius)
    resolved = check_run_options(backend, working_memory, progress)
    packed_queries, packed_candidates = pack_pair(queries, candidates)
    if method == "fastdtw":
        return -_fastdtw_costs(packed_queries, packed_candidates, normalization, radius)
    code = _NORMALIZATIONS[normalization]
    band = -1 if window is None else int(window)

    def numba_scorer(q: PackedSequences, c: PackedSequences) -> np.ndarray:
        cosines = numba_kernels.cosine_block(q, c)
        return numba_kernels.dtw_tiles(cosines, q.offsets, c.offsets, band, code)

    def torch_scorer(q: PackedSequences, c: PackedSequences) -> np.ndarray:
        cost, q_len, c_len = torch_kernels.pair_costs(q, c)
        result = torch_kernels.dtw_wavefront(cost, q_len, c_len, band, code)
        return result.view(1, len(q), len(c)).cpu().numpy()

    def triton_scorer(q: PackedSequences, c: PackedSequences) -> np.ndarray:
        from ..kernels import triton_kernels

        cost, q_len, c_len = torch_kernels.pair_costs(q, c)
        result = triton_kernels.dtw_wavefront(cost, q_len, c_len, band, code)
        return result.view(1, len(q), len(c)).cpu().numpy()

    (costs,) = blockwise_scores(
        packed_queries,
        packed_candidates,
        resolved,
        numba_scorer=numba_scorer,
        torch_scorer=torch_scorer,
        triton_scorer=triton_scorer,
        kinds=1,
        bytes_per_cell=32,
        working_memory_mb=working_memory,
        progress=progress,
    )
    return -costs


@register_metric("dtw")
class DTWSim(Metric):
    """DTW similarity over cosine distance; see :func:`dtw_matrix`."""

    def __init__(
        self,
        normalization: DTWNormalization = "sum",
        window: int | None = None,
        method: Literal["exact", "fastdtw"] = "exact",
        radius: int = 1,
        **run_options: Unpack[RunOptions],
    ) -> None:
        super().__init__(**run_options)
        _check_options(normalization, window, method, radius)
        self.normalization = normalization
        self.window = window
        self.method = method
        self.radius = radius

    def matrix(self, queries: SequencesLike, candidates: SequencesLike) -> np.ndarray:
        return dtw_matrix(queries, candidates, **self._options(), **self._run_options())

    @property
    def symmetric(self) -> bool:
        # exact DTW cost is symmetric; path-length ties are not broken symmetrically
        return self.method == "exact" and self.normalization != "path"

    def _options(self) -> dict[str, Any]:
        return {
            "normalization": self.normalization,
            "window": self.window,
            "method": self.method,
            "radius": self.radius,
        }
