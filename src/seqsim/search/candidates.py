"""Stage 1 of a search: a shortlist of candidates per query, for the exact rerank.

Three generators, all over L2-normalised frames (docs/search.md measures them):

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

from abc import ABC, abstractmethod
from itertools import pairwise
from typing import Any, ClassVar

import faiss
import numba
import numpy as np
from scipy import sparse

from ..checks import check_count
from ..kernels.numba_kernels import unit_numpy_block
from ..sequences import PackedSequences

# The generators' defaults, declared once: the classes and the CLI read them.
DEFAULT_FACTORY = "Flat"
DEFAULT_PER_FRAME = 32
DEFAULT_CENTROIDS = 4096
DEFAULT_RESCORE = 2000


def unit_frames(packed: PackedSequences) -> np.ndarray:
    """All frames as float32 rows of norm 1 (zero rows stay zero)."""
    return np.asarray(unit_numpy_block(packed).frames)


def new_faiss_index(factory: str, dim: int) -> faiss.Index:
    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[-1]
        raise ValueError(f"faiss cannot build index {factory!r}: {first_line}") from None


def train_faiss(index: faiss.Index, vectors: np.ndarray, factory: str) -> None:
    try:
        index.train(vectors)
    except RuntimeError as error:
        raise ValueError(
            f"faiss index {factory!r} could not be trained on {len(vectors)} vectors "
            f"({str(error).strip().splitlines()[-1]}); add more sequences at first, or "
            "choose a smaller index (e.g. 'Flat')"
        ) from None


class CandidateGenerator(ABC):
    """Stage 1 of :class:`~seqsim.search.SequenceIndex`: trained once on a sample, then
    given every sequence in order, then asked for shortlists."""

    name: ClassVar[str]
    index: faiss.Index | None = None

    @abstractmethod
    def options(self) -> dict[str, Any]:
        """What determines the shortlist (saved with the index)."""

    @property
    def trained(self) -> bool:
        """Whether :meth:`train` has run (or the generator was restored)."""
        return self.index is not None and self.index.is_trained

    @abstractmethod
    def train(self, sample: PackedSequences) -> None:
        """Learn what the shortlist needs from ``sample``, sequences drawn from all those about
        to be added; runs once, before the first :meth:`add`."""

    @abstractmethod
    def add(self, packed: PackedSequences) -> None:
        """Append sequences (numbered after those added before)."""

    @abstractmethod
    def shortlist(self, queries: PackedSequences, count: int) -> np.ndarray:
        """(Q, count) candidate ids per query, most promising first; -1 pads a short list."""

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """Arrays to save; :meth:`restore` takes them back."""

    @abstractmethod
    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Take back what :meth:`state` gave."""


class FaissGenerator(CandidateGenerator):
    """A generator whose faiss index (built from the ``factory`` string, inner product) holds
    :meth:`vectors` of every sequence; ``faiss_parameters`` are search parameters such as
    ``nprobe``."""

    def __init__(self, factory: str = DEFAULT_FACTORY, **faiss_parameters: Any) -> None:
        self.factory = factory
        self.faiss_parameters = faiss_parameters

    def options(self) -> dict[str, Any]:
        return {"generator": self.name, "factory": self.factory, **self.faiss_parameters}

    @abstractmethod
    def vectors(self, packed: PackedSequences) -> np.ndarray:
        """What the faiss index holds for ``packed`` (float32 rows)."""

    def train(self, sample: PackedSequences) -> None:
        self.index = new_faiss_index(self.factory, sample.dim)
        if not self.index.is_trained:
            train_faiss(self.index, self.vectors(sample), self.factory)

    def add(self, packed: PackedSequences) -> None:
        assert self.index is not None, "train the generator first"
        self.index.add(self.vectors(packed))

    def _searchable(self) -> faiss.Index:
        """The faiss index with the search parameters applied (e.g. nprobe, efSearch)."""
        if self.index is None:
            raise ValueError("no sequences were added")
        for name, value in self.faiss_parameters.items():
            faiss.ParameterSpace().set_index_parameter(self.index, name, value)
        return self.index

    def state(self) -> dict[str, np.ndarray]:
        assert self.index is not None
        return {"faiss": faiss.serialize_index(self.index)}

    def restore(self, state: dict[str, np.ndarray]) -> None:
        self.index = faiss.deserialize_index(state["faiss"])


