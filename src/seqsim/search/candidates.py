"""Stage 1 of a search: a shortlist of candidates per query, for the exact rerank.

Three generators, all over L2-normalised frames (docs/searching.md measures them):

- :class:`CentroidInteraction` (the default): SeqSim's two directions estimated on frames
  quantised to k-means centroids, for every indexed sequence (centroid interaction, as PLAID).
- :class:`FrameVotes`: every frame of every candidate in one faiss index; each query frame
  fetches its ``per_frame`` nearest frames, and the neighbour lists are turned into an
  estimate of both SeqSim directions per candidate utterance (see :func:`vote_scores`): the
  recall side (each query frame's best match in the candidate) and the precision side (each
  candidate frame's best match in the query), whose F1 ranks the shortlist.
- :class:`MeanPooled`: one vector per utterance (the mean of its unit frames); the shortlist
  is the nearest means. Small and fast, but a mean forgets which frames matched.

A generator is trained once on a sample of the sequences (:meth:`CandidateGenerator.train`),
then given every sequence in order (``add``), then asked for shortlists; its ``state`` is what
:mod:`seqsim.search.index` saves. faiss indexes are built from a factory string (``"Flat"``,
``"HNSW32"``, ``"IVF4096,PQ64"``, ...) with inner-product metric.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from itertools import pairwise
from typing import Any, ClassVar, TypeVar

import faiss
import numba
import numpy as np
from scipy import sparse

from .._defaults import (
    DEFAULT_CENTROIDS,
    DEFAULT_FACTORY,
    DEFAULT_PER_FRAME,
    DEFAULT_RESCORE,
)
from ..checks import check_count
from ..kernels.numba_kernels import unit_numpy_block
from ..metrics.base import _stacklevel_outside_package
from ..sequences import PackedSequences


def unit_frames(packed: PackedSequences) -> np.ndarray:
    """All frames as float32 rows of norm 1 (zero rows stay zero).

    Parameters
    ----------
    packed : PackedSequences
        The sequences.

    Returns
    -------
    numpy.ndarray
        (frames, dim) float32, the frames of every sequence back to back, each divided by
        its norm.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.search.candidates import unit_frames
    >>> packed = PackedSequences.from_lengths(np.array([[3, 4], [0, 0]], np.float32), [2])
    >>> unit_frames(packed)
    array([[0.6, 0.8],
           [0. , 0. ]], dtype=float32)
    """
    return np.asarray(unit_numpy_block(packed).frames)


def new_faiss_index(factory: str, dim: int) -> faiss.Index:
    """A faiss index of inner products over ``dim``-dimensional vectors, built from the
    factory string ``factory`` (``"Flat"``, ``"HNSW32"``, ``"IVF4096,PQ64"``, ...).

    Raises
    ------
    ValueError
        If faiss cannot build ``factory`` (faiss's reason in one line).

    Examples
    --------
    >>> from seqsim.search.candidates import new_faiss_index
    >>> new_faiss_index("Flat", 8).d
    8
    >>> new_faiss_index("Bogus", 8)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: faiss cannot build index 'Bogus': ...
    """
    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[-1]
        raise ValueError(f"faiss cannot build index {factory!r}: {first_line}") from None


def train_faiss(index: faiss.Index, vectors: np.ndarray, factory: str) -> None:
    """Train ``index`` (built from ``factory``) on ``vectors``, (n, dim) float32.

    Raises
    ------
    ValueError
        If faiss cannot train it on that many vectors (too few for its lists or codes).

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.search.candidates import new_faiss_index, train_faiss
    >>> index = new_faiss_index("IVF4,Flat", 8)
    >>> train_faiss(index, np.ones((2, 8), np.float32), "IVF4,Flat")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: faiss index 'IVF4,Flat' could not be trained on 2 vectors (...); add more ...
    """
    try:
        index.train(vectors)
    except RuntimeError as error:
        raise ValueError(
            f"faiss index {factory!r} could not be trained on {len(vectors)} vectors "
            f"({str(error).strip().splitlines()[-1]}); add more sequences at first, or "
            "choose a smaller index (e.g. 'Flat')"
        ) from None


def warn_clamped(name: str, asked: int, used: int, why: str) -> None:
    """Warn that the option ``name`` was asked as ``asked`` and ``used`` is used, ``why``.

    Examples
    --------
    >>> import warnings
    >>> from seqsim.search.candidates import warn_clamped
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_clamped("per_frame", 1000, 30, "the 30 frames the shortlist is trained on")
    >>> print(caught[0].message)
    per_frame=1000 asked, but the 30 frames the shortlist is trained on give 30; using per_frame=30
    """
    warnings.warn(
        f"{name}={asked} asked, but {why} give {used}; using {name}={used}",
        stacklevel=_stacklevel_outside_package(),
    )


class CandidateGenerator(ABC):
    """Stage 1 of :class:`~seqsim.search.SequenceIndex`: trained once on a sample, then
    given every sequence in order, then asked for shortlists.

    The built-in generators are :class:`CentroidInteraction` (``"centroids"``, the default),
    :class:`FrameVotes` (``"frames"``) and :class:`MeanPooled` (``"mean"``). A subclass
    implements the abstract methods below; an index accepts an instance as its
    ``generator``, and a pickled index (what a cluster search sends its workers) carries its
    class. To save an index of it, and load it, register the class with
    :func:`register_generator` (then ``SequenceIndex(generator=name)`` builds it too).

    Attributes
    ----------
    name : str
        The generator's name (class attribute), the first entry of :meth:`options`.
    index : faiss.Index or None
        The generator's faiss index once trained (None before).

    Examples
    --------
    A generator that shortlists every indexed sequence: the search is then exhaustive.

    >>> import numpy as np
    >>> from seqsim.search import CandidateGenerator, SequenceIndex
    >>> class Everything(CandidateGenerator):
    ...     name = "everything"
    ...     trained = False
    ...     count = 0
    ...     def options(self):
    ...         return {"generator": self.name}
    ...     def train(self, sample):
    ...         self.trained = True
    ...     def add(self, packed):
    ...         self.count += len(packed)
    ...     def shortlist(self, queries, count):
    ...         ids = np.full((len(queries), count), -1)
    ...         ids[:, : min(count, self.count)] = np.arange(min(count, self.count))
    ...         return ids
    ...     def state(self):
    ...         return {"count": np.array(self.count)}
    ...     def restore(self, state):
    ...         self.count, self.trained = int(state["count"]), True
    >>> rng = np.random.default_rng(0)
    >>> corpus = [rng.standard_normal((n, 8)).astype(np.float32) for n in (4, 6, 5)]
    >>> index = SequenceIndex(generator=Everything())
    >>> index.add(corpus)
    >>> _, ids = index.search(corpus, k=3)
    >>> _, exhaustive_ids = index.search(corpus, k=3, exhaustive=True)
    >>> bool((ids == exhaustive_ids).all()), ids[:, 0]
    (True, array([0, 1, 2]))
    """

    name: ClassVar[str]
    index: faiss.Index | None = None

    @abstractmethod
    def options(self) -> dict[str, Any]:
        """What determines the shortlist (saved with the index).

        Returns
        -------
        dict
            ``{"generator": name, **options}``: the generator's class is found by ``name``,
            and built again from the options, when an index is loaded.

        Examples
        --------
        >>> from seqsim.search import FrameVotes
        >>> FrameVotes(per_frame=8).options()
        {'generator': 'frames', 'factory': 'Flat', 'per_frame': 8, 'symmetric': True}
        """

    @property
    def trained(self) -> bool:
        """Whether :meth:`train` has run (or the generator was restored).

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import PackedSequences
        >>> from seqsim.search import MeanPooled
        >>> generator = MeanPooled()
        >>> generator.trained
        False
        >>> generator.train(PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2]))
        >>> generator.trained
        True
        """
        return self.index is not None and self.index.is_trained

    def _trained_index(self) -> faiss.Index:
        """The faiss index, which :meth:`train` builds; a clear error before that."""
        if self.index is None:
            raise ValueError(
                f"the {type(self).__name__} generator is not trained: call its train(sample) "
                "first (SequenceIndex.add does)"
            )
        return self.index

    @abstractmethod
    def train(self, sample: PackedSequences) -> None:
        """Learn what the shortlist needs from ``sample``.

        Runs once, before the first :meth:`add` (:meth:`SequenceIndex.add
        <seqsim.search.SequenceIndex.add>` calls it with a random sample of at most
        ``TRAINING_SEQUENCES`` of the first sequences added).

        Parameters
        ----------
        sample : PackedSequences
            Sequences drawn from all those about to be added.

        Raises
        ------
        ValueError
            Where the generator cannot be trained on ``sample`` (e.g. a faiss index that
            needs more vectors).

        Examples
        --------
        See :meth:`shortlist`.
        """

    @abstractmethod
    def add(self, packed: PackedSequences) -> None:
        """Append sequences (numbered after those added before).

        Parameters
        ----------
        packed : PackedSequences
            The sequences, in order; :meth:`train` must have run.

        Raises
        ------
        ValueError
            If :meth:`train` has not run (the built-in generators say so).

        Examples
        --------
        See :meth:`shortlist`.
        """

    @abstractmethod
    def shortlist(self, queries: PackedSequences, count: int) -> np.ndarray:
        """Candidate ids per query, most promising first.

        Parameters
        ----------
        queries : PackedSequences
            The queries.
        count : int
            The shortlist length.

        Returns
        -------
        numpy.ndarray
            (Q, count) int64 ids of added sequences; -1 pads a short list.

        Raises
        ------
        ValueError
            If no sequences were added.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import PackedSequences
        >>> from seqsim.search import MeanPooled
        >>> frames = np.eye(4, dtype=np.float32)
        >>> packed = PackedSequences.from_lengths(frames, [2, 2])   # two orthogonal sequences
        >>> generator = MeanPooled()
        >>> generator.train(packed)
        >>> generator.add(packed)
        >>> generator.shortlist(PackedSequences.from_lengths(frames[2:], [2]), 3)
        array([[ 1,  0, -1]])
        """

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """Arrays to save; :meth:`restore` takes them back.

        Returns
        -------
        dict of str to numpy.ndarray
            Everything the generator learnt and holds (its options are saved apart).

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import PackedSequences
        >>> from seqsim.search import FrameVotes
        >>> packed = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [3, 1])
        >>> generator = FrameVotes(per_frame=2)
        >>> generator.train(packed)
        >>> generator.add(packed)
        >>> copy = FrameVotes(per_frame=2)
        >>> copy.restore(generator.state())
        >>> sorted(generator.state()), copy.shortlist(packed, 1).ravel()
        (['faiss', 'lengths', 'owner'], array([0, 1]))
        """

    @abstractmethod
    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Take back what :meth:`state` gave (into a generator built with the same options).

        Parameters
        ----------
        state : dict of str to numpy.ndarray
            The arrays :meth:`state` returned.

        Examples
        --------
        See :meth:`state`.
        """

    def sequences(self) -> int | None:
        """How many sequences the generator holds, where it knows (a loaded index checks it
        against its keys: a shortlist of other sequences would name the wrong ones).

        Returns
        -------
        int or None
            The sequences added (or restored); None where the generator does not say, the
            default for a generator of your own.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import PackedSequences
        >>> from seqsim.search import CentroidInteraction
        >>> packed = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [3, 1])
        >>> generator = CentroidInteraction(centroids=1)
        >>> generator.train(packed)
        >>> generator.add(packed)
        >>> generator.sequences()
        2
        """
        return None


