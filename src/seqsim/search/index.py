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

import io
import json
import warnings
import zipfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from .._version import __version__
from ..checks import check_count
from ..metrics.base import Metric, get_metric
from ..progress import progress_bar
from ..ranking import top_k
from ..sequences import PackedSequences, SequencesLike, as_packed
from ..store import EmbeddingStore
from ..store.files import StoreError, write_atomically
from .candidates import GENERATORS, CandidateGenerator
from .sequences import SequenceCollection

if TYPE_CHECKING:
    from ..distributed.cluster import RayCluster

FORMAT_VERSION = 1
DEFAULT_CANDIDATES = 100
"""Shortlist length per query (K) unless told otherwise: 99 % top-1 agreement with exhaustive
search on 100,000 utterances (docs/search.md)."""
TRAINING_SEQUENCES = 4096
"""Sequences, drawn at random from the first ones added, that the shortlist is trained on
(k-means centroids, a faiss index that needs training)."""
ADD_BLOCK = 4096
"""Sequences the shortlist reads at once while indexing (bounds the memory of a build)."""
EXHAUSTIVE_QUERY_BLOCK = 256
"""Queries scored at once by ``exhaustive=True`` (bounds the (queries, index) score matrix)."""


class SearchIndexError(ValueError):
    """An index file or a search that cannot be used; the message names it."""


