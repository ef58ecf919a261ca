"""CPU kernels: one BLAS GEMM per block of packed frames, then numba loops, parallel over
(query, candidate) pairs, that reduce each pair's tile of the cosine matrix.

Packed blocks have no padding, so nothing needs masking. Sums are accumulated in float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..sequences import PackedSequences, to_float32_numpy

NORMALIZE_NONE, NORMALIZE_SUM, NORMALIZE_PATH = 0, 1, 2
MIN_SINKHORN_REG = 0.005
"""Below this, ``exp(-cost / reg)`` with costs up to 2 comes too close to float64 underflow."""


def unit_rows(frames: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm (an all-zero row stays zero); norms summed in float64.

    Parameters
    ----------
    frames : numpy.ndarray
        (N, d) frames of a float dtype.
    eps : float, default 1e-12
        The smallest norm divided by: rows below it (all-zero rows) are not scaled up.

    Returns
    -------
    numpy.ndarray
        (N, d) unit rows, of the dtype of ``frames``.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.kernels.numba_kernels import unit_rows
    >>> unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]])
    """
    norms = np.sqrt(np.einsum("ij,ij->i", frames, frames, dtype=np.float64))
    return frames / np.maximum(norms, eps).astype(frames.dtype)[:, None]


def unit_numpy_block(block: PackedSequences) -> PackedSequences:
    """A block as unit-norm float32 numpy frames, ready for :func:`cosine_block` (float16
    frames, as a store keeps them, are converted and normalised in one pass).

    Parameters
    ----------
    block : PackedSequences
        Packed frames: numpy arrays or tensors of a float dtype.

    Returns
    -------
    PackedSequences
        The unit-norm float32 numpy frames, with the same offsets.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.kernels.numba_kernels import unit_numpy_block
    >>> from seqsim.sequences import PackedSequences
    >>> frames = np.array([[3.0, 4.0], [0.0, 2.0]], dtype=np.float16)
    >>> unit_numpy_block(PackedSequences.from_lengths(frames, [2])).frames
    array([[0.6, 0.8],
           [0. , 1. ]], dtype=float32)
    """
    frames = block.frames
    if isinstance(frames, np.ndarray) and frames.dtype == np.float16:
        bits = np.ascontiguousarray(frames).view(np.uint16)
        return PackedSequences(unit_rows_from_half(bits, HALF_TO_SINGLE), block.offsets)
    return PackedSequences(unit_rows(to_float32_numpy(frames)), block.offsets)


HALF_TO_SINGLE = np.arange(2**16, dtype=np.uint16).view(np.float16).astype(np.float32)
"""Every float16 bit pattern's float32 value (numba has no float16 type on the CPU)."""


@njit(parallel=True, cache=True)
def unit_rows_from_half(bits, half_to_single):  # pragma: no cover - compiled
    """:func:`unit_rows` of float16 frames given as their bits (uint16), in float32.

    Compiled by numba, parallel over rows; the norms are summed in float64.

    Parameters
    ----------
    bits : numpy.ndarray
        (N, d) uint16: the float16 frames viewed as their bit patterns.
    half_to_single : numpy.ndarray
        Every float16 bit pattern's float32 value (:data:`HALF_TO_SINGLE`).

    Returns
    -------
    numpy.ndarray
        (N, d) float32 unit rows.
    """
    out = np.empty(bits.shape, np.float32)
    for i in prange(bits.shape[0]):
        total = 0.0
        for k in range(bits.shape[1]):
            value = half_to_single[bits[i, k]]
            out[i, k] = value
            total += np.float64(value) * value
        norm = np.float32(max(np.sqrt(total), 1e-12))
        for k in range(bits.shape[1]):
            out[i, k] /= norm
    return out


def unit_mean_numpy_block(block: PackedSequences) -> PackedSequences:
    """A block as one frame per sequence: the unit-norm mean of its raw frames, in float64.

    Parameters
    ----------
    block : PackedSequences
        Packed frames: numpy arrays or tensors of a float dtype.

    Returns
    -------
    PackedSequences
        (N, d) float64 unit mean frames, one per sequence (offsets ``0, 1, ..., N``).

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.kernels.numba_kernels import unit_mean_numpy_block
    >>> from seqsim.sequences import PackedSequences
    >>> frames = np.array([[4.0, 0.0], [2.0, 8.0], [0.0, 5.0]])  # means (3, 4) and (0, 5)
    >>> means = unit_mean_numpy_block(PackedSequences.from_lengths(frames, [2, 1]))
    >>> means.frames, means.offsets
    (array([[0.6, 0.8],
           [0. , 1. ]]), array([0, 1, 2]))
    """
    means = sequence_sums(to_float32_numpy(block.frames), block.offsets) / block.lengths[:, None]
    return PackedSequences(unit_rows(means), np.arange(len(block) + 1))


