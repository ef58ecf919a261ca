"""The metric interface, the metrics scored by block kernels, and the metric registry.

A metric's options are declared once, as the dataclass fields of its class: the constructor,
the plain function of :mod:`seqsim.functional` (:func:`metric_function`), :meth:`Metric.settings`
and ``repr`` all derive from them. Which block kernel runs on which backend is decided in
:mod:`seqsim.kernels`.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

import numpy as np
import torch

from ..backends import Backend, check_working_memory, resolve_backend
from ..blocks import plan_blocks
from ..checks import check_flag
from ..kernels import BlockKernels, blockwise_scores
from ..progress import progress_bar
from ..sequences import Frames, PackedSequences, SequencesLike, as_packed, to_float32_numpy

P = ParamSpec("P")
M = TypeVar("M", bound="Metric")
R = TypeVar("R")


def sum_diagnostics(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Solver diagnostics of several calls, or of the parts of one call, added key by key.

    Parameters
    ----------
    parts
        Diagnostics as :meth:`Metric.diagnostics` gives them (counts by name).

    Returns
    -------
    dict[str, int]
        Every name that occurs in a part, with the sum of its counts.

    Examples
    --------
    >>> from seqsim.metrics.base import sum_diagnostics
    >>> sum_diagnostics([{"pairs": 4, "unconverged": 1}, {"pairs": 2}])
    {'pairs': 6, 'unconverged': 1}
    """
    total: dict[str, int] = {}
    for part in parts:
        for name, count in part.items():
            total[name] = total.get(name, 0) + int(count)
    return total


_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])


