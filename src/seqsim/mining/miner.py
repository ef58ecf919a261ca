""":func:`mine`: the pairs of two collections of speech that are translations of each other.

Every source needs its ``k`` nearest targets and every target its ``k`` nearest sources, with
their raw scores (the margins' neighbour means). Small sets are scored exhaustively, through the
metric's batched ``matrix`` (which is all a metric needs to offer, so a metric scored on a Ray
cluster mines the same way); large ones through a :class:`~seqsim.search.SequenceIndex` each
way, whose exact rerank gives the same scores for the neighbours its shortlist holds. Given a
``checkpoint`` folder, every block of neighbours is written there atomically as it is found,
under a hash of what determines it, and a rerun reuses the blocks it finds.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from .._defaults import DEFAULT_CANDIDATES, DEFAULT_LAYER, DEFAULT_METRIC
from ..checks import check_choice, check_count, check_flag, option
from ..corpus import Corpus, Utterance, read_manifest
from ..embedding import EmbeddingRunner, embed_corpus
from ..evaluation import data_fingerprint
from ..metrics.base import Metric, get_metric
from ..progress import progress_bar
from ..ranking import Margin, top_k
from ..search import SequenceIndex
from ..search.filters import drop_hits, excluded_hits, in_languages, own_positions
from ..sequences import PackedSequences, SequencesLike, as_packed
from ..store import EmbeddingStore
from ..store.files import write_atomically
from .defaults import (
    DEFAULT_DIRECTION,
    DEFAULT_EXHAUSTIVE_BELOW,
    DEFAULT_KEEP,
    DEFAULT_MARGIN,
    DEFAULT_MINING_NEIGHBOURS,
    DEFAULT_MINING_SEARCH,
    SEARCHES,
)
from .margins import (
    MiningError,
    Neighbours,
    Pairs,
    candidate_pairs,
    check_margin_options,
    selected_pairs,
)

SOURCE_BLOCK = 256
"""Sources scored at once by the exhaustive path: one (block, targets) score matrix in memory,
and one checkpoint file."""
QUERY_BLOCK = 1024
"""Utterances searched at once by the index path (one checkpoint file)."""
CHECKPOINT_FORMAT = 1

SideLike = SequencesLike | EmbeddingStore | Corpus | str | Path
"""One side of a run: frame arrays (or packed), a store, a corpus, a store folder or a manifest."""


@dataclass(frozen=True)
class Side:
    """The frames of one side, with their keys, audio paths and sentences where known."""

    name: str
    frames: PackedSequences
    keys: list[str] | None = None
    paths: list[str] | None = None
    sentences: list[str] | None = None


def mine(
    sources: SideLike,
    targets: SideLike,
    *,
    metric: str | Metric | Any | None = None,
    k: int = DEFAULT_MINING_NEIGHBOURS,
    margin: Margin = DEFAULT_MARGIN,  # type: ignore[assignment]
    direction: str = DEFAULT_DIRECTION,
    keep: int = DEFAULT_KEEP,
    threshold: float | None = None,
    max_per_utterance: int | None = None,
    search: str = DEFAULT_MINING_SEARCH,
    exhaustive_below: int = DEFAULT_EXHAUSTIVE_BELOW,
    candidates: int = DEFAULT_CANDIDATES,
    index_options: Mapping[str, Any] | None = None,
    layer: int = DEFAULT_LAYER,
    source_langs: Sequence[str] | None = None,
    target_langs: Sequence[str] | None = None,
    model: Any = None,
    store: str | Path | EmbeddingStore | None = None,
    runner: EmbeddingRunner | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Mine the pairs of ``sources`` and ``targets`` that are translations of each other.

    Every source's ``k`` nearest targets and every target's ``k`` nearest sources are found
    (exhaustively, or through a search index each way), the margin corrects each candidate
    pair's raw score by those neighbours' mean scores (:func:`~seqsim.ranking.margin_scores`),
    each utterance keeps its ``keep`` best candidates by margin, and ``direction`` combines
    the two ways. An utterance is never paired with itself (the same key on both sides).

    Parameters
    ----------
    sources, targets : list of arrays, PackedSequences, EmbeddingStore, Corpus, str or Path
        Each side: frame sequences (rows of the table are their positions); a store or a
        store's folder (its ``layer``); or a corpus or manifest file, embedded into ``store``
        with ``model`` (:func:`seqsim.embedding.embed_corpus`, resumable).
    metric : str or Metric, optional
        The raw score, SeqSim by default; a registered name or a metric object. One wrapped
        by a Ray cluster (``cluster.metric(m)``, :class:`~seqsim.distributed.ClusterMetric`)
        scores both paths on the cluster, with the same pairs.
    k : int, default 4
        Neighbours averaged in the margins (LASER's 4; stopes uses 16), and the candidates
        each utterance chooses from; at most the size of the other side.
    margin : {"ratio", "distance", "absolute", "csls"}, default "ratio"
        ``s / m``, ``s - m``, ``s`` or ``2 s - r(x) - r(y)``, with ``m = (r(x) + r(y)) / 2``.
    direction : {"union", "intersection", "forward", "backward"}, default "union"
        Pairs found either way, both ways, from the sources, or from the targets.
    keep : int, default 1
        Candidates each utterance keeps in its own direction (at most ``k``).
    threshold : float, optional
        Keep pairs whose margin is at least this (:func:`~seqsim.mining.best_threshold`
        calibrates it on gold pairs).
    max_per_utterance : int, optional
        Keep at most this many pairs per source and per target, best margin first (1 with the
        union is LASER's ``max`` retrieval: one-to-one).
    search : {"auto", "exhaustive", "index"}, default "auto"
        Exhaustive scoring below ``exhaustive_below`` pairs, the index above; or always one.
    exhaustive_below : int, default 500_000
        The switch of ``"auto"``, in pairs (sources x targets).
    candidates : int, default 100
        The index's shortlist length per query (reranked exactly).
    index_options : mapping, optional
        More options of each :class:`~seqsim.search.SequenceIndex`: ``generator`` and its
        options (``centroids``, ``factory``, ...).
    layer : int, default -1
        The stored layer of a store side, or the layer a corpus side is embedded at.
    source_langs, target_langs : sequence of str, optional
        Keep only the utterances of a keyed side (store, corpus) in these languages.
    model : str or EncoderSpec, optional
        The encoder of a corpus side (what :func:`~seqsim.load_encoder` takes).
    store : str, Path or EmbeddingStore, optional
        Where a corpus side is embedded (needed for one).
    runner : EmbeddingRunner, optional
        Where a corpus side is embedded (:func:`~seqsim.embedding.embed_corpus`): this
        process by default, ``cluster.embedding()`` on a Ray cluster.
    checkpoint : str or Path, optional
        A folder for the blocks of neighbours found; an interrupted run given the same folder
        and inputs resumes from them. Without it nothing is written.
    progress : bool, default False
        Show progress bars.

    Returns
    -------
    pandas.DataFrame
        One row per pair, best margin first (ties by source, then target): ``source`` and
        ``target`` (positions on each side), ``score`` (raw), ``margin``; ``source_key`` and
        ``target_key`` for keyed sides, ``source_path`` and ``target_path`` for corpus sides.

    Raises
    ------
    MiningError
        Naming the side, item or option: an empty side, a bad or empty sequence, frames of
        another dimension than the sources', ``k`` larger than a side, an unknown margin,
        direction or search, languages asked of frames without keys, a corpus side without
        ``model`` or ``store``, the ratio margin on non-positive neighbour means, the index path
        with a metric that is no :class:`~seqsim.Metric`.
    seqsim.store.StoreError
        When a store cannot be read or lacks ``layer`` (naming the store and its layers).
    seqsim.corpus.CorpusError
        Naming a manifest, row or language that cannot be used.

    Examples
    --------
    Three sources; the targets hold each of them, noisier and in another order:

    >>> import numpy as np
    >>> from seqsim.mining import mine
    >>> rng = np.random.default_rng(0)
    >>> sources = [rng.standard_normal((n, 8)).astype(np.float32) for n in (5, 7, 6)]
    >>> targets = [s + 0.3 * rng.standard_normal(s.shape).astype(np.float32)
    ...            for s in (sources[2], sources[0], sources[1])]
    >>> pairs = mine(sources, targets, k=2)
    >>> sorted(pairs[["source", "target"]].values.tolist())
    [[0, 1], [1, 2], [2, 0]]
    >>> bool((pairs["margin"] > 1).all())
    True
    """
    try:
        check_margin_options(margin, direction, k, keep)
        check_choice("search", search, SEARCHES)
        check_count("exhaustive_below", exhaustive_below, 0)
        check_count("candidates", candidates, 1)
        check_flag("progress", progress)
        if max_per_utterance is not None:
            check_count("max_per_utterance", max_per_utterance, 1)
        metric = get_metric(metric or DEFAULT_METRIC) if isinstance(metric, str | None) else metric
    except ValueError as error:
        raise MiningError(str(error)) from None
    embedding = {"model": model, "store": store, "runner": runner, "progress": progress}
    source_side = load_side(sources, "sources", layer, source_langs, **embedding)
    target_side = load_side(
        targets, "targets", layer, target_langs, **embedding, dim=source_side.frames.dim
    )
    _check_k(k, source_side, target_side)
    pairs_total = len(source_side.frames) * len(target_side.frames)
    exhaustive = search == "exhaustive" or (search == "auto" and pairs_total < exhaustive_below)
    finder = NeighbourFinder(source_side, target_side, metric, k, progress)
    index = {"candidates": candidates, **(index_options or {})}
    if checkpoint is not None:
        finder.checkpoint = Checkpoint.for_run(Path(checkpoint), finder.settings(exhaustive, index))
    forward, backward = finder.exhaustive() if exhaustive else finder.indexed(index)
    if margin == "ratio":
        _check_positive_means(forward, backward)
    pairs = candidate_pairs(forward, backward, margin, direction, keep)
    return pairs_table(
        selected_pairs(pairs, threshold, max_per_utterance), source_side, target_side
    )


