"""DTWSim: exact dynamic time warping over the cosine distance ``1 - x.y`` of unit frames;
see :class:`DTWSim`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np

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


_FASTDTW_EXTRA = "pip install 'seqsim-speech[fastdtw]'"
"""How to get the fastdtw package that ``DTWSim(method="fastdtw")`` calls."""


def _fastdtw() -> Any:
    """The ``fastdtw`` function of the optional fastdtw package (imported on first use)."""
    try:
        from fastdtw import fastdtw
    except ImportError as error:
        raise ImportError(
            f'DTWSim(method="fastdtw") needs the fastdtw package ({error}); install it with '
            f'{_FASTDTW_EXTRA}, or use method="exact"'
        ) from None
    return fastdtw


def _fastdtw_costs(
    queries: PackedSequences, candidates: PackedSequences, *, normalization: str, radius: int
) -> np.ndarray:
    """fastdtw per pair, on unit frames in float64: a CPU-only "kernel" in Python."""
    fastdtw = _fastdtw()
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
    """DTW similarity ``-cost / Z``: exact dynamic time warping over the cosine distance.

    With frames scaled to unit L2 norm, the cost of aligning query frame ``i`` with candidate
    frame ``j`` is ``c(i, j) = 1 - x_i.y_j``. The steps are (1, 0), (0, 1) and (1, 1), each
    adding the cost of the cell entered::

        D[i, j] = c(i, j) + min(D[i-1, j-1], D[i-1, j], D[i, j-1]),   D[0, 0] = c(0, 0)
        DTWSim = -D[n-1, m-1] / Z

    The similarity is at most 0 (0 for identical sequences, up to float rounding); higher
    means a better alignment.

    Parameters
    ----------
    normalization : {"sum", "none", "path"}, default "sum"
        ``Z``: ``n + m`` (``"sum"``), 1 (``"none"``) or the number of cells on the optimal
        path (``"path"``; among equal-cost paths the diagonal step is preferred, then (1, 0),
        then (0, 1)).
    window : int, optional
        The radius of a Sakoe-Chiba band (an integer >= 0): only cells with
        ``|i - j| <= max(window, |n - m|)`` are allowed (widened so that a path always
        exists). None (the default) allows every cell.
    method : {"exact", "fastdtw"}, default "exact"
        ``"fastdtw"`` calls the approximate fastdtw package per pair (on unit frames, in
        float64, on the CPU whatever the backend), for comparison only: it is slow (pure
        Python) and not exact.
    radius : int, default 1
        fastdtw's radius (an integer >= 1; fastdtw fails inside with 0); only for
        ``method="fastdtw"``.
    backend, device, working_memory, progress
        The keyword-only run options of every :class:`~seqsim.metrics.Metric`.

    Raises
    ------
    ValueError
        If an option is not one of the accepted values: an unknown ``normalization`` or
        ``method``, a ``window`` that is not an integer >= 0, a ``radius`` that is not an
        integer >= 1, or a bad run option.

    Examples
    --------
    Identical sequences align at zero cost:

    >>> import numpy as np
    >>> from seqsim import DTWSim
    >>> DTWSim()(np.eye(2), np.eye(2))
    -0.0

    ``x = (e0, e1)`` against ``y = (e0, e0)``: the costs are ``c = [[0, 0], [1, 1]]``, and the
    best path, (0, 0) then (1, 1), costs 1 (it ties with (0, 0), (0, 1), (1, 1), and the
    diagonal step wins). Divided by n + m = 4, by 1, or by the path's 2 cells:

    >>> x, y = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 0.0]])
    >>> DTWSim()(x, y), DTWSim("none")(x, y), DTWSim("path")(x, y)
    (-0.25, -1.0, -0.5)

    A band of radius 0 allows the diagonal only: ``(e0, e0, e1)`` against ``(e0, e1, e1)``
    then costs 1 (the middle frames), 1 / 6 with ``"sum"``, where a free path costs 0.

    >>> x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> y = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> DTWSim()(x, y), round(DTWSim(window=0)(x, y), 4)
    (-0.0, -0.1667)
    """

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
        if self.method == "fastdtw":
            _fastdtw()  # the optional package is missing: say so now, not when scoring

    @property
    def kernels(self) -> BlockKernels:
        """The DTW kernels for these options: numba, torch and triton (exact), or fastdtw per
        pair on the CPU (``method="fastdtw"``); their score is the normalised cost."""
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
        """The similarities ``-cost / Z`` from the kernels' normalised costs.

        Parameters
        ----------
        scores : numpy.ndarray
            The kernels' normalised costs, (1, Q, R).

        Returns
        -------
        numpy.ndarray
            The (Q, R) similarities.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import DTWSim
        >>> DTWSim().similarities(np.array([[[0.25, 0.0]]]))
        array([[-0.25, -0.  ]])
        """
        return -scores[0]

    @property
    def symmetric(self) -> bool:
        """True for the exact method unless ``normalization="path"``: the exact cost is
        symmetric, but ties between paths of different lengths are not broken symmetrically."""
        return self.method == "exact" and self.normalization != "path"


dtw_matrix = metric_function(DTWSim, DTWSim.matrix, "dtw_matrix")
