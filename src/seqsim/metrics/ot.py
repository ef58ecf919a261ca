"""OTSim: optimal transport between the two frame sets, similarity ``1 - transport cost``;
see :class:`OTSim`. Sinkhorn's pairs left unconverged are warned about with
:class:`SinkhornConvergenceWarning`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np
import ot
import torch

from ..checks import check_choice, check_count, check_flag, check_positive
from ..kernels import BlockKernels, numba_kernels, torch_kernels
from ..sequences import PackedSequences
from .base import KernelMetric, metric_function, register_metric

OTSolver = Literal["exact", "sinkhorn"]
EMD_MAX_ITERATIONS = 10_000_000
UNCONVERGED_PAIRS = "sinkhorn_unconverged_pairs"
"""The diagnostics' name for the pairs whose Sinkhorn stopped at ``max_iter`` unconverged."""


class SinkhornConvergenceWarning(UserWarning):
    """Sinkhorn stopped at ``max_iter`` for some pairs before the row marginals of their plan
    came within ``tol``: their similarities are those of an unconverged plan.

    Issued once per call of :class:`OTSim` ``(solver="sinkhorn")`` with the number of such
    pairs; raise ``max_iter`` or ``reg``.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from seqsim import OTSim
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = OTSim("sinkhorn", max_iter=1, tol=1e-9, backend="numba")(x, y)
    >>> caught[0].category.__name__, str(caught[0].message)
    ('SinkhornConvergenceWarning', 'OTSim: Sinkhorn did not converge for 1 of 1 pairs within
    max_iter=1 (tol=1e-09); raise max_iter or reg')
    """


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
    result, converged = torch_kernels.sinkhorn_batched(
        cost, q_len, c_len, reg, max_iter, tol, log_domain
    )
    scores = torch.stack([result, converged.double()])
    return scores.view(2, len(queries), len(candidates)).cpu().numpy()


