"""The metric interface, the metrics scored by block kernels, and the metric registry.

A metric's options are declared once, as the dataclass fields of its class: the constructor,
the plain function of :mod:`seqsim.functional` (:func:`metric_function`), :meth:`Metric.settings`
and ``repr`` all derive from them. Which block kernel runs on which backend is decided in
:mod:`seqsim.kernels`.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

import numpy as np
import torch

from ..backends import Backend, check_working_memory, resolve_backend
from ..blocks import plan_blocks
from ..checks import check_flag
from ..kernels import BlockKernels, blockwise_scores
from ..sequences import Frames, PackedSequences, SequencesLike, as_packed, to_float32_numpy

P = ParamSpec("P")
M = TypeVar("M", bound="Metric")
R = TypeVar("R")


def pack_pair(
    queries: SequencesLike, candidates: SequencesLike
) -> tuple[PackedSequences, PackedSequences]:
    """Validate and pack both sides; their frame dimensions must agree."""
    packed_queries = as_packed(queries, "queries")
    packed_candidates = as_packed(candidates, "candidates", dim=packed_queries.dim)
    return packed_queries, packed_candidates


@dataclass(eq=False, repr=False)
class Metric(ABC):
    """A similarity between two frame sequences; higher means more similar.

    Call it on one pair, ``metric(x, y) -> float``, or on two lists, ``metric.matrix(queries,
    candidates) -> (Q, R)`` array. Every metric takes the keyword-only run options below; its
    own options are the dataclass fields of its class (``@dataclass(eq=False, repr=False)``).
    ``backend`` holds the resolved :class:`~seqsim.backends.Backend` once built.
    """

    name: ClassVar[str] = ""
    backend: str | Backend = field(default="auto", kw_only=True)
    device: str | torch.device | None = field(default=None, kw_only=True)
    working_memory: float | None = field(default=None, kw_only=True)
    progress: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        """Check the run options before any work; subclasses check their own options after."""
        check_working_memory(self.working_memory)
        check_flag("progress", self.progress)
        self._requested_backend = self.backend
        self.backend = resolve_backend(self.backend, self.device)

    def resolved_here(self: M) -> M:
        """This metric with its backend resolved anew on the machine that calls this, from
        the ``backend`` and ``device`` it was given (``"auto"`` picks this machine's CUDA):
        what a cluster worker runs of a metric built elsewhere."""
        return replace(self, backend=self._requested_backend)  # type: ignore[arg-type]

    @property
    def symmetric(self) -> bool:
        """Whether ``matrix(a, b)`` is exactly ``matrix(b, a).T`` (lets callers skip half)."""
        return False

    def __call__(self, x: Frames, y: Frames) -> float:
        """Similarity of one pair of (frames, dim) sequences."""
        return float(self.matrix([x], [y])[0, 0])

    @abstractmethod
    def matrix(self, queries: SequencesLike, candidates: SequencesLike) -> np.ndarray:
        """Similarities of every query with every candidate, as a float64 (Q, R) array."""

    def checked_matrix(self, queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
        """:meth:`matrix` of sequences that :func:`~seqsim.sequences.as_packed` has checked
        already, without checking them again (for callers that score the same frames many
        times, such as a search index's rerank)."""
        return self.matrix(queries, candidates)

    def settings(self) -> dict[str, Any]:
        """The options that determine this metric's numbers (used in result hashes)."""
        return {"metric": self.name, **self._options()}

    def _options(self) -> dict[str, Any]:
        """The metric's own options: its fields other than the run options."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _RUN_OPTIONS}

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        return f"{type(self).__name__}({options}{', ' if options else ''}backend='{self.backend}')"


_RUN_OPTIONS = frozenset(f.name for f in fields(Metric))


class KernelMetric(Metric):
    """A metric scored by block kernels (:class:`~seqsim.kernels.BlockKernels`), on every
    backend, in blocks that fit the working memory.

    A subclass declares :attr:`kernels` (a property where they depend on its options) and,
    where its kernels' scores are not the similarities themselves, :meth:`similarities`.
    """

    @property
    @abstractmethod
    def kernels(self) -> BlockKernels:
        """The block scorers for this metric's options."""

    def block_scores(self, queries: SequencesLike, candidates: SequencesLike) -> np.ndarray:
        """The kernels' scores (kinds, Q, R) of every query against every candidate."""
        return self._checked_block_scores(*pack_pair(queries, candidates))

    def _checked_block_scores(
        self,
        queries: PackedSequences,
        candidates: PackedSequences,
        candidate_blocks: list[np.ndarray] | None = None,
    ) -> np.ndarray:
        return blockwise_scores(
            self.kernels,
            queries,
            candidates,
            self.backend,
            working_memory_mb=self.working_memory,
            candidate_blocks=candidate_blocks,
            progress=self.progress,
        )

    def block_plan(
        self, queries: PackedSequences, candidates: PackedSequences
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The query blocks and candidate blocks (index arrays) that :meth:`matrix` scores
        these sequences in, on this metric's backend: a cluster hands out the query blocks and
        the candidate blocks with them (:func:`seqsim.distributed.cluster_matrix`)."""
        working_memory = self.working_memory
        if working_memory is None:
            working_memory = resolve_backend(self.backend).default_working_memory_mb()
        return plan_blocks(queries, candidates, working_memory, self.kernels.bytes_per_cell)

    def similarities(self, scores: np.ndarray) -> np.ndarray:
        """The (Q, R) similarities from the kernels' scores: the first kind unless overridden."""
        return scores[0]

    def matrix(self, queries: SequencesLike, candidates: SequencesLike) -> np.ndarray:
        return self.similarities(self.block_scores(queries, candidates))

    def checked_matrix(
        self,
        queries: PackedSequences,
        candidates: PackedSequences,
        candidate_blocks: list[np.ndarray] | None = None,
    ) -> np.ndarray:
        """:meth:`Metric.checked_matrix`; with ``candidate_blocks`` (one query block of a
        :meth:`block_plan`), scored against exactly those candidate blocks."""
        return self.similarities(self._checked_block_scores(queries, candidates, candidate_blocks))


def metric_function(
    metric_class: Callable[P, M],
    method: Callable[[M, SequencesLike, SequencesLike], R],
    name: str,
) -> Callable[Concatenate[SequencesLike, SequencesLike, P], R]:
    """The plain-function form ``name(queries, candidates, **options)`` of a metric class:
    ``method`` of a metric built with ``options``, so options are checked (before the inputs)
    and documented once, by the class."""

    def function(
        queries: SequencesLike, candidates: SequencesLike, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        return method(metric_class(*args, **kwargs), queries, candidates)

    signature = inspect.signature(metric_class)
    sides = [
        inspect.Parameter(side, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="SequencesLike")
        for side in ("queries", "candidates")
    ]
    function.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*sides, *signature.parameters.values()],
        return_annotation=inspect.signature(method).return_annotation,
    )
    function.__name__ = function.__qualname__ = name
    function.__module__ = metric_class.__module__
    class_name = getattr(metric_class, "__name__", name)
    function.__doc__ = (
        f"``{class_name}(**options).{method.__name__}(queries, candidates)``: the options "
        f"and what they mean are those of :class:`{class_name}`."
    )
    return function


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