def _stacklevel_outside_package() -> int:
    """The ``stacklevel`` at which ``warnings.warn``, called by this function's caller, names
    the first frame outside seqsim (the user's call, however deep in seqsim the warning is)."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def pack_pair(
    queries: SequencesLike, candidates: SequencesLike
) -> tuple[PackedSequences, PackedSequences]:
    """Validate and pack both sides of a call; their frame dimensions must agree.

    Every metric of seqsim checks its inputs with this function, before any work.

    Parameters
    ----------
    queries, candidates : list of (frames, dim) arrays or tensors, or PackedSequences
        The two sides, as :meth:`Metric.matrix` takes them.

    Returns
    -------
    tuple[PackedSequences, PackedSequences]
        Both sides, checked by :func:`~seqsim.sequences.as_packed` (the candidates against
        the queries' frame dimension).

    Raises
    ------
    ValueError
        Naming ``queries[i]`` or ``candidates[j]`` and the problem (see
        :func:`~seqsim.sequences.as_packed`), such as a frame dimension that differs.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.metrics.base import pack_pair
    >>> queries, candidates = pack_pair([np.ones((2, 3))], [np.ones((1, 3)), np.ones((4, 3))])
    >>> queries.offsets, candidates.offsets
    (array([0, 2]), array([0, 1, 5]))
    >>> pack_pair([np.ones((2, 3))], [np.ones((2, 4))])
    Traceback (most recent call last):
        ...
    ValueError: candidates[0] has dimension 4 but the queries' dimension is 3
    """
    packed_queries = as_packed(queries, "queries")
    packed_candidates = as_packed(
        candidates, "candidates", dim=packed_queries.dim, dim_of="the queries' dimension"
    )
    return packed_queries, packed_candidates


@dataclass(eq=False, repr=False)
class Metric(ABC):
    """A similarity between two frame sequences; higher means more similar.

    Call it on one pair, ``metric(x, y) -> float``, or on two lists, ``metric.matrix(queries,
    candidates) -> (Q, R)`` array. Every metric takes the keyword-only run options below; its
    own options are the dataclass fields of its class (``@dataclass(eq=False, repr=False)``),
    documented by that class. ``backend`` holds the resolved :class:`~seqsim.backends.Backend`
    once built. A subclass implements :meth:`matrix`; a metric scored in blocks derives from
    :class:`KernelMetric` instead, which implements it.

    Parameters
    ----------
    backend : {"auto", "numba", "torch", "triton"} or Backend, default "auto"
        Where the metric runs, resolved by :func:`~seqsim.backends.resolve_backend`:
        ``"auto"`` picks torch on CUDA when a GPU is present, else numba, the faster CPU path;
        ``"numba"`` runs on the CPU only; ``"triton"`` needs CUDA, or ``TRITON_INTERPRET=1``
        (Triton's CPU interpreter) on the CPU. Every backend gives the same numbers (float32
        inputs: within 1e-5).
    device : str or torch.device, optional
        ``None`` or ``"auto"`` (CUDA when present, else the CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or a ``torch.device``, resolved by
        :func:`~seqsim.backends.resolve_device`.
    working_memory : float, optional
        The scratch memory, in MiB (a positive finite number), of one block pair of a metric
        scored in blocks (:class:`KernelMetric`, as every built-in metric is): all pairs are
        scored in blocks of sequences whose scratch stays within it, whatever Q and R are (a
        single sequence longer than the budget gets a block of its own). By default 256 MiB on
        the CPU; on CUDA a quarter of the free device memory, at most 4 GiB.
    progress : bool, default False
        Show a progress bar over block pairs (:class:`KernelMetric`).

    Attributes
    ----------
    name : str
        The name the class is registered under (:func:`register_metric`), ``""`` if none.

    Raises
    ------
    ValueError
        Before any work, for a run option that is not valid: an unknown backend or device,
        numba on a device other than the CPU, triton without CUDA or ``TRITON_INTERPRET=1``, a
        ``working_memory`` that is not a positive finite number, a ``progress`` that is not a
        bool. Subclasses check their own options after these.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim import SeqSim
    >>> metric = SeqSim(backend="numba", working_memory=64)
    >>> metric.backend
    Backend(name='numba', device=device(type='cpu'))
    >>> metric(np.eye(2), np.eye(2))
    1.0
    >>> SeqSim(working_memory=0)
    Traceback (most recent call last):
        ...
    ValueError: working_memory must be a positive finite number of MiB, got 0
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
        self._diagnostics: dict[str, int] = {}

    def resolved_here(self: M) -> M:
        """This metric with its backend resolved anew on the machine that calls this.

        The backend is resolved again from the ``backend`` and ``device`` the metric was given
        (``"auto"`` picks this machine's CUDA): what a cluster worker runs of a metric built
        elsewhere.

        Returns
        -------
        Metric
            A new metric of the same class and options, with no diagnostics recorded yet.

        Examples
        --------
        >>> from seqsim import DTWSim
        >>> DTWSim(window=2, backend="numba").resolved_here()
        DTWSim(normalization='sum', window=2, method='exact', radius=1, backend='numba')
        """
        return replace(self, backend=self._requested_backend)  # type: ignore[arg-type]

    @property
    def symmetric(self) -> bool:
        """Whether ``matrix(a, b)`` is exactly ``matrix(b, a).T`` (lets callers skip half).

        False unless a subclass says otherwise.
        """
        return False

    def __call__(self, x: Frames, y: Frames) -> float:
        """Similarity of one pair of (frames, dim) sequences.

        Parameters
        ----------
        x, y : numpy.ndarray or torch.Tensor
            The query and the candidate, (frames, dim) each, of a float dtype.

        Returns
        -------
        float
            ``matrix([x], [y])[0, 0]``.

        Raises
        ------
        ValueError
            As :meth:`matrix` does, naming ``queries[0]`` or ``candidates[0]``.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import AvgSim
        >>> AvgSim()(np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]]))  # orthogonal means
        0.0
        """
        return float(self.matrix([x], [y])[0, 0])

    @abstractmethod
    def matrix(self, queries: SequencesLike, candidates: SequencesLike) -> np.ndarray:
        """Similarities of every query with every candidate, as a float64 (Q, R) array.

        Parameters
        ----------
        queries, candidates : list of (frames, dim) arrays or tensors, or PackedSequences
            Numpy arrays or torch tensors of a float dtype (float16, bfloat16, float32 or
            float64), all of one frame dimension; a tensor that requires grad is scored on its
            values (metrics are not differentiable). A side may be given packed
            (:meth:`PackedSequences.from_lengths <seqsim.sequences.PackedSequences.from_lengths>`;
            a numpy memmap is read one block at a time).

        Returns
        -------
        numpy.ndarray
            ``[i, j]`` is the similarity of ``queries[i]`` and ``candidates[j]``.

        Raises
        ------
        ValueError
            For bad input, naming the item and the problem (every metric of seqsim checks its
            inputs with :func:`pack_pair`): an empty list, an empty or non 2-D sequence, a
            non-float dtype, a frame dimension that differs, a NaN or infinite value.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import AvgSim
        >>> AvgSim().matrix([np.array([[1.0, 0.0]])], [np.array([[2.0, 0.0]]), np.eye(2)[1:]])
        array([[1., 0.]])
        >>> AvgSim().matrix([np.ones((2, 3))], [np.ones((0, 3))])
        Traceback (most recent call last):
            ...
        ValueError: candidates[0] is empty (0 frames)
        """

    def checked_matrix(self, queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
        """:meth:`matrix` of sequences that :func:`~seqsim.sequences.as_packed` has checked
        already, without checking them again (for callers that score the same frames many
        times, such as a search index's rerank).

        Parameters
        ----------
        queries, candidates : PackedSequences
            Sequences checked already (:func:`pack_pair`).

        Returns
        -------
        numpy.ndarray
            The float64 (Q, R) similarities, as :meth:`matrix` gives them.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import SeqSim
        >>> from seqsim.metrics.base import pack_pair
        >>> queries, candidates = pack_pair([np.eye(2)], [np.eye(2), np.eye(2)[:1]])
        >>> SeqSim(backend="numba").checked_matrix(queries, candidates)
        array([[1.        , 0.66666667]])
        """
        return self.matrix(queries, candidates)

    def matrix_with_diagnostics(
        self, queries: PackedSequences, candidates: PackedSequences
    ) -> tuple[np.ndarray, dict[str, int]]:
        """:meth:`checked_matrix` and the solver diagnostics of that call, which are neither
        added to :meth:`diagnostics` nor warned about: what a cluster worker sends back for the
        caller to :meth:`record_diagnostics` once. None here (unless a subclass says so).

        Parameters
        ----------
        queries, candidates
            Sequences checked already, as :meth:`checked_matrix` takes them.

        Returns
        -------
        tuple[numpy.ndarray, dict[str, int]]
            The (Q, R) similarities and the call's diagnostics.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import AvgSim
        >>> from seqsim.sequences import as_packed
        >>> x = as_packed([np.array([[1.0, 0.0]])], "x")
        >>> AvgSim(backend="numba").matrix_with_diagnostics(x, x)
        (array([[1.]]), {})
        """
        return self.checked_matrix(queries, candidates), {}

    def shortlist_scores(
        self,
        queries: PackedSequences,
        candidates: PackedSequences,
        shortlists: Sequence[np.ndarray],
        *,
        progress: bool = False,
    ) -> tuple[list[np.ndarray], dict[str, int]]:
        """Each query scored against its own shortlist of candidates: the rerank of a
        two-stage search (:meth:`SequenceIndex.search <seqsim.search.SequenceIndex.search>`),
        and the solver diagnostics of all its calls summed, neither recorded nor warned about.

        Each score is that of :meth:`matrix_with_diagnostics` for the query and its
        shortlist, so it equals the same pair's entry of a full :meth:`matrix`. A wrapper
        that runs elsewhere (:class:`seqsim.distributed.ClusterMetric`) splits the queries.

        Parameters
        ----------
        queries, candidates : PackedSequences
            Sequences checked already (one dimension).
        shortlists : sequence of numpy.ndarray
            For each query, the candidate numbers to score (int, any order).
        progress : bool, default False
            Show a progress bar over the queries.

        Returns
        -------
        tuple[list of numpy.ndarray, dict[str, int]]
            Per query, the scores of its shortlist in its order; and the diagnostics.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import SeqSim
        >>> from seqsim.metrics.base import pack_pair
        >>> queries, candidates = pack_pair([np.eye(2)[:1], np.eye(2)[1:]], [np.eye(2)[:1],
        ...                                  np.eye(2)[1:], np.eye(2)])
        >>> scores, _ = SeqSim(backend="numba").shortlist_scores(
        ...     queries, candidates, [np.array([2, 1]), np.array([1])])
        >>> [np.round(row, 4) for row in scores]
        [array([0.6667, 0.    ]), array([1.])]
        """
        if len(shortlists) != len(queries):
            raise ValueError(f"{len(shortlists)} shortlists for {len(queries)} queries")
        scores, diagnostics = [], []
        numbers = progress_bar(range(len(queries)), desc="reranking", disable=not progress)
        for number in numbers:
            exact, diagnosed = self.matrix_with_diagnostics(
                queries.subset(np.array([number])), candidates.subset(shortlists[number])
            )
            scores.append(exact[0])
            diagnostics.append(diagnosed)
        return scores, sum_diagnostics(diagnostics)

    def diagnostics(self, since: Mapping[str, int] | None = None) -> dict[str, int]:
        """What this metric's solver reported over its calls so far, summed: for
        ``OTSim(solver="sinkhorn")`` the pairs scored and those whose iterations stopped at
        ``max_iter`` unconverged; empty for a metric without an iterative solver.

        Parameters
        ----------
        since
            An earlier reading: the counts of the calls made after it are returned.

        Returns
        -------
        dict[str, int]
            Counts by name.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import OTSim
        >>> metric = OTSim("sinkhorn", backend="numba")
        >>> x = [np.eye(2)]
        >>> before = metric.diagnostics()
        >>> _ = metric.matrix(x, x), metric.matrix(x, x)
        >>> metric.diagnostics(since=before)
        {'sinkhorn_unconverged_pairs': 0, 'pairs': 2}
        """
        earlier = since or {}
        return {name: count - earlier.get(name, 0) for name, count in self._diagnostics.items()}

    def record_diagnostics(self, diagnostics: Mapping[str, int]) -> None:
        """Add one call's solver diagnostics to :meth:`diagnostics`, and issue the warning that
        :meth:`diagnostics_warning` makes of them, if any (so once per call).

        Parameters
        ----------
        diagnostics
            The call's counts by name (the parts of a call split over a cluster summed first,
            :func:`sum_diagnostics`).

        Examples
        --------
        >>> from seqsim import SeqSim
        >>> metric = SeqSim(backend="numba")
        >>> metric.record_diagnostics({"pairs": 3})
        >>> metric.diagnostics()
        {'pairs': 3}
        """
        self._diagnostics = sum_diagnostics([self._diagnostics, diagnostics])
        warning = self.diagnostics_warning(diagnostics)
        if warning is not None:
            warnings.warn(warning, stacklevel=_stacklevel_outside_package())

    def diagnostics_warning(self, diagnostics: Mapping[str, int]) -> Warning | None:
        """The warning one call's solver diagnostics call for, or None (always None here).

        Parameters
        ----------
        diagnostics
            The call's counts by name.

        Returns
        -------
        Warning or None
            What :meth:`record_diagnostics` warns with.

        Examples
        --------
        >>> from seqsim import SeqSim
        >>> SeqSim(backend="numba").diagnostics_warning({"pairs": 3}) is None
        True
        """
        return None

    def settings(self) -> dict[str, Any]:
        """The options that determine this metric's numbers (used in result hashes).

        The run options (backend, device, working memory, progress) are not among them.

        Returns
        -------
        dict[str, Any]
            ``"metric"``: the registered name, then each option of the class by name.

        Examples
        --------
        >>> from seqsim import OTSim
        >>> OTSim("sinkhorn", reg=0.1, backend="numba").settings()  # doctest: +NORMALIZE_WHITESPACE
        {'metric': 'ot', 'solver': 'sinkhorn', 'reg': 0.1, 'max_iter': 1000, 'tol': 1e-06,
         'log_domain': False}
        """
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
    where its kernels' scores are not the similarities themselves, :meth:`similarities`. Its
    options are its dataclass fields; the run options are those of :class:`Metric`.

    Examples
    --------
    A metric of one numba kernel (which every backend runs where it has no kernel of its own):
    the cosine of the first frames. Kernels get blocks of unit-norm frames.

    >>> from dataclasses import dataclass
    >>> import numpy as np
    >>> from seqsim.kernels import BlockKernels
    >>> from seqsim.metrics import KernelMetric
    >>> def first_frame_cosines(queries, candidates):
    ...     first_q = queries.frames[queries.offsets[:-1]]
    ...     first_c = candidates.frames[candidates.offsets[:-1]]
    ...     return (first_q @ first_c.T)[None]  # (kinds=1, Qb, Rb)
    >>> @dataclass(eq=False, repr=False)
    ... class FirstFrameCosine(KernelMetric):
    ...     kernels = BlockKernels(numba=first_frame_cosines)
    >>> x, y = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.0, 2.0]])
    >>> FirstFrameCosine(backend="numba")(x, y), FirstFrameCosine(backend="numba")(y, y)
    (0.0, 1.0)
    """

    @property
    @abstractmethod
    def kernels(self) -> BlockKernels:
        """The block scorers for this metric's options.

        Examples
        --------
        >>> from seqsim import SeqSim
        >>> SeqSim().kernels.kinds  # precision and recall
        2
        """

    def block_scores(self, queries: SequencesLike, candidates: SequencesLike) -> np.ndarray:
        """The kernels' scores (kinds, Q, R) of every query against every candidate.

        Parameters
        ----------
        queries, candidates : list of (frames, dim) arrays or tensors, or PackedSequences
            As :meth:`Metric.matrix` takes them.

        Returns
        -------
        numpy.ndarray
            float64 (kinds, Q, R): the score kinds of the kernels (:meth:`similarities` makes
            the (Q, R) similarities of them).

        Raises
        ------
        ValueError
            For bad input, as :meth:`Metric.matrix`.

        Examples
        --------
        SeqSim's kinds are precision and recall:

        >>> import numpy as np
        >>> from seqsim import SeqSim
        >>> SeqSim(backend="numba").block_scores([np.eye(2)[:1]], [np.eye(2)])[:, 0, 0]
        array([0.5, 1. ])
        """
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
        the candidate blocks with them (:class:`seqsim.distributed.ClusterMetric`).

        Parameters
        ----------
        queries, candidates : PackedSequences
            Sequences checked already (:func:`pack_pair`).

        Returns
        -------
        tuple[list[numpy.ndarray], list[numpy.ndarray]]
            The query blocks and the candidate blocks, each an array of sequence indices.

        Examples
        --------
        Two short queries and one candidate fit in one block each:

        >>> import numpy as np
        >>> from seqsim import SeqSim
        >>> from seqsim.metrics.base import pack_pair
        >>> queries, candidates = pack_pair([np.eye(2), np.eye(2)], [np.eye(2)])
        >>> SeqSim(backend="numba").block_plan(queries, candidates)
        ([array([0, 1])], [array([0])])
        """
        working_memory = self.working_memory
        if working_memory is None:
            working_memory = resolve_backend(self.backend).default_working_memory_mb()
        return plan_blocks(queries, candidates, working_memory, self.kernels.bytes_per_cell)

    def similarities(self, scores: np.ndarray) -> np.ndarray:
        """The (Q, R) similarities from the kernels' scores: the first kind unless overridden.

        Parameters
        ----------
        scores : numpy.ndarray
            The kernels' scores (kinds, Q, R), as :meth:`block_scores` gives them.

        Returns
        -------
        numpy.ndarray
            The (Q, R) similarities.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import AvgSim
        >>> AvgSim().similarities(np.array([[[0.25, 0.5]]]))
        array([[0.25, 0.5 ]])
        """
        return scores[0]

    def diagnose(self, scores: np.ndarray) -> dict[str, int]:
        """The solver diagnostics of one call, from its kernels' scores (kinds, Q, R): none
        unless a subclass's kernels report some (as a score kind of their own).

        Parameters
        ----------
        scores
            The kernels' scores of the call.

        Returns
        -------
        dict[str, int]
            Counts by name (see :meth:`Metric.diagnostics`).

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import SeqSim
        >>> SeqSim(backend="numba").diagnose(np.zeros((2, 3, 4)))
        {}
        """
        return {}

    def matrix(self, queries: SequencesLike, candidates: SequencesLike) -> np.ndarray:
        return self.checked_matrix(*pack_pair(queries, candidates))

    def checked_matrix(
        self,
        queries: PackedSequences,
        candidates: PackedSequences,
        candidate_blocks: list[np.ndarray] | None = None,
    ) -> np.ndarray:
        """:meth:`Metric.checked_matrix`; with ``candidate_blocks`` (one query block of a
        :meth:`block_plan`), scored against exactly those candidate blocks. The call's solver
        diagnostics are recorded (:meth:`Metric.record_diagnostics`).

        Parameters
        ----------
        queries, candidates : PackedSequences
            Sequences checked already (:func:`pack_pair`).
        candidate_blocks : list of numpy.ndarray, optional
            The candidate blocks (index arrays) to score against; by default this metric's
            own plan.

        Returns
        -------
        numpy.ndarray
            The float64 (Q, R) similarities.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import DTWSim
        >>> from seqsim.metrics.base import pack_pair
        >>> queries, candidates = pack_pair([np.eye(2)], [np.eye(2)])
        >>> DTWSim(backend="numba").checked_matrix(queries, candidates)
        array([[-0.]])
        """
        similarities, diagnostics = self.matrix_with_diagnostics(
            queries, candidates, candidate_blocks
        )
        self.record_diagnostics(diagnostics)
        return similarities

    def matrix_with_diagnostics(
        self,
        queries: PackedSequences,
        candidates: PackedSequences,
        candidate_blocks: list[np.ndarray] | None = None,
    ) -> tuple[np.ndarray, dict[str, int]]:
        """:meth:`Metric.matrix_with_diagnostics`, the diagnostics from :meth:`diagnose`;
        ``candidate_blocks`` as :meth:`checked_matrix` takes them.

        Parameters
        ----------
        queries, candidates : PackedSequences
            Sequences checked already (:func:`pack_pair`).
        candidate_blocks : list of numpy.ndarray, optional
            As :meth:`checked_matrix` takes them.

        Returns
        -------
        tuple[numpy.ndarray, dict[str, int]]
            The (Q, R) similarities and the call's diagnostics, neither recorded nor warned
            about.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import OTSim
        >>> from seqsim.metrics.base import pack_pair
        >>> queries, candidates = pack_pair([np.eye(2)], [np.eye(2)])
        >>> metric = OTSim("sinkhorn", backend="numba")
        >>> similarities, counts = metric.matrix_with_diagnostics(queries, candidates)
        >>> np.round(similarities, 4), counts
        (array([[1.]]), {'sinkhorn_unconverged_pairs': 0, 'pairs': 1})
        >>> metric.diagnostics()
        {}
        """
        scores = self._checked_block_scores(queries, candidates, candidate_blocks)
        return self.similarities(scores), self.diagnose(scores)


