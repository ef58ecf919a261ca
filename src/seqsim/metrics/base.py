"""The metric interface, the block driver every metric shares, and the metric registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar, TypedDict

import numpy as np
import torch

from ..backends import Backend, check_working_memory, resolve_backend
from ..blocks import score_all_pairs
from ..checks import check_flag
from ..kernels.numba_kernels import unit_numpy_block
from ..kernels.torch_kernels import unit_tensor_block
from ..sequences import (
    HALF_DTYPES,
    Frames,
    PackedSequences,
    SequencesLike,
    as_packed,
    to_float32_numpy,
)

NumbaScorer = Callable[[PackedSequences, PackedSequences], np.ndarray]
"""(query block, candidate block) as unit-norm float32 numpy frames -> (k, Qb, Rb)."""
TensorScorer = Callable[[PackedSequences, PackedSequences], np.ndarray]
"""(query block, candidate block) as packed unit-norm tensors on the device -> (k, Qb, Rb)."""


def check_run_options(
    backend: str | Backend,
    working_memory: object,
    progress: object,
    device: str | torch.device | None = None,
) -> Backend:
    """Check the options every metric takes, before any work; return the resolved backend.

    Both the metric classes and the functions of :mod:`seqsim.functional` call it first.
    """
    check_working_memory(working_memory)
    check_flag("progress", progress)
    return resolve_backend(backend, device)


def pack_pair(
    queries: SequencesLike, candidates: SequencesLike
) -> tuple[PackedSequences, PackedSequences]:
    """Validate and pack both sides; their frame dimensions must agree."""
    packed_queries = as_packed(queries, "queries")
    packed_candidates = as_packed(candidates, "candidates", dim=packed_queries.dim)
    return packed_queries, packed_candidates


def blockwise_scores(
    queries: PackedSequences,
    candidates: PackedSequences,
    backend: str | Backend,
    *,
    numba_scorer: NumbaScorer,
    torch_scorer: TensorScorer | None,
    triton_scorer: TensorScorer | None = None,
    kinds: int,
    bytes_per_cell: int,
    working_memory_mb: float | None,
    progress: bool,
) -> np.ndarray:
    """Scores (kinds, Q, R) from the backend's block scorer, within ``working_memory_mb``
    (None: the backend's default, see :meth:`Backend.default_working_memory_mb`).

    Without a ``torch_scorer`` (a CPU-only algorithm) the numba scorer runs whatever the backend;
    the triton backend uses the ``triton_scorer`` where there is one, else the torch scorer.
    On CUDA the candidates are moved to the device once when they fit in a quarter of its free
    memory, instead of once per query block.
    """
    resolved = resolve_backend(backend)
    keep_candidates = False
    scorer: Callable[[Any, Any], np.ndarray]
    prepare: Callable[[PackedSequences], Any]
    if resolved.name == "numba" or torch_scorer is None:
        scorer, prepare = numba_scorer, unit_numpy_block
    else:
        use_triton = resolved.name == "triton" and triton_scorer is not None
        scorer = triton_scorer if use_triton and triton_scorer else torch_scorer
        prepare = partial(unit_tensor_block, device=resolved.device)
        keep_candidates = fits_in_device_memory(candidates, resolved.device)
    if working_memory_mb is None:
        working_memory_mb = resolved.default_working_memory_mb()
    return score_all_pairs(
        queries,
        candidates,
        scorer,
        prepare=prepare,
        kinds=kinds,
        working_memory_mb=working_memory_mb,
        bytes_per_cell=bytes_per_cell,
        keep_prepared_candidates=keep_candidates,
        progress=progress,
    )


def fits_in_device_memory(sequences: PackedSequences, device: torch.device) -> bool:
    """Whether prepared copies of ``sequences`` fit in a quarter of the free CUDA memory."""
    if device.type != "cuda":
        return False
    itemsize = 2 if getattr(sequences.frames, "dtype", None) in HALF_DTYPES else 4
    free_bytes, _ = torch.cuda.mem_get_info(device)
    return sequences.frames.shape[0] * sequences.dim * itemsize <= free_bytes // 4


class RunOptions(TypedDict, total=False):
    """Where and how a metric runs; every metric class takes these keywords."""

    backend: str
    device: str | torch.device | None
    working_memory: float | None
    progress: bool


class Metric(ABC):
    """A similarity between two frame sequences; higher means more similar.

    Call it on one pair, ``metric(x, y) -> float``, or on two lists, ``metric.matrix(queries,
    candidates) -> (Q, R)`` array. Each built-in metric is a thin class over a function of
    the same name in :mod:`seqsim.functional`.
    """

    name: ClassVar[str] = ""

    @property
    def symmetric(self) -> bool:
        """Whether ``matrix(a, b)`` is exactly ``matrix(b, a).T`` (lets callers skip half)."""
        return False

    def __init__(
        self,
        *,
        backend: str = "auto",
        device: str | torch.device | None = None,
        working_memory: float | None = None,
        progress: bool = False,
    ) -> None:
        self.backend = check_run_options(backend, working_memory, progress, device)
        self.working_memory = working_memory
        self.progress = progress

    def __call__(self, x: Frames, y: Frames) -> float:
        """Similarity of one pair of (frames, dim) sequences."""
        return float(self.matrix([x], [y])[0, 0])

    @abstractmethod
    def matrix(self, queries: SequencesLike, candidates: SequencesLike) -> np.ndarray:
        """Similarities of every query with every candidate, as a float64 (Q, R) array."""

    def _run_options(self) -> dict[str, Any]:
        """Where and how to run: the keyword arguments every functional metric takes."""
        return {
            "backend": self.backend,
            "working_memory": self.working_memory,
            "progress": self.progress,
        }

    def settings(self) -> dict[str, Any]:
        """The options that determine this metric's numbers (used in result hashes)."""
        return {"metric": self.name, **self._options()}

    def _options(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        return f"{type(self).__name__}({options}{', ' if options else ''}backend='{self.backend}')"


class PairwiseMetric(Metric):
    """A metric from a plain function ``f(x, y) -> float`` on two float32 numpy sequences.

    It loops over pairs in Python: fine for prototyping a metric, slow on large corpora.
    """

    function: ClassVar[Callable[[np.ndarray, np.ndarray], float]]

    def matrix(self, queries: SequencesLike, candidates: SequencesLike) -> np.ndarray:
        queries, candidates = pack_pair(queries, candidates)
        function = type(self).function
        query_arrays = [to_float32_numpy(queries[i]) for i in range(len(queries))]
        candidate_arrays = [to_float32_numpy(candidates[j]) for j in range(len(candidates))]
        return np.array(
            [[function(x, y) for y in candidate_arrays] for x in query_arrays], dtype=np.float64
        )


_REGISTRY: dict[str, type[Metric]] = {}


def register_metric(name: str, *, overwrite: bool = False) -> Callable[[Any], Any]:
    """Decorator that registers a :class:`Metric` subclass, or a function ``f(x, y) -> float``,
    under ``name`` so that :func:`get_metric`, the evaluator and the CLI can select it."""
    key = name.lower()

    def decorate(target: Any) -> Any:
        if key in _REGISTRY and not overwrite:
            raise ValueError(f"a metric named {name!r} is registered already (pass overwrite=True)")
        if isinstance(target, type) and issubclass(target, Metric):
            metric_class = target
        elif callable(target):
            metric_class = type(
                f"Pairwise_{key}",
                (PairwiseMetric,),
                {"function": staticmethod(target), "__doc__": target.__doc__},
            )
        else:
            raise TypeError(f"cannot register {target!r}: expected a Metric subclass or a function")
        metric_class.name = key
        _REGISTRY[key] = metric_class
        return target

    return decorate


def get_metric(name: str, **options: Any) -> Metric:
    """A new instance of the metric registered as ``name`` (case-insensitive), with ``options``."""
    try:
        metric_class = _REGISTRY[name.lower()]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown metric {name!r}; registered metrics: {known}") from None
    return metric_class(**options)


def available_metrics() -> list[str]:
    """Names of all registered metrics."""
    return sorted(_REGISTRY)