class SequenceIndex:
    """Frame sequences, searchable by similarity (see the module documentation).

    ``metric``: a registered metric name or :class:`~seqsim.Metric` for the rerank (SeqSim by
    default); ``backend``/``device``/``working_memory`` go to it. ``generator``, the shortlist
    (docs/search.md compares them): ``"centroids"`` (SeqSim on k-means-quantised frames for
    every indexed sequence; the default; options ``centroids``, ``rescore``), ``"frames"``
    (frame-level faiss neighbours; ``per_frame``, ``symmetric``) or ``"mean"`` (mean
    vectors); the last two take ``factory``, a faiss index factory string such as ``"Flat"``,
    ``"HNSW32"`` or ``"IVF4096,PQ64"``, and faiss search parameters such as ``nprobe=16``.
    ``candidates``: the shortlist length per query.
    """

    def __init__(
        self,
        metric: str | Metric = "seqsim",
        *,
        generator: str | CandidateGenerator = "centroids",
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
            if generator not in GENERATORS:
                known = ", ".join(repr(name) for name in GENERATORS)
                raise ValueError(f"unknown generator {generator!r}; choose one of {known}")
            generator = GENERATORS[generator](**generator_options)
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
        return self.sequences.dim

    def settings(self) -> dict[str, Any]:
        """What determines this index's results (saved with it)."""
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
        """Add sequences (numbered after those already there); ``keys`` name them (their
        numbers as text by default). The shortlist reads them in blocks of
        ``ADD_BLOCK`` sequences, so memory-mapped frames are never loaded whole; the index
        keeps the frames it is given (a memory map stays one)."""
        if self.source:
            raise SearchIndexError(
                f"this index reads the store {self.source['store']}; add the utterances to the "
                "store and build the index again"
            )
        packed = as_packed(sequences, "sequences", dim=self.dim)
        if keys is None:
            keys = [str(number) for number in range(len(self), len(self) + len(packed))]
        elif len(keys) != len(packed):
            raise ValueError(f"{len(keys)} keys for {len(packed)} sequences")
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

    @classmethod
    def from_store(
        cls, store: str | Path | EmbeddingStore, layer: int = -1, **options: Any
    ) -> SequenceIndex:
        """An index of every utterance in ``store`` (layer ``layer``), built block by block
        from its memory-mapped frames, which the index keeps using (never loaded whole)."""
        store = store if isinstance(store, EmbeddingStore) else EmbeddingStore(store)
        keys, frames = store.load(layer)
        settings = store.settings or {}
        index = cls(**options)
        index.add(frames, keys, progress=True)
        index.source = {
            "store": str(store.path.resolve()),
            "model": settings.get("model"),
            "layer": layer % settings.get("hidden_states", layer + 1),
        }
        return index

    # ------------------------------------------------------------------ searching

    def search(
        self,
        queries: SequencesLike,
        k: int = 10,
        *,
        exhaustive: bool = False,
        progress: bool = False,
        cluster: RayCluster | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best sequences for every query: ``(scores, ids)``, each (Q, k), best
        first. ``k`` larger than the index is clamped to its size (with a warning). With a
        :class:`~seqsim.distributed.RayCluster`, its workers search the queries
        (:func:`seqsim.distributed.cluster_search`), or score them against every sequence
        (``exhaustive``, :func:`seqsim.distributed.cluster_matrix`), with the same results."""
        if not len(self):
            raise SearchIndexError("the index is empty: add sequences before searching")
        check_count("k", k, 1)
        if k > len(self):
            warnings.warn(
                f"k={k} is more than the {len(self)} sequences indexed; returning {len(self)}",
                stacklevel=2,
            )
            k = len(self)
        packed = as_packed(queries, "queries", dim=self.dim)
        if exhaustive:
            return self._exhaustive(packed, k, progress, cluster)
        if cluster is not None:
            from ..distributed.scoring import cluster_search

            return cluster_search(self, packed, k, cluster, progress=progress)
        shortlists = self.generator.shortlist(packed, max(k, self.candidates))
        scores = np.full((len(packed), k), -np.inf)
        ids = np.full((len(packed), k), -1, dtype=np.int64)
        for number in progress_bar(range(len(packed)), desc="searching", disable=not progress):
            shortlist = np.unique(shortlists[number][shortlists[number] >= 0])  # ascending ids
            exact = self.metric.checked_matrix(
                packed.subset(np.array([number])), self.sequences.subset(shortlist)
            )
            best_scores, best = top_k(exact, k)
            found = best.shape[1]
            scores[number, :found], ids[number, :found] = best_scores[0], shortlist[best[0]]
        return scores, ids

    def _exhaustive(
        self, queries: PackedSequences, k: int, progress: bool, cluster: RayCluster | None
    ) -> tuple[np.ndarray, np.ndarray]:
        everything = self.sequences.whole()
        score = self.metric.checked_matrix
        if cluster is not None:
            from ..distributed.scoring import checked_cluster_matrix

            score = partial(checked_cluster_matrix, self.metric, cluster=cluster)
        blocks = progress_bar(
            queries.chunks(EXHAUSTIVE_QUERY_BLOCK),
            total=-(-len(queries) // EXHAUSTIVE_QUERY_BLOCK),
            desc="exhaustive search",
            disable=not progress,
        )
        results = [top_k(score(block, everything), k) for _, block in blocks]
        return np.concatenate([s for s, _ in results]), np.concatenate([i for _, i in results])

    # ------------------------------------------------------------------ saving

    def _arrays(self) -> dict[str, np.ndarray]:
        """The index as named arrays: what :meth:`save` writes (and a pickle carries)."""
        arrays: dict[str, np.ndarray] = {
            f"shortlist_{name}": value for name, value in self.generator.state().items()
        }
        record = {"format": FORMAT_VERSION, "seqsim_version": __version__, **self.settings()}
        arrays["settings"] = _json_bytes(record)
        arrays["keys"] = _json_bytes(list(self.keys))
        if not self.source:
            frames, lengths = self.sequences.packed_arrays()
            arrays["frames"], arrays["lengths"] = frames, lengths
        return arrays

    def save(self, path: str | Path) -> Path:
        """Write the index to one file (replaced atomically; an interrupted save leaves the
        previous file as it was). Frames added as arrays are saved with it; an index built
        from a store keeps pointing at the store."""
        path = Path(path)
        arrays = self._arrays()
        needed = sum(array.nbytes for array in arrays.values()) + 2**16
        owner = f"index-{id(self):x}"

        def write(handle: BinaryIO) -> None:
            np.savez(handle, **arrays)  # type: ignore[arg-type]

        write_atomically(path, owner, write, needed=needed)
        return path

    @classmethod
    def load(cls, path: str | Path, **run_options: Any) -> SequenceIndex:
        """Read an index written by :meth:`save`. ``run_options`` (``backend``, ``device``,
        ``working_memory``) choose where its metric runs; the metric itself is the saved one.
        Refuses a file of another format version, or one that is damaged, naming it."""
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as archive:
                arrays = {
                    name[: -len(".npy")]: np.lib.format.read_array(
                        io.BytesIO(archive.read(name)), allow_pickle=False
                    )
                    for name in archive.namelist()
                }
        except FileNotFoundError:
            raise SearchIndexError(f"{path}: no such index file") from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise SearchIndexError(f"{path}: not a readable seqsim index ({error})") from None
        return cls._from_arrays(arrays, str(path), run_options=run_options)

    @classmethod
    def _from_arrays(
        cls,
        arrays: dict[str, np.ndarray],
        where: str,
        *,
        metric: Metric | None = None,
        run_options: dict[str, Any] | None = None,
    ) -> SequenceIndex:
        """The index that :meth:`_arrays` gave, with ``metric`` (else the one its settings
        name, built with ``run_options``); ``where`` names it in errors."""
        try:
            record = json.loads(arrays.pop("settings").tobytes())
            keys = json.loads(arrays.pop("keys").tobytes())
        except (ValueError, KeyError) as error:
            raise SearchIndexError(f"{where}: not a readable seqsim index ({error})") from None
        if record.get("format") != FORMAT_VERSION:
            raise SearchIndexError(
                f"{where}: index format {record.get('format')!r}, this seqsim reads format "
                f"{FORMAT_VERSION} (made by seqsim {record.get('seqsim_version')}); rebuild it"
            )
        if metric is None:
            metric_settings = dict(record["metric"])
            metric = get_metric(
                metric_settings.pop("metric"), **metric_settings, **(run_options or {})
            )
        shortlist = dict(record["shortlist"])
        generator = GENERATORS[shortlist.pop("generator")](**shortlist)
        generator.restore(
            {
                name[len("shortlist_") :]: value
                for name, value in arrays.items()
                if name.startswith("shortlist_")
            }
        )
        index = cls(metric, generator=generator, candidates=record["candidates"])
        index.keys = np.array(keys, dtype=object)
        index.source = record["source"]
        if index.source:
            index.sequences.append(_store_frames(where, index.source, keys))
        else:
            index.sequences.append(
                PackedSequences.from_lengths(arrays["frames"], arrays["lengths"])
            )
        return index

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as :meth:`save` writes it, with the metric object itself (which may be a
        metric registered only where it was pickled): an index of a store carries the store's
        path, not its frames, and reads them where it is unpickled."""
        return (_unpickled_index, (self._arrays(), self.metric))


def _unpickled_index(arrays: dict[str, np.ndarray], metric: Metric) -> SequenceIndex:
    return SequenceIndex._from_arrays(arrays, "a pickled index", metric=metric)


def _json_bytes(value: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(value, ensure_ascii=False).encode("utf-8"), np.uint8)


def _store_frames(where: str, source: dict[str, Any], keys: list[str]) -> PackedSequences:
    """The frames of an index built from a store, checked to be the ones it indexed."""
    try:
        stored_keys, frames = EmbeddingStore(source["store"]).load(source["layer"])
    except StoreError as error:
        raise SearchIndexError(f"{where}: its store cannot be read ({error})") from None
    if stored_keys != keys:
        raise SearchIndexError(
            f"{where}: the store {source['store']} has changed since the index was built "
            f"({len(stored_keys)} utterances now, {len(keys)} indexed); rebuild the index"
        )
    return frames
