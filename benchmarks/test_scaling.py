"""How SeqSim's cost grows with Q, R, frames and d, on the device this runs on.

Every case times seqsim's backends next to the padded-bmm approach of common late-interaction
code (pad every sequence to the longest, one batched GEMM per chunk of pairs, masked maxima),
and reports FLOP throughput as a fraction of a dense GEMM of the same width and dtype measured
in the same run. On a CPU: numba and torch, float32. On CUDA: the fused Triton kernel and the
torch packed-GEMM kernel, bfloat16 inputs with float32 accumulation.

Sequence lengths are uniform between half the case's frame count and the full count. The
candidates are the queries (a self-similarity matrix), so the largest case fits in memory.
A case whose GEMM time alone, at the rate measured in this run, would exceed
``--scaling-budget`` seconds is skipped; the skip message gives that projection.

Run: ``python -m pytest benchmarks/test_scaling.py -rs``.
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import pytest
import torch
from harness import fastest_seconds, measure

from seqsim import SeqSim
from seqsim.sequences import PackedSequences

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
DTYPE = torch.bfloat16 if CUDA else torch.float32
DTYPE_NAME = str(DTYPE).removeprefix("torch.")
SIZES = (100, 300, 1000, 3000, 10000)
FRAMES = (50, 150, 500, 1500)
DIMS = (512, 1280)
GEMM_ROWS = 16384 if CUDA else 8192
PADDED_CHUNK_BYTES = 256 * 2**20
IMPLEMENTATIONS = ["triton", "torch"] if CUDA else ["numba", "torch"]
if CUDA and importlib.util.find_spec("triton") is None:
    IMPLEMENTATIONS.remove("triton")

GEMM_SECONDS_PER_FLOP: dict[int, float] = {}


def synchronize() -> None:
    if CUDA:
        torch.cuda.synchronize()


def gemm_group(dim: int) -> str:
    return f"gemm d={dim} {DTYPE_NAME}"


GEMM_LIBRARIES = ["torch"] if CUDA else ["torch", "numpy"]


@pytest.mark.parametrize("library", GEMM_LIBRARIES)
@pytest.mark.parametrize("dim", DIMS)
def test_dense_gemm(benchmark, dim, library):
    """The yardstick: one (GEMM_ROWS x dim) @ (dim x GEMM_ROWS) product; on the CPU the faster
    of torch's and numpy's BLAS (numba's kernels call numpy's)."""
    a = torch.randn(GEMM_ROWS, dim, device=DEVICE, dtype=DTYPE)
    b = torch.randn(GEMM_ROWS, dim, device=DEVICE, dtype=DTYPE)
    flops = 2.0 * GEMM_ROWS * GEMM_ROWS * dim
    if library == "numpy":
        a_array, b_array = a.numpy(), b.numpy()
        product = lambda: a_array @ b_array.T  # noqa: E731
    else:

        def product() -> None:
            a @ b.T
            synchronize()

    measure(
        benchmark,
        product,
        group=gemm_group(dim),
        name=f"{library} matmul {GEMM_ROWS} x {dim} x {GEMM_ROWS}",
        items=0,
        flops=flops,
        warmup_rounds=1,
        yardstick=gemm_group(dim),
    )
    seconds = fastest_seconds(benchmark)
    if seconds is not None:
        GEMM_SECONDS_PER_FLOP[dim] = min(GEMM_SECONDS_PER_FLOP.get(dim, np.inf), seconds / flops)


def case_lengths(count: int, frames: int) -> np.ndarray:
    generator = np.random.default_rng(count * frames)
    return generator.integers(frames // 2, frames + 1, size=count)


@functools.lru_cache(maxsize=1)
def case_sequences(count: int, frames: int, dim: int) -> PackedSequences:
    """Random frames (the cost does not depend on the values) on the benchmark device."""
    lengths = case_lengths(count, frames)
    generator = torch.Generator(device=DEVICE).manual_seed(count * frames + dim)
    shape = (int(lengths.sum()), dim)
    values = torch.randn(shape, generator=generator, device=DEVICE).to(DTYPE)
    return PackedSequences.from_lengths(values, lengths)


def case_flops(lengths: np.ndarray, dim: int) -> float:
    """FLOPs of all frame dot products of the self-similarity matrix."""
    return 2.0 * float(lengths.sum()) ** 2 * dim


def padded_bmm_seqsim(sequences: PackedSequences) -> np.ndarray:
    """SeqSim as late-interaction code computes it: sequences padded to the longest, then for a
    chunk of queries against all candidates one (q, r, n, m) product and masked maxima."""
    lengths = torch.as_tensor(sequences.lengths, device=DEVICE)
    longest, count = int(lengths.max()), len(sequences)
    padded = sequences.frames.new_zeros(count, longest, sequences.dim)
    valid = torch.arange(longest, device=DEVICE)[None, :] < lengths[:, None]
    padded[valid] = torch.nn.functional.normalize(sequences.frames.float(), dim=1).to(DTYPE)
    out = torch.empty(count, count, dtype=torch.float64, device=DEVICE)
    chunk = max(1, PADDED_CHUNK_BYTES // (4 * count * longest * longest))
    for start in range(0, count, chunk):
        queries = padded[start : start + chunk]
        cosines = torch.einsum("qnd,rmd->qrnm", queries, padded).float()
        row_valid = valid[start : start + chunk, None, :, None]
        column_valid = valid[None, :, None, :]
        cosines.masked_fill_(~(row_valid & column_valid), -torch.inf)
        recall = cosines.amax(dim=3).masked_fill(~row_valid[..., 0], 0).sum(dim=2)
        precision = cosines.amax(dim=2).masked_fill(~column_valid[:, :, 0], 0).sum(dim=2)
        recall = recall.double() / lengths[start : start + chunk, None]
        precision = precision.double() / lengths[None, :]
        out[start : start + chunk] = 2 * precision * recall / (precision + recall)
    return out.cpu().numpy()


CASES = [
    pytest.param(count, frames, dim, id=f"{count}x{count}-{frames}f-d{dim}")
    for dim in DIMS
    for frames in FRAMES
    for count in SIZES
]


@pytest.mark.parametrize("implementation", [*IMPLEMENTATIONS, "padded bmm"])
@pytest.mark.parametrize(("count", "frames", "dim"), CASES)
def test_seqsim_scaling(benchmark, scaling_budget, count, frames, dim, implementation):
    if dim not in GEMM_SECONDS_PER_FLOP:
        pytest.skip(f"no GEMM yardstick measured for d={dim} in this run")
    flops = case_flops(case_lengths(count, frames), dim)
    projected = flops * GEMM_SECONDS_PER_FLOP[dim]
    if projected > scaling_budget:
        pytest.skip(
            f"{count} x {count}, {frames} frames, d={dim}: projected {format_duration(projected)} "
            f"at this run's GEMM rate, over the {scaling_budget:g} s budget"
        )
    sequences = case_sequences(count, frames, dim)
    if implementation == "padded bmm":
        function = lambda: padded_bmm_seqsim(sequences)  # noqa: E731
        padded_flops = 2.0 * (count * int(sequences.lengths.max())) ** 2 * dim
        name = f"padded bmm ({100 * flops / padded_flops:.0f} % of its FLOPs useful)"
    else:
        metric = SeqSim(backend=implementation, device=DEVICE)
        metric.matrix(sequences.subset(np.arange(2)), sequences.subset(np.arange(2)))  # compile
        function = lambda: metric.matrix(sequences, sequences)  # noqa: E731
        name = f"SeqSim, {implementation}"
    measure(
        benchmark,
        function,
        group=f"seqsim {count} x {count}, {frames} frames, d={dim}",
        name=name,
        items=count * count,
        flops=flops,
        baseline=implementation == "padded bmm",
        rounds=1,
        yardstick=gemm_group(dim),
    )


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def test_padded_bmm_computes_seqsim():
    """The peer computes the same numbers as seqsim (checked on a small case, untimed)."""
    sequences = case_sequences(12, 40, 64)
    expected = SeqSim(backend=IMPLEMENTATIONS[-1], device=DEVICE).matrix(sequences, sequences)
    tolerance = 2e-2 if CUDA else 1e-5
    np.testing.assert_allclose(padded_bmm_seqsim(sequences), expected, atol=tolerance)