class FaissGenerator(CandidateGenerator):
    """A generator whose faiss index (built from the ``factory`` string, inner product) holds
    :meth:`vectors` of every sequence: the base of :class:`MeanPooled` and :class:`FrameVotes`.

    Parameters
    ----------
    factory : str, default "Flat"
        A faiss index factory string (``"Flat"``, ``"HNSW32"``, ``"IVF4096,PQ64"``, ...).
    **faiss_parameters
        faiss search parameters such as ``nprobe=16`` or ``efSearch=64``, set on the index
        before every search.

    Raises
    ------
    ValueError
        When trained: if faiss cannot build ``factory``, or cannot train it on the sample.
    """

    def __init__(self, factory: str = DEFAULT_FACTORY, **faiss_parameters: Any) -> None:
        self.factory = factory
        self.faiss_parameters = faiss_parameters

    def options(self) -> dict[str, Any]:
        return {"generator": self.name, "factory": self.factory, **self.faiss_parameters}

    @abstractmethod
    def vectors(self, packed: PackedSequences) -> np.ndarray:
        """What the faiss index holds for ``packed`` (float32 rows).

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import PackedSequences
        >>> from seqsim.search import MeanPooled
        >>> frames = np.array([[2, 0], [0, 3]], np.float32)
        >>> np.round(MeanPooled().vectors(PackedSequences.from_lengths(frames, [2])), 4)
        array([[0.7071, 0.7071]], dtype=float32)
        """

    def train(self, sample: PackedSequences) -> None:
        self.index = new_faiss_index(self.factory, sample.dim)
        if not self.index.is_trained:
            train_faiss(self.index, self.vectors(sample), self.factory)

    def add(self, packed: PackedSequences) -> None:
        self._trained_index().add(self.vectors(packed))

    def _searchable(self) -> faiss.Index:
        """The faiss index with the search parameters applied (e.g. nprobe, efSearch)."""
        if self.index is None:
            raise ValueError("no sequences were added")
        for name, value in self.faiss_parameters.items():
            faiss.ParameterSpace().set_index_parameter(self.index, name, value)
        return self.index

    def state(self) -> dict[str, np.ndarray]:
        return {"faiss": faiss.serialize_index(self._trained_index())}

    def restore(self, state: dict[str, np.ndarray]) -> None:
        self.index = faiss.deserialize_index(state["faiss"])


