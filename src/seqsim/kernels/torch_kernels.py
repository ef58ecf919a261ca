"""Torch kernels (CPU or CUDA): blocks are padded to their longest member, compared with one
GEMM, and reduced with the padding masked out (``-inf`` before a max, zero mass in OT).

Blocks arrive sorted by length (see :mod:`seqsim.blocks`), so padding stays small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..sequences import PackedSequences
from .numba_kernels import NORMALIZE_PATH, NORMALIZE_SUM


@dataclass(frozen=True)
class PaddedBlock:
    """A block of unit-norm frames padded to (N, L, d) float32, its (N, L) mask and lengths."""

    frames: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor

    @classmethod
    def from_packed(cls, block: PackedSequences, device: torch.device) -> PaddedBlock:
        frames = torch.as_tensor(block.frames, device=device, dtype=torch.float32)
        frames = torch.nn.functional.normalize(frames, dim=1)
        lengths = torch.as_tensor(block.lengths, device=device)
        width = int(block.lengths.max())
        mask = torch.arange(width, device=device)[None, :] < lengths[:, None]
        out = frames.new_zeros(len(block), width, frames.shape[1])
        out[mask] = frames
        return cls(out, mask, lengths)

    def __len__(self) -> int:
        return self.frames.shape[0]


def cosine_tiles(queries: PaddedBlock, candidates: PaddedBlock) -> torch.Tensor:
    """Cosines (Nq, Lq, Nc, Lc) of every query frame with every candidate frame: one GEMM."""
    q, c = queries.frames, candidates.frames
    return (q.flatten(0, 1) @ c.flatten(0, 1).T).view(q.shape[0], q.shape[1], *c.shape[:2])


def seqsim_tiles(queries: PaddedBlock, candidates: PaddedBlock) -> np.ndarray:
    """Precision and recall for every pair of the two blocks; shape (2, Nq, Nc)."""
    cosines = cosine_tiles(queries, candidates)
    q_mask, c_mask = queries.mask, candidates.mask
    cosines.masked_fill_(~c_mask[None, None, :, :], -torch.inf)
    cosines.masked_fill_(~q_mask[:, :, None, None], -torch.inf)
    best_per_query_frame = cosines.amax(dim=3).masked_fill_(~q_mask[:, :, None], 0.0)
    best_per_candidate_frame = cosines.amax(dim=1).masked_fill_(~c_mask[None, :, :], 0.0)
    recall = best_per_query_frame.sum(dim=1, dtype=torch.float64) / queries.lengths[:, None]
    precision = best_per_candidate_frame.sum(dim=2, dtype=torch.float64) / candidates.lengths
    return torch.stack([precision, recall]).cpu().numpy()


def pair_costs(
    queries: PaddedBlock, candidates: PaddedBlock
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cost ``1 - cos`` per pair as (Nq * Nc, Lq, Lc) float64, with each pair's two lengths."""
    cosines = cosine_tiles(queries, candidates)
    n_q, l_q, n_c, l_c = cosines.shape
    cost = 1.0 - cosines.permute(0, 2, 1, 3).reshape(n_q * n_c, l_q, l_c).double()
    return cost, queries.lengths.repeat_interleave(n_c), candidates.lengths.repeat(n_q)


def dtw_wavefront(
    cost: torch.Tensor, n_len: torch.Tensor, m_len: torch.Tensor, window: int, normalization: int
) -> torch.Tensor:
    """Exact DTW for a batch (B, n, m) of padded cost tiles, one anti-diagonal at a time.

    Same recursion and tie rule as the numba kernel: the diagonal predecessor wins ties,
    then (i-1, j), then (i, j-1).
    """
    batch, n, m = cost.shape
    device = cost.device
    if window >= 0:
        band = torch.maximum(torch.full_like(n_len, window), (n_len - m_len).abs())
        offset = torch.arange(n, device=device)[:, None] - torch.arange(m, device=device)[None, :]
        cost = cost.masked_fill(offset.abs()[None] > band[:, None, None], torch.inf)
    total = torch.full((batch, n + 1, m + 1), torch.inf, dtype=cost.dtype, device=device)
    total[:, 0, 0] = 0.0
    steps = torch.zeros((batch, n + 1, m + 1), dtype=torch.int64, device=device)
    for diagonal in range(n + m - 1):
        i = torch.arange(max(0, diagonal - m + 1), min(n - 1, diagonal) + 1, device=device)
        j = diagonal - i
        best, best_steps = total[:, i, j], steps[:, i, j]
        for di, dj in ((0, 1), (1, 0)):
            candidate = total[:, i + di, j + dj]
            better = candidate < best
            best = torch.where(better, candidate, best)
            best_steps = torch.where(better, steps[:, i + di, j + dj], best_steps)
        total[:, i + 1, j + 1] = best + cost[:, i, j]
        steps[:, i + 1, j + 1] = best_steps + 1
    rows = torch.arange(batch, device=device)
    result = total[rows, n_len, m_len]
    if normalization == NORMALIZE_SUM:
        return result / (n_len + m_len)
    if normalization == NORMALIZE_PATH:
        return result / steps[rows, n_len, m_len]
    return result


def sinkhorn_batched(
    cost: torch.Tensor,
    n_len: torch.Tensor,
    m_len: torch.Tensor,
    reg: float,
    max_iter: int,
    tol: float,
) -> torch.Tensor:
    """Sinkhorn scaling between uniform weights for a batch (B, n, m) of padded float64 costs.

    Same iteration and stopping rule as the numba kernel, pair by pair; padding carries zero
    mass. Converged pairs leave the working set once half of it has converged, so fast pairs
    do not pay for slow ones.
    """
    batch, n, m = cost.shape
    device = cost.device
    row_valid = torch.arange(n, device=device)[None, :] < n_len[:, None]
    col_valid = torch.arange(m, device=device)[None, :] < m_len[:, None]
    kernel = torch.exp(-cost / reg) * (row_valid[:, :, None] & col_valid[:, None, :])
    a = row_valid / n_len[:, None].double()
    b = col_valid / m_len[:, None].double()
    u, v = a.clone(), col_valid.double()
    result = torch.empty(batch, dtype=torch.float64, device=device)
    ids = torch.arange(batch, device=device)
    alive = torch.ones(batch, dtype=torch.bool, device=device)
    for iteration in range(max_iter + 1):
        kv = torch.bmm(kernel, v[:, :, None])[:, :, 0]
        error = (u * kv - a).abs().sum(dim=1)
        finished = alive & ((error < tol) if iteration > 0 else torch.zeros_like(alive))
        if iteration == max_iter:
            finished = alive
        if finished.any():
            plan = u[finished, :, None] * kernel[finished] * v[finished, None, :]
            result[ids[finished]] = (plan * cost[finished]).sum(dim=(1, 2))
            alive &= ~finished
            if not alive.any():
                break
            if alive.sum() * 2 <= len(alive):
                kernel, cost, kv, u, v, a, b = (t[alive] for t in (kernel, cost, kv, u, v, a, b))
                ids, alive = ids[alive], alive[alive]
        u = torch.where(a > 0, a / kv, 0.0)
        ktu = torch.bmm(u[:, None, :], kernel)[:, 0, :]
        v = torch.where(b > 0, b / ktu, 0.0)
    return result