class MeanPooled(FaissGenerator):
    """The nearest mean vectors (mean of an utterance's unit frames, normalised)."""

    name = "mean"

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

    ``per_frame``: neighbours fetched per query frame (more: a better estimate, slower).
    ``symmetric=False`` ranks by the recall side alone (PyLate / ColBERT v1 style voting).
    """

    name = "frames"

    def __init__(
        self,
        per_frame: int = DEFAULT_PER_FRAME,
        symmetric: bool = True,
        factory: str = DEFAULT_FACTORY,
        **faiss: Any,
    ) -> None:
        check_count("per_frame", per_frame, 1)
        super().__init__(factory, **faiss)
        self.per_frame, self.symmetric = per_frame, symmetric
        self.owner = np.zeros(0, np.int64)
        """For every indexed frame, the number of its sequence."""
        self.lengths = np.zeros(0, np.int64)

    def options(self) -> dict[str, Any]:
        return {**super().options(), "per_frame": self.per_frame, "symmetric": self.symmetric}

    def vectors(self, packed: PackedSequences) -> np.ndarray:
        return unit_frames(packed)

    def add(self, packed: PackedSequences) -> None:
        first = len(self.lengths)
        super().add(packed)
        self.owner = np.concatenate(
            [self.owner, np.repeat(np.arange(first, first + len(packed)), packed.lengths)]
        )
        self.lengths = np.concatenate([self.lengths, packed.lengths])

    def shortlist(self, queries: PackedSequences, count: int) -> np.ndarray:
        similarities, frame_ids = self._searchable().search(unit_frames(queries), self.per_frame)
        lists = np.full((len(queries), count), -1, np.int64)
        for number in range(len(queries)):
            rows = slice(queries.offsets[number], queries.offsets[number + 1])
            scores = vote_scores(
                similarities[rows], frame_ids[rows], self.owner, self.lengths, self.symmetric
            )
            found = np.flatnonzero(np.isfinite(scores))
            best = found[np.argsort(-scores[found], kind="stable")[:count]]
            lists[number, : len(best)] = best
        return lists

    def state(self) -> dict[str, np.ndarray]:
        return {**super().state(), "owner": self.owner, "lengths": self.lengths}

    def restore(self, state: dict[str, np.ndarray]) -> None:
        super().restore(state)
        self.owner, self.lengths = state["owner"], state["lengths"]


def vote_scores(
    similarities: np.ndarray,
    frame_ids: np.ndarray,
    owner: np.ndarray,
    lengths: np.ndarray,
    symmetric: bool,
) -> np.ndarray:
    """Estimated SeqSim (or recall alone) of one query against every indexed sequence, from
    its frames' neighbour lists ``similarities``/``frame_ids`` (n, k); -inf where no frame of
    a sequence was fetched.

    Recall: each query frame's best fetched similarity in the sequence, or, where it fetched
    none there, its k-th similarity (an upper bound of its true best match). Precision: each
    fetched candidate frame's best similarity to a query frame; the sequence's other frames
    count at the lowest k-th similarity of the query (a floor estimate). Their F1 estimates
    SeqSim's.
    """
    valid = frame_ids >= 0
    rows = np.broadcast_to(np.arange(len(frame_ids))[:, None], frame_ids.shape)[valid]
    frames, sims = frame_ids[valid], similarities[valid]
    sequences = owner[frames]
    kth = np.where(valid, similarities, np.inf).min(axis=1)
    kth[~np.isfinite(kth)] = 0.0
    # best similarity per (query frame, sequence): sort by sequence, then by similarity
    order = np.lexsort((-sims, sequences, rows))
    rows, sequences, sims, frames = rows[order], sequences[order], sims[order], frames[order]
    first = np.ones(len(rows), bool)
    first[1:] = (rows[1:] != rows[:-1]) | (sequences[1:] != sequences[:-1])
    gains = np.bincount(
        sequences[first], weights=sims[first] - kth[rows[first]], minlength=len(lengths)
    )
    recall = (kth.sum() + gains) / len(frame_ids)
    scores = np.full(len(lengths), -np.inf)
    seen = np.unique(sequences)
    if not symmetric:
        scores[seen] = recall[seen]
        return scores
    # best similarity per fetched candidate frame
    by_frame = np.lexsort((-sims, frames))
    unique = np.ones(len(frames), bool)
    unique[1:] = frames[by_frame][1:] != frames[by_frame][:-1]
    frame_best = sims[by_frame][unique]
    frame_owner = sequences[by_frame][unique]
    totals = np.bincount(frame_owner, weights=frame_best, minlength=len(lengths))
    counts = np.bincount(frame_owner, minlength=len(lengths))
    floor = kth.min()
    precision = (totals + (lengths - counts) * floor) / lengths
    both = precision[seen] + recall[seen]
    product = 2 * precision[seen] * recall[seen]
    scores[seen] = np.divide(product, both, out=np.zeros_like(both), where=both > 0)
    return scores


class CentroidInteraction(CandidateGenerator):
    """SeqSim on quantised frames, for every indexed sequence (centroid interaction, as PLAID).

    Frames are assigned to ``centroids`` spherical k-means centroids, trained on a sample of
    the sequences; a sequence is kept as the set of centroids its frames fall in, with their
    frequencies. For a query, ``S = frames @ centroids.T`` once; the precision side of every
    sequence is the frequency-weighted mean over its centroids of their best match in the
    query (one sparse product over the whole index), the recall side the mean over query frames
    of their best match among the sequence's centroids, computed for the ``rescore`` sequences
    with the best precision side; their F1 ranks the shortlist. The index holds one centroid id
    per distinct (sequence, centroid): a few bytes per frame, whatever the frame dimension.
    """

    name = "centroids"

    def __init__(
        self, centroids: int = DEFAULT_CENTROIDS, rescore: int = DEFAULT_RESCORE, seed: int = 0
    ) -> None:
        check_count("centroids", centroids, 1)
        check_count("rescore", rescore, 1)
        self.centroids, self.rescore, self.seed = centroids, rescore, seed
        self.centroid_vectors = np.zeros((0, 0), np.float32)
        self.histograms = sparse.csr_matrix((0, centroids), dtype=np.float32)

    def options(self) -> dict[str, Any]:
        return {
            "generator": self.name,
            "centroids": self.centroids,
            "rescore": self.rescore,
            "seed": self.seed,
        }

    def train(self, sample: PackedSequences) -> None:
        self.centroid_vectors = _spherical_kmeans(unit_frames(sample), self.centroids, self.seed)
        self.index = faiss.IndexFlatIP(self.centroid_vectors.shape[1])
        self.index.add(self.centroid_vectors)
        self.histograms = sparse.csr_matrix((0, len(self.centroid_vectors)), dtype=np.float32)

    def add(self, packed: PackedSequences) -> None:
        assert self.index is not None, "train the generator first"
        _, codes = self.index.search(unit_frames(packed), 1)
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
        self.centroid_vectors = state["vectors"]
        self.index = faiss.IndexFlatIP(self.centroid_vectors.shape[1])
        self.index.add(self.centroid_vectors)
        shape = (len(state["indptr"]) - 1, len(self.centroid_vectors))
        self.histograms = sparse.csr_matrix(
            (state["data"], state["indices"], state["indptr"]), shape=shape
        )


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