class MeanPooled(FaissGenerator):
    """The nearest mean vectors (mean of an utterance's unit frames, normalised).

    One vector per utterance: small and fast, but a mean forgets which frames matched
    (docs/searching.md measures how often it keeps the exhaustive top-1).

    Parameters
    ----------
    factory : str, default "Flat"
        A faiss index factory string (``"Flat"``, ``"HNSW32"``, ``"IVF4096,PQ64"``, ...).
    **faiss_parameters
        faiss search parameters such as ``nprobe=16``.

    Raises
    ------
    ValueError
        When trained: if faiss cannot build ``factory``, or cannot train it on the sample.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.search import SequenceIndex
    >>> rng = np.random.default_rng(0)
    >>> corpus = [rng.standard_normal((n, 8)).astype(np.float32) for n in (4, 6, 5)]
    >>> index = SequenceIndex(generator="mean", candidates=1)
    >>> index.add(corpus)
    >>> index.search(corpus, k=1)[1].ravel()   # each sequence's own mean is nearest
    array([0, 1, 2])
    """

    name = "mean"

    def sequences(self) -> int | None:
        return None if self.index is None else int(self.index.ntotal)

    def vectors(self, packed: PackedSequences) -> np.ndarray:
        return _unit_means(packed)

    def shortlist(self, queries: PackedSequences, count: int) -> np.ndarray:
        _, ids = self._searchable().search(_unit_means(queries), count)
        return ids


def _unit_means(packed: PackedSequences) -> np.ndarray:
    sums = np.add.reduceat(unit_frames(packed), packed.offsets[:-1], axis=0)
    means = sums / packed.lengths[:, None]
    return np.ascontiguousarray(means / np.linalg.norm(means, axis=1, keepdims=True), np.float32)


