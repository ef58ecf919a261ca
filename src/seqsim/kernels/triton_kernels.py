"""Triton kernels (CUDA, or the CPU under ``TRITON_INTERPRET=1``): fused SeqSim and batched DTW.

SeqSim takes packed inputs (frames back to back, offsets), no padding. One program takes one tile of
``BLOCK_M`` frames of one query and sweeps all frames of one candidate in tiles of
``BLOCK_N``, accumulating the dot products over the feature dimension in chunks of ``BLOCK_D``
with float32 accumulation: float16/bfloat16 frames go to the tensor cores as they are; float32
frames use TF32 when ``torch.set_float32_matmul_precision`` allows it ("high" or "medium", as
for torch's own matmuls), else exact float32. From each tile it takes both reductions, as
FlashAttention keeps its softmax statistics, so the similarity tiles never reach global memory:

- recall side: the running maximum over candidate frames of every query frame, summed at the
  end and added atomically to the pair's recall sum;
- precision side: the maximum over the tile's query frames of every candidate frame, merged
  atomically into a (queries, candidate frames) buffer of column maxima.

Masked rows and columns are ``-inf`` before each max, never 0 (cosines can be negative).

DTW gives one program to each pair of a padded cost batch and sweeps the anti-diagonals of the
dynamic programme, all cells of a diagonal at once, in a single launch (the torch wavefront
launches a dozen kernels per diagonal). The last two diagonals live in a small global scratch
buffer per pair, separated by a barrier between diagonals.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import triton
import triton.language as tl

from ..sequences import PackedSequences
from .torch_kernels import normalize_dtw


@triton.jit
def _seqsim_kernel(
    q_ptr,
    c_ptr,
    q_offsets_ptr,
    c_offsets_ptr,
    recall_ptr,
    column_max_ptr,
    dim,
    n_candidates,
    total_candidate_frames,
    tiles_per_query,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    WIDEN_INPUTS: tl.constexpr,
):
    query = tl.program_id(0) // tiles_per_query
    tile = tl.program_id(0) % tiles_per_query
    candidate = tl.program_id(1)
    q_start = tl.load(q_offsets_ptr + query)
    q_end = tl.load(q_offsets_ptr + query + 1)
    row_start = q_start + tile * BLOCK_M
    if row_start < q_end:
        c_start = tl.load(c_offsets_ptr + candidate)
        c_end = tl.load(c_offsets_ptr + candidate + 1)
        rows = row_start + tl.arange(0, BLOCK_M)
        row_valid = rows < q_end
        features = tl.arange(0, BLOCK_D)
        row_max = tl.full((BLOCK_M,), float("-inf"), tl.float32)
        for col_start in range(c_start, c_end, BLOCK_N):
            cols = col_start + tl.arange(0, BLOCK_N)
            col_valid = cols < c_end
            dots = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
            for k in range(0, dim, BLOCK_D):
                feature_valid = (k + features) < dim
                q_tile = tl.load(
                    q_ptr + rows[:, None] * dim + (k + features)[None, :],
                    mask=row_valid[:, None] & feature_valid[None, :],
                    other=0.0,
                )
                c_tile = tl.load(
                    c_ptr + cols[:, None] * dim + (k + features)[None, :],
                    mask=col_valid[:, None] & feature_valid[None, :],
                    other=0.0,
                )
                if WIDEN_INPUTS:
                    q_tile = q_tile.to(tl.float32)
                    c_tile = c_tile.to(tl.float32)
                dots += tl.dot(q_tile, tl.trans(c_tile), input_precision=INPUT_PRECISION)
            dots = tl.where(row_valid[:, None] & col_valid[None, :], dots, float("-inf"))
            row_max = tl.maximum(row_max, tl.max(dots, axis=1))
            tl.atomic_max(
                column_max_ptr + query * total_candidate_frames + cols,
                tl.max(dots, axis=0),
                mask=col_valid,
            )
        recall_sum = tl.sum(tl.where(row_valid, row_max, 0.0), axis=0)
        tl.atomic_add(recall_ptr + query * n_candidates + candidate, recall_sum)


def seqsim_tiles(
    queries: PackedSequences, candidates: PackedSequences, block_m: int = 32, block_n: int = 64
) -> np.ndarray:
    """Precision and recall (2, Nq, Nc) of prepared blocks (see ``unit_tensor_block``).

    One launch of the fused kernel (see the module doc) over (query tile, candidate) programs;
    the recall sums and column maxima it leaves are reduced to means in float64.

    Parameters
    ----------
    queries, candidates : PackedSequences
        Blocks prepared by :func:`~seqsim.kernels.torch_kernels.unit_tensor_block`, on the
        triton backend's device (CUDA, or the CPU under ``TRITON_INTERPRET=1``).
    block_m, block_n : int, default 32 and 64
        The frames of one query tile, and of one candidate tile (powers of 2, at least 16).

    Returns
    -------
    numpy.ndarray
        float64 (2, Nq, Nc): precision, then recall.

    Examples
    --------
    One query frame e0 against a candidate of frames e0 and e1: P = (1 + 0) / 2, R = 1.

    >>> import numpy as np
    >>> from seqsim.backends import resolve_backend
    >>> from seqsim.kernels.torch_kernels import unit_tensor_block
    >>> from seqsim.kernels.triton_kernels import seqsim_tiles
    >>> from seqsim.sequences import PackedSequences
    >>> device = resolve_backend("triton").device  # CUDA, or the CPU's interpreter
    >>> query = unit_tensor_block(PackedSequences.from_lengths(np.eye(2)[:1], [1]), device)
    >>> candidate = unit_tensor_block(PackedSequences.from_lengths(np.eye(2), [2]), device)
    >>> seqsim_tiles(query, candidate)[:, 0, 0]
    array([0.5, 1. ])
    """
    q, c = queries.frames, candidates.frames
    device, dim = q.device, q.shape[1]
    n_q, n_c = len(queries), len(candidates)
    q_offsets = torch.as_tensor(queries.offsets, device=device)
    c_offsets = torch.as_tensor(candidates.offsets, device=device)
    recall = torch.zeros((n_q, n_c), dtype=torch.float32, device=device)
    column_max = torch.full((n_q, c.shape[0]), -torch.inf, dtype=torch.float32, device=device)
    tiles = int(-(-int(queries.lengths.max()) // block_m))
    block_d = min(64, max(16, triton.next_power_of_2(dim)))
    precision_mode = "tf32" if torch.get_float32_matmul_precision() != "highest" else "ieee"
    # Triton's CPU interpreter multiplies bfloat16 bit patterns in tl.dot
    # (triton-lang/triton#11584): widen there. Products of two bfloat16 values are exact in
    # float32 (and in TF32), so the widened kernel computes the same numbers as the GPU's.
    widen = q.dtype == torch.bfloat16 and os.environ.get("TRITON_INTERPRET") == "1"
    _seqsim_kernel[(n_q * tiles, n_c)](
        q, c, q_offsets, c_offsets, recall, column_max, dim, n_c, c.shape[0], tiles,
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d, INPUT_PRECISION=precision_mode,
        WIDEN_INPUTS=widen,
    )  # fmt: skip
    segment = torch.repeat_interleave(
        torch.arange(n_c, device=device), torch.as_tensor(candidates.lengths, device=device)
    )
    precision_sums = torch.zeros((n_q, n_c), dtype=torch.float64, device=device)
    precision_sums.index_add_(1, segment, column_max.double())
    precision = precision_sums / torch.as_tensor(candidates.lengths, device=device)[None, :]
    recall = recall.double() / torch.as_tensor(queries.lengths, device=device)[:, None]
    return torch.stack([precision, recall]).cpu().numpy()


@triton.jit
def _dtw_kernel(
    cost_ptr,
    n_len_ptr,
    m_len_ptr,
    total_buffer_ptr,
    steps_buffer_ptr,
    total_ptr,
    steps_ptr,
    rows,
    cols,
    window,
    BLOCK: tl.constexpr,
):
    pair = tl.program_id(0)
    n = tl.load(n_len_ptr + pair).to(tl.int32)
    m = tl.load(m_len_ptr + pair).to(tl.int32)
    band = tl.maximum(window, tl.abs(n - m))
    i = tl.arange(0, BLOCK)  # row of the DP table (0 = the boundary row)
    totals = total_buffer_ptr + pair * 3 * BLOCK  # diagonals t % 3, indexed by row
    steps = steps_buffer_ptr + pair * 3 * BLOCK
    costs = cost_ptr + pair.to(tl.int64) * rows * cols
    infinity = float("inf")
    # diagonal 0 holds only (0, 0) = 0; diagonal 1 only boundary cells
    tl.store(totals + i, tl.where(i == 0, 0.0, infinity).to(tl.float64))
    tl.store(totals + BLOCK + i, tl.full((BLOCK,), infinity, tl.float64))
    tl.store(steps + i, tl.zeros((BLOCK,), tl.int32))
    tl.store(steps + BLOCK + i, tl.zeros((BLOCK,), tl.int32))
    tl.debug_barrier()
    for diagonal in range(2, n + m + 1):
        j = diagonal - i
        previous = ((diagonal - 1) % 3) * BLOCK
        before = ((diagonal - 2) % 3) * BLOCK
        has_row_above = i >= 1
        best = tl.load(totals + before + i - 1, mask=has_row_above, other=infinity)
        best_steps = tl.load(steps + before + i - 1, mask=has_row_above, other=0)
        up = tl.load(totals + previous + i - 1, mask=has_row_above, other=infinity)
        up_steps = tl.load(steps + previous + i - 1, mask=has_row_above, other=0)
        better = up < best  # ties: diagonal, then (i - 1, j), then (i, j - 1)
        best = tl.where(better, up, best)
        best_steps = tl.where(better, up_steps, best_steps)
        left = tl.load(totals + previous + i)
        left_steps = tl.load(steps + previous + i)
        better = left < best
        best = tl.where(better, left, best)
        best_steps = tl.where(better, left_steps, best_steps)
        inside = has_row_above & (i <= n) & (j >= 1) & (j <= m) & (tl.abs(i - j) <= band)
        cost = tl.load(costs + (i - 1) * cols + (j - 1), mask=inside, other=infinity)
        current = (diagonal % 3) * BLOCK
        tl.store(totals + current + i, tl.where(inside, cost + best, infinity))
        tl.store(steps + current + i, best_steps + 1)
        # other threads read these cells (shifted by one row) next, and overwrite what this
        # diagonal read two diagonals on: a block-wide barrier orders the global accesses
        tl.debug_barrier()
    last = ((n + m) % 3) * BLOCK
    tl.store(total_ptr + pair, tl.load(totals + last + n))
    tl.store(steps_ptr + pair, tl.load(steps + last + n))


def dtw_wavefront(
    cost: torch.Tensor, n_len: torch.Tensor, m_len: torch.Tensor, window: int, normalization: int
) -> torch.Tensor:
    """Exact DTW for a batch (B, n, m) of padded float64 cost tiles: the contract, recursion and
    tie rule of :func:`seqsim.kernels.torch_kernels.dtw_wavefront`, in one launch.

    One program per pair sweeps its anti-diagonals, with the last diagonals in a small
    global scratch buffer per pair.

    Parameters
    ----------
    cost : torch.Tensor
        (B, n, m) float64 costs on the triton backend's device
        (:func:`~seqsim.kernels.torch_kernels.pair_costs`).
    n_len, m_len : torch.Tensor
        (B,) each pair's two lengths, on the same device.
    window : int
        The Sakoe-Chiba band's radius (widened to ``|n - m|``), or -1 for no band.
    normalization : int
        ``NORMALIZE_NONE``, ``NORMALIZE_SUM`` or ``NORMALIZE_PATH``
        (:func:`~seqsim.kernels.torch_kernels.normalize_dtw`).

    Returns
    -------
    torch.Tensor
        (B,) the normalised costs.

    Examples
    --------
    Costs [[0, 0], [1, 1]]: the path (0, 0), (1, 1) costs 1; divided by n + m = 4.

    >>> import torch
    >>> from seqsim.backends import resolve_backend
    >>> from seqsim.kernels.numba_kernels import NORMALIZE_SUM
    >>> from seqsim.kernels.triton_kernels import dtw_wavefront
    >>> device = resolve_backend("triton").device  # CUDA, or the CPU's interpreter
    >>> cost = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]], dtype=torch.float64, device=device)
    >>> lengths = torch.tensor([2], device=device)
    >>> dtw_wavefront(cost, lengths, lengths, -1, NORMALIZE_SUM).tolist()
    [0.25]
    """
    batch, rows, cols = cost.shape
    block = triton.next_power_of_2(rows + 1)
    device = cost.device
    total_buffer = torch.empty((batch, 3, block), dtype=torch.float64, device=device)
    steps_buffer = torch.empty((batch, 3, block), dtype=torch.int32, device=device)
    total = torch.empty(batch, dtype=torch.float64, device=device)
    steps = torch.empty(batch, dtype=torch.int32, device=device)
    _dtw_kernel[(batch,)](
        cost.contiguous(), n_len, m_len, total_buffer, steps_buffer, total, steps,
        rows, cols, window if window >= 0 else rows + cols,  # no band: one wider than any pair
        BLOCK=block, num_warps=min(16, max(1, block // 128)),
    )  # fmt: skip
    return normalize_dtw(total, steps, n_len, m_len, normalization)
