"""CPU kernels: one BLAS GEMM per block of packed frames, then numba loops, parallel over
(query, candidate) pairs, that reduce each pair's tile of the cosine matrix.

Packed blocks have no padding, so nothing needs masking. Sums are accumulated in float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..sequences import PackedSequences, to_float32_numpy

NORMALIZE_NONE, NORMALIZE_SUM, NORMALIZE_PATH = 0, 1, 2


def unit_rows(frames: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm (an all-zero row stays zero)."""
    norms = np.sqrt(np.einsum("ij,ij->i", frames, frames, dtype=np.float64))
    return frames / np.maximum(norms, eps).astype(frames.dtype)[:, None]


def unit_numpy_block(block: PackedSequences) -> PackedSequences:
    """A block as unit-norm float32 numpy frames, ready for :func:`cosine_block`."""
    return PackedSequences(unit_rows(to_float32_numpy(block.frames)), block.offsets)


def cosine_block(queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
    """All frame cosines of two unit-norm packed blocks: (Tq, Tr), one GEMM."""
    return queries.frames @ candidates.frames.T


@njit(parallel=True, fastmath=True, cache=True)
def seqsim_tiles(cosines, q_offsets, c_offsets):  # pragma: no cover - compiled
    """Precision and recall for every pair, from the packed cosine block; shape (2, Qb, Rb)."""
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
            row_max = -np.inf
            for j in range(c0, c1):
                value = cosines[i, j]
                if value > row_max:
                    row_max = value
                if value > column_max[j - c0]:
                    column_max[j - c0] = value
            recall += row_max
        precision = 0.0
        for j in range(c1 - c0):
            precision += column_max[j]
        out[0, q, c] = precision / (c1 - c0)
        out[1, q, c] = recall / (r1 - r0)
    return out


@njit(cache=True)
def _dtw_pair(cost, window, normalization):  # pragma: no cover - compiled
    """Exact DTW on one cost tile; ties prefer the diagonal, then (i-1, j), then (i, j-1)."""
    n, m = cost.shape
    band = max(window, abs(n - m)) if window >= 0 else max(n, m)
    inf = np.inf
    previous = np.full(m + 1, inf)
    previous_steps = np.zeros(m + 1, dtype=np.int64)
    current = np.full(m + 1, inf)
    current_steps = np.zeros(m + 1, dtype=np.int64)
    previous[0] = 0.0
    for i in range(1, n + 1):
        current[:] = inf
        for j in range(max(1, i - band), min(m, i + band) + 1):
            best = previous[j - 1]
            steps = previous_steps[j - 1]
            if previous[j] < best:
                best = previous[j]
                steps = previous_steps[j]
            if current[j - 1] < best:
                best = current[j - 1]
                steps = current_steps[j - 1]
            current[j] = best + cost[i - 1, j - 1]
            current_steps[j] = steps + 1
        previous, current = current, previous
        previous_steps, current_steps = current_steps, previous_steps
    total = previous[m]
    if normalization == NORMALIZE_SUM:
        return total / (n + m)
    if normalization == NORMALIZE_PATH:
        return total / previous_steps[m]
    return total


@njit(parallel=True, cache=True)
def dtw_tiles(cosines, q_offsets, c_offsets, window, normalization):  # pragma: no cover
    """Normalised DTW cost (cost ``1 - cos``) for every pair; shape (1, Qb, Rb)."""
    n_q = q_offsets.shape[0] - 1
    n_c = c_offsets.shape[0] - 1
    out = np.empty((1, n_q, n_c))
    for pair in prange(n_q * n_c):
        q = pair // n_c
        c = pair % n_c
        tile = cosines[q_offsets[q] : q_offsets[q + 1], c_offsets[c] : c_offsets[c + 1]]
        out[0, q, c] = _dtw_pair(1.0 - tile.astype(np.float64), window, normalization)
    return out


@njit(cache=True)
def _logsumexp_rows(matrix, out):  # pragma: no cover - compiled
    for i in range(matrix.shape[0]):
        peak = -np.inf
        for j in range(matrix.shape[1]):
            peak = max(peak, matrix[i, j])
        total = 0.0
        for j in range(matrix.shape[1]):
            total += np.exp(matrix[i, j] - peak)
        out[i] = peak + np.log(total)


@njit(cache=True)
def sinkhorn_pair(cost, reg, max_iter, tol):  # pragma: no cover - compiled
    """Log-domain Sinkhorn between uniform weights; returns ``<plan, cost>``.

    Stops after the first iteration whose row-marginal L1 error is below ``tol``.
    """
    n, m = cost.shape
    log_a = -np.log(n)
    log_b = -np.log(m)
    f = np.zeros(n)
    g = np.zeros(m)
    scaled = -cost / reg
    scaled_t = np.ascontiguousarray(scaled.T)
    work_n = np.empty((n, m))
    work_m = np.empty((m, n))
    lse_n = np.empty(n)
    lse_m = np.empty(m)
    for _ in range(max_iter):
        for i in range(n):
            for j in range(m):
                work_n[i, j] = scaled[i, j] + g[j] / reg
        _logsumexp_rows(work_n, lse_n)
        for i in range(n):
            f[i] = reg * (log_a - lse_n[i])
        for j in range(m):
            for i in range(n):
                work_m[j, i] = scaled_t[j, i] + f[i] / reg
        _logsumexp_rows(work_m, lse_m)
        for j in range(m):
            g[j] = reg * (log_b - lse_m[j])
        error = 0.0
        for i in range(n):
            row = 0.0
            for j in range(m):
                row += np.exp(scaled[i, j] + (f[i] + g[j]) / reg)
            error += abs(row - 1.0 / n)
        if error < tol:
            break
    transport = 0.0
    for i in range(n):
        for j in range(m):
            transport += np.exp(scaled[i, j] + (f[i] + g[j]) / reg) * cost[i, j]
    return transport


@njit(parallel=True, cache=True)
def sinkhorn_tiles(cosines, q_offsets, c_offsets, reg, max_iter, tol):  # pragma: no cover
    """Entropic OT cost for every pair; shape (1, Qb, Rb)."""
    n_q = q_offsets.shape[0] - 1
    n_c = c_offsets.shape[0] - 1
    out = np.empty((1, n_q, n_c))
    for pair in prange(n_q * n_c):
        q = pair // n_c
        c = pair % n_c
        tile = cosines[q_offsets[q] : q_offsets[q + 1], c_offsets[c] : c_offsets[c + 1]]
        out[0, q, c] = sinkhorn_pair(1.0 - tile.astype(np.float64), reg, max_iter, tol)
    return out