class FrameVotes(FaissGenerator):
    """Frame-level nearest neighbours, turned into estimates of SeqSim's two directions.

    Every frame of every indexed sequence is in one faiss index; each query frame fetches
    its ``per_frame`` nearest frames, and :func:`vote_scores` turns the neighbour lists into
    an estimate of SeqSim (or of its recall side alone) per sequence.

    Parameters
    ----------
    per_frame : int, optional
        Neighbours fetched per query frame (more: a better estimate, slower); by default 32.
        At most the frames the shortlist is trained on: more is clamped to them when it is
        trained, with a warning where ``per_frame`` was given, and the value used is the one
        :meth:`options` records. A search fetches at most the indexed frames, and holds the
        neighbour lists of at most ``VOTE_BLOCK_ENTRIES`` (query frame, neighbour) pairs at
        once, whatever ``per_frame``.
    symmetric : bool, default True
        Rank by the F1 of both directions; ``False`` ranks by the recall side alone
        (PyLate / ColBERT v1 style voting).
    factory : str, default "Flat"
        A faiss index factory string; a flat index over all frames costs 4·dim bytes per
        frame, a large corpus needs ``"IVF…,PQ…"`` or ``"HNSW32"``.
    **faiss
        faiss search parameters such as ``nprobe=16``.

    Attributes
    ----------
    owner : numpy.ndarray
        For every indexed frame, the number of its sequence.
    lengths : numpy.ndarray
        The length of every indexed sequence.

    Raises
    ------
    ValueError
        If ``per_frame`` is not an integer >= 1; when trained, if faiss cannot build or
        train ``factory``.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.search import SequenceIndex
    >>> rng = np.random.default_rng(0)
    >>> corpus = [rng.standard_normal((n, 8)).astype(np.float32) for n in (4, 6, 5)]
    >>> index = SequenceIndex(generator="frames", per_frame=4, candidates=1)
    >>> index.add(corpus)
    >>> index.search(corpus, k=1)[1].ravel()
    array([0, 1, 2])
    """

    name = "frames"

    def __init__(
        self,
        per_frame: int | None = None,
        symmetric: bool = True,
        factory: str = DEFAULT_FACTORY,
        **faiss: Any,
    ) -> None:
        if per_frame is not None:
            check_count("per_frame", per_frame, 1)
        super().__init__(factory, **faiss)
        self.asked_per_frame = per_frame
        """``per_frame`` as given (None: the default), warned about where it is clamped."""
        self.per_frame = DEFAULT_PER_FRAME if per_frame is None else per_frame
        self.symmetric = symmetric
        self.owner = np.zeros(0, np.int64)
        """For every indexed frame, the number of its sequence."""
        self.lengths = np.zeros(0, np.int64)

    def options(self) -> dict[str, Any]:
        return {**super().options(), "per_frame": self.per_frame, "symmetric": self.symmetric}

    def vectors(self, packed: PackedSequences) -> np.ndarray:
        return unit_frames(packed)

    def train(self, sample: PackedSequences) -> None:
        super().train(sample)
        frames = int(sample.lengths.sum())
        if self.per_frame > frames:
            if self.asked_per_frame is not None:
                why = f"the {frames} frames the shortlist is trained on"
                warn_clamped("per_frame", self.per_frame, frames, why)
            self.per_frame = frames

    def add(self, packed: PackedSequences) -> None:
        first = len(self.lengths)
        super().add(packed)
        self.owner = np.concatenate(
            [self.owner, np.repeat(np.arange(first, first + len(packed)), packed.lengths)]
        )
        self.lengths = np.concatenate([self.lengths, packed.lengths])

    def shortlist(self, queries: PackedSequences, count: int) -> np.ndarray:
        index = self._searchable()
        fetched = max(1, min(self.per_frame, index.ntotal))  # a loaded file may ask for more
        rows_per_search = max(1, VOTE_BLOCK_ENTRIES // fetched)
        frames = unit_frames(queries)
        lists = np.full((len(queries), count), -1, np.int64)
        for number in range(len(queries)):
            tally = VoteTally(self.owner, self.lengths)
            end = queries.offsets[number + 1]
            for start in range(queries.offsets[number], end, rows_per_search):
                block = frames[start : min(start + rows_per_search, end)]
                tally.add(*index.search(block, fetched))
            scores = tally.scores(self.symmetric)
            found = np.flatnonzero(np.isfinite(scores))
            best = found[np.argsort(-scores[found], kind="stable")[:count]]
            lists[number, : len(best)] = best
        return lists

    def state(self) -> dict[str, np.ndarray]:
        return {**super().state(), "owner": self.owner, "lengths": self.lengths}

    def restore(self, state: dict[str, np.ndarray]) -> None:
        super().restore(state)
        owner, lengths = state["owner"], state["lengths"]
        frames = self._trained_index().ntotal
        if owner.shape != (frames,) or lengths.ndim != 1 or int(lengths.sum()) != frames:
            raise ValueError(
                f"its {frames} frames do not match owner {owner.shape} and lengths summing to "
                f"{int(lengths.sum())}"
            )
        if frames and (owner.min() < 0 or owner.max() >= len(lengths)):
            raise ValueError(f"owner holds numbers outside the {len(lengths)} sequences")
        self.owner, self.lengths = owner.astype(np.int64), lengths.astype(np.int64)

    def sequences(self) -> int | None:
        return len(self.lengths)


VOTE_BLOCK_ENTRIES = 1 << 20
"""(query frame, neighbour) pairs that :class:`FrameVotes` fetches and tallies at once: a
search's memory is bounded by this block (and the index), not by ``per_frame`` x query frames."""


def vote_scores(
    similarities: np.ndarray,
    frame_ids: np.ndarray,
    owner: np.ndarray,
    lengths: np.ndarray,
    symmetric: bool,
) -> np.ndarray:
    """Estimated SeqSim (or recall alone) of one query against every indexed sequence, from
    its frames' neighbour lists.

    Recall: each query frame's best fetched similarity in the sequence, or, where it fetched
    none there, its k-th similarity (an upper bound of its true best match). Precision: each
    fetched candidate frame's best similarity to a query frame; the sequence's other frames
    count at the lowest k-th similarity of the query (a floor estimate). Their F1 estimates
    SeqSim's.

    Parameters
    ----------
    similarities : numpy.ndarray
        (n, k): the similarities of the ``k`` indexed frames each of the query's ``n`` frames
        fetched, best first.
    frame_ids : numpy.ndarray
        (n, k): the ids of those frames (-1 where faiss found fewer).
    owner : numpy.ndarray
        For every indexed frame, the number of its sequence.
    lengths : numpy.ndarray
        The length (frames) of every indexed sequence.
    symmetric : bool
        The F1 of both directions; ``False``: the recall side alone.

    Returns
    -------
    numpy.ndarray
        One score per indexed sequence; -inf where no frame of a sequence was fetched.

    Examples
    --------
    One query frame fetched frame 0 (of sequence 0, 2 frames long) at 0.9 and frame 2 (of
    sequence 1) at 0.5; sequence 2 was not fetched. Recall: 0.9 and 0.5 (the k-th, 0.5,
    is a bound for sequence 1). Precision of sequence 0: (0.9 + 0.5) / 2 = 0.7, its unfetched
    frame counted at 0.5; F1 = 2 · 0.7 · 0.9 / 1.6 = 0.7875.

    >>> import numpy as np
    >>> from seqsim.search.candidates import vote_scores
    >>> similarities, frame_ids = np.array([[0.9, 0.5]]), np.array([[0, 2]])
    >>> owner, lengths = np.array([0, 0, 1, 2]), np.array([2, 1, 1])
    >>> np.round(vote_scores(similarities, frame_ids, owner, lengths, symmetric=False), 4)
    array([ 0.9,  0.5, -inf])
    >>> np.round(vote_scores(similarities, frame_ids, owner, lengths, symmetric=True), 4)
    array([0.7875, 0.5   ,   -inf])
    """
    tally = VoteTally(owner, lengths)
    tally.add(similarities, frame_ids)
    return tally.scores(symmetric)


class VoteTally:
    """The sums behind :func:`vote_scores` for one query, gathered block by block of its
    frames' neighbour lists, so that the lists need not be held all at once.

    Parameters
    ----------
    owner : numpy.ndarray
        For every indexed frame, the number of its sequence.
    lengths : numpy.ndarray
        The length (frames) of every indexed sequence.

    Examples
    --------
    Two blocks of one query frame each give what both frames at once give:

    >>> import numpy as np
    >>> from seqsim.search.candidates import VoteTally, vote_scores
    >>> similarities, frame_ids = np.array([[0.9, 0.5], [0.8, 0.7]]), np.array([[0, 2], [1, 3]])
    >>> owner, lengths = np.array([0, 0, 1, 2]), np.array([2, 1, 1])
    >>> tally = VoteTally(owner, lengths)
    >>> tally.add(similarities[:1], frame_ids[:1])
    >>> tally.add(similarities[1:], frame_ids[1:])
    >>> whole = vote_scores(similarities, frame_ids, owner, lengths, symmetric=True)
    >>> bool(np.allclose(tally.scores(symmetric=True), whole))
    True
    """

    def __init__(self, owner: np.ndarray, lengths: np.ndarray) -> None:
        self.owner, self.lengths = owner, lengths
        self.rows = 0
        self.kth_sum = 0.0
        self.floor = np.inf
        self.gains = np.zeros(len(lengths))
        self.seen = np.zeros(len(lengths), bool)
        self.frames = np.zeros(0, np.int64)
        """Every candidate frame fetched so far (once each)."""
        self.best = np.zeros(0, np.float32)
        """The best similarity to a query frame of each of :attr:`frames`."""

    def add(self, similarities: np.ndarray, frame_ids: np.ndarray) -> None:
        """Count the neighbour lists of more of the query's frames.

        Parameters
        ----------
        similarities, frame_ids : numpy.ndarray
            (n, k) each, as :func:`vote_scores` takes them.
        """
        valid = frame_ids >= 0
        rows = np.broadcast_to(np.arange(len(frame_ids))[:, None], frame_ids.shape)[valid]
        frames, sims = frame_ids[valid], similarities[valid]
        sequences = self.owner[frames]
        kth = np.where(valid, similarities, np.inf).min(axis=1)
        kth[~np.isfinite(kth)] = 0.0
        # best similarity per (query frame, sequence): sort by sequence, then by similarity
        order = np.lexsort((-sims, sequences, rows))
        rows, ordered, ordered_sims = rows[order], sequences[order], sims[order]
        first = np.ones(len(rows), bool)
        first[1:] = (rows[1:] != rows[:-1]) | (ordered[1:] != ordered[:-1])
        self.gains += np.bincount(
            ordered[first],
            weights=ordered_sims[first] - kth[rows[first]],
            minlength=len(self.lengths),
        )
        self.rows += len(frame_ids)
        self.kth_sum += float(kth.sum())
        self.floor = min(self.floor, float(kth.min(initial=np.inf)))
        self.seen[sequences] = True
        # best similarity per fetched candidate frame, merged with the blocks before
        frames = np.concatenate([self.frames, frames])
        sims = np.concatenate([self.best, sims])
        by_frame = np.lexsort((-sims, frames))
        unique = np.ones(len(frames), bool)
        unique[1:] = frames[by_frame][1:] != frames[by_frame][:-1]
        self.frames, self.best = frames[by_frame][unique], sims[by_frame][unique]

    def scores(self, symmetric: bool) -> np.ndarray:
        """:func:`vote_scores` of the frames counted so far (``symmetric`` as there)."""
        recall = (self.kth_sum + self.gains) / self.rows
        scores = np.full(len(self.lengths), -np.inf)
        seen = np.flatnonzero(self.seen)
        if not symmetric:
            scores[seen] = recall[seen]
            return scores
        frame_owner = self.owner[self.frames]
        totals = np.bincount(frame_owner, weights=self.best, minlength=len(self.lengths))
        counts = np.bincount(frame_owner, minlength=len(self.lengths))
        precision = (totals + (self.lengths - counts) * self.floor) / self.lengths
        both = precision[seen] + recall[seen]
        product = 2 * precision[seen] * recall[seen]
        scores[seen] = np.divide(product, both, out=np.zeros_like(both), where=both > 0)
        return scores


class CentroidInteraction(CandidateGenerator):
    """SeqSim on quantised frames, for every indexed sequence (centroid interaction, as PLAID).

    Frames are assigned to ``centroids`` spherical k-means centroids, trained on a sample of
    the sequences (by faiss, on up to 64 frames per centroid); a small sample gets fewer
    centroids (one per 4 frames at most), and a sample of no more than ``centroids`` frames
    uses the frames themselves, so a small index quantises almost exactly. A sequence is kept
    as the set of centroids its frames fall in, with their frequencies. For a query,
    ``S = frames @ centroids.T`` once; the precision side of every sequence is the
    frequency-weighted mean over its centroids of their best match in the query (one sparse
    product over the whole index), the recall side the mean over query frames of their best
    match among the sequence's centroids, computed for the ``rescore`` sequences with the
    best precision side; their F1 ranks the shortlist. The index holds one centroid id per
    distinct (sequence, centroid): a few bytes per frame, whatever the frame dimension.

    Parameters
    ----------
    centroids : int, optional
        The number of k-means centroids (at most); by default 4096. Training sets the number
        used (fewer for a small sample, as above), which :meth:`options` records; where
        ``centroids`` was given and fewer are used, it warns, naming both.
    rescore : int, default 2000
        Sequences, those with the best precision side, whose recall side is computed.
    seed : int, default 0
        Seed of the k-means sample and initialisation.

    Attributes
    ----------
    centroid_vectors : numpy.ndarray
        (C, dim) float32 unit centroids, once trained.
    histograms : scipy.sparse.csr_matrix
        (sequences, C): the share of each sequence's frames in each centroid.

    Raises
    ------
    ValueError
        If ``centroids`` or ``rescore`` is not an integer >= 1.

    Warns
    -----
    UserWarning
        When trained, where ``centroids`` was given and the sample gives fewer.

    Examples
    --------
    15 frames, fewer than the 4096 centroids: the centroids are the frames themselves.

    >>> import numpy as np
    >>> from seqsim.search import SequenceIndex
    >>> rng = np.random.default_rng(0)
    >>> corpus = [rng.standard_normal((n, 8)).astype(np.float32) for n in (4, 6, 5)]
    >>> index = SequenceIndex(generator="centroids", candidates=1)
    >>> index.add(corpus)
    >>> index.generator.centroid_vectors.shape
    (15, 8)
    >>> index.search(corpus, k=1)[1].ravel()
    array([0, 1, 2])
    """

    name = "centroids"

    def __init__(
        self, centroids: int | None = None, rescore: int = DEFAULT_RESCORE, seed: int = 0
    ) -> None:
        if centroids is not None:
            check_count("centroids", centroids, 1)
        check_count("rescore", rescore, 1)
        self.asked_centroids = centroids
        """``centroids`` as given (None: the default), warned about where fewer are used."""
        self.centroids = DEFAULT_CENTROIDS if centroids is None else centroids
        self.rescore, self.seed = rescore, seed
        self.centroid_vectors = np.zeros((0, 0), np.float32)
        self.histograms = sparse.csr_matrix((0, self.centroids), dtype=np.float32)

    def options(self) -> dict[str, Any]:
        return {
            "generator": self.name,
            "centroids": self.centroids,
            "rescore": self.rescore,
            "seed": self.seed,
        }

    def train(self, sample: PackedSequences) -> None:
        frames = unit_frames(sample)
        self.centroid_vectors = _spherical_kmeans(frames, self.centroids, self.seed)
        used = len(self.centroid_vectors)
        if used < self.centroids and self.asked_centroids is not None:
            why = f"the {len(frames)} frames the shortlist is trained on"
            warn_clamped("centroids", self.centroids, used, why)
        self.centroids = used
        self.index = faiss.IndexFlatIP(self.centroid_vectors.shape[1])
        self.index.add(self.centroid_vectors)
        self.histograms = sparse.csr_matrix((0, len(self.centroid_vectors)), dtype=np.float32)

    def add(self, packed: PackedSequences) -> None:
        _, codes = self._trained_index().search(unit_frames(packed), 1)
        rows = np.repeat(np.arange(len(packed)), packed.lengths)
        weights = (1.0 / np.repeat(packed.lengths, packed.lengths)).astype(np.float32)
        shape = (len(packed), len(self.centroid_vectors))
        added = sparse.csr_matrix((weights, (rows, codes[:, 0])), shape=shape)
        added.sum_duplicates()
        self.histograms = sparse.vstack([self.histograms, added], format="csr")

    def shortlist(self, queries: PackedSequences, count: int) -> np.ndarray:
        if self.index is None:
            raise ValueError("no sequences were added")
        lists = np.full((len(queries), count), -1, np.int64)
        h = self.histograms
        for start, block in queries.chunks(SHORTLIST_QUERY_BLOCK):
            similarities = unit_frames(block) @ self.centroid_vectors.T  # (frames, centroids)
            best_matches = np.stack(  # (centroids, queries): each centroid's best match
                [similarities[a:b].max(axis=0) for a, b in pairwise(block.offsets)], axis=1
            )
            precision = _centroid_precision(best_matches, h.indptr, h.indices, h.data).T
            for number in range(len(block)):
                rows = slice(block.offsets[number], block.offsets[number + 1])
                chosen = _best(precision[number], self.rescore)
                recall = _centroid_recall(
                    np.ascontiguousarray(similarities[rows].T), h.indptr, h.indices, chosen
                )
                both = precision[number, chosen] + recall
                f1 = np.divide(
                    2 * precision[number, chosen] * recall,
                    both,
                    out=np.zeros_like(both),
                    where=both > 0,
                )
                best = chosen[_best(f1, count)]
                lists[start + number, : len(best)] = best
        return lists

    def state(self) -> dict[str, np.ndarray]:
        h = self.histograms
        return {
            "vectors": self.centroid_vectors,
            "indptr": h.indptr,
            "indices": h.indices,
            "data": h.data,
        }

    def restore(self, state: dict[str, np.ndarray]) -> None:
        vectors, indptr = state["vectors"], state["indptr"]
        if (
            vectors.ndim != 2
            or vectors.dtype != np.float32
            or not 0 < len(vectors) <= self.centroids
        ):
            raise ValueError(
                f"its centroid vectors are {vectors.dtype} of shape {vectors.shape}, expected "
                f"float32 (1 to {self.centroids}, dim)"
            )
        if indptr.ndim != 1 or len(indptr) < 1:
            raise ValueError(f"its indptr has shape {indptr.shape}, expected (sequences + 1,)")
        shape = (len(indptr) - 1, len(vectors))
        histograms = sparse.csr_matrix((state["data"], state["indices"], indptr), shape=shape)
        histograms.check_format(full_check=True)  # centroid ids in range: the kernels trust them
        self.centroid_vectors, self.histograms = vectors, histograms
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)

    def sequences(self) -> int | None:
        return self.histograms.shape[0]