@register_metric("ot")
@dataclass(eq=False, repr=False)
class OTSim(KernelMetric):
    """OT similarity ``1 - cost``: optimal transport between the two frame sets.

    Both sequences are uniform distributions over their unit frames (no positional term); the
    ground cost is ``c(i, j) = 1 - x_i.y_j``. For a query of n frames and a candidate of m::

        OTSim = 1 - min over plans T >= 0 with T 1 = 1/n, T' 1 = 1/m of  sum_ij T_ij c(i, j)

    ``solver="exact"`` solves this earth mover's distance with POT's network simplex
    (``ot.emd2``; on the CPU, one pair at a time, whatever the backend). ``solver="sinkhorn"``
    solves the entropic problem (``+ reg * sum_ij T_ij log T_ij``) by Sinkhorn scaling in
    float64, batched over many pairs, or with ``log_domain=True`` on the dual potentials
    ``f = reg log u``, ``g = reg log v`` with log-sum-exp (float64 in numba, float32 in torch,
    the GPU form), and reports the transport cost ``<plan, cost>`` of the entropic plan (the
    entropy term left out); a smaller ``reg`` approaches the exact value.

    Sinkhorn is honest about stopping: its kernels also score each pair's convergence (1
    converged, 0 not); the pairs whose plan has not come within ``tol`` after ``max_iter``
    updates are counted in :meth:`~seqsim.Metric.diagnostics` (the evaluator records them in
    its results) and warned about once per call (:class:`SinkhornConvergenceWarning`); their
    scores are those of the last plan.

    Parameters
    ----------
    solver : {"exact", "sinkhorn"}, default "exact"
        The exact network simplex, or Sinkhorn's entropic approximation.
    reg : float, default 0.05
        Sinkhorn's entropic regularisation, a positive finite number: at least 0.005
        (:data:`~seqsim.kernels.numba_kernels.MIN_SINKHORN_REG`), where ``exp(-cost / reg)``
        stays clear of float64 underflow, unless ``log_domain=True`` (any ``reg``). The exact
        solver ignores it.
    max_iter : int, default 1000
        The most Sinkhorn updates per pair (an integer >= 1).
    tol : float, default 1e-6
        Sinkhorn stops at the first plan whose row marginals are within ``tol`` in L1 (the
        column marginals are exact after each update); a positive finite number.
    log_domain : bool, default False
        Run Sinkhorn on the dual potentials with log-sum-exp: the same iterates, stable for
        any ``reg``.
    backend, device, working_memory, progress
        The keyword-only run options of every :class:`~seqsim.metrics.Metric`.

    Raises
    ------
    ValueError
        If an option is not one of the accepted values: an unknown ``solver``, a ``reg`` or
        ``tol`` that is not a positive finite number, a ``max_iter`` that is not an integer
        >= 1, a ``log_domain`` that is not a bool, a Sinkhorn ``reg`` below 0.005 without
        ``log_domain=True``, or a bad run option.

    Examples
    --------
    Identical uniform sets: each frame's mass goes to its copy at cost 0. Two orthogonal
    frames against the first of them: half the mass stays (cost 0), half moves to an
    orthogonal frame (cost 1), so the cost is 0.5.

    >>> import numpy as np
    >>> from seqsim import OTSim
    >>> x = np.eye(2)
    >>> OTSim()(x, x), OTSim()(x, x[:1])
    (1.0, 0.5)

    Sinkhorn's entropic plan is close to the exact one for a small ``reg``:

    >>> round(OTSim("sinkhorn")(x, x), 4)
    1.0
    >>> OTSim("sinkhorn", reg=0.001)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: reg must be at least 0.005 (got 0.001): ...
    >>> round(OTSim("sinkhorn", reg=0.001, log_domain=True)(x, x), 4)
    1.0
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
        """POT's network simplex on the CPU (exact), or the numba and torch Sinkhorn kernels,
        which score the transport cost and whether each pair converged (``kinds=2``)."""
        if self.solver == "exact":  # POT's network simplex: CPU only
            return BlockKernels(numba=_emd_costs, bytes_per_cell=48)
        sinkhorn = (self.reg, self.max_iter, self.tol, self.log_domain)
        return BlockKernels(
            numba=partial(_sinkhorn_numba, *sinkhorn),
            torch=partial(_sinkhorn_torch, *sinkhorn),
            kinds=2,  # transport cost, converged
            bytes_per_cell=48,
        )

    def similarities(self, scores: np.ndarray) -> np.ndarray:
        """The similarities ``1 - cost`` from the kernels' transport costs (the first kind).

        Parameters
        ----------
        scores : numpy.ndarray
            The kernels' scores (kinds, Q, R): transport costs, then (Sinkhorn) convergence.

        Returns
        -------
        numpy.ndarray
            The (Q, R) similarities.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import OTSim
        >>> OTSim().similarities(np.array([[[0.25, 0.0]]]))
        array([[0.75, 1.  ]])
        """
        return 1.0 - scores[0]

    def diagnose(self, scores: np.ndarray) -> dict[str, int]:
        """Sinkhorn's pairs left unconverged, and all its pairs, from the converged kind.

        Parameters
        ----------
        scores : numpy.ndarray
            The kernels' scores (kinds, Q, R) of one call.

        Returns
        -------
        dict[str, int]
            ``{"sinkhorn_unconverged_pairs": n, "pairs": m}``; empty for the exact solver.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import OTSim
        >>> costs, converged = [[0.1, 0.2]], [[1.0, 0.0]]
        >>> OTSim("sinkhorn").diagnose(np.array([costs, converged]))
        {'sinkhorn_unconverged_pairs': 1, 'pairs': 2}
        """
        if self.solver != "sinkhorn":
            return {}
        unconverged = int(np.count_nonzero(scores[1] == 0.0))
        return {UNCONVERGED_PAIRS: unconverged, "pairs": int(scores[1].size)}

    def diagnostics_warning(self, diagnostics: Mapping[str, int]) -> Warning | None:
        """A :class:`SinkhornConvergenceWarning` where the call left pairs unconverged.

        Parameters
        ----------
        diagnostics : Mapping[str, int]
            One call's counts, as :meth:`diagnose` gives them.

        Returns
        -------
        SinkhornConvergenceWarning or None
            The warning, naming the count, or None where every pair converged.

        Examples
        --------
        >>> from seqsim import OTSim
        >>> metric = OTSim("sinkhorn", max_iter=5)
        >>> counts = {"sinkhorn_unconverged_pairs": 2, "pairs": 10}
        >>> print(metric.diagnostics_warning(counts))  # doctest: +NORMALIZE_WHITESPACE
        OTSim: Sinkhorn did not converge for 2 of 10 pairs within max_iter=5 (tol=1e-06); raise
        max_iter or reg
        >>> metric.diagnostics_warning({"sinkhorn_unconverged_pairs": 0, "pairs": 10}) is None
        True
        """
        unconverged = diagnostics.get(UNCONVERGED_PAIRS, 0)
        if not unconverged:
            return None
        return SinkhornConvergenceWarning(
            f"OTSim: Sinkhorn did not converge for {unconverged:,} of {diagnostics['pairs']:,} "
            f"pairs within max_iter={self.max_iter} (tol={self.tol:g}); raise max_iter or reg"
        )

    @property
    def symmetric(self) -> bool:
        """True for the exact solver: Sinkhorn stops on the row marginals only, so it is
        symmetric only up to ``tol``."""
        return self.solver == "exact"


ot_matrix = metric_function(OTSim, OTSim.matrix, "ot_matrix")