# ---------------------------------------------------------------------- the two sides


def load_side(
    given: SideLike,
    name: str,
    layer: int,
    langs: Sequence[str] | None,
    *,
    model: Any,
    store: str | Path | EmbeddingStore | None,
    runner: EmbeddingRunner | None,
    progress: bool,
    dim: int | None = None,
) -> Side:
    """One side of a run, checked: its frames (of dimension ``dim`` where given), and its keys,
    paths and sentences where it has them; only the utterances in ``langs`` for a keyed side."""
    if isinstance(given, str | Path) and Path(given).is_dir():
        given = EmbeddingStore(given)
    elif isinstance(given, str | Path):
        if not Path(given).exists():
            raise MiningError(f"{given}: the {name} are neither a store folder nor a manifest")
        given = read_manifest(given)
    if isinstance(given, EmbeddingStore):
        keys, frames = given.load(layer)
        chosen = in_languages(keys, langs, f"the {name} ({given.path})")
        return _checked(name, frames.subset(chosen), dim, keys=[keys[n] for n in chosen])
    if isinstance(given, Corpus):
        return _embedded(given, name, layer, langs, model, store, runner, progress, dim)
    if langs is not None:
        raise MiningError(
            f"{option(name[:-1] + '_langs', list(langs))}: the {name} are frames without keys; "
            "languages select the utterances of a store or a corpus"
        )
    return _checked(name, given, dim)


