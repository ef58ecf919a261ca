"""Batched Sinkhorn (OTSim, reg 0.05, scaling and float32 log-domain) on CUDA against POT's
per-pair ``ot.emd2``, the exact OT that Sinkhorn approximates, on the CPU."""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import replace

from ..figures import Figure, PartLog
from ..sizing import Deadline, Series
from . import target

DEVICE_SIZES = (200, 500, 1000)
PEER_SIZE = 20
REG = 0.05


def run(log: PartLog, deadline: Deadline) -> None:
    peer = Figure(
        "sinkhorn",
        "POT emd2 per pair (CPU, peer)",
        f"{PEER_SIZE} x {PEER_SIZE}",
        "sinkhorn",
        items=PEER_SIZE * PEER_SIZE,
        peer=True,
    )
    if importlib.util.find_spec("ot") is None:  # seqsim itself imports POT
        log.figure(replace(peer, status="missing: POT is not importable (carry its wheel)"))
        return

    import numpy as np
    from harness import make_sequences, pot_emd2_per_pair

    from seqsim import OTSim

    sequences = make_sequences(np.random.default_rng(2024), max(DEVICE_SIZES))
    subset = sequences[:PEER_SIZE]
    Series(deadline).run(log, 1.0, lambda: pot_emd2_per_pair(subset, subset), peer)
    for log_domain in (False, True):
        metric = OTSim(
            "sinkhorn", reg=REG, log_domain=log_domain, backend="torch", device=target.DEVICE
        )
        domain = "log-domain" if log_domain else "scaling"
        series = Series(deadline)
        with warnings.catch_warnings():  # unconverged pairs are counted, not the point here
            warnings.simplefilter("ignore")
            metric.matrix(sequences[:2], sequences[:2])
            for size in DEVICE_SIZES:
                subset = sequences[:size]
                figure = Figure(
                    "sinkhorn",
                    f"OTSim Sinkhorn reg {REG} {domain}, {metric.backend}",
                    f"{size} x {size}",
                    "sinkhorn",
                    items=size * size,
                )
                series.run(log, size * size, lambda m=metric, s=subset: m.matrix(s, s), figure)