def metric_function(
    metric_class: Callable[P, M],
    method: Callable[[M, SequencesLike, SequencesLike], R],
    name: str,
) -> Callable[Concatenate[SequencesLike, SequencesLike, P], R]:
    """The plain-function form ``name(queries, candidates, **options)`` of a metric class:
    ``method`` of a metric built with ``options``, so options are checked (before the inputs)
    and documented once, by the class.

    The function's signature is the two sides followed by the class's constructor
    parameters; its docstring is generated and points to the class for the options.

    Parameters
    ----------
    metric_class
        The metric class (its constructor takes the options).
    method
        The method the function calls, such as ``DTWSim.matrix``.
    name
        The function's name; the function claims the class's module as its own.

    Returns
    -------
    Callable
        ``function(queries, candidates, *args, **kwargs)`` returning
        ``method(metric_class(*args, **kwargs), queries, candidates)``.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim import AvgSim
    >>> from seqsim.metrics.base import metric_function
    >>> avgsim = metric_function(AvgSim, AvgSim.matrix, "avgsim")
    >>> avgsim([np.array([[1.0, 0.0]])], [np.array([[0.0, 1.0]])], backend="numba")
    array([[0.]])
    """

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
    options = ", ".join(signature.parameters)
    returns = str(inspect.signature(method).return_annotation).replace("np.", "numpy.")
    summary = (inspect.getdoc(method) or "").partition("\n")[0]
    function.__doc__ = f"""``{class_name}(**options).{method.__name__}(queries, candidates)``.

    See :class:`.{class_name}` for the options and what they mean; they are checked before
    the inputs.

    Parameters
    ----------
    queries, candidates : list of (frames, dim) arrays or tensors, or PackedSequences
        As :meth:`.{class_name}.{method.__name__}` takes them.
    {options}
        An option of :class:`.{class_name}`, documented there.

    Returns
    -------
    {returns}
        {summary}

    Raises
    ------
    ValueError
        For an option :class:`.{class_name}` refuses, then for bad input, naming the item.

    Examples
    --------
    >>> import numpy as np
    >>> from {function.__module__} import {class_name}, {name}
    >>> queries, candidates = [np.eye(2)], [np.eye(2), np.ones((3, 2))]
    >>> result = {name}(queries, candidates, backend="numba")
    >>> expected = {class_name}(backend="numba").{method.__name__}(queries, candidates)
    >>> np.array_equal(np.asarray(result), np.asarray(expected))
    True
    """
    return function