def _embedded(
    corpus: Corpus,
    name: str,
    layer: int,
    langs: Sequence[str] | None,
    model: Any,
    store: str | Path | EmbeddingStore | None,
    runner: EmbeddingRunner | None,
    progress: bool,
    dim: int | None,
) -> Side:
    """A corpus side, embedded into ``store`` (what is stored already is reused); utterances
    whose audio fails are left out with a warning that names them."""
    if model is None or store is None:
        missing = " and ".join(n for n, v in (("model", model), ("store", store)) if v is None)
        raise MiningError(f"the {name} are a corpus: give {missing} to embed it")
    keys = [u.key for u in corpus.utterances]
    utterances = [corpus.utterances[n] for n in in_languages(keys, langs, f"the {name}")]
    report = embed_corpus(
        Corpus(utterances), model, store, [layer], progress=progress, runner=runner
    )
    failed = {failure["key"] for failure in report.failures}
    if failed:
        warnings.warn(
            f"the {name} lose {len(failed)} utterance(s) whose audio failed, e.g. "
            f"{report.failures[0]['reason']}",
            stacklevel=3,
        )
        utterances = [u for u in utterances if u.key not in failed]
    store = store if isinstance(store, EmbeddingStore) else EmbeddingStore(store)
    stored_keys, frames = store.load(layer)
    position = {key: number for number, key in enumerate(stored_keys)}
    chosen = np.array([position[u.key] for u in utterances], dtype=np.int64)
    return _checked(
        name,
        frames.subset(chosen),
        dim,
        keys=[u.key for u in utterances],
        paths=[str(u.path) for u in utterances],
        sentences=[u.sentence for u in utterances],
    )


