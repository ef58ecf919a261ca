"""The yardstick: one dense bf16 (16384 x d) @ (d x 16384) product per width d, the figure
that every SeqSim FLOP rate is a fraction of (``benchmarks/test_scaling.py``'s shape)."""

from __future__ import annotations

from ..figures import Figure, PartLog
from ..sizing import Deadline
from . import target

REPEATS = 10


def run(log: PartLog, deadline: Deadline) -> None:
    import torch
    from test_scaling import DIMS, GEMM_ROWS, gemm_group

    from ..timing import event_seconds

    for dim in DIMS:
        a = torch.randn(GEMM_ROWS, dim, device=target.DEVICE, dtype=torch.bfloat16)
        b = torch.randn(GEMM_ROWS, dim, device=target.DEVICE, dtype=torch.bfloat16)
        seconds = event_seconds(lambda a=a, b=b: a @ b.T, REPEATS)
        log.figure(
            Figure(
                "gemm",
                "torch matmul, bf16",
                f"{GEMM_ROWS} x {dim} x {GEMM_ROWS}",
                gemm_group(dim),
                seconds=seconds,
                flops=2.0 * GEMM_ROWS * GEMM_ROWS * dim,
                yardstick=gemm_group(dim),
                note=f"mean of {REPEATS} after a warm-up",
            )
        )