class PairwiseMetric(Metric):
    """A metric from a plain function ``f(x, y) -> float`` on two float32 numpy sequences.

    It loops over pairs in Python: fine for prototyping a metric, slow on large corpora.
    :func:`register_metric` makes one of a function it registers; a subclass sets
    :attr:`function`. It takes (and checks) the run options of :class:`Metric`, but runs the
    function on the CPU, in Python, whatever the backend.

    Attributes
    ----------
    function : Callable[[numpy.ndarray, numpy.ndarray], float]
        The similarity of one pair of (frames, dim) float32 arrays (raw frames, not
        normalised).

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.metrics.base import PairwiseMetric
    >>> class FrameCountGap(PairwiseMetric):
    ...     function = staticmethod(lambda x, y: -abs(len(x) - len(y)))
    >>> FrameCountGap().matrix([np.ones((2, 3))], [np.ones((2, 3)), np.ones((5, 3))])
    array([[ 0., -3.]])
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
    under ``name`` so that :func:`get_metric`, the evaluator and the CLI can select it.

    A function becomes a :class:`PairwiseMetric` (its docstring too); the decorator returns
    its target unchanged and sets the registered class's :attr:`Metric.name`.

    Parameters
    ----------
    name : str
        The metric's name, case-insensitive (stored in lower case).
    overwrite : bool, default False
        Replace a metric registered under that name already.

    Returns
    -------
    Callable
        The decorator.

    Raises
    ------
    ValueError
        When a metric of that name is registered already and ``overwrite`` is False.
    TypeError
        When the target is neither a :class:`Metric` subclass nor callable.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.metrics import get_metric, register_metric
    >>> @register_metric("first_frame_gap")
    ... def first_frame_gap(x, y):
    ...     return -float(np.abs(x[0] - y[0]).sum())
    >>> get_metric("first_frame_gap")(np.array([[1.0, 2.0]]), np.array([[1.0, 0.0]]))
    -2.0
    >>> register_metric("first_frame_gap")(first_frame_gap)
    Traceback (most recent call last):
        ...
    ValueError: a metric named 'first_frame_gap' is registered already (pass overwrite=True)
    >>> from seqsim.metrics.base import _REGISTRY
    >>> del _REGISTRY["first_frame_gap"]  # (the registry is global: leave it as it was)
    """
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