@njit(parallel=True, cache=True)
def sequence_sums(frames, offsets):  # pragma: no cover - compiled
    """Each sequence's sum of frames, (N, d) float64, parallel over sequences (30x numpy's
    ``add.reduceat`` with a float64 ``dtype``, which casts element by element).

    Parameters
    ----------
    frames : numpy.ndarray
        (total frames, d) packed frames.
    offsets : numpy.ndarray
        (N + 1,) int64: sequence ``k`` is ``frames[offsets[k]:offsets[k + 1]]``.

    Returns
    -------
    numpy.ndarray
        (N, d) float64 sums.
    """
    out = np.zeros((offsets.shape[0] - 1, frames.shape[1]))
    for sequence in prange(offsets.shape[0] - 1):
        for i in range(offsets[sequence], offsets[sequence + 1]):
            for k in range(frames.shape[1]):
                out[sequence, k] += frames[i, k]
    return out


def cosine_block(queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
    """All frame cosines of two unit-norm packed blocks: (Tq, Tr), one GEMM.

    Parameters
    ----------
    queries, candidates : PackedSequences
        Blocks of unit-norm numpy frames (:func:`unit_numpy_block`).

    Returns
    -------
    numpy.ndarray
        (query frames, candidate frames) cosines, float32 for float32 frames.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.kernels.numba_kernels import cosine_block, unit_numpy_block
    >>> from seqsim.sequences import PackedSequences
    >>> frames = np.array([[3.0, 4.0], [1.0, 0.0]])
    >>> block = unit_numpy_block(PackedSequences.from_lengths(frames, [2]))
    >>> cosine_block(block, block)
    array([[1. , 0.6],
           [0.6, 1. ]], dtype=float32)
    """
    assert isinstance(queries.frames, np.ndarray) and isinstance(candidates.frames, np.ndarray)
    return queries.frames @ candidates.frames.T


@njit(parallel=True, fastmath=True, cache=True)
def seqsim_tiles(cosines, q_offsets, c_offsets):  # pragma: no cover - compiled
    """Precision and recall for every pair, from the packed cosine block; shape (2, Qb, Rb).

    Compiled by numba, parallel over (query, candidate) pairs; each pair's tile is reduced by
    its row maxima (recall) and column maxima (precision), summed in float64.

    Parameters
    ----------
    cosines : numpy.ndarray
        (query frames, candidate frames) float32 cosines (:func:`cosine_block`).
    q_offsets, c_offsets : numpy.ndarray
        int64 offsets of the query and candidate sequences in the block.

    Returns
    -------
    numpy.ndarray
        float64 (2, Qb, Rb): precision, then recall.

    Examples
    --------
    One query frame e0 against a candidate of frames e0 and e1: P = (1 + 0) / 2, R = 1.

    >>> import numpy as np
    >>> from seqsim.kernels.numba_kernels import seqsim_tiles
    >>> cosines = np.array([[1.0, 0.0]], dtype=np.float32)
    >>> seqsim_tiles(cosines, np.array([0, 1]), np.array([0, 2]))[:, 0, 0]
    array([0.5, 1. ])
    """
    n_q = q_offsets.shape[0] - 1
    n_c = c_offsets.shape[0] - 1
    out = np.empty((2, n_q, n_c))
    for pair in prange(n_q * n_c):
        q = pair // n_c
        c = pair % n_c
        r0, r1 = q_offsets[q], q_offsets[q + 1]
        c0, c1 = c_offsets[c], c_offsets[c + 1]
        column_max = np.full(c1 - c0, -np.inf, dtype=np.float32)
        recall = 0.0
        for i in range(r0, r1):
            row = cosines[i, c0:c1]
            row_max = np.float32(-np.inf)
            for j in range(c1 - c0):
                row_max = max(row_max, row[j])
                column_max[j] = max(column_max[j], row[j])
            recall += row_max
        precision = 0.0
        for j in range(c1 - c0):
            precision += column_max[j]
        out[0, q, c] = precision / (c1 - c0)
        out[1, q, c] = recall / (r1 - r0)
    return out


@njit(cache=True)
def _dtw_pair(cosines, window, normalization):  # pragma: no cover - compiled
    """Exact DTW cost of one tile of cosines (two rolling rows; path ties as ``dtw_tiles``)."""
    n, m = cosines.shape
    band = max(window, abs(n - m)) if window >= 0 else max(n, m)
    track_steps = normalization == NORMALIZE_PATH
    previous = np.full(m + 1, np.inf)
    current = np.full(m + 1, np.inf)
    previous_steps = np.zeros(m + 1, dtype=np.int64)
    current_steps = np.zeros(m + 1, dtype=np.int64)
    previous[0] = 0.0
    for i in range(1, n + 1):
        lo, hi = max(1, i - band), min(m, i + band)
        current[lo - 1] = np.inf
        for j in range(lo, hi + 1):
            diagonal, up, left = previous[j - 1], previous[j], current[j - 1]
            best = min(diagonal, up, left)
            current[j] = best + (1.0 - cosines[i - 1, j - 1])
            if track_steps:
                if diagonal == best:
                    current_steps[j] = previous_steps[j - 1] + 1
                elif up == best:
                    current_steps[j] = previous_steps[j] + 1
                else:
                    current_steps[j] = current_steps[j - 1] + 1
        if hi < m:
            current[hi + 1] = np.inf
        previous, current = current, previous
        previous_steps, current_steps = current_steps, previous_steps
        if i == 1:
            current[0] = np.inf
    total = previous[m]
    if normalization == NORMALIZE_SUM:
        return total / (n + m)
    if normalization == NORMALIZE_PATH:
        return total / previous_steps[m]
    return total


@njit(parallel=True, cache=True)
def dtw_tiles(cosines, q_offsets, c_offsets, window, normalization):  # pragma: no cover
    """Normalised DTW cost (cost ``1 - cos``) for every pair; shape (1, Qb, Rb).

    Compiled by numba, parallel over (query, candidate) pairs, each an exact DTW on two
    rolling rows of its table. Ties prefer the diagonal predecessor, then (i-1, j), then
    (i, j-1); the number of cells on the chosen path is tracked only for ``NORMALIZE_PATH``.

    Parameters
    ----------
    cosines : numpy.ndarray
        (query frames, candidate frames) cosines (:func:`cosine_block`).
    q_offsets, c_offsets : numpy.ndarray
        int64 offsets of the query and candidate sequences in the block.
    window : int
        The Sakoe-Chiba band's radius (widened to ``|n - m|``), or -1 for no band.
    normalization : int
        ``NORMALIZE_NONE``, ``NORMALIZE_SUM`` (divide by ``n + m``) or ``NORMALIZE_PATH``
        (by the cells on the path).

    Returns
    -------
    numpy.ndarray
        float64 (1, Qb, Rb) costs (the similarity is their negative).

    Examples
    --------
    Frames (e0, e1) against (e0, e0): costs [[0, 0], [1, 1]], a path of cost 1:

    >>> import numpy as np
    >>> from seqsim.kernels.numba_kernels import NORMALIZE_SUM, dtw_tiles
    >>> cosines = np.array([[1.0, 1.0], [0.0, 0.0]], dtype=np.float32)
    >>> offsets = np.array([0, 2])
    >>> dtw_tiles(cosines, offsets, offsets, -1, NORMALIZE_SUM)
    array([[[0.25]]])
    """
    n_q = q_offsets.shape[0] - 1
    n_c = c_offsets.shape[0] - 1
    out = np.empty((1, n_q, n_c))
    for pair in prange(n_q * n_c):
        q = pair // n_c
        c = pair % n_c
        tile = cosines[q_offsets[q] : q_offsets[q + 1], c_offsets[c] : c_offsets[c + 1]]
        out[0, q, c] = _dtw_pair(tile, window, normalization)
    return out


@njit(fastmath=True, cache=True)
def sinkhorn_pair(cost, reg, max_iter, tol):  # pragma: no cover - compiled
    """Sinkhorn scaling between uniform weights on ``K = exp(-cost / reg)``; returns
    ``(<plan, cost>, converged)`` with ``plan = diag(u) K diag(v)``.

    Stops at the first plan whose row-marginal L1 error is below ``tol`` (columns are exact
    after each update), ``converged``, or at the plan of ``max_iter`` updates, converged only
    if its error is below ``tol``. float64 keeps ``K`` above underflow for
    ``reg >= MIN_SINKHORN_REG``.

    Parameters
    ----------
    cost : numpy.ndarray
        (n, m) float64 costs.
    reg : float
        The entropic regularisation.
    max_iter : int
        The most updates.
    tol : float
        The row-marginal L1 error to reach.

    Returns
    -------
    tuple[float, bool]
        The transport cost ``<plan, cost>`` and whether the plan converged.

    Examples
    --------
    Two points each, each at cost 0 from its match: nearly all mass stays in place.

    >>> import numpy as np
    >>> from seqsim.kernels.numba_kernels import sinkhorn_pair
    >>> transport, converged = sinkhorn_pair(np.array([[0.0, 1.0], [1.0, 0.0]]), 0.05, 100, 1e-6)
    >>> round(transport, 6), converged
    (0.0, True)
    """
    n, m = cost.shape
    kernel = np.exp(-cost / reg)
    a = 1.0 / n
    b = 1.0 / m
    u = np.full(n, a)
    v = np.ones(m)
    kv = np.empty(n)
    converged = False
    for iteration in range(max_iter + 1):
        error = 0.0
        for i in range(n):
            total = 0.0
            for j in range(m):
                total += kernel[i, j] * v[j]
            kv[i] = total
            error += abs(u[i] * total - a)
        if iteration > 0 and error < tol:
            converged = True
            break
        if iteration == max_iter:
            break
        for i in range(n):
            u[i] = a / kv[i]
        ktu = np.zeros(m)
        for i in range(n):
            for j in range(m):
                ktu[j] += kernel[i, j] * u[i]
        for j in range(m):
            v[j] = b / ktu[j]
    transport = 0.0
    for i in range(n):
        for j in range(m):
            transport += u[i] * kernel[i, j] * v[j] * cost[i, j]
    return transport, converged


@njit(cache=True)
def _logsumexp(values):  # pragma: no cover - compiled
    peak = values.max()
    if peak == -np.inf:
        return -np.inf
    return peak + np.log(np.exp(values - peak).sum())


@njit(cache=True)
def sinkhorn_pair_log(cost, reg, max_iter, tol):  # pragma: no cover - compiled
    """:func:`sinkhorn_pair` on the dual potentials ``f = reg log u``, ``g = reg log v`` with
    log-sum-exp: the same iterates, stopping rule and ``(<plan, cost>, converged)``, stable for
    any ``reg``.

    Parameters
    ----------
    cost, reg, max_iter, tol
        As :func:`sinkhorn_pair` takes them.

    Returns
    -------
    tuple[float, bool]
        The transport cost ``<plan, cost>`` and whether the plan converged.
    """
    n, m = cost.shape
    log_a = -np.log(n)
    log_b = -np.log(m)
    scaled = -cost / reg
    f = np.full(n, reg * log_a)
    g = np.zeros(m)
    lse = np.empty(n)
    converged = False
    for iteration in range(max_iter + 1):
        error = 0.0
        for i in range(n):
            lse[i] = _logsumexp(scaled[i] + g / reg)
            error += abs(np.exp(f[i] / reg + lse[i]) - 1.0 / n)
        if iteration > 0 and error < tol:
            converged = True
            break
        if iteration == max_iter:
            break
        for i in range(n):
            f[i] = reg * (log_a - lse[i])
        for j in range(m):
            g[j] = reg * (log_b - _logsumexp(scaled[:, j] + f / reg))
    transport = 0.0
    for i in range(n):
        for j in range(m):
            transport += np.exp(scaled[i, j] + (f[i] + g[j]) / reg) * cost[i, j]
    return transport, converged


@njit(parallel=True, cache=True)
def sinkhorn_tiles(
    cosines, q_offsets, c_offsets, reg, max_iter, tol, log_domain
):  # pragma: no cover
    """Entropic OT cost for every pair, and 1.0 where its Sinkhorn converged within ``max_iter``
    (0.0 where it did not); shape (2, Qb, Rb).

    Compiled by numba, parallel over (query, candidate) pairs, each solved by
    :func:`sinkhorn_pair` (or :func:`sinkhorn_pair_log` with ``log_domain``) on its cost
    ``1 - cos`` in float64.

    Parameters
    ----------
    cosines : numpy.ndarray
        (query frames, candidate frames) cosines (:func:`cosine_block`).
    q_offsets, c_offsets : numpy.ndarray
        int64 offsets of the query and candidate sequences in the block.
    reg, max_iter, tol
        As :func:`sinkhorn_pair` takes them.
    log_domain : bool
        Solve on the dual potentials (:func:`sinkhorn_pair_log`).

    Returns
    -------
    numpy.ndarray
        float64 (2, Qb, Rb): transport costs, then convergence flags.
    """
    n_q = q_offsets.shape[0] - 1
    n_c = c_offsets.shape[0] - 1
    out = np.empty((2, n_q, n_c))
    for pair in prange(n_q * n_c):
        q = pair // n_c
        c = pair % n_c
        tile = cosines[q_offsets[q] : q_offsets[q + 1], c_offsets[c] : c_offsets[c + 1]]
        cost = 1.0 - tile.astype(np.float64)
        if log_domain:
            transport, converged = sinkhorn_pair_log(cost, reg, max_iter, tol)
        else:
            transport, converged = sinkhorn_pair(cost, reg, max_iter, tol)
        out[0, q, c] = transport
        out[1, q, c] = 1.0 if converged else 0.0
    return out
