"""Torch kernels (CPU or CUDA) on blocks of packed unit-norm frames.

SeqSim needs no padding: one GEMM of all query frames against all candidate frames of the
block, then segmented maxima (``scatter_reduce``) per candidate and per query. DTW and OT pad
their block to its longest member (blocks arrive sorted by length, see :mod:`seqsim.blocks`,
so padding stays small) and mask it out: infinite cost in DTW, zero mass in OT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..sequences import PackedSequences
from .numba_kernels import NORMALIZE_PATH, NORMALIZE_SUM


def unit_tensor_block(block: PackedSequences, device: torch.device) -> PackedSequences:
    """A block as unit-norm, contiguous frames on ``device``, keeping fp16/bf16 (else fp32)."""
    frames = torch.as_tensor(block.frames, device=device)
    if frames.dtype not in (torch.float16, torch.bfloat16):
        frames = frames.float()
    unit = torch.nn.functional.normalize(frames.float(), dim=1).to(frames.dtype).contiguous()
    return PackedSequences(unit, block.offsets)


def _tensor(block: PackedSequences) -> torch.Tensor:
    """The frames of a prepared block (see :func:`unit_tensor_block`) as float32."""
    assert isinstance(block.frames, torch.Tensor), "prepare blocks with unit_tensor_block"
    return block.frames.float()


def _segments(block: PackedSequences, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Each frame's sequence index, and the sequence lengths, on ``device``."""
    lengths = torch.as_tensor(block.lengths, device=device)
    return torch.repeat_interleave(torch.arange(len(block), device=device), lengths), lengths


def seqsim_tiles(queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
    """Precision and recall (2, Nq, Nc) of two prepared blocks: one GEMM, segmented maxima."""
    q, c = _tensor(queries), _tensor(candidates)
    device = q.device
    q_segment, q_lengths = _segments(queries, device)
    c_segment, c_lengths = _segments(candidates, device)
    cosines = q @ c.T
    best_per_query_frame = cosines.new_full((q.shape[0], len(candidates)), -torch.inf)
    best_per_query_frame.scatter_reduce_(1, c_segment.expand(q.shape[0], -1), cosines, "amax")
    best_per_candidate_frame = cosines.new_full((len(queries), c.shape[0]), -torch.inf)
    best_per_candidate_frame.scatter_reduce_(
        0, q_segment[:, None].expand(-1, c.shape[0]), cosines, "amax"
    )
    shape = (len(queries), len(candidates))
    recall = torch.zeros(shape, dtype=torch.float64, device=device)
    recall.index_add_(0, q_segment, best_per_query_frame.double())
    precision = torch.zeros(shape, dtype=torch.float64, device=device)
    precision.index_add_(1, c_segment, best_per_candidate_frame.double())
    recall /= q_lengths[:, None]
    precision /= c_lengths[None, :]
    return torch.stack([precision, recall]).cpu().numpy()


@dataclass(frozen=True)
class PaddedBlock:
    """Unit-norm frames padded to (N, L, d) float32 with zeros, and the sequence lengths."""

    frames: torch.Tensor
    lengths: torch.Tensor

    @classmethod
    def from_packed(cls, block: PackedSequences) -> PaddedBlock:
        frames = _tensor(block)
        segment, lengths = _segments(block, frames.device)
        position = torch.arange(frames.shape[0], device=frames.device)
        position -= torch.as_tensor(block.offsets[:-1], device=frames.device)[segment]
        out = frames.new_zeros(len(block), int(block.lengths.max()), frames.shape[1])
        out[segment, position] = frames
        return cls(out, lengths)


def pair_costs(
    queries: PackedSequences, candidates: PackedSequences
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cost ``1 - cos`` per pair as (Nq * Nc, Lq, Lc) float64 (padding included, to be masked
    by the caller), with each pair's two lengths."""
    q, c = PaddedBlock.from_packed(queries), PaddedBlock.from_packed(candidates)
    n_q, l_q, _ = q.frames.shape
    n_c, l_c, _ = c.frames.shape
    cosines = (q.frames.flatten(0, 1) @ c.frames.flatten(0, 1).T).view(n_q, l_q, n_c, l_c)
    cost = 1.0 - cosines.permute(0, 2, 1, 3).reshape(n_q * n_c, l_q, l_c).double()
    return cost, q.lengths.repeat_interleave(n_c), c.lengths.repeat(n_q)


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
