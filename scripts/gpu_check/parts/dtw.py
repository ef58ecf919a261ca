"""Exact DTW on CUDA, the torch wavefront and the one-launch Triton kernel, against numba on
the CPU, on the benchmarks' sequences (about 150 frames, d = 512, float32)."""

from __future__ import annotations

import warnings

from ..figures import Figure, PartLog
from ..sizing import Deadline, Series
from . import target

DEVICE_SIZES = (200, 500, 1000)
DEVICE_BACKENDS = ("torch", "triton")
PEER_SIZE = 200
"""numba's size: a few seconds on the device's CPU cores."""


def run(log: PartLog, deadline: Deadline) -> None:
    import numpy as np
    from harness import make_sequences

    from seqsim import DTWSim

    sequences = make_sequences(np.random.default_rng(2024), max(DEVICE_SIZES))
    runs = [("numba", None, (PEER_SIZE,))]
    runs += [(backend, target.DEVICE, DEVICE_SIZES) for backend in DEVICE_BACKENDS]
    for backend, device, sizes in runs:
        metric = DTWSim(backend=backend, device=device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric.matrix(sequences[:2], sequences[:2])  # compiles, outside the timing
        series = Series(deadline)
        for size in sizes:
            subset = sequences[:size]
            figure = Figure(
                "dtw",
                f"DTWSim exact, {metric.backend}" + (" (CPU, peer)" if device is None else ""),
                f"{size} x {size}",
                "dtw",
                items=size * size,
                peer=device is None,
            )
            series.run(log, size * size, lambda m=metric, s=subset: m.matrix(s, s), figure)