def _checked(name: str, frames: SequencesLike, dim: int | None, **known: Any) -> Side:
    """A side whose frames :func:`~seqsim.sequences.as_packed` accepts, its faults named as a
    :class:`MiningError`."""
    if len(frames) == 0:
        raise MiningError(f"the {name} are empty: nothing to mine")
    try:
        packed = as_packed(frames, name, dim=dim, dim_of="the sources' dimension")
    except ValueError as error:
        raise MiningError(str(error)) from None
    return Side(name, packed, **known)


def _check_k(k: int, sources: Side, targets: Side) -> None:
    """Refuse a ``k`` larger than a side offers (less the utterance itself, on both sides)."""
    shared = bool(sources.keys and targets.keys and set(sources.keys) & set(targets.keys))
    for side, other in ((sources, targets), (targets, sources)):
        offered = len(other.frames) - shared
        if k > offered:
            raise MiningError(
                f"{option('k', k)} is more than the {offered} {other.name} each of the "
                f"{side.name} can be paired with; give k <= {offered}"
            )


def _check_positive_means(forward: Neighbours, backward: Neighbours) -> None:
    """The ratio margin divides by the neighbour means: refuse a side whose mean is not above
    0 (a metric with negative scores, such as DTW), naming the utterance."""
    for side, neighbours in (("source", forward), ("target", backward)):
        means = neighbours.means()
        bad = np.flatnonzero(~(means > 0))
        if bad.size:
            raise MiningError(
                f"{option('margin', 'ratio')} needs positive scores, but {side} {bad[0]}'s "
                f"neighbours score {means[bad[0]]:.4g} on average; use "
                f"{option('margin', 'distance')} or {option('margin', 'csls')}"
            )


# ---------------------------------------------------------------------- neighbours


