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
    """Log-domain Sinkhorn between uniform weights for a batch (B, n, m) of padded costs.

    Padding carries zero mass. Each pair stops at its own first iteration whose row-marginal
    L1 error is below ``tol`` (as the numba kernel does); converged pairs leave the working
    set once it is half spent, so fast pairs do not pay for slow ones.
    """
    batch, n, m = cost.shape
    device = cost.device
    row_valid = torch.arange(n, device=device)[None, :] < n_len[:, None]
    col_valid = torch.arange(m, device=device)[None, :] < m_len[:, None]
    log_a = torch.where(row_valid, -torch.log(n_len.double())[:, None], -torch.inf)
    log_b = torch.where(col_valid, -torch.log(m_len.double())[:, None], -torch.inf)
    result = torch.empty(batch, dtype=torch.float64, device=device)
    ids = torch.arange(batch, device=device)
    alive = torch.ones(batch, dtype=torch.bool, device=device)
    f = torch.zeros_like(log_a).masked_fill_(~row_valid, -torch.inf)
    g = torch.zeros_like(log_b).masked_fill_(~col_valid, -torch.inf)
    scaled = -cost / reg

    def plan() -> torch.Tensor:
        return torch.exp(scaled + (f[:, :, None] + g[:, None, :]) / reg)

    for iteration in range(max_iter):
        lse = torch.logsumexp(scaled + g[:, None, :] / reg, dim=2)
        f = torch.where(row_valid, reg * (log_a - lse), -torch.inf)
        lse = torch.logsumexp(scaled + f[:, :, None] / reg, dim=1)
        g = torch.where(col_valid, reg * (log_b - lse), -torch.inf)
        transport = plan()
        error = (transport.sum(dim=2) - log_a.exp()).abs().sum(dim=1)
        finished = alive & ((error < tol) | (iteration == max_iter - 1))
        if finished.any():
            result[ids[finished]] = (transport[finished] * cost[finished]).sum(dim=(1, 2))
            alive &= ~finished
            if not alive.any():
                break
            if alive.sum() * 2 <= len(alive):
                cost, scaled, f, g = cost[alive], scaled[alive], f[alive], g[alive]
                log_a, log_b = log_a[alive], log_b[alive]
                row_valid, col_valid, ids = row_valid[alive], col_valid[alive], ids[alive]
                alive = alive[alive]
    return result