def metric_options(name: str) -> dict[str, Any]:
    """The options the metric registered as ``name`` declares, with their defaults: the
    fields of its class other than the run options (backend, device, working memory,
    progress).

    Parameters
    ----------
    name : str
        A name of :func:`available_metrics`, in any case.

    Returns
    -------
    dict of str to object
        Option name to default, in the class's order.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the registered ones).

    Examples
    --------
    >>> from seqsim.metrics import metric_options
    >>> metric_options("dtw")
    {'normalization': 'sum', 'window': None, 'method': 'exact', 'radius': 1}
    >>> metric_options("avgsim")
    {}
    """
    return {f.name: f.default for f in fields(_metric_class(name)) if f.name not in _RUN_OPTIONS}


def _metric_class(name: str) -> type[Metric]:
    """The class registered as ``name`` (any case); a ValueError listing the registered ones."""
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown metric {name!r}; registered metrics: {known}") from None


def get_metric(name: str, **options: Any) -> Metric:
    """A new instance of the metric registered as ``name`` (case-insensitive), with ``options``.

    Parameters
    ----------
    name : str
        A name of :func:`available_metrics`, in any case.
    **options
        The metric's options and run options, as its class takes them.

    Returns
    -------
    Metric
        The metric, its options checked.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the registered ones), or an option the class
        refuses.
    TypeError
        For an option the class does not have.

    Examples
    --------
    >>> from seqsim.metrics import get_metric
    >>> get_metric("DTW", window=2, backend="numba")
    DTWSim(normalization='sum', window=2, method='exact', radius=1, backend='numba')
    >>> get_metric("bleu")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: unknown metric 'bleu'; registered metrics: ...
    """
    return _metric_class(name)(**options)


def available_metrics() -> list[str]:
    """Names of all registered metrics, sorted: the built-in ones and any registered since.

    Returns
    -------
    list[str]
        The names :func:`get_metric` accepts.

    Examples
    --------
    >>> from seqsim.metrics import available_metrics
    >>> {"seqsim", "avgsim", "dtw", "ot"} <= set(available_metrics())
    True
    """
    return sorted(_REGISTRY)
