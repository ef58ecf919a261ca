"""A searchable index of frame sequences: a faiss shortlist, then an exact rerank.

``search`` runs two stages. Stage 1, a :class:`~seqsim.search.candidates.CandidateGenerator`,
proposes ``candidates`` sequences per query; stage 2 scores them exactly with the index's
metric (``metric.matrix``: the same block kernels, on any backend) and keeps the best ``k``.
``exhaustive=True`` skips stage 1 and scores every sequence: the reference that stage 1 is
measured against (:func:`seqsim.search.agreement`).

Results are faiss-style ``(scores, ids)``, each ``(Q, k)``, best first; equal scores are
ordered by id (smaller first), the evaluator's tie rule. ``index.keys[ids]`` names them.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from numpy.typing import ArrayLike

from .._defaults import (
    DEFAULT_CANDIDATES,
    DEFAULT_CHUNK_QUERIES,
    DEFAULT_GENERATOR,
    DEFAULT_HITS,
    DEFAULT_LAYER,
    DEFAULT_METRIC,
)
from .._version import __version__
from ..checks import check_count, check_flag
from ..metrics.base import Metric, _stacklevel_outside_package, get_metric
from ..metrics.chunked import matrix_chunked
from ..progress import progress_bar
from ..ranking import top_k
from ..sequences import PackedSequences, SequencesLike, as_packed, to_float32_numpy
from ..store import EmbeddingStore
from ..store.files import (
    StoreError,
    write_atomically,
)
from ._index_file import (
    check_keys,
    field,
    kind_of,
    read_members,
    remove_killed_saves,
    saved_frames,
    saved_generator,
    saved_metric,
    saving,
)
from .candidates import GENERATORS, CandidateGenerator, generator_class
from .errors import SearchIndexError
from .filters import in_languages, languages_of
from .sequences import SequenceCollection

FORMAT_VERSION = 1
TRAINING_SEQUENCES = 4096
"""Sequences, drawn at random from the first ones added, that the shortlist is trained on
(k-means centroids, a faiss index that needs training)."""
ADD_BLOCK = 4096
"""Sequences the shortlist reads at once while indexing (bounds the memory of a build)."""
RANGE_CHECK_ROWS = 1 << 16
"""Frames cast to float32 at once to check that they and their squared norms are finite."""
FINGERPRINT_SEQUENCES = 1024
"""Sequences of a store whose first frame its fingerprint hashes (with every length)."""


class SequenceIndex:
    """Frame sequences, searchable by similarity: a faiss shortlist, then an exact rerank.

    :meth:`search` runs two stages (see :mod:`seqsim.search.index`): the generator proposes
    ``candidates`` sequences per query, and the metric scores them exactly (``metric.matrix``:
    the same block kernels, on any backend) and keeps the best ``k``. Results are faiss-style
    ``(scores, ids)``, best first, equal scores ordered by id; ``index.keys[ids]`` names them.

    Parameters
    ----------
    metric : str or Metric, default "seqsim"
        A registered metric name or a :class:`~seqsim.Metric` for the rerank.
    generator : str or CandidateGenerator, default "centroids"
        The shortlist (docs/searching.md compares them): ``"centroids"`` (SeqSim on
        k-means-quantised frames for every indexed sequence, the default; options
        ``centroids``, ``rescore``, ``seed``), ``"frames"`` (frame-level faiss neighbours;
        ``per_frame``, ``symmetric``) or ``"mean"`` (mean vectors). The last two take
        ``factory``, a faiss index factory string such as ``"Flat"``, ``"HNSW32"`` or
        ``"IVF4096,PQ64"``, and faiss search parameters such as ``nprobe=16``. Or a
        :class:`~seqsim.search.CandidateGenerator` object (then give no options).
    candidates : int, default DEFAULT_CANDIDATES (100)
        The shortlist length per query (K).
    backend, device, working_memory
        Where the metric runs and its scratch memory (MiB), passed to
        :func:`~seqsim.get_metric` when ``metric`` is a name (ignored for a metric object).
    **generator_options
        Options of the named generator, as listed above (see
        :class:`~seqsim.search.CentroidInteraction`, :class:`~seqsim.search.FrameVotes`,
        :class:`~seqsim.search.MeanPooled`).

    Attributes
    ----------
    metric : Metric
        The metric of the rerank.
    generator : CandidateGenerator
        The shortlist.
    candidates : int
        The shortlist length per query.
    keys : numpy.ndarray
        The key of every indexed sequence (object array), in id order.
    source : dict
        Where the frames came from: the store, its model and layer (empty for arrays).

    Raises
    ------
    ValueError
        If ``candidates`` is not an integer >= 1, ``generator`` is an unknown name, or
        ``metric`` is not a registered metric name (or its options are bad).
    TypeError
        If ``generator_options`` are given with a generator object instead of a name.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.search import SequenceIndex
    >>> rng = np.random.default_rng(0)
    >>> corpus = [rng.standard_normal((n, 16)).astype(np.float32) for n in (5, 8, 6, 7)]
    >>> index = SequenceIndex(candidates=2)
    >>> index.add(corpus, keys=["a", "b", "c", "d"])
    >>> len(index), index.dim
    (4, 16)
    >>> scores, ids = index.search([corpus[2], corpus[0]], k=2)
    >>> ids[:, 0], np.round(scores[:, 0], 4)   # each query finds itself, SeqSim 1
    (array([2, 0]), array([1., 1.]))
    >>> list(index.keys[ids[:, 0]])
    ['c', 'a']
    """

    def __init__(
        self,
        metric: str | Metric = DEFAULT_METRIC,
        *,
        generator: str | CandidateGenerator = DEFAULT_GENERATOR,
        candidates: int = DEFAULT_CANDIDATES,
        backend: str = "auto",
        device: str | None = None,
        working_memory: float | None = None,
        **generator_options: Any,
    ) -> None:
        check_count("candidates", candidates, 1)
        self.metric = (
            get_metric(metric, backend=backend, device=device, working_memory=working_memory)
            if isinstance(metric, str)
            else metric
        )
        if isinstance(generator, str):
            generator = generator_class(generator)(**generator_options)
        elif generator_options:
            raise TypeError(f"options {sorted(generator_options)} need a generator name")
        self.generator = generator
        self.candidates = candidates
        self.sequences = SequenceCollection()
        self.keys = np.zeros(0, dtype=object)
        self.source: dict[str, Any] = {}
        """Where the frames came from: the store, its model and layer (empty for arrays)."""

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def dim(self) -> int | None:
        """The frame dimension of the indexed sequences (None while the index is empty)."""
        return self.sequences.dim

    def settings(self) -> dict[str, Any]:
        """What determines this index's results (saved with it).

        Returns
        -------
        dict
            ``metric`` (the metric's settings), ``shortlist`` (the generator's options),
            ``candidates``, ``dim`` and ``source`` (empty for an index of arrays).

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim.search import SequenceIndex
        >>> index = SequenceIndex(generator="mean", candidates=5)
        >>> index.add([np.ones((2, 4), np.float32)])
        >>> index.settings()  # doctest: +NORMALIZE_WHITESPACE
        {'metric': {'metric': 'seqsim', 'output': 'f1'},
         'shortlist': {'generator': 'mean', 'factory': 'Flat'},
         'candidates': 5, 'dim': 4, 'source': {}}
        """
        return {
            "metric": self.metric.settings(),
            "shortlist": self.generator.options(),
            "candidates": self.candidates,
            "dim": self.dim,
            "source": self.source,
        }

    def __repr__(self) -> str:
        return f"SequenceIndex({len(self)} sequences, {self.settings()})"

    # ------------------------------------------------------------------ building

    def add(
        self,
        sequences: SequencesLike,
        keys: Sequence[str] | None = None,
        *,
        progress: bool = False,
    ) -> None:
        """Add sequences, numbered after those already there.

        The shortlist is trained on the first sequences added (a random sample of at most
        ``TRAINING_SEQUENCES`` of them), then reads them in blocks of ``ADD_BLOCK`` sequences,
        so memory-mapped frames are never loaded whole; the index keeps the frames it is given
        (a memory map stays one).

        Parameters
        ----------
        sequences : list of (frames, dim) arrays or tensors, or PackedSequences
            The sequences to add; their dimension must be the index's.
        keys : sequence of str, optional
            A name for each sequence (default: their numbers as text).
        progress : bool, default False
            Show a progress bar over the blocks.

        Raises
        ------
        SearchIndexError
            If the index was built from a store (add the utterances to the store and build
            the index again); if a key is given twice or is indexed already; or if a frame
            overflows float32 (its values or its squared norm), naming it.
        ValueError
            If ``sequences`` are empty, not 2-D float frames, hold NaN/inf, or differ in
            dimension from the index; if ``keys`` and ``sequences`` differ in number; or if
            the faiss index of the shortlist cannot be trained on them.

        Warns
        -----
        UserWarning
            Where the shortlist's ``centroids`` or ``per_frame`` was given and is more than
            the first sequences added (those it is trained on) give: the value used is
            recorded.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim.search import SequenceIndex
        >>> index = SequenceIndex()
        >>> index.add([np.eye(4, dtype=np.float32)[:2]], keys=["first"])
        >>> index.add([np.eye(4, dtype=np.float32)[2:]])   # numbered after: its key is "1"
        >>> list(index.keys)
        ['first', '1']
        """
        if self.source:
            raise SearchIndexError(
                f"this index reads the store {self.source['store']}; add the utterances to the "
                "store and build the index again"
            )
        packed = as_packed(sequences, "sequences", dim=self.dim)
        _check_float32_range(packed, "sequences")
        if keys is None:
            keys = [str(number) for number in range(len(self), len(self) + len(packed))]
        elif len(keys) != len(packed):
            raise ValueError(f"{len(keys)} keys for {len(packed)} sequences")
        self._check_new_keys(keys)
        if not self.generator.trained:
            sample = np.random.default_rng(0).permutation(len(packed))[:TRAINING_SEQUENCES]
            self.generator.train(packed.subset(np.sort(sample)))
        blocks = packed.chunks(ADD_BLOCK)
        total = -(-len(packed) // ADD_BLOCK)
        for _, block in progress_bar(
            blocks, total=total, desc="indexing", unit="block", disable=not progress
        ):
            self.generator.add(block)
        self.sequences.append(packed)
        self.keys = np.concatenate([self.keys, np.array(list(keys), dtype=object)])

    def _check_new_keys(self, keys: Sequence[str]) -> None:
        """Refuse a key given twice, or indexed already (``keys[ids]`` must name one each)."""
        indexed = {key: number for number, key in enumerate(self.keys)}
        for number, key in enumerate(keys):
            if key in indexed and indexed[key] < len(self):
                raise SearchIndexError(
                    f"key {key!r} (sequence {number} of those added) is indexed already, as "
                    f"sequence {indexed[key]}: every key must name one sequence"
                )
            if key in indexed:
                raise SearchIndexError(
                    f"key {key!r} is given twice, for sequences {indexed[key] - len(self)} and "
                    f"{number} of those added: every key must name one sequence"
                )
            indexed[key] = len(self) + number

    @classmethod
    def from_store(
        cls,
        store: str | Path | EmbeddingStore,
        layer: int = DEFAULT_LAYER,
        *,
        langs: Sequence[str] | None = None,
        progress: bool = True,
        **options: Any,
    ) -> SequenceIndex:
        """An index of every utterance in ``store`` (layer ``layer``), or of those in some
        languages, built block by block from its memory-mapped frames.

        An index of the whole store keeps using the memory map (never loaded whole); an
        index of some languages reads their frames into memory.

        The index records the store's path, model, layer and languages in :attr:`source`,
        and its fingerprint (a hash of every indexed utterance's length and of sampled
        frames), by which :meth:`load` knows the store again; it is saved pointing at the
        store, and refuses :meth:`add` (add to the store and rebuild).

        Parameters
        ----------
        store : str, Path or EmbeddingStore
            The store (its folder).
        layer : int, default -1
            The stored layer (hidden-state index; negative counts from the last one).
        langs : sequence of str, optional
            Index only the utterances in these languages (their keys' ``lang/``); every
            utterance when left out.
        progress : bool, default True
            Show a progress bar over the blocks indexed (on by default, as for the other
            store-wide jobs: embedding, evaluating a store).
        **options
            The options of :class:`SequenceIndex` (``metric``, ``generator``,
            ``candidates``, ...).

        Returns
        -------
        SequenceIndex
            The index; keys are the store's utterance keys.

        Raises
        ------
        seqsim.store.StoreError
            If the store holds no embeddings, or does not hold ``layer``
            (:class:`~seqsim.store.StoreMismatchError`), or cannot be read.
        seqsim.corpus.CorpusError
            If the store has no utterance in one of ``langs`` (naming it, and the store's
            languages), or a key that is not ``lang/id``.
        ValueError
            If ``progress`` is not True or False, or an option is bad (see
            :class:`SequenceIndex`).

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> from seqsim.search import SequenceIndex
        >>> rng = np.random.default_rng(0)
        >>> settings = {"model": "synthetic", "layers": [0], "dtype": "float32",
        ...             "hidden_states": 1}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(Path(folder) / "store")
        ...     with store.writer(settings) as writer:
        ...         for key, n in [("en/s1", 5), ("en/s2", 7), ("en/s3", 6)]:
        ...             writer.add(key, {0: rng.standard_normal((n, 8)).astype(np.float32)})
        ...     index = SequenceIndex.from_store(store, layer=0, candidates=2, progress=False)
        ...     keys, frames = store.load(0)
        ...     _, ids = index.search(frames, k=1)
        >>> list(index.keys), ids.ravel()
        (['en/s1', 'en/s2', 'en/s3'], array([0, 1, 2]))
        """
        check_flag("progress", progress)
        index = cls(**options)
        store = store if isinstance(store, EmbeddingStore) else EmbeddingStore(store)
        keys, frames = store.load(layer)
        if langs is not None:
            chosen = in_languages(keys, langs, f"the store {store.path}")
            langs = sorted(set(langs))
            keys, frames = [keys[n] for n in chosen], frames.subset(chosen)
        settings = store.settings or {}
        index.add(frames, keys, progress=progress)
        index.source = {
            "store": str(store.path.resolve()),
            "model": settings.get("model"),
            "layer": layer % settings.get("hidden_states", layer + 1),
            **({} if langs is None else {"langs": langs}),
            "fingerprint": _store_fingerprint(frames),
        }
        return index

    # ------------------------------------------------------------------ searching

    def search(
        self,
        queries: SequencesLike,
        k: int = DEFAULT_HITS,
        *,
        exhaustive: bool = False,
        progress: bool = False,
        among: ArrayLike | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best sequences for every query: ``(scores, ids)``, each (Q, k), best first.

        The generator shortlists ``max(k, candidates)`` sequences per query, and the metric
        scores the shortlist exactly (:meth:`Metric.shortlist_scores
        <seqsim.metrics.Metric.shortlist_scores>`). Equal scores are ordered by id (smaller
        first). Scoring is the metric's: an index of a :class:`~seqsim.distributed.
        ClusterMetric` (``cluster.index(index)``) scores on a Ray cluster, with the same
        results.

        **Searching among some sequences** (``among``, such as those of some languages:
        :func:`seqsim.search.search_filtered`): an exhaustive search scores only those, so
        it is exact. The shortlist of a search among a fraction *f* of the index is drawn
        from the generator's ``max(k, candidates) / f`` most promising sequences (all of
        them at most), and the first ``max(k, candidates)`` of those among ``among`` are
        reranked: as many as an unrestricted search reranks, where the generator ranks the
        chosen sequences as it ranks the others.

        Parameters
        ----------
        queries : list of (frames, dim) arrays or tensors, or PackedSequences
            The queries, of the index's dimension.
        k : int, default 10
            How many results per query; more than the index holds is clamped to its size.
        exhaustive : bool, default False
            Skip the shortlist and score every indexed sequence (the reference that the
            shortlist is measured against, :func:`seqsim.search.agreement`).
        progress : bool, default False
            Show a progress bar.
        among : array_like of int, optional
            The ids that may be returned (every indexed sequence when left out); ``k`` more
            than they are is clamped to their number.

        Returns
        -------
        scores : numpy.ndarray
            (Q, k) float scores, best first; ``-inf`` where a shortlist held fewer than ``k``
            sequences.
        ids : numpy.ndarray
            (Q, k) int64 ids of the sequences (``index.keys[ids]`` names them); ``-1`` pads a
            short list.

        Raises
        ------
        SearchIndexError
            If the index is empty, or a query frame overflows float32 once cast to it (its
            values or its squared norm: its scores would be NaN), naming the query.
        ValueError
            If ``k`` is not an integer >= 1, or ``queries`` are empty, not 2-D float frames,
            hold NaN/inf, or differ in dimension from the index; if ``among`` is empty, or
            holds an id that is not the index's.

        Warns
        -----
        UserWarning
            If ``k`` is larger than the index, or than ``among`` (it is clamped).

        Examples
        --------
        One-hot frames make every cosine 0 or 1, so the scores are exact and two copies tie:

        >>> import numpy as np
        >>> from seqsim.search import SequenceIndex
        >>> a, b = np.eye(4, dtype=np.float32)[:2], np.eye(4, dtype=np.float32)[2:]
        >>> index = SequenceIndex()
        >>> index.add([a, b, a])
        >>> scores, ids = index.search([a, b], k=3)
        >>> ids
        array([[0, 2, 1],
               [1, 0, 2]])
        >>> scores
        array([[1., 1., 0.],
               [1., 0., 0.]])
        >>> index.search([b], k=1, exhaustive=True)[1]
        array([[1]])

        Among the last two sequences only:

        >>> index.search([a], k=1, among=[1, 2])[1]
        array([[2]])
        """
        if not len(self):
            raise SearchIndexError("the index is empty: add sequences before searching")
        chosen = None if among is None else self._checked_among(among)
        k = self._checked_k(k, len(self) if chosen is None else len(chosen))
        packed = as_packed(queries, "queries", dim=self.dim)
        _check_float32_range(packed, "queries")
        if exhaustive:
            return self._exhaustive(packed, k, progress, chosen)
        scores, ids, diagnostics = self._reranked(packed, k, progress, chosen)
        self.metric.record_diagnostics(diagnostics)  # once for the search: one warning at most
        return scores, ids

    def _checked_among(self, among: ArrayLike) -> np.ndarray:
        """``among`` as ascending unique int64 ids of this index, or a ValueError naming it."""
        ids = np.asarray(among)
        if ids.ndim != 1 or not (ids.size == 0 or np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(f"among must be a 1-D array of sequence ids, got {kind_of(among)}")
        if not ids.size:
            raise ValueError("among is empty: there is nothing to search among")
        outside = ids[(ids < 0) | (ids >= len(self))]
        if outside.size:
            raise ValueError(
                f"among holds id {int(outside[0])}, not one of the {len(self)} indexed sequences"
            )
        return np.unique(ids).astype(np.int64)

    def _checked_k(self, k: int, size: int) -> int:
        """``k`` for a search among ``size`` sequences, clamped to it (with a warning); the
        checks that :meth:`search` makes before any work, wherever the search runs."""
        check_count("k", k, 1)
        if k > size:
            what = "sequences indexed" if size == len(self) else "sequences searched among"
            warnings.warn(
                f"k={k} is more than the {size} {what}; returning {size}",
                stacklevel=_stacklevel_outside_package(),
            )
        return min(k, size)

    def _reranked(
        self, queries: PackedSequences, k: int, progress: bool, among: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        """The two-stage search of checked ``queries`` (``k`` checked) among the ids ``among``
        (every one for None), and the metric's solver diagnostics of all its reranks summed,
        neither recorded nor warned about (the caller records them once)."""
        count = max(k, self.candidates)
        if among is None:
            shortlists = list(self.generator.shortlist(queries, count))
        else:
            widened = min(len(self), -(-count * len(self) // len(among)))
            shortlists = [
                row[np.isin(row, among)][:count]
                for row in self.generator.shortlist(queries, widened)
            ]
        shortlists = [np.unique(row[row >= 0]) for row in shortlists]  # ascending ids
        exact, diagnostics = self.metric.shortlist_scores(
            queries, self.sequences, shortlists, progress=progress
        )
        scores = np.full((len(queries), k), -np.inf)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for number, (row, shortlist) in enumerate(zip(exact, shortlists, strict=True)):
            best_scores, best = top_k(row[None], k)
            found = best.shape[1]
            scores[number, :found], ids[number, :found] = best_scores[0], shortlist[best[0]]
        return scores, ids, diagnostics

    def _exhaustive(
        self, queries: PackedSequences, k: int, progress: bool, among: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every indexed sequence (of ``among``, where given) scored, a chunk of queries at a
        time (:func:`~seqsim.metrics.chunked.matrix_chunked`, which records the metric's
        diagnostics)."""
        references = self.sequences.whole() if among is None else self.sequences.subset(among)
        best = matrix_chunked(
            self.metric,
            queries,
            references,
            reduce_func=lambda scores, _: top_k(scores, k),
            chunk_size=DEFAULT_CHUNK_QUERIES,
            progress=progress,
        )
        found = list(best)
        scores, ids = np.concatenate([s for s, _ in found]), np.concatenate([i for _, i in found])
        if among is not None:
            ids = np.where(ids >= 0, among[np.maximum(ids, 0)], -1)
        return scores, ids

    # ------------------------------------------------------------------ saving

    def _arrays(self, path: Path | None = None) -> dict[str, np.ndarray]:
        """The index as named arrays: what :meth:`save` writes to ``path`` (and a pickle
        carries); an index of a store saved to a file records where the store is relative
        to that file too."""
        arrays: dict[str, np.ndarray] = {
            f"shortlist_{name}": value for name, value in self.generator.state().items()
        }
        record = {"format": FORMAT_VERSION, "seqsim_version": __version__, **self.settings()}
        if self.source and path is not None:
            relative = os.path.relpath(self.source["store"], path.absolute().parent)
            record["source"] = {**self.source, "store_relative": Path(relative).as_posix()}
        arrays["settings"] = _json_bytes(record)
        arrays["keys"] = _json_bytes(list(self.keys))
        if not self.source:
            frames, lengths = self.sequences.packed_arrays()
            arrays["frames"], arrays["lengths"] = frames, lengths
        return arrays

    def save(self, path: str | Path) -> Path:
        """Write the index to one file, replaced atomically.

        An interrupted save leaves the previous file as it was. Frames added as arrays are
        saved with it; an index built from a store keeps pointing at the store (its path).

        Saves of one path serialise: a save holds an exclusive lock on ``<path>.lock``
        (opened without following links, removed when the save ends) and waits while
        another process saves to ``path``, so the last save wins and the file is always
        whole. Holding it, the save first removes the temporary files of saves of ``path``
        that were killed (``.seqsim-tmp.<owner>.<name>``, seqsim's own names only): every
        living save of ``path`` would hold the lock.

        Parameters
        ----------
        path : str or Path
            The file to write (an ``.npz`` archive; any name).

        Returns
        -------
        Path
            ``path``.

        Raises
        ------
        SearchIndexError
            Before writing anything, if the index is empty, or its generator is not
            registered (:func:`~seqsim.search.register_generator`), so that :meth:`load`
            could not build it again.
        seqsim.store.StoreWriteError
            If the file or its lock cannot be written (a link where the lock goes, a
            read-only folder; :class:`~seqsim.store.StoreFullError` where the disk is full,
            naming the space needed).

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> from seqsim.search import SequenceIndex
        >>> rng = np.random.default_rng(0)
        >>> corpus = [rng.standard_normal((n, 8)).astype(np.float32) for n in (4, 6, 5)]
        >>> index = SequenceIndex(candidates=2)
        >>> index.add(corpus, keys=["x", "y", "z"])
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = index.save(Path(folder) / "corpus.index")
        ...     loaded = SequenceIndex.load(path)
        >>> list(loaded.keys), loaded.search([corpus[1]], k=1)[1]
        (['x', 'y', 'z'], array([[1]]))
        """
        path = Path(path)
        self._check_loadable()
        arrays = self._arrays(path)
        needed = sum(array.nbytes for array in arrays.values()) + 2**16
        owner = f"index-{os.getpid()}-{secrets.token_hex(8)}"  # unique, even without ASLR

        def write(handle: BinaryIO) -> None:
            np.savez(handle, **arrays)  # type: ignore[arg-type]

        with saving(path):
            remove_killed_saves(path)
            write_atomically(path, owner, write, needed=needed)
        return path

    def _check_loadable(self) -> None:
        """Refuse to save an index that :meth:`load` could not build again: an empty one, or
        one whose generator's class is not the one registered under its name (the one place
        that decides which generators a file can hold)."""
        if not len(self):
            raise SearchIndexError("the index is empty: add sequences before saving")
        name = self.generator.options()["generator"]
        registered = GENERATORS.get(name)
        if registered is not type(self.generator):
            why = "is not registered" if registered is None else f"is {registered.__name__}'s"
            raise SearchIndexError(
                f"cannot save this index: its generator {type(self.generator).__name__} is "
                f"named {name!r}, which {why}, so load could not build it again; register "
                "the class under a name of its own (seqsim.search.register_generator), in a "
                "module that is imported where the index is loaded too"
            )

    @classmethod
    def load(
        cls, path: str | Path, *, store: str | Path | None = None, **run_options: Any
    ) -> SequenceIndex:
        """Read an index written by :meth:`save`.

        Parameters
        ----------
        path : str or Path
            The index file.
        store : str or Path, optional
            For an index of a store: where the store is now. By default the store is looked
            for where it was when the index was built, then at the same place relative to the
            index file (a store and index moved together are found).
        **run_options
            ``backend``, ``device``, ``working_memory``: where its metric runs; the metric
            itself (name and options) is the saved one.

        Returns
        -------
        SequenceIndex
            The index, with its frames (an index of a store reads the store's frames again,
            memory-mapped).

        Raises
        ------
        SearchIndexError
            Naming the file and what is wrong, if it does not exist, is damaged or not an
            index (a member larger than the file, as a zip bomb declares, or whose ``.npy``
            header does not match its size; settings that lack a field or hold the wrong
            kind of value; shortlist options or arrays its generator does not take), is of
            another format version, names a generator not registered here
            (:func:`~seqsim.search.register_generator`), or (an index of a store) its store
            is missing (the message says how to give its new place), cannot be read, has
            changed since the index was built, or is another store than the one given as
            ``store`` (naming both).

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> from seqsim.search import SearchIndexError, SequenceIndex
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     broken = Path(folder) / "broken.index"
        ...     _ = broken.write_text("not an index")
        ...     try:
        ...         SequenceIndex.load(broken)
        ...     except SearchIndexError as error:
        ...         print(str(error).replace(str(broken), "broken.index"))  # doctest: +ELLIPSIS
        broken.index: not a readable seqsim index (...)

        Saving and loading: see :meth:`save`.
        """
        path = Path(path)
        try:
            arrays = read_members(path)
        except SearchIndexError:
            raise  # it names the file and what is wrong already
        except FileNotFoundError:
            raise SearchIndexError(f"{path}: no such index file") from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise SearchIndexError(f"{path}: not a readable seqsim index ({error})") from None
        return cls._from_arrays(
            arrays, str(path), run_options=run_options, index_path=path, store=store
        )

    @classmethod
    def _from_arrays(
        cls,
        arrays: dict[str, np.ndarray],
        where: str,
        *,
        metric: Metric | None = None,
        generator_type: type[CandidateGenerator] | None = None,
        run_options: dict[str, Any] | None = None,
        index_path: Path | None = None,
        store: str | Path | None = None,
    ) -> SequenceIndex:
        """The index that :meth:`_arrays` gave, with ``metric`` (else the one its settings
        name, built with ``run_options``) and a generator of ``generator_type`` (else the
        class registered under the name its settings give); ``where`` names it in errors,
        which say what is missing or wrong in it."""
        try:
            record = json.loads(arrays.pop("settings").tobytes())
            keys = json.loads(arrays.pop("keys").tobytes())
        except (ValueError, KeyError) as error:
            raise SearchIndexError(f"{where}: not a readable seqsim index ({error})") from None
        if not isinstance(record, dict):
            raise SearchIndexError(f"{where}: its settings are {kind_of(record)}, not an object")
        if record.get("format") != FORMAT_VERSION:
            raise SearchIndexError(
                f"{where}: index format {record.get('format')!r}, this seqsim reads format "
                f"{FORMAT_VERSION} (made by seqsim {record.get('seqsim_version')}); rebuild it"
            )
        check_keys(where, keys)
        if metric is None:
            metric = saved_metric(where, field(where, record, "metric", dict), run_options)
        generator = saved_generator(
            where, field(where, record, "shortlist", dict), arrays, generator_type
        )
        held = generator.sequences()
        if held is not None and held != len(keys):
            raise SearchIndexError(
                f"{where}: its shortlist holds {held} sequences, its keys name {len(keys)}: "
                "damaged, or not an index seqsim wrote"
            )
        try:
            index = cls(metric, generator=generator, candidates=record.get("candidates"))
        except ValueError as error:
            raise SearchIndexError(f"{where}: {error}") from None
        index.keys = np.array(keys, dtype=object)
        index.source = field(where, record, "source", dict)
        dim = field(where, record, "dim", int)
        if index.source:
            field(where, index.source, "store", str)
            field(where, index.source, "layer", int)
            if "langs" in index.source:
                langs = field(where, index.source, "langs", list)
                if not all(isinstance(lang, str) for lang in langs):
                    raise SearchIndexError(f"{where}: its source's 'langs' are not strings")
            folder = _store_folder(where, index.source, index_path, store)
            stored = _store_frames(where, folder, index.source, keys, given=store is not None)
            index.sequences.append(stored)
            # where the store is now: a copy sent to a worker, or saved again, finds it there
            kept = {k: v for k, v in index.source.items() if k != "store_relative"}
            index.source = {**kept, "store": str(folder.resolve())}
        else:
            index.sequences.append(saved_frames(where, arrays, len(keys), dim))
        return index

    def __copy__(self) -> SequenceIndex:
        """A shallow copy: the same shortlist, frames and keys (shared, not copied), whose
        attributes (such as its metric) can be set apart from this index's."""
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as :meth:`save` writes it, with the metric object itself and the
        generator's class (which may be registered only where it was pickled, or not at all):
        an index of a store carries the store's path, not its frames, and reads them where it
        is unpickled."""
        return (_unpickled_index, (self._arrays(), self.metric, type(self.generator)))


def _unpickled_index(
    arrays: dict[str, np.ndarray], metric: Metric, generator_type: type[CandidateGenerator]
) -> SequenceIndex:
    return SequenceIndex._from_arrays(
        arrays, "a pickled index", metric=metric, generator_type=generator_type
    )


def _json_bytes(value: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(value, ensure_ascii=False).encode("utf-8"), np.uint8)


# ---------------------------------------------------------------------- checks


def _check_float32_range(packed: PackedSequences, name: str) -> None:
    """Refuse frames that overflow float32, which every kernel computes in: values beyond its
    range once cast (float64 ones), or a squared norm beyond it (1e30, squared, is), whose
    scores would be NaN or infinite. float16 frames cannot; others are read in chunks."""
    frames = packed.frames
    if frames.dtype in (np.float16, torch.float16):
        return  # 65504² times any dimension fits float32
    for start in range(0, frames.shape[0], RANGE_CHECK_ROWS):
        with np.errstate(over="ignore", invalid="ignore"):  # overflows are what is looked for
            chunk = to_float32_numpy(frames[start : start + RANGE_CHECK_ROWS])
            squared_norms = np.einsum("ij,ij->i", chunk, chunk)
        bad = np.flatnonzero(~np.isfinite(squared_norms))
        if bad.size:
            row = start + int(bad[0])
            item = int(np.searchsorted(packed.offsets, row, side="right") - 1)
            raise SearchIndexError(
                f"{name}[{item}] frame {row - packed.offsets[item]} overflows float32, which "
                "scores are computed in (its values, or its squared norm, are beyond 3.4e38): "
                "scale the frames down"
            )


def _store_fingerprint(frames: PackedSequences) -> str:
    """SHA-256 of every length of a store's layer and of the first frame of (at most)
    ``FINGERPRINT_SEQUENCES`` sequences spread over it: another store (other audio, another
    model) has another, and it reads a few hundred rows of the memory map."""
    count = min(len(frames), FINGERPRINT_SEQUENCES)
    picked = np.unique(np.linspace(0, len(frames) - 1, count).astype(np.int64))
    digest = hashlib.sha256(np.ascontiguousarray(frames.lengths, dtype="<i8").tobytes())
    digest.update(to_float32_numpy(frames.frames, frames.offsets[picked]).astype("<f4").tobytes())
    return digest.hexdigest()


def _store_folder(
    where: str, source: dict[str, Any], index_path: Path | None, given: str | Path | None
) -> Path:
    """Where the store of an index is: as given, else where it was built, else at the same
    place relative to the index file; a missing store is named with how to give its place."""
    if given is not None:
        if not (Path(given) / "store.json").is_file():
            raise SearchIndexError(f"{where}: {given} is not an embedding store (no store.json)")
        return Path(given)
    places = [Path(source["store"])]
    if index_path is not None and source.get("store_relative"):
        places.append(index_path.absolute().parent / source["store_relative"])
    for place in places:
        if (place / "store.json").is_file():
            return place
    hint = (
        "give its new place (seqsim search --indexed-store DIR, or "
        "SequenceIndex.load(..., store=DIR)), or build the index again"
    )
    looked = " nor ".join(str(place) for place in dict.fromkeys(places))
    raise SearchIndexError(
        f"{where}: its store is missing: it is neither at {looked} (moved or deleted?); " + hint
    )


def _store_frames(
    where: str, folder: Path, source: dict[str, Any], keys: list[str], *, given: bool
) -> PackedSequences:
    """The frames of an index built from a store, checked to be the ones it indexed: the
    same keys, model and fingerprint (an index saved before fingerprints were recorded is
    checked by its keys and model). A store ``given`` in place of the one the index was built
    from is named with that one where it differs."""
    try:
        store = EmbeddingStore(folder)
        stored_keys, frames = store.load(source["layer"])
        model = (store.settings or {}).get("model")
    except StoreError as error:
        raise SearchIndexError(f"{where}: its store cannot be read ({error})") from None
    if "langs" in source:
        chosen = np.flatnonzero(np.isin(languages_of(stored_keys), source["langs"]))
        stored_keys, frames = [stored_keys[n] for n in chosen], frames.subset(chosen)
    recorded = source.get("fingerprint")
    if stored_keys != keys:
        difference = f"{len(stored_keys)} utterances now, {len(keys)} indexed"
        if len(stored_keys) == len(keys):
            difference = "other utterance keys"
    elif model != source.get("model"):
        difference = f"frames of {model!r}, the index holds frames of {source.get('model')!r}"
    elif recorded is not None and recorded != _store_fingerprint(frames):
        difference = "other frames: its fingerprint differs"
    else:
        return frames
    if given:
        raise SearchIndexError(
            f"{where}: {folder} is not the store this index was built from "
            f"({source['store']}): {difference}; give that store, or build the index again"
        )
    raise SearchIndexError(
        f"{where}: the store {folder} has changed since the index was built ({difference}); "
        "rebuild the index"
    )
