"""Cross-lingual retrieval evaluation: for every ordered pair of languages (query language,
candidate language), retrieve each query's parallel utterance among all candidates.

Ranks and measures come from :mod:`seqsim.ranking` (1-based ranks; ties broken by candidate
order, i.e. sentence id order: a candidate scoring exactly the same as the correct one ranks
before it when it comes earlier).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from ._version import __version__
from .checks import check_choice, check_count
from .corpus import Corpus, CorpusError, Utterance
from .distributed.cluster import RayCluster
from .distributed.scoring import cluster_matrix
from .embedder import WhisperEmbedder
from .metrics.base import Metric, get_metric
from .progress import progress_bar
from .ranking import (
    MEASURES,
    Normalization,
    bootstrap_interval,
    check_scoring_options,
    normalize_scores,
    ranks_of_targets,
    retrieval_measures,
)
from .search.index import DEFAULT_CANDIDATES
from .search.retrieval import POOLED, search_rows
from .sequences import PackedSequences
from .store import EmbeddingStore, EmbedReport, StoreMismatchError

Search = Literal["exhaustive", "index"]


def check_search_options(search: str, candidates: int, agreement_sample: int | None) -> None:
    check_choice("search", search, ("exhaustive", "index"))
    check_count("candidates", candidates, 1)
    if agreement_sample is not None:
        check_count("agreement_sample", agreement_sample, 1)


def check_languages(langs: Sequence[str] | None) -> None:
    """Retrieval goes from one language to another: at least two different ones."""
    if langs is not None and len(set(langs)) < 2:
        raise ValueError(
            f"retrieval needs at least two languages, got {list(langs)}; "
            "queries in one are matched against candidates in another"
        )


def center_by_language(frames: Mapping[str, PackedSequences]) -> dict[str, PackedSequences]:
    """Subtract each language's mean frame from its frames (float32 copies)."""
    centered = {}
    for lang, packed in frames.items():
        block = packed.select(np.arange(len(packed)))
        values = block.frames
        if isinstance(values, torch.Tensor):
            values = values.float() - values.double().mean(dim=0).float()
        else:
            values = values - values.mean(axis=0, dtype=np.float64).astype(np.float32)
        centered[lang] = PackedSequences(values, block.offsets)
    return centered


@dataclass
class RetrievalResult:
    """Per-pair measures, per-query ranks and the settings that produced them."""

    languages: list[str]
    summary: pd.DataFrame
    """One row per ordered pair: query_lang, candidate_lang, n, chance, r@1, r@5, r@10, mrr,
    (ci_low, ci_high with bootstrap), and the same measures without normalisation (raw_*)."""
    ranks: pd.DataFrame
    """One row per query: query_lang, candidate_lang, id, rank, retrieved (the top candidate)."""
    settings: dict[str, Any] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    """Utterances left out because their audio failed: key, source, reason. Their sentences
    are left out in every language (listed in ``settings["missing_sentences"]``)."""

    @property
    def settings_hash(self) -> str:
        """A short hash of the settings, printed with results for reproducibility."""
        text = json.dumps(self.settings, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def matrix(self, measure: str = "r@1", percent: bool = True) -> pd.DataFrame:
        """Query languages as rows, candidate languages as columns; NaN on the diagonal."""
        table = self.summary.pivot(index="query_lang", columns="candidate_lang", values=measure)
        table = table.reindex(index=self.languages, columns=self.languages)
        table.index.name, table.columns.name = "query", "candidate"
        return table * 100 if percent and measure != "n" else table

    def mean(self, measure: str = "r@1") -> float:
        """Average over all ordered language pairs (not the pooled rows of an index search)."""
        pairs = self.summary[self.summary["candidate_lang"] != POOLED]
        return float(pairs[measure].mean())

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "settings_hash": self.settings_hash,
            "languages": self.languages,
            "pairs": self.summary.to_dict(orient="records"),
            "mean": {m: self.mean(m) for m in MEASURES},
            "failures": self.failures,
        }