SHORTLIST_QUERY_BLOCK = 64
"""Queries whose precision sides are computed in one pass over the index."""


def _best(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` highest scores, best first (equal scores: smaller index)."""
    if count < len(scores):
        part = np.argpartition(-scores, count - 1)[:count]
    else:
        part = np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]


MIN_FRAMES_PER_CENTROID = 4
"""Fewest training frames per centroid: a small index gets one centroid per few frames (it
quantises almost exactly), a large one ``count``."""
FRAMES_PER_CENTROID = 64
"""Training frames per centroid that k-means samples (at most)."""


def _spherical_kmeans(frames: np.ndarray, count: int, seed: int) -> np.ndarray:
    """At most ``count`` unit centroids of ``frames``: the frames themselves where there are no
    more than ``count``; fewer centroids (a power of two) where there are fewer than
    ``MIN_FRAMES_PER_CENTROID`` frames for each."""
    if len(frames) <= count:
        return frames.copy()
    while count > 1 and len(frames) < count * MIN_FRAMES_PER_CENTROID:
        count //= 2
    sample = np.random.default_rng(seed).permutation(len(frames))[: count * FRAMES_PER_CENTROID]
    kmeans = faiss.Kmeans(
        frames.shape[1], count, niter=10, spherical=True, seed=seed, min_points_per_centroid=1
    )
    kmeans.train(np.ascontiguousarray(frames[np.sort(sample)]))
    return np.asarray(kmeans.centroids, dtype=np.float32)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _centroid_precision(best_matches_t, indptr, indices, weights):  # pragma: no cover - compiled
    """(N, Q): for each indexed sequence and each query (``best_matches_t[c, q]``: centroid
    ``c``'s best similarity to query ``q``'s frames), the mean over the sequence's frames of
    their centroid's best match (a frequency-weighted sum over its distinct centroids)."""
    out = np.zeros((len(indptr) - 1, best_matches_t.shape[1]), np.float32)
    for sequence in numba.prange(len(indptr) - 1):
        total = out[sequence]
        for slot in range(indptr[sequence], indptr[sequence + 1]):
            row = best_matches_t[indices[slot]]
            weight = weights[slot]
            for query in range(len(row)):
                total[query] += weight * row[query]
    return out


@numba.njit(parallel=True, fastmath=True, cache=True)
def _centroid_recall(similarities_t, indptr, indices, chosen):  # pragma: no cover - compiled
    """For each chosen sequence, the mean over query frames of their best centroid of it
    (``similarities_t``: (centroids, query frames))."""
    out = np.empty(len(chosen), np.float32)
    frames = similarities_t.shape[1]
    for position in numba.prange(len(chosen)):
        sequence = chosen[position]
        best = np.full(frames, -np.inf, np.float32)
        for slot in range(indptr[sequence], indptr[sequence + 1]):
            row = similarities_t[indices[slot]]
            for i in range(frames):
                best[i] = max(best[i], row[i])
        out[position] = best.sum() / frames
    return out


GENERATORS: dict[str, type[CandidateGenerator]] = {
    "mean": MeanPooled,
    "frames": FrameVotes,
    "centroids": CentroidInteraction,
}
"""The generator classes by name: the built-in ones and those of :func:`register_generator`."""

G = TypeVar("G", bound=type[CandidateGenerator])


def register_generator(name: str, *, overwrite: bool = False) -> Callable[[G], G]:
    """Decorator that registers a :class:`CandidateGenerator` subclass under ``name``.

    ``SequenceIndex(generator=name, **options)`` then builds it, and an index of it can be
    saved and loaded: the file names the generator, and :meth:`SequenceIndex.load
    <seqsim.search.SequenceIndex.load>` builds the class registered under that name from the
    saved :meth:`~CandidateGenerator.options`, then gives it its saved state
    (:meth:`~CandidateGenerator.restore`). So register it where the index is loaded too (in a
    module imported there). The class's ``name`` becomes ``name``.

    Parameters
    ----------
    name : str
        The generator's name, the first entry of its :meth:`~CandidateGenerator.options`.
    overwrite : bool, default False
        Replace a generator registered under ``name`` already.

    Returns
    -------
    callable
        The decorator; it returns the class unchanged (but for its ``name``).

    Raises
    ------
    ValueError
        If ``name`` is registered already (and not ``overwrite``).
    TypeError
        If the decorated object is not a :class:`CandidateGenerator` subclass.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from seqsim.search import MeanPooled, SequenceIndex, register_generator
    >>> @register_generator("my_mean")
    ... class MyMean(MeanPooled):  # the nearest mean vectors, under a name of its own
    ...     pass
    >>> index = SequenceIndex(generator="my_mean", candidates=1)
    >>> index.add([np.eye(4, dtype=np.float32)[:2], np.eye(4, dtype=np.float32)[2:]])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     loaded = SequenceIndex.load(index.save(Path(folder) / "mine.index"))
    >>> type(loaded.generator).__name__, loaded.generator.options()
    ('MyMean', {'generator': 'my_mean', 'factory': 'Flat'})
    """

    def decorate(generator_class: G) -> G:
        if not (
            isinstance(generator_class, type) and issubclass(generator_class, CandidateGenerator)
        ):
            raise TypeError(f"cannot register {generator_class!r}: expected a CandidateGenerator")
        if name in GENERATORS and not overwrite:
            raise ValueError(
                f"a generator named {name!r} is registered already (pass overwrite=True)"
            )
        generator_class.name = name
        GENERATORS[name] = generator_class
        return generator_class

    return decorate


def generator_class(name: str) -> type[CandidateGenerator]:
    """The generator class registered as ``name``.

    Parameters
    ----------
    name : str
        A built-in generator's name, or one given to :func:`register_generator`.

    Returns
    -------
    type
        The :class:`CandidateGenerator` subclass.

    Raises
    ------
    ValueError
        If no generator is registered as ``name`` (the message lists those that are).

    Examples
    --------
    >>> from seqsim.search.candidates import generator_class
    >>> generator_class("frames").__name__
    'FrameVotes'
    >>> generator_class("colbert")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown generator 'colbert'; choose one of 'mean', 'frames', 'centroids'...
    """
    try:
        return GENERATORS[name]
    except KeyError:
        known = ", ".join(repr(registered) for registered in GENERATORS)
        raise ValueError(
            f"unknown generator {name!r}; choose one of {known}, or register yours "
            "(seqsim.search.register_generator)"
        ) from None