class NeighbourFinder:
    """The ``k`` nearest neighbours of both sides, block by block, through a checkpoint."""

    def __init__(self, sources: Side, targets: Side, metric: Any, k: int, progress: bool) -> None:
        self.sources, self.targets = sources, targets
        self.metric, self.k, self.progress = metric, k, progress
        self.checkpoint: Checkpoint | None = None

    def settings(self, exhaustive: bool, index: Mapping[str, Any]) -> dict[str, Any]:
        """What the neighbours depend on: the data, the metric, ``k`` and the search."""

        def fingerprint(side: Side) -> str:
            names = side.keys or [str(number) for number in range(len(side.frames))]
            return data_fingerprint({side.name: (names, side.frames)})

        search = {"exhaustive": SOURCE_BLOCK} if exhaustive else {"index": dict(index)}
        return {
            "format": CHECKPOINT_FORMAT,
            "sources": fingerprint(self.sources),
            "targets": fingerprint(self.targets),
            "metric": self.metric.settings(),
            "k": self.k,
            "search": search,
        }

    def _parts(
        self,
        frames: PackedSequences,
        size: int,
        what: str,
        find: Callable[[int, PackedSequences], dict[str, np.ndarray]],
    ) -> Iterator[dict[str, np.ndarray]]:
        """Every block of ``size`` of ``frames``, from the checkpoint where it holds it, else
        found by ``find(start, block)`` (and written to the checkpoint)."""
        starts = range(0, len(frames), size)
        for start in progress_bar(starts, desc=what, unit="block", disable=not self.progress):
            name = f"{what}-{start // size:06d}"
            part = None if self.checkpoint is None else self.checkpoint.load(name)
            if part is None:
                block = frames.subset(np.arange(start, min(start + size, len(frames))))
                part = find(start, block)
                if self.checkpoint is not None:
                    self.checkpoint.save(name, part)
            yield part

    def exhaustive(self) -> tuple[Neighbours, Neighbours]:
        """Every pair scored (``metric.matrix``), blocks of sources at a time: each block gives
        its sources' best targets and, for every target, its best sources within the block,
        merged into the targets' lists as the blocks come."""
        n_targets = len(self.targets.frames)
        forward_scores, forward_ids = [], []
        backward = Neighbours(np.full((n_targets, 0), -np.inf), np.full((n_targets, 0), -1))
        parts = self._parts(self.sources.frames, SOURCE_BLOCK, "exhaustive", self._scored_block)
        for part in parts:
            forward_scores.append(part["forward_scores"])
            forward_ids.append(part["forward_ids"])
            found = Neighbours(part["backward_scores"], part["backward_ids"])
            backward = _merged(backward, found, self.k)
        forward = Neighbours(np.concatenate(forward_scores), np.concatenate(forward_ids))
        return _padded(forward), _padded(backward)

    def _scored_block(self, start: int, block: PackedSequences) -> dict[str, np.ndarray]:
        """A block of sources scored against every target: its forward lists, and every
        target's best sources within it (the utterance itself left out)."""
        scores = np.array(self.metric.matrix(block, self.targets.frames), dtype=np.float64)
        rows = np.arange(start, start + len(block))
        if self.sources.keys is not None and self.targets.keys is not None:
            itself = own_positions(self.sources.keys[start : start + len(block)], self.targets.keys)
            present = np.flatnonzero(itself >= 0)
            scores[present, itself[present]] = -np.inf
        forward_scores, forward_ids = top_k(scores, self.k)
        backward_scores, backward_rows = top_k(scores.T, self.k)
        return {
            "forward_scores": forward_scores,
            "forward_ids": forward_ids,
            "backward_scores": backward_scores,
            "backward_ids": rows[backward_rows],
        }

    def indexed(self, index: Mapping[str, Any]) -> tuple[Neighbours, Neighbours]:
        """Both ways through a :class:`~seqsim.search.SequenceIndex` (shortlist, exact
        rerank): the targets indexed and searched with the sources, then the other way; an
        index is built only when a block of its way is not in the checkpoint."""
        forward = self._searched(self.sources, self.targets, index, "forward")
        backward = self._searched(self.targets, self.sources, index, "backward")
        return forward, backward

    def _searched(
        self, queries: Side, indexed: Side, options: Mapping[str, Any], way: str
    ) -> Neighbours:
        """The ``k`` nearest of ``indexed`` for every query, blocks of queries at a time (the
        index built at the first block not in the checkpoint)."""
        shared = bool(queries.keys and indexed.keys and set(queries.keys) & set(indexed.keys))
        index: list[SequenceIndex] = []  # built once, when first needed

        def find(start: int, block: PackedSequences) -> dict[str, np.ndarray]:
            if not index:
                index.append(SequenceIndex(self.metric, **options))
                index[0].add(indexed.frames, indexed.keys, progress=self.progress)
            scores, ids = index[0].search(block, self.k + shared)
            if shared:
                block_keys = queries.keys[start : start + len(block)]  # type: ignore[index]
                excluded = excluded_hits(block_keys, indexed.keys, ids)  # type: ignore[arg-type]
                scores, ids = drop_hits(scores, ids, excluded, self.k)
            return {"scores": scores, "ids": ids}

        parts = list(self._parts(queries.frames, QUERY_BLOCK, way, find))
        return Neighbours(
            np.concatenate([part["scores"] for part in parts]),
            np.concatenate([part["ids"] for part in parts]),
        )


def _merged(running: Neighbours, block: Neighbours, k: int) -> Neighbours:
    """The ``k`` best of two lists of neighbours per row; ``running`` holds smaller ids, so
    equal scores keep the smaller id first (the tie rule of :func:`~seqsim.ranking.top_k`)."""
    scores = np.concatenate([running.scores, block.scores], axis=1)
    ids = np.concatenate([running.ids, block.ids], axis=1)
    best, columns = top_k(scores, k)
    return Neighbours(best, np.take_along_axis(ids, columns, axis=1))


def _padded(neighbours: Neighbours) -> Neighbours:
    """Neighbours whose left-out entries (score ``-inf``: the utterance itself) read as
    padding (id -1)."""
    return Neighbours(
        neighbours.scores, np.where(np.isfinite(neighbours.scores), neighbours.ids, -1)
    )


# ---------------------------------------------------------------------- checkpoint