def evaluate_embeddings(
    embeddings: Mapping[str, tuple[Sequence[str], PackedSequences]],
    metric: str | Metric = "seqsim",
    *,
    normalization: Normalization = "none",
    k: int = 10,
    center: bool = False,
    bootstrap: int = 0,
    seed: int = 0,
    settings: Mapping[str, Any] | None = None,
    progress: bool = False,
    search: Search = "exhaustive",
    candidates: int = DEFAULT_CANDIDATES,
    agreement_sample: int | None = None,
    cluster: RayCluster | None = None,
) -> RetrievalResult:
    """Retrieval over parallel embeddings: ``embeddings[lang] = (sentence ids, frames)`` with the
    same ids, in the same order, in every language.

    ``metric`` is a registered name or a :class:`Metric`. ``normalization`` rescores each
    (Q, R) matrix (CSLS or ratio margin over ``k`` neighbours); ``center`` subtracts each
    language's mean frame first. Raw measures are always reported too (``raw_*`` columns).
    ``search="index"`` retrieves through a :class:`~seqsim.search.SequenceIndex` (a shortlist
    of ``candidates``, reranked exactly), per pair and among all other languages pooled
    (``candidate_lang == "pooled"``), and reports its agreement with exhaustive search
    (``agreement_r@1``, ``agreement_r@10``, on ``agreement_sample`` queries or all).
    With a :class:`~seqsim.distributed.RayCluster`, the scores (or the searches) are computed
    by its workers, with the same results.
    """
    metric = get_metric(metric) if isinstance(metric, str) else metric
    check_scoring_options(normalization, k, bootstrap, seed)
    check_search_options(search, candidates, agreement_sample)
    languages = list(embeddings)
    check_languages(languages)
    reference_ids = list(embeddings[languages[0]][0])
    for lang, (ids, _) in embeddings.items():
        if list(ids) != reference_ids:
            raise ValueError(f"language {lang} does not hold the same sentence ids, in order")
    if search == "index":
        if normalization != "none" or center or bootstrap:
            raise ValueError(
                "search='index' ranks by exact scores of a shortlist: normalization, center "
                "and bootstrap need full score matrices (use search='exhaustive')"
            )
        rows, rank_rows = search_rows(
            embeddings,
            metric,
            candidates=candidates,
            agreement_sample=agreement_sample,
            seed=seed,
            progress=progress,
            cluster=cluster,
        )
    else:
        rows, rank_rows = _exhaustive_rows(
            embeddings, metric, normalization, k, center, bootstrap, seed, progress, cluster
        )
    run_settings = {
        **(settings or {}),
        **metric.settings(),
        "normalization": normalization,
        "k": k if normalization != "none" else None,
        "search": search,
        "candidates": candidates if search == "index" else None,
        "center": center,
        "languages": languages,
        "sentences": len(reference_ids),
        "seqsim_version": __version__,
    }
    return RetrievalResult(languages, pd.DataFrame(rows), pd.DataFrame(rank_rows), run_settings)


