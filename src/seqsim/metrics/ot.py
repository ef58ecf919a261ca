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

from typing import Any, Literal

import numpy as np
import ot
from typing_extensions import Unpack

from ..backends import Backend
from ..checks import check_choice, check_count, check_flag, check_positive
from ..kernels import numba_kernels, torch_kernels
from ..sequences import PackedSequences, SequencesLike
from .base import (
    Metric,
    RunOptions,
    blockwise_scores,
    check_run_options,
    pack_pair,
    register_metric,
)

OTSolver = Literal["exact", "sinkhorn"]
EMD_MAX_ITERATIONS = 10_000_000


def _check_options(solver: str, reg: float, max_iter: int, tol: float, log_domain: bool) -> None:
    check_choice("solver", solver, ("exact", "sinkhorn"))
    check_positive("reg", reg)
    check_count("max_iter", max_iter, 1)
    check_positive("tol", tol)
    check_flag("log_domain", log_domain)
    if solver == "sinkhorn" and not log_domain and reg < numba_kernels.MIN_SINKHORN_REG:
        raise ValueError(
            f"reg must be at least {numba_kernels.MIN_SINKHORN_REG} (got {reg}): smaller values "
            "underflow exp(-cost / reg); pass log_domain=True, or use solver='exact'"
        )


def _emd_tiles(queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
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


def ot_matrix(
    queries: SequencesLike,
    candidates: SequencesLike,
    *,
    solver: OTSolver = "exact",
    reg: float = 0.05,
    max_iter: int = 1000,
    tol: float = 1e-6,
    log_domain: bool = False,
    backend: str | Backend = "auto",
    working_memory: float | None = None,
    progress: bool = False,
) -> np.ndarray:
    """OT similarity ``1 - cost`` of every query against every candidate; see the module doc.

    ``reg``, ``max_iter``, ``tol`` (row-marginal L1 error) and ``log_domain`` apply to the
    Sinkhorn solver.
    """
    _check_options(solver, reg, max_iter, tol, log_domain)
    resolved = check_run_options(backend, working_memory, progress)
    packed_queries, packed_candidates = pack_pair(queries, candidates)

    def sinkhorn_numba(q: PackedSequences, c: PackedSequences) -> np.ndarray:
        cosines = numba_kernels.cosine_block(q, c)
        return numba_kernels.sinkhorn_tiles(
            cosines, q.offsets, c.offsets, reg, max_iter, tol, log_domain
        )

    def sinkhorn_torch(q: PackedSequences, c: PackedSequences) -> np.ndarray:
        cost, q_len, c_len = torch_kernels.pair_costs(q, c)
        result = torch_kernels.sinkhorn_batched(cost, q_len, c_len, reg, max_iter, tol, log_domain)
        return result.view(1, len(q), len(c)).cpu().numpy()

    exact = solver == "exact"
    (costs,) = blockwise_scores(
        packed_queries,
        packed_candidates,
        resolved,
        numba_scorer=_emd_tiles if exact else sinkhorn_numba,
        torch_scorer=None if exact else sinkhorn_torch,
        kinds=1,
        bytes_per_cell=48,
        working_memory_mb=working_memory,
        progress=progress,
    )
    return 1.0 - costs


@register_metric("ot")
class OTSim(Metric):
    """Optimal-transport similarity over cosine distance; see :func:`ot_matrix`."""

    def __init__(
        self,
        solver: OTSolver = "exact",
        reg: float = 0.05,
        max_iter: int = 1000,
        tol: float = 1e-6,
        log_domain: bool = False,
        **run_options: Unpack[RunOptions],
    ) -> None:
        super().__init__(**run_options)
        _check_options(solver, reg, max_iter, tol, log_domain)
        self.solver = solver
        self.reg = reg
        self.max_iter = max_iter
        self.tol = tol
        self.log_domain = log_domain

    def matrix(self, queries: SequencesLike, candidates: SequencesLike) -> np.ndarray:
        return ot_matrix(queries, candidates, **self._options(), **self._run_options())

    @property
    def symmetric(self) -> bool:
        # Sinkhorn stops on the row marginals only, so it is symmetric only up to ``tol``
        return self.solver == "exact"

    def _options(self) -> dict[str, Any]:
        return {
            "solver": self.solver,
            "reg": self.reg,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "log_domain": self.log_domain,
        }
