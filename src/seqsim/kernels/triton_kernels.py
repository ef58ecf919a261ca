"""Fused SeqSim kernel in Triton: runs on CUDA, or on the CPU under ``TRITON_INTERPRET=1``.

Packed inputs (frames back to back, offsets), no padding. One program takes one tile of
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
"""

from __future__ import annotations

import os

import numpy as np
import torch
import triton
import triton.language as tl

from ..sequences import PackedSequences


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
    """Precision and recall (2, Nq, Nc) of prepared blocks (see ``unit_tensor_block``)."""
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
    # float32, so the widened kernel computes the same numbers as the GPU's bfloat16 dot.
    widen = q.dtype == torch.bfloat16 and os.environ.get("TRITON_INTERPRET") == "1"
    if widen:
        precision_mode = "ieee"
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