def _exhaustive_rows(
    embeddings: Mapping[str, tuple[Sequence[str], PackedSequences]],
    metric: Metric,
    normalization: Normalization,
    k: int,
    center: bool,
    bootstrap: int,
    seed: int,
    progress: bool,
    cluster: RayCluster | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Summary and rank rows from every language pair's full score matrix."""
    languages = list(embeddings)
    reference_ids = list(embeddings[languages[0]][0])
    frames = {lang: packed for lang, (_, packed) in embeddings.items()}
    raw_frames = frames
    if center:
        frames = center_by_language(frames)
    computed: dict[tuple[str, str, bool], np.ndarray] = {}

    def scores(query_lang: str, candidate_lang: str, centered: bool) -> np.ndarray:
        """The metric matrix, reusing the transpose of the reverse pair for symmetric metrics."""
        reverse = (candidate_lang, query_lang, centered)
        if metric.symmetric and reverse in computed:
            return computed.pop(reverse).T
        source = frames if centered else raw_frames
        if cluster is None:
            result = metric.matrix(source[query_lang], source[candidate_lang])
        else:
            result = cluster_matrix(metric, source[query_lang], source[candidate_lang], cluster)
        computed[(query_lang, candidate_lang, centered)] = result
        return result

    rows: list[dict[str, Any]] = []
    rank_rows: list[dict[str, Any]] = []
    pairs = [(q, c) for q in languages for c in languages if q != c]
    for query_lang, candidate_lang in progress_bar(
        pairs, desc="language pairs", disable=not progress
    ):
        raw = scores(query_lang, candidate_lang, centered=False)
        adjusted = scores(query_lang, candidate_lang, centered=True) if center else raw
        adjusted = normalize_scores(adjusted, normalization, k)
        ranks = ranks_of_targets(adjusted)
        row = {"query_lang": query_lang, "candidate_lang": candidate_lang, "n": len(ranks)}
        row["chance"] = 1.0 / len(ranks)
        row.update(retrieval_measures(ranks))
        if bootstrap:
            row["ci_low"], row["ci_high"] = bootstrap_interval(ranks, bootstrap, seed)
        row.update({f"raw_{m}": v for m, v in retrieval_measures(ranks_of_targets(raw)).items()})
        rows.append(row)
        best = adjusted.argmax(axis=1)
        rank_rows += [
            {
                "query_lang": query_lang,
                "candidate_lang": candidate_lang,
                "id": sentence,
                "rank": int(rank),
                "retrieved": reference_ids[b],
            }
            for sentence, rank, b in zip(reference_ids, ranks, best, strict=True)
        ]
    return rows, rank_rows


def corpus_from_keys(keys: Sequence[str]) -> Corpus:
    """A corpus (without audio paths) from embedding-store keys ``lang/id``."""
    return Corpus([Utterance.from_key(key) for key in keys])


def gather(
    corpus: Corpus, keys: Sequence[str], frames: PackedSequences
) -> dict[str, tuple[list[str], PackedSequences]]:
    """Per language of ``corpus`` (already made parallel), its sentence ids and frames, in id
    order, taken from a store's ``keys`` and ``frames``; names any utterance the store lacks."""
    position = {key: i for i, key in enumerate(keys)}
    gathered = {}
    for lang in corpus.languages:
        utterances = corpus.by_language(lang)
        absent = [u.key for u in utterances if u.key not in position]
        if absent:
            raise ValueError(
                f"the store has no embeddings for {len(absent)} utterance(s), e.g. "
                f"{absent[:3]}; embed them first (their audio may have failed: see the "
                "store's failures.jsonl)"
            )
        indices = np.array([position[u.key] for u in utterances])
        gathered[lang] = ([u.id for u in utterances], frames.subset(indices))
    return gathered


def embed_corpus(
    corpus: Corpus,
    model: str,
    store: EmbeddingStore,
    layers: Sequence[int],
    device: str | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    cluster: RayCluster | None = None,
) -> EmbedReport:
    """Embed every utterance of ``corpus`` not yet in ``store``, for all ``layers`` in one pass,
    here or (with ``cluster``) on a Ray cluster.

    A store that already holds all requested layers of this model keeps its own layer set, so
    that it can be extended (a store never mixes layer sets).
    """
    selection = list(layers)
    stored = store.settings
    if stored is not None and stored["model"] == model:
        if {layer % stored["hidden_states"] for layer in layers} <= set(stored["layers"]):
            selection = stored["layers"]
    if cluster is not None:
        from .distributed.embedding import embed_on_ray

        return embed_on_ray(
            corpus.audio_items(),
            store,
            model=model,
            layers=selection,
            cluster=cluster,
            batch_size=batch_size,
            progress=progress,
        )
    embedder = WhisperEmbedder(
        model, layers=selection, batch_size=batch_size, device=device or "auto", progress=progress
    )
    return store.embed(corpus.audio_items(), embedder)


def _without_failures(corpus: Corpus, report: EmbedReport, langs: Sequence[str] | None) -> Corpus:
    """The corpus less the utterances whose audio failed, parallel again (their sentences are
    then listed as missing in those languages and left out everywhere)."""
    if not report.failures:
        return corpus
    failed = {failure["key"] for failure in report.failures}
    if failed >= {utterance.key for utterance in corpus.utterances}:
        raise CorpusError(
            f"the audio of every utterance failed, e.g. {report.failures[0]['reason']}"
        )
    return corpus.without(failed).parallel(langs)


def evaluate_grid(
    corpus: Corpus | None = None,
    *,
    store: str | Path | EmbeddingStore | None = None,
    model: str | None = None,
    layers: Sequence[int] = (-1,),
    metrics: Sequence[str | Metric] = ("seqsim",),
    langs: Sequence[str] | None = None,
    normalization: Normalization = "none",
    k: int = 10,
    center: bool = False,
    bootstrap: int = 0,
    seed: int = 0,
    backend: str = "auto",
    device: str | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    search: Search = "exhaustive",
    candidates: int = DEFAULT_CANDIDATES,
    agreement_sample: int | None = None,
    cluster: RayCluster | None = None,
) -> dict[tuple[str, int], RetrievalResult]:
    """:func:`evaluate` for several metrics and layers, embedding once: results keyed by
    ``(metric name, layer as given)``. Every option is checked before any embedding starts.
    With a :class:`~seqsim.distributed.RayCluster`, embedding and scoring run on it."""
    if corpus is None and store is None:
        raise ValueError("give a corpus (with a model) or a store of embeddings")
    if corpus is not None and model is None and store is None:
        raise ValueError(
            "a corpus needs a model to embed it (or a store that holds its embeddings)"
        )
    check_scoring_options(normalization, k, bootstrap, seed)
    check_search_options(search, candidates, agreement_sample)
    check_languages(langs)
    if not layers or not metrics:
        raise ValueError("give at least one layer and one metric")
    for layer in layers:
        check_count("layer", layer, -(10**6))
    metric_objects = [
        get_metric(m, backend=backend, device=device) if isinstance(m, str) else m for m in metrics
    ]
    failures: list[dict[str, str]] = []
    with ExitStack() as cleanup:
        if store is None:
            store = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="seqsim-store-"))
        store = store if isinstance(store, EmbeddingStore) else EmbeddingStore(store)
        if corpus is not None:
            corpus = corpus.parallel(langs)
            if model is not None:
                report = embed_corpus(
                    corpus, model, store, layers, device, batch_size, progress, cluster
                )
                corpus, failures = _without_failures(corpus, report, langs), report.failures
        stored = store.settings
        if stored is None:
            raise FileNotFoundError(f"{store.path} holds no embeddings (no store.json)")
        if model is not None and stored["model"] != model:
            raise StoreMismatchError(
                f"{store.path} holds embeddings of {stored['model']!r}, not of {model!r}"
            )
        results = {}
        for layer in layers:
            keys, frames = store.load(layer)
            layer_corpus = corpus or corpus_from_keys(keys).parallel(langs)
            settings: dict[str, Any] = {
                "model": stored["model"],
                "layer": layer % stored["hidden_states"],
                "store_dtype": stored["dtype"],
            }
            if layer_corpus.dropped_recordings or layer_corpus.missing:
                settings["dropped_recordings"] = layer_corpus.dropped_recordings
                settings["missing_sentences"] = layer_corpus.missing
            embeddings = gather(layer_corpus, keys, frames)
            for metric_object in metric_objects:
                result = evaluate_embeddings(
                    embeddings,
                    metric_object,
                    normalization=normalization,
                    k=k,
                    center=center,
                    bootstrap=bootstrap,
                    seed=seed,
                    settings=settings,
                    progress=progress,
                    search=search,
                    candidates=candidates,
                    agreement_sample=agreement_sample,
                    cluster=cluster,
                )
                result.failures = failures
                results[(metric_object.name, layer)] = result
        return results


def evaluate(
    corpus: Corpus | None = None,
    *,
    layer: int = -1,
    metric: str | Metric = "seqsim",
    **options: Any,
) -> RetrievalResult:
    """R@1 (and R@5, R@10, MRR) matrices over language pairs, in one call.

    With a ``corpus`` and a ``model``, utterances are embedded first, into ``store`` when given
    (resumable, reused by later calls) or a temporary one; utterances whose audio fails are
    left out and listed in ``result.failures``. With a ``corpus`` and a ``store``, the corpus's
    utterances are read from the store. With a ``store`` alone, all its embeddings are
    evaluated (``model``, if given, must match the store's). ``metric`` is any registered
    metric name (or a :class:`Metric`); ``backend``/``device`` go to it. The other options are
    those of :func:`evaluate_grid`; an unknown one raises ``TypeError``.
    """
    results = evaluate_grid(corpus, layers=[layer], metrics=[metric], **options)
    return next(iter(results.values()))