class Checkpoint:
    """Blocks of a run's neighbours in ``<folder>/mining-<hash>/``, each written atomically;
    the hash covers what determines them (:meth:`NeighbourFinder.settings`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def for_run(cls, folder: Path, settings: dict[str, Any]) -> Checkpoint:
        """The checkpoint of the run with ``settings`` under ``folder`` (made if needed)."""
        text = json.dumps(settings, sort_keys=True, default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        checkpoint = cls(folder / f"mining-{digest}")
        checkpoint.folder.mkdir(parents=True, exist_ok=True)
        settings_file = checkpoint.folder / "settings.json"
        if not settings_file.exists():
            checkpoint._write(settings_file, text.encode())
        return checkpoint

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.npz"

    def load(self, name: str) -> dict[str, np.ndarray] | None:
        """The arrays of the block ``name``; None where it is not there, or is damaged (then
        a warning names it, and it is found again and replaced)."""
        path = self._path(name)
        if not path.exists():
            return None
        try:
            with np.load(path) as archive:
                return {member: archive[member] for member in archive.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            warnings.warn(f"{path}: damaged ({error}); finding this block again", stacklevel=2)
            return None

    def save(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        def write(handle: BinaryIO) -> None:
            np.savez(handle, **arrays)  # type: ignore[arg-type]

        needed = sum(array.nbytes for array in arrays.values()) + 2**12
        write_atomically(self._path(name), _owner(), write, needed=needed)

    def _write(self, path: Path, data: bytes) -> None:
        def write(handle: BinaryIO) -> None:
            handle.write(data)

        write_atomically(path, _owner(), write, needed=len(data))


def _owner() -> str:
    return f"mining-{os.getpid()}-{secrets.token_hex(4)}"


# ---------------------------------------------------------------------- the table


def pairs_table(pairs: Pairs, sources: Side, targets: Side) -> pd.DataFrame:
    """The mined pairs as a DataFrame: positions, raw score and margin, then the keys and
    audio paths of the sides that have them."""
    table = pd.DataFrame(
        {
            "source": pairs.source.astype(np.int64),
            "target": pairs.target.astype(np.int64),
            "score": pairs.score,
            "margin": pairs.margin,
        }
    )
    for column in ("keys", "paths"):
        for side, positions in ((sources, pairs.source), (targets, pairs.target)):
            values = getattr(side, column)
            if values is not None:
                table[f"{side.name[:-1]}_{column[:-1]}"] = [values[n] for n in positions]
    return table


def mined_corpus(pairs: pd.DataFrame) -> Corpus:
    """The mined pairs as a corpus: each pair one sentence (``pair000001``, ...) spoken by its
    source and its target, for :func:`~seqsim.corpus.write_manifest` (and ``seqsim evaluate``
    or training elsewhere).

    Parameters
    ----------
    pairs : pandas.DataFrame
        :func:`mine`'s table of corpus sides (``source_key``, ``target_key``, ``source_path``,
        ``target_path``), where every utterance is in one pair at most
        (``max_per_utterance=1``).

    Returns
    -------
    Corpus
        Two utterances per pair, their sentence the pair's name.

    Raises
    ------
    MiningError
        When the table lacks keys or paths, or an utterance is in two pairs (naming it).

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.mining import mined_corpus
    >>> pairs = pd.DataFrame({"source_key": ["en/a7"], "target_key": ["fr/b2"],
    ...                       "source_path": ["en/a7.wav"], "target_path": ["fr/b2.wav"]})
    >>> [(u.key, u.sentence) for u in mined_corpus(pairs).utterances]
    [('en/a7', 'pair000001'), ('fr/b2', 'pair000001')]
    """
    needed = ["source_key", "target_key", "source_path", "target_path"]
    absent = [column for column in needed if column not in pairs.columns]
    if absent:
        raise MiningError(
            f"the pairs have no {', '.join(absent)}: mine corpora (manifests) to write a manifest"
        )
    utterances, seen = [], set()
    for number, row in enumerate(pairs.itertuples(index=False), start=1):
        for key, path in ((row.source_key, row.source_path), (row.target_key, row.target_path)):
            if key in seen:
                raise MiningError(
                    f"{key} is in more than one mined pair; mine with "
                    f"{option('max_per_utterance', 1)} to make a manifest of them"
                )
            seen.add(key)
            named = Utterance.from_key(key)
            utterances.append(
                Utterance(named.id, named.lang, Path(path), sentence=f"pair{number:06d}")
            )
    return Corpus(utterances)
