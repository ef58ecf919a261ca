"""OTSim: optimal transport between the two frame sets, similarity ``1 - transport cost``.

Both sequences are uniform distributions over their unit frames (no positional term); the
ground cost is ``1 - x.y``. ``solver="exact"`` solves the earth mover's distance with POT's
network simplex (on the CPU, one pair at a time, whatever the backend). ``solver="sinkhorn"``
solves the entropic problem by Sinkhorn scaling in float64, batched over many pairs (``reg``
at least 0.005, where ``exp(-cost / reg)`` stays clear of underflow), or with
``log_domain=True`` on the dual potentials with log-sum-exp (any ``reg``; float64 in numba,
float32 in torch, the GPU form), and reports the transport cost ``<plan, cost>`` of the
entropic plan; a smaller ``reg`` approaches the exact value.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np
import ot

from ..checks import check_choice, check_count, check_flag, check_positive
from ..kernels import BlockKernels, numba_kernels, torch_kernels
from ..sequences import PackedSequences
from .base import KernelMetric, metric_function, register_metric

OTSolver = Literal["exact", "sinkhorn"]
EMD_MAX_ITERATIONS = 10_000_000


def _emd_costs(queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
    cost = 1.0 - numba_kernels.cosine_block(queries, candidates).astype(np.float64)
    q_off, c_off = queries.offsets, candidates.offsets
    out = np.empty((1, len(q_off) - 1, len(c_off) - 1))
    for i in range(len(q_off) - 1):
        rows = cost[q_off[i] : q_off[i + 1]]
        weights_q = np.full(len(rows), 1.0 / len(rows))
        for j in range(len(c_off) - 1):
            tile = np.ascontiguousarray(rows[:, c_off[j] : c_off[j + 1]])
            weights_c = np.full(tile.shape[1], 1.0 / tile.shape[1])
            out[0, i, j] = ot.emd2(weights_q, weights_c, tile, numItermax=EMD_MAX_ITERATIONS)
    return out


def _sinkhorn_numba(
    reg: float,
    max_iter: int,
    tol: float,
    log_domain: bool,
    queries: PackedSequences,
    candidates: PackedSequences,
) -> np.ndarray:
    cosines = numba_kernels.cosine_block(queries, candidates)
    return numba_kernels.sinkhorn_tiles(
        cosines, queries.offsets, candidates.offsets, reg, max_iter, tol, log_domain
    )


def _sinkhorn_torch(
    reg: float,
    max_iter: int,
    tol: float,
    log_domain: bool,
    queries: PackedSequences,
    candidates: PackedSequences,
) -> np.ndarray:
    cost, q_len, c_len = torch_kernels.pair_costs(queries, candidates)
    result = torch_kernels.sinkhorn_batched(cost, q_len, c_len, reg, max_iter, tol, log_domain)
    return result.view(1, len(queries), len(candidates)).cpu().numpy()


@register_metric("ot")
@dataclass(eq=False, repr=False)
class OTSim(KernelMetric):
    """OT similarity ``1 - cost`` over cosine distance; see the module doc.

    ``reg``, ``max_iter``, ``tol`` (row-marginal L1 error) and ``log_domain`` apply to the
    Sinkhorn solver.
    """

    solver: OTSolver = "exact"
    reg: float = 0.05
    max_iter: int = 1000
    tol: float = 1e-6
    log_domain: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("solver", self.solver, ("exact", "sinkhorn"))
        check_positive("reg", self.reg)
        check_count("max_iter", self.max_iter, 1)
        check_positive("tol", self.tol)
        check_flag("log_domain", self.log_domain)
        minimum = numba_kernels.MIN_SINKHORN_REG
        if self.solver == "sinkhorn" and not self.log_domain and self.reg < minimum:
            raise ValueError(
                f"reg must be at least {minimum} (got {self.reg}): smaller values underflow "
                "exp(-cost / reg); pass log_domain=True, or use solver='exact'"
            )

    @property
    def kernels(self) -> BlockKernels:
        if self.solver == "exact":  # POT's network simplex: CPU only
            return BlockKernels(numba=_emd_costs, bytes_per_cell=48)
        sinkhorn = (self.reg, self.max_iter, self.tol, self.log_domain)
        return BlockKernels(
            numba=partial(_sinkhorn_numba, *sinkhorn),
            torch=partial(_sinkhorn_torch, *sinkhorn),
            bytes_per_cell=48,
        )

    def similarities(self, scores: np.ndarray) -> np.ndarray:
        return 1.0 - scores[0]

    @property
    def symmetric(self) -> bool:
        # Sinkhorn stops on the row marginals only, so it is symmetric only up to ``tol``
        return self.solver == "exact"


ot_matrix = metric_function(OTSim, OTSim.matrix, "ot_matrix")
