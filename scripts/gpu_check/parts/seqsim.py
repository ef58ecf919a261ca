"""SeqSim on CUDA from 1,000 to 20,000 utterances (Q = R = N, 100 to 200 frames, mean 150,
bf16 frames), d = 512 and 1280: the fused Triton kernel and the torch packed-GEMM kernel
against the padded-bmm peer (bert_score's way), each with its useful FLOPs (``2 d`` per frame
pair: both directions share one GEMM) as a fraction of the same run's dense GEMM.

The cases and the peer are ``benchmarks/test_scaling.py``'s. Sizes grow within each
(implementation, d) series, so each size's time is projected from the one before, and a size
that would overrun the part's budget is cut.
"""

from __future__ import annotations

from ..figures import Figure, PartLog
from ..sizing import Deadline, Series
from . import target

SIZES = (1000, 2000, 5000, 10000, 20000)
FRAMES = 200
"""Longest sequence: lengths are uniform from FRAMES // 2 to FRAMES (test_scaling's rule)."""
IMPLEMENTATIONS = ("triton", "torch", "padded bmm")


def run(log: PartLog, deadline: Deadline) -> None:
    import numpy as np
    from test_scaling import (
        DIMS,
        case_flops,
        case_lengths,
        case_sequences,
        gemm_group,
        padded_bmm_seqsim,
    )

    from seqsim import SeqSim

    series = {(name, dim): Series(deadline) for name in IMPLEMENTATIONS for dim in DIMS}
    for count in SIZES:
        for dim in DIMS:
            flops = case_flops(case_lengths(count, FRAMES), dim)
            sequences = case_sequences(count, FRAMES, dim)
            for name in IMPLEMENTATIONS:
                if name == "padded bmm":
                    function = lambda s=sequences: padded_bmm_seqsim(s)  # noqa: E731
                else:
                    metric = SeqSim(backend=name, device=target.DEVICE)
                    pair = sequences.subset(np.arange(2))
                    metric.matrix(pair, pair)  # compiles the kernel, outside the timing
                    function = lambda m=metric, s=sequences: m.matrix(s, s)  # noqa: E731
                figure = Figure(
                    "seqsim",
                    "padded bmm (peer)" if name == "padded bmm" else f"SeqSim, {name}",
                    f"{count} x {count}, d={dim}",
                    f"seqsim {count} d={dim}",
                    items=count * count,
                    flops=flops,
                    yardstick=gemm_group(dim),
                    peer=name == "padded bmm",
                )
                series[name, dim].run(log, flops, function, figure)
