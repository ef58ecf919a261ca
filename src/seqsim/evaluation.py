"""Cross-lingual retrieval evaluation: for every ordered pair of languages (query language,
candidate language), retrieve each query's parallel utterance among all candidates.

Ranks and measures come from :mod:`seqsim.ranking` (1-based ranks; ties broken by candidate
order, i.e. sentence id order: a candidate scoring exactly the same as the correct one ranks
before it when it comes earlier).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import json
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from ._defaults import (
    DEFAULT_LAYER,
    DEFAULT_METRIC,
    RECORDINGS,
)
from ._version import __version__
from .backends import Backend
from .checks import check_choice, check_count, option, refuse_unknown
from .corpus import Corpus, CorpusError, Utterance
from .embed_runs import EmbedReport
from .embedding import EmbeddingRunner, model_name
from .embedding import embed_corpus as embed_corpus  # importable from here too, as before
from .encoders import EncoderSpec, encoder_spec, resolve_layers
from .evaluation_options import ScoringOptions, SearchOptions
from .metrics.base import Metric, get_metric
from .progress import progress_bar
from .provenance import audio_fingerprint, check_audio
from .ranking import (
    bootstrap_interval,
    normalize_scores,
    ranks_of_targets,
    retrieval_measures,
)

# The result and its JSON form, defined in seqsim.result; importable from here too, as before.
from .result import COUNTS as COUNTS
from .result import LABELS as LABELS
from .result import RANK_TEXT_COLUMNS as RANK_TEXT_COLUMNS
from .result import RESULTS_SCHEMA as RESULTS_SCHEMA
from .result import RetrievalResult as RetrievalResult
from .result import utterance_media
from .search.retrieval import search_rows
from .sequences import PackedSequences
from .store import EmbeddingStore, StoreMismatchError

Recordings = Literal["all", "one"]


def check_languages(langs: Sequence[str] | None) -> None:
    """Refuse fewer than two different languages: retrieval goes from one to another.

    Parameters
    ----------
    langs : sequence of str or None
        The languages asked for; None (all of the corpus) passes.

    Raises
    ------
    ValueError
        When ``langs`` holds fewer than two different languages.

    Examples
    --------
    >>> from seqsim.evaluation import check_languages
    >>> check_languages(["en", "fr"])
    >>> check_languages(["en", "en"])
    Traceback (most recent call last):
        ...
    ValueError: retrieval needs at least two languages, got ['en', 'en']; queries in one are \
matched against candidates in another
    """
    if langs is not None and len(set(langs)) < 2:
        raise ValueError(
            f"retrieval needs at least two languages, got {list(langs)}; "
            "queries in one are matched against candidates in another"
        )


MIN_SENTENCES = 2
"""The fewest sentences an evaluation takes: with one, every query retrieves it (R@1 100 %)."""
MIN_KEPT_SHARE = 0.5
"""A parallel set that keeps fewer sentences than this share of the language holding most is
warned about (:class:`EvaluationWarning`), naming the language that shrank it."""


class EvaluationWarning(UserWarning):
    """An evaluation that runs, but not quite as asked: a language kept few of the other
    languages' sentences in the parallel set (:func:`parallel_corpus`), or ``k`` was more than
    the candidates (:func:`neighbours`; the value used is recorded).

    Examples
    --------
    >>> import warnings
    >>> from seqsim.evaluation import EvaluationWarning, neighbours
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     used = neighbours(500, "csls", {"en": 10, "fr": 10})
    >>> used, caught[0].category is EvaluationWarning
    (10, True)
    """


def parallel_corpus(corpus: Corpus, langs: Sequence[str] | None = None) -> Corpus:
    """:meth:`Corpus.parallel <seqsim.corpus.Corpus.parallel>`, refused where it keeps fewer
    than :data:`MIN_SENTENCES` sentences, and warned about where it keeps few, naming the
    language that shrank it.

    Parameters
    ----------
    corpus : Corpus
        The utterances.
    langs : sequence of str, optional
        The languages to keep; all of the corpus by default.

    Returns
    -------
    Corpus
        ``corpus.parallel(langs)``.

    Raises
    ------
    CorpusError
        As :meth:`Corpus.parallel <seqsim.corpus.Corpus.parallel>` raises it, and where fewer
        than :data:`MIN_SENTENCES` sentences are present in every language: the message gives
        each language's sentences, names the language that has fewest in common with the
        others and, with three languages or more, how many would be kept without it.

    Warns
    -----
    EvaluationWarning
        Where the sentences kept are fewer than :data:`MIN_KEPT_SHARE` of those of the
        language that has most, naming the language that shrank the set.

    Examples
    --------
    Ten sentences in English and French, one of them in German:

    >>> from seqsim.corpus import Corpus, Utterance
    >>> from seqsim.evaluation import parallel_corpus
    >>> ids = [f"s{i}" for i in range(10)]
    >>> corpus = Corpus([Utterance(i, lang, None) for lang in ("en", "fr") for i in ids]
    ...                 + [Utterance("s0", "de", None)])
    >>> len(parallel_corpus(corpus, ["en", "fr"]).utterances)
    20
    >>> parallel_corpus(corpus)
    Traceback (most recent call last):
        ...
    seqsim.corpus.CorpusError: only 1 sentence(s) present in every language (de 1, en 10, \
fr 10): de has 1; without de 10 would be kept (leave it out of langs); retrieval needs at \
least 2
    """
    languages = list(langs) if langs else corpus.languages
    said = {lang: {u.sentence for u in corpus.by_language(lang)} for lang in languages}
    if all(said.values()):  # a language the corpus lacks is left to Corpus.parallel
        _check_common_sentences(said)
    return corpus.parallel(langs)


def _check_common_sentences(said: Mapping[str, set[str]]) -> None:
    """Refuse (or warn about) languages, each with the sentences it says, that have too few
    sentences in common; name the language without which most would be kept."""
    kept = len(set.intersection(*said.values()))
    most = max(len(sentences) for sentences in said.values())
    if kept >= MIN_SENTENCES and kept >= MIN_KEPT_SHARE * most:
        return
    counts = ", ".join(f"{lang} {len(sentences)}" for lang, sentences in said.items())
    without = {
        lang: len(set.intersection(*(s for other, s in said.items() if other != lang)))
        for lang in said
    }
    culprit = max(without, key=lambda lang: (without[lang], -len(said[lang])))
    why = f"{culprit} has {len(said[culprit])}"
    if len(said) > 2:
        why += (
            f"; without {culprit} {without[culprit]} would be kept (leave it out of "
            f"{option('langs')})"
        )
    if kept < MIN_SENTENCES:
        raise CorpusError(
            f"only {kept} sentence(s) present in every language ({counts}): {why}; retrieval "
            f"needs at least {MIN_SENTENCES}"
        )
    warnings.warn(
        f"only {kept} of {most} sentences are present in every language ({counts}): {why}",
        EvaluationWarning,
        stacklevel=4,
    )


def layer_states(layers: Sequence[int], hidden_states: int, model: str) -> list[int]:
    """The hidden state that each of ``layers`` names, refusing two that name the same one.

    Parameters
    ----------
    layers : sequence of int
        Hidden-state indices; negative ones count from the end.
    hidden_states : int
        Hidden states of the model (its encoder blocks + 1).
    model : str
        The model, for the messages.

    Returns
    -------
    list of int
        Each layer's hidden state (0..``hidden_states - 1``), in the order given.

    Raises
    ------
    ValueError
        For a layer the model does not have, and for two layers that name the same hidden
        state (``-1`` and ``6`` of a 6-block model), naming both.

    Examples
    --------
    >>> from seqsim.evaluation import layer_states
    >>> layer_states([-1, 4], 7, "whisper-base")
    [6, 4]
    >>> layer_states([-1, 6], 7, "whisper-base")
    Traceback (most recent call last):
        ...
    ValueError: layers -1 and 6 both name hidden state 6 of whisper-base (hidden states 0..6): \
give it once
    """
    resolve_layers(list(layers), hidden_states - 1, model)  # refuses a layer out of range
    named: dict[int, int] = {}
    for layer in layers:
        state = layer % hidden_states
        if state in named:
            raise ValueError(
                f"layers {named[state]} and {layer} both name hidden state {state} of {model} "
                f"(hidden states 0..{hidden_states - 1}): give it once"
            )
        named[state] = layer
    return list(named)


def neighbours(k: int, normalization: str, utterances: Mapping[str, int]) -> int:
    """The ``k`` that csls / margin use: ``k``, or the utterances of the language that has
    fewest, where they are fewer (with a warning).

    Parameters
    ----------
    k : int
        Neighbours asked for.
    normalization : str
        ``"none"``, ``"csls"`` or ``"margin"``; ``k`` is kept as it is for ``"none"``.
    utterances : mapping of str to int
        Per language, its utterances (the candidates it offers, the queries it asks).

    Returns
    -------
    int
        The neighbours used, in every language pair.

    Warns
    -----
    EvaluationWarning
        Where ``k`` is more than a language's utterances, naming it and the ``k`` used.

    Examples
    --------
    >>> from seqsim.evaluation import neighbours
    >>> neighbours(10, "csls", {"en": 10, "fr": 12}), neighbours(500, "none", {"en": 10})
    (10, 500)
    """
    if normalization == "none":
        return k
    fewest = min(utterances, key=lambda lang: utterances[lang])
    if k <= utterances[fewest]:
        return k
    warnings.warn(
        f"{option('k', k)} neighbours for {normalization}, but {fewest} has only "
        f"{utterances[fewest]} utterances: using k={utterances[fewest]}",
        EvaluationWarning,
        stacklevel=3,
    )
    return utterances[fewest]


def center_by_language(frames: Mapping[str, PackedSequences]) -> dict[str, PackedSequences]:
    """Subtract each language's mean frame (over all its utterances) from its frames.

    Parameters
    ----------
    frames : mapping of str to PackedSequences
        Per language, the frames of its utterances (numpy or torch; float16 is read as is).

    Returns
    -------
    dict of str to PackedSequences
        Per language, float32 copies of the centered frames, in the same sequences (a torch
        tensor stays on its device); the mean is accumulated in float64.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.evaluation import center_by_language
    >>> en = PackedSequences.from_lengths(np.array([[1.0, 2.0], [3.0, 2.0]], np.float32), [1, 1])
    >>> center_by_language({"en": en})["en"].frames
    array([[-1.,  0.],
           [ 1.,  0.]], dtype=float32)
    """
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


def evaluate_embeddings(
    embeddings: Mapping[str, tuple[Sequence[str], PackedSequences]],
    metric: str | Metric = DEFAULT_METRIC,
    *,
    sentences: Mapping[str, Sequence[str]] | None = None,
    scoring: ScoringOptions | None = None,
    search: SearchOptions | None = None,
    settings: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> RetrievalResult:
    """Retrieval between every ordered pair of languages of embeddings already in memory.

    Each query of one language is ranked against every candidate of another; the correct
    candidates are those of the query's sentence. Ranks and measures follow
    :mod:`seqsim.ranking` (1-based; a candidate scoring exactly the same as the correct one
    ranks before it when it comes earlier). Raw measures (``raw_*`` columns) are always
    reported too, before normalisation and centering.

    Parameters
    ----------
    embeddings : mapping of str to (sequence of str, PackedSequences)
        ``embeddings[lang] = (sentence ids, frames)``, with the same ids, in the same order, in
        every language (at least two). With ``sentences``: ``(utterance ids, frames)``.
    metric : str or Metric, default "seqsim"
        A registered metric name (:func:`~seqsim.available_metrics`) or a :class:`Metric`
        (one that scores elsewhere too, such as a :class:`~seqsim.distributed.ClusterMetric`,
        with the same results).
    sentences : mapping of str to sequence of str, optional
        Per language, the sentence each utterance says, in the order of its ids. Every
        language must hold every sentence; a sentence may have several recordings
        (multi-positive: a query is every recording, the candidates every recording in the
        other language, and the rank is that of the best-ranked recording of the query's
        sentence; ``chance`` is then the mean over queries of (recordings of its sentence) /
        (candidates)).
    scoring : ScoringOptions, optional
        How scores become ranks (:class:`~seqsim.evaluation_options.ScoringOptions`: a
        hubness correction, centering, a bootstrap, the seed); ``ScoringOptions()`` by
        default. A ``k`` larger than the language that has fewest utterances is lowered to
        it, with an :class:`EvaluationWarning` (:func:`neighbours`); ``settings["k"]``
        records the value used.
    search : SearchOptions, optional
        How candidates are found (:class:`~seqsim.evaluation_options.SearchOptions`):
        exhaustively by default; ``SearchOptions("index")`` retrieves through a
        :class:`~seqsim.search.SequenceIndex` per pair and among all other languages pooled
        (``candidate_lang == "pooled"``), and reports its agreement with exhaustive search
        (``agreement_r@1``, ``agreement_r@10``). It needs one recording per sentence and
        language, and no normalization, centering or bootstrap.
    settings : mapping, optional
        Settings recorded with the result (model, layer, ...); the metric's own settings and
        the options above take precedence over them. A ``data_fingerprint`` there is taken as
        that of ``embeddings`` (a caller scoring the same frames with several metrics computes
        it once); otherwise it is computed here.
    progress : bool, default False
        Show a progress bar over the language pairs.

    Returns
    -------
    RetrievalResult
        Measures per ordered pair, ranks per query, and the settings (the metric's, the
        options above, the languages, the number of sentences, the seqsim version).

    Raises
    ------
    ValueError
        For an unknown metric or a bad option; fewer than two languages or
        :data:`MIN_SENTENCES` sentences; ids that differ between languages (without
        ``sentences``); ``sentences`` for other languages, of
        another length than the ids, or lacking a sentence in some language; and
        an index search with normalization, centering, bootstrap or several recordings per
        sentence.

    Warns
    -----
    EvaluationWarning
        For a ``k`` lowered to the utterances of the language that has fewest.

    Examples
    --------
    Three sentences whose frames are one-hot vectors: each matches only itself (SeqSim 1.0,
    0.0 with the others), so every query retrieves its own sentence.

    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.evaluation import evaluate_embeddings
    >>> eye = np.eye(3, dtype=np.float32)
    >>> def frames(order):  # two frames per sentence: the one-hot vector of order[i]
    ...     return PackedSequences.from_lengths(np.repeat(eye[order], 2, axis=0), [2, 2, 2])
    >>> ids = ["s1", "s2", "s3"]
    >>> result = evaluate_embeddings({"en": (ids, frames([0, 1, 2])),
    ...                               "fr": (ids, frames([0, 1, 2]))})
    >>> result.matrix("r@1")
    candidate     en     fr
    query
    en           NaN  100.0
    fr         100.0    NaN

    With the French frames of s2 and s3 swapped, s2 retrieves s3 and the other way round;
    their correct candidate scores 0.0, tied with s1, which comes first: rank 3. Each rank
    row also holds the correct candidate's score and the best wrong candidate with its score.

    >>> swapped = evaluate_embeddings({"en": (ids, frames([0, 1, 2])),
    ...                                "fr": (ids, frames([0, 2, 1]))})
    >>> swapped.matrix("r@1").round(1)
    candidate    en    fr
    query
    en          NaN  33.3
    fr         33.3   NaN
    >>> swapped.ranks[swapped.ranks.query_lang == "en"]
      query_lang candidate_lang  id  rank retrieved  score wrong  wrong_score
    0         en             fr  s1     1        s1    1.0    s2          0.0
    1         en             fr  s2     3        s3    0.0    s3          1.0
    2         en             fr  s3     3        s2    0.0    s2          1.0
    """
    metric = get_metric(metric) if isinstance(metric, str) else metric
    diagnosed = metric.diagnostics()
    scoring, search = scoring or ScoringOptions(), search or SearchOptions()
    search.check_scoring(scoring)
    languages = list(embeddings)
    check_languages(languages)
    said = _sentences_said(embeddings, sentences)
    sentence_count = len(set(said[languages[0]]))
    if sentence_count < MIN_SENTENCES:
        raise ValueError(
            f"retrieval needs at least {MIN_SENTENCES} sentences in every language, got "
            f"{sentence_count}: with one, every query retrieves it"
        )
    counts = {lang: len(values) for lang, values in said.items()}
    k = neighbours(scoring.k, scoring.normalization, counts)
    multi_positive = any(len(set(values)) < len(values) for values in said.values())
    if search.mode == "index":
        if multi_positive or any(values != said[languages[0]] for values in said.values()):
            raise ValueError(_multi_positive_search())
        rows, rank_rows = search_rows(
            {lang: (said[lang], packed) for lang, (_, packed) in embeddings.items()},
            metric,
            candidates=search.candidates,
            agreement_sample=search.agreement_sample,
            seed=scoring.seed,
            progress=progress,
        )
    else:
        rows, rank_rows = _exhaustive_rows(
            embeddings, said if sentences is not None else None, metric, scoring, k, progress
        )
    metric_options = {k: v for k, v in metric.settings().items() if k != "metric"}
    run_settings = {
        **(settings or {}),
        "metric": metric.name,
        "metric_options": metric_options,  # apart: DTW's normalization is not the scores'
        "normalization": scoring.normalization,
        "k": k if scoring.normalization != "none" else None,
        "search": search.mode,
        "candidates": search.candidates if search.mode == "index" else None,
        "center": scoring.center,
        "languages": languages,
        "sentences": sentence_count,
        "bootstrap": scoring.bootstrap,
        "seed": scoring.seed,
        "backend": _backend_kind(metric),
        "data_fingerprint": (settings or {}).get("data_fingerprint")
        or data_fingerprint(embeddings),
        **library_versions(),
    }
    if sentences is not None:
        run_settings["recordings_per_language"] = {lang: len(v) for lang, v in said.items()}
        run_settings["multi_positive"] = multi_positive
    return RetrievalResult(
        languages,
        pd.DataFrame(rows),
        pd.DataFrame(rank_rows),
        run_settings,
        diagnostics=metric.diagnostics(since=diagnosed),
    )


def library_versions() -> dict[str, str | None]:
    """The versions of the libraries that change the numbers, as results record them.

    Returns
    -------
    dict of str to str or None
        ``seqsim_version``, ``torch_version`` and ``transformers_version`` (None for one that
        is not installed).

    Examples
    --------
    >>> import torch
    >>> from seqsim.evaluation import library_versions
    >>> versions = library_versions()
    >>> sorted(versions), versions["torch_version"] == torch.__version__
    (['seqsim_version', 'torch_version', 'transformers_version'], True)
    """
    try:
        transformers_version: str | None = importlib.metadata.version("transformers")
    except importlib.metadata.PackageNotFoundError:
        transformers_version = None
    return {
        "seqsim_version": __version__,
        "torch_version": torch.__version__,
        "transformers_version": transformers_version,
    }


def data_fingerprint(embeddings: Mapping[str, tuple[Sequence[str], PackedSequences]]) -> str:
    """A checksum of the frames evaluated: languages, ids, frame counts, dtype and values.

    Frames of another corpus, model, layer, encoder dtype or device (fp16 on CUDA against fp32
    on the CPU) give another fingerprint; the same frames, numpy or torch, give the same one.

    Parameters
    ----------
    embeddings : mapping of str to (sequence of str, PackedSequences)
        As :func:`evaluate_embeddings` takes them.

    Returns
    -------
    str
        The first 16 hex digits of a SHA-256.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.evaluation import data_fingerprint
    >>> frames = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    >>> first = data_fingerprint({"en": (["s1", "s2"], frames)})
    >>> half = PackedSequences.from_lengths(np.eye(4, dtype=np.float16), [2, 2])
    >>> len(first), first == data_fingerprint({"en": (["s1", "s2"], half)})
    (16, False)
    """
    digest = hashlib.sha256()
    for lang, (ids, packed) in embeddings.items():
        block = packed.select(np.arange(len(packed)))
        values = block.frames
        if isinstance(values, torch.Tensor):
            dtype = str(values.dtype).removeprefix("torch.")
            raw = values.detach().cpu().contiguous().view(torch.uint8).numpy()
        else:
            dtype, raw = str(values.dtype), np.ascontiguousarray(values)
        header = json.dumps([lang, list(ids), dtype, list(values.shape)])
        digest.update(header.encode())
        digest.update(np.ascontiguousarray(block.offsets, dtype=np.int64).data)
        digest.update(raw.data)
    return digest.hexdigest()[:16]


def _backend_kind(metric: Metric) -> str:
    """The metric's backend and the kind of its device (``numba``, ``torch:cpu``,
    ``torch:cuda``), not the device's number: the numbers do not depend on which GPU."""
    backend = metric.backend
    if isinstance(backend, Backend):
        return backend.name if backend.name == "numba" else f"{backend.name}:{backend.device.type}"
    return str(backend)


def _multi_positive_search() -> str:
    """Why an index search cannot take several recordings of a sentence, in the caller's
    spelling of the options."""
    return (
        f"{option('search', 'index')} needs one recording per sentence and language, in the "
        "same sentence order in every language; for several recordings per sentence "
        f"(multi-positive) use {option('search', 'exhaustive')}, or keep one recording each "
        f"({option('recordings', 'one')})"
    )


def _sentences_said(
    embeddings: Mapping[str, tuple[Sequence[str], PackedSequences]],
    sentences: Mapping[str, Sequence[str]] | None,
) -> dict[str, list[str]]:
    """Per language, the sentence of each utterance: ``sentences``, checked, or the ids, which
    must then be the same, in the same order, in every language."""
    languages = list(embeddings)
    if sentences is None:
        reference_ids = list(embeddings[languages[0]][0])
        for lang, (ids, _) in embeddings.items():
            if list(ids) != reference_ids:
                raise ValueError(f"language {lang} does not hold the same sentence ids, in order")
        return {lang: reference_ids for lang in languages}
    if sorted(sentences) != sorted(languages):
        raise ValueError(f"sentences are for {list(sentences)}; the embeddings for {languages}")
    said = {lang: list(sentences[lang]) for lang in languages}
    for lang, (ids, _) in embeddings.items():
        if len(said[lang]) != len(ids):
            raise ValueError(f"language {lang}: {len(ids)} utterances, {len(said[lang])} sentences")
    everywhere = set().union(*said.values())
    for lang, values in said.items():
        absent = sorted(everywhere - set(values))
        if absent:
            raise ValueError(
                f"language {lang} has no recording of sentence(s) {', '.join(absent[:3])}; every "
                "language needs every sentence (Corpus.parallel drops the others)"
            )
    return said


def _exhaustive_rows(
    embeddings: Mapping[str, tuple[Sequence[str], PackedSequences]],
    sentences: Mapping[str, Sequence[str]] | None,
    metric: Metric,
    scoring: ScoringOptions,
    k: int,
    progress: bool,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Summary and rank rows from every language pair's full score matrix; the correct
    candidates are those of the query's sentence (by default its id)."""
    languages = list(embeddings)
    said = sentences or {}
    number = {s: n for n, s in enumerate(sorted(set().union(*said.values())))}
    codes = {lang: np.array([number[s] for s in values]) for lang, values in said.items()}
    frames = {lang: packed for lang, (_, packed) in embeddings.items()}
    raw_frames = frames
    if scoring.center:
        frames = center_by_language(frames)
    computed: dict[tuple[str, str, bool], np.ndarray] = {}

    def scores(query_lang: str, candidate_lang: str, centered: bool) -> np.ndarray:
        """The metric matrix, reusing the transpose of the reverse pair for symmetric metrics."""
        reverse = (candidate_lang, query_lang, centered)
        if metric.symmetric and reverse in computed:
            return computed.pop(reverse).T
        source = frames if centered else raw_frames
        result = metric.matrix(source[query_lang], source[candidate_lang])
        computed[(query_lang, candidate_lang, centered)] = result
        return result

    rows: list[dict[str, Any]] = []
    rank_rows: list[dict[str, Any]] = []
    pairs = [(q, c) for q in languages for c in languages if q != c]
    for query_lang, candidate_lang in progress_bar(
        pairs, desc="language pairs", disable=not progress
    ):
        raw = scores(query_lang, candidate_lang, centered=False)
        adjusted = scores(query_lang, candidate_lang, centered=True) if scoring.center else raw
        adjusted = normalize_scores(adjusted, scoring.normalization, k)
        targets = None  # the diagonal: query i's sentence is candidate i's
        row: dict[str, Any] = {"query_lang": query_lang, "candidate_lang": candidate_lang}
        row["n"], row["chance"] = len(adjusted), 1.0 / len(adjusted)
        if sentences is not None:
            targets = codes[query_lang][:, None] == codes[candidate_lang][None, :]
            row["candidates"] = targets.shape[1]
            row["chance"] = float(targets.sum(axis=1).mean() / targets.shape[1])
        ranks = ranks_of_targets(adjusted, targets)
        row.update(retrieval_measures(ranks))
        if scoring.bootstrap:
            row["ci_low"], row["ci_high"] = bootstrap_interval(
                ranks, scoring.bootstrap, scoring.seed
            )
        raw_ranks = ranks_of_targets(raw, targets)
        row.update({f"raw_{m}": v for m, v in retrieval_measures(raw_ranks).items()})
        rows.append(row)
        best = adjusted.argmax(axis=1)
        # the best-scoring correct candidate (the ranked one) and the best-scoring wrong one
        correct = np.eye(*adjusted.shape, dtype=bool) if targets is None else targets
        right = np.where(correct, adjusted, -np.inf).argmax(axis=1)
        wrong = np.where(correct, -np.inf, adjusted).argmax(axis=1)
        query_ids, candidate_ids = embeddings[query_lang][0], embeddings[candidate_lang][0]
        for query, (rank, b, r, w) in enumerate(zip(ranks, best, right, wrong, strict=True)):
            rank_row = {
                "query_lang": query_lang,
                "candidate_lang": candidate_lang,
                "id": query_ids[query],
                "rank": int(rank),
                "retrieved": candidate_ids[b],
                "score": float(adjusted[query, r]),
                "wrong": candidate_ids[w],
                "wrong_score": float(adjusted[query, w]),
            }
            if sentences is not None:
                rank_row["sentence"] = sentences[query_lang][query]
                rank_row["retrieved_sentence"] = sentences[candidate_lang][b]
                rank_row["correct"] = candidate_ids[r]
            rank_rows.append(rank_row)
    return rows, rank_rows


def corpus_from_keys(keys: Sequence[str]) -> Corpus:
    """A corpus (without audio paths) from embedding-store keys ``lang/id``.

    Parameters
    ----------
    keys : sequence of str
        Store keys (:attr:`Utterance.key <seqsim.corpus.Utterance.key>`).

    Returns
    -------
    Corpus
        One utterance per key; its sentence is its id.

    Raises
    ------
    CorpusError
        For a key that is not of the form ``lang/id``.

    Examples
    --------
    >>> from seqsim.evaluation import corpus_from_keys
    >>> corpus = corpus_from_keys(["en/s1", "fr/s1", "pt%2FBR/s1"])
    >>> corpus.languages, corpus.by_language("fr")[0].id
    (['en', 'fr', 'pt/BR'], 's1')
    """
    return Corpus([Utterance.from_key(key) for key in keys])


def gather(
    corpus: Corpus, keys: Sequence[str], frames: PackedSequences
) -> dict[str, tuple[list[str], PackedSequences]]:
    """Per language of ``corpus``, its utterance ids and frames, taken from a store's.

    Parameters
    ----------
    corpus : Corpus
        The utterances to gather, already made parallel (:meth:`Corpus.parallel
        <seqsim.corpus.Corpus.parallel>`).
    keys : sequence of str
        The store's keys, in the order of ``frames``.
    frames : PackedSequences
        The store's frames of one layer (:meth:`EmbeddingStore.load
        <seqsim.store.EmbeddingStore.load>`).

    Returns
    -------
    dict of str to (list of str, PackedSequences)
        Per language, its utterance ids and their frames, in sentence then id order: the
        input of :func:`evaluate_embeddings`.

    Raises
    ------
    ValueError
        When the store lacks an utterance of ``corpus``; the message names some of them.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.evaluation import corpus_from_keys, gather
    >>> keys = ["fr/s2", "en/s1", "fr/s1", "en/s2"]
    >>> frames = PackedSequences.from_lengths(np.arange(8.0).reshape(4, 2), [1, 1, 1, 1])
    >>> gathered = gather(corpus_from_keys(keys), keys, frames)
    >>> ids, fr = gathered["fr"]
    >>> ids, fr.frames.tolist()
    (['s1', 's2'], [[4.0, 5.0], [0.0, 1.0]])
    """
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


def _in_order(
    embeddings: dict[str, tuple[list[str], PackedSequences]], langs: Sequence[str] | None
) -> dict[str, tuple[list[str], PackedSequences]]:
    """``embeddings`` with its languages in the order the user gave them (``langs``), else
    as they come (sorted)."""
    order = [lang for lang in dict.fromkeys(langs or []) if lang in embeddings]
    order += [lang for lang in embeddings if lang not in order]
    return {lang: embeddings[lang] for lang in order}


def _sentences_of(corpus: Corpus) -> dict[str, list[str]] | None:
    """Per language, the sentence of each utterance in :func:`gather`'s order; None where every
    utterance's sentence is its id (then the ids are the sentences)."""
    if all(u.sentence == u.id for u in corpus.utterances):
        return None
    return {lang: [u.sentence for u in corpus.by_language(lang)] for lang in corpus.languages}


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
    return parallel_corpus(corpus.without(failed), langs)


def _check_layers(layers: Sequence[int], store: EmbeddingStore, model: Any, embeds: bool) -> None:
    """Refuse, before anything is embedded, layers the model lacks or two that name the same
    hidden state (:func:`layer_states`): of the store's model or, for a store still empty that
    the run fills (``embeds``), of ``model``; where neither is known, the store's absence is
    reported later."""
    stored = store.settings
    if stored is not None:
        layer_states(layers, stored["hidden_states"], stored["model"])
    elif model is not None and embeds:
        info = encoder_spec(model).info()
        layer_states(layers, info.num_layers + 1, info.model)


def evaluate_grid(
    corpus: Corpus | None = None,
    *,
    store: str | Path | EmbeddingStore | None = None,
    model: str | EncoderSpec | Any | None = None,
    layers: Sequence[int] = (-1,),
    metrics: Sequence[str | Metric] = (DEFAULT_METRIC,),
    langs: Sequence[str] | None = None,
    scoring: ScoringOptions | None = None,
    search: SearchOptions | None = None,
    backend: str = "auto",
    device: str | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    runner: EmbeddingRunner | None = None,
    recordings: Recordings = "all",
) -> dict[tuple[str, int], RetrievalResult]:
    """:func:`evaluate` for several metrics and layers, embedding once.

    Every option is checked before any embedding starts. With a ``corpus`` and a ``model``,
    utterances are embedded first (all ``layers`` in one pass), into ``store`` when given
    (resumable, reused by later calls) or a temporary one; utterances whose audio fails are
    left out, with their sentences in every language, and listed in each result's
    ``failures``. With a ``corpus`` and a ``store``, the corpus's utterances are read from the
    store. With a ``store`` alone, all its embeddings are evaluated (``model``, if given, must
    match the store's); sentences missing in some language are left out and listed in
    ``settings["missing_sentences"]``. On a Ray cluster (``cluster``), give
    ``runner=cluster.embedding()`` and metrics wrapped by ``cluster.metric(...)``: the
    embedding and the scores (or searches) run there, with the same results.

    Parameters
    ----------
    corpus : Corpus, optional
        The utterances (made parallel over ``langs`` here).
    store : str, pathlib.Path or EmbeddingStore, optional
        Stored embeddings: alone, or as the cache of the ``corpus``'s.
    model : str, EncoderSpec or a model in memory, optional
        The encoder that embeds ``corpus``: anything :func:`~seqsim.load_encoder` takes (a
        folder, a hub id, a registered name, a model already in memory), or an
        :class:`~seqsim.encoders.EncoderSpec`; with a store alone, checked against the store's.
    layers : sequence of int, default (-1,)
        Encoder layers (hidden-state indices; negative counts from the last).
    metrics : sequence of str or Metric, default ("seqsim",)
        Registered metric names or :class:`Metric` objects (such as a
        :class:`~seqsim.distributed.ClusterMetric`).
    langs : sequence of str, optional
        The languages (at least two); all of the corpus or store by default.
    scoring, search
        As in :func:`evaluate_embeddings`; ``scoring.seed`` also chooses the recording of
        ``recordings="one"``.
    backend : str, default "auto"
        Backend of the metrics given by name (``"auto"``, ``"numba"``, ``"torch"``,
        ``"triton"``).
    device : str, optional
        Device of the encoder and of the torch / triton backends.
    batch_size : int, optional
        Utterances per encoder pass.
    progress : bool, default True
        Show progress bars.
    runner : EmbeddingRunner, optional
        Where the corpus is embedded (:func:`~seqsim.embedding.embed_corpus`): this process
        by default, ``cluster.embedding()`` on a Ray cluster.
    recordings : {"all", "one"}, default "all"
        A corpus with several recordings of a sentence in a language is evaluated
        multi-positive with ``"all"`` (any recording of the sentence is a hit; see
        :func:`evaluate_embeddings`), or with one recording per sentence and language, chosen
        from ``seed`` (the others counted in ``settings["dropped_recordings"]``, never
        embedded), with ``"one"``.

    Returns
    -------
    dict of (str, int) to RetrievalResult
        Results keyed by ``(metric name, layer as given)``, metrics within layers, in the
        order given.

    Raises
    ------
    ValueError
        For neither ``corpus`` nor ``store``, a ``corpus`` with neither ``model`` nor
        ``store``, no layer or metric, a layer that is not an integer, a layer the model
        lacks or two that name the same hidden state (:func:`layer_states`; checked before
        anything is embedded), a bad option (as :func:`evaluate_embeddings` raises them),
        fewer than two languages, or ``search="index"`` on a corpus with several recordings
        per sentence.
    CorpusError
        For a language the corpus lacks, fewer than :data:`MIN_SENTENCES` sentences present
        in every language (the message names the language that left so few:
        :func:`parallel_corpus`), or audio that failed for every utterance.

    Warns
    -----
    EvaluationWarning
        For a language that leaves few sentences in common (:func:`parallel_corpus`), and a
        ``k`` lowered to the utterances available (:func:`neighbours`).
    FileNotFoundError
        When the store holds no embeddings.
    StoreMismatchError
        When the store holds embeddings of another model, or lacks a layer.

    Examples
    --------
    A store filled by hand (no model): 3 sentences in 2 languages whose frames are one-hot
    vectors, evaluated with two metrics; layer ``-1`` is the store's last hidden state, 6.

    >>> import tempfile
    >>> import numpy as np
    >>> from seqsim.evaluation import evaluate_grid
    >>> from seqsim.store import EmbeddingStore
    >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with EmbeddingStore(folder).writer(settings) as writer:
    ...         for key, hot in [("en/s1", 0), ("en/s2", 1), ("fr/s1", 0), ("fr/s2", 1)]:
    ...             writer.add(key, {6: np.eye(2)[[hot, hot]]})
    ...     results = evaluate_grid(store=folder, layers=[-1], metrics=["seqsim", "avgsim"],
    ...                             progress=False)
    >>> {key: result.mean("r@1") for key, result in results.items()}
    {('seqsim', -1): 1.0, ('avgsim', -1): 1.0}
    >>> results[("seqsim", -1)].settings["layer"]
    6
    """
    if corpus is None and store is None:
        raise ValueError("give a corpus (with a model) or a store of embeddings")
    if corpus is not None and model is None and store is None:
        raise ValueError(
            "a corpus needs a model to embed it (or a store that holds its embeddings)"
        )
    scoring, search = scoring or ScoringOptions(), search or SearchOptions()
    search.check_scoring(scoring)
    check_languages(langs)
    check_choice("recordings", recordings, RECORDINGS)
    if not layers or not metrics:
        raise ValueError("give at least one layer and one metric")
    for layer in layers:
        check_count("layer", layer, -(10**6))
    metric_objects = [
        get_metric(m, backend=backend, device=device) if isinstance(m, str) else m for m in metrics
    ]
    failures: list[dict[str, str]] = []
    embedding: dict[str, Any] = {}
    with ExitStack() as cleanup:
        if store is None:
            store = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="seqsim-store-"))
        store = store if isinstance(store, EmbeddingStore) else EmbeddingStore(store)
        _check_layers(layers, store, model, embeds=corpus is not None)
        if corpus is not None:
            corpus = parallel_corpus(corpus, langs)
            if recordings == "one":
                corpus = corpus.keep_one(scoring.seed)
            if search.mode == "index" and corpus.multi_recording:
                raise ValueError(_multi_positive_search())
            if model is not None:
                report = embed_corpus(
                    corpus, model, store, layers, device, batch_size, progress, runner=runner
                )
                corpus, failures = _without_failures(corpus, report, langs), report.failures
                embedding = {
                    "embedded": report.embedded,
                    "already_stored": report.skipped,
                    "changed": report.changed,
                    "unchecked": report.unchecked,
                    "short": report.short,
                }
        stored = store.settings
        if stored is None:
            raise FileNotFoundError(f"{store.path} holds no embeddings (no store.json)")
        if model is not None and stored["model"] != model_name(model):
            raise StoreMismatchError(
                f"{store.path} holds embeddings of {stored['model']!r}, "
                f"not of {model_name(model)!r}"
            )
        absent = [
            layer for layer in layers if layer % stored["hidden_states"] not in stored["layers"]
        ]
        if absent:
            raise StoreMismatchError(
                f"{store.path} holds layers {stored['layers']} of {stored['model']}, not layer "
                f"{', '.join(map(str, absent))}"
            )
        if corpus is not None and model is None:  # frames read as they are: the audio must match
            given = [(u.key, u.audio if u.audio is not None else u.path) for u in corpus.utterances]
            check_audio(store, [(key, audio) for key, audio in given if audio is not None])
        sources = store.sources()
        results = {}
        for layer in layers:
            keys, frames = store.load(layer)
            layer_corpus = corpus or parallel_corpus(corpus_from_keys(keys), langs)
            settings: dict[str, Any] = {
                "family": stored["family"],
                "model": stored["model"],
                **({"encoder_options": stored["options"]} if stored.get("options") else {}),
                "layer": layer % stored["hidden_states"],
                "frame_seconds": stored["frame_seconds"],
                "store_dtype": stored["dtype"],
                "encoder_dtype": stored.get("encoder_dtype"),
                "audio_fingerprint": audio_fingerprint(
                    (u.key, sources.get(u.key)) for u in layer_corpus.utterances
                ),
            }
            if layer_corpus.dropped_recordings or layer_corpus.missing:
                settings["dropped_recordings"] = layer_corpus.dropped_recordings
                settings["missing_sentences"] = layer_corpus.missing
            embeddings = _in_order(gather(layer_corpus, keys, frames), langs)
            settings["data_fingerprint"] = data_fingerprint(embeddings)  # once for all metrics
            sentences = _sentences_of(layer_corpus)
            media = utterance_media(layer_corpus.utterances, sources)
            for metric_object in metric_objects:
                result = evaluate_embeddings(
                    embeddings,
                    metric_object,
                    sentences=sentences,
                    scoring=scoring,
                    search=search,
                    settings=settings,
                    progress=progress,
                )
                result.failures, result.embedding = failures, embedding
                result.utterances = media  # what the HTML report plays and shows
                results[(metric_object.name, layer)] = result
        return results


def evaluate(
    corpus: Corpus | None = None,
    *,
    layer: int = DEFAULT_LAYER,
    metric: str | Metric = DEFAULT_METRIC,
    **options: Any,
) -> RetrievalResult:
    """R@1 (and R@5, R@10, MRR) matrices over language pairs, in one call.

    With a ``corpus`` and a ``model``, utterances are embedded first, into ``store`` when given
    (resumable, reused by later calls) or a temporary one; utterances whose audio fails are
    left out and listed in ``result.failures``. With a ``corpus`` and a ``store``, the corpus's
    utterances are read from the store. With a ``store`` alone, all its embeddings are
    evaluated (``model``, if given, must match the store's).

    Parameters
    ----------
    corpus : Corpus, optional
        The utterances.
    layer : int, default -1
        The encoder layer (hidden-state index; negative counts from the last).
    metric : str or Metric, default "seqsim"
        Any registered metric name (or a :class:`Metric`); ``backend``/``device`` go to it.
    **options
        The other options of :func:`evaluate_grid` (``store``, ``model``, ``langs``,
        ``scoring``, ``search``, ...), documented there.

    Returns
    -------
    RetrievalResult
        The measures, ranks and settings.

    Raises
    ------
    TypeError
        For an unknown option.
    ValueError
        For a bad option or corpus (:class:`~seqsim.corpus.CorpusError` is one), as
        :func:`evaluate_grid` raises it.
    FileNotFoundError
        When the store holds no embeddings.
    StoreMismatchError
        When the store holds embeddings of another model, or lacks ``layer``.

    Examples
    --------
    Two sentences of the bundled demo in English and French, embedded by the real
    whisper-base into a temporary store: each English query finds its French translation,
    one of the two French queries does not.

    >>> import tempfile
    >>> from seqsim.corpus import Corpus, demo_corpus
    >>> from seqsim.evaluation import evaluate
    >>> demo = demo_corpus().parallel(["en", "fr"])
    >>> corpus = Corpus([u for u in demo.utterances if u.sentence in ("s18", "s33")])
    >>> with tempfile.TemporaryDirectory() as store:
    ...     result = evaluate(corpus, model="whisper-base-offline", store=store, progress=False)
    >>> result.matrix("r@1")
    candidate     en     fr
    query
    en           NaN  100.0
    fr          50.0    NaN
    >>> result.ranks[["query_lang", "id", "rank", "retrieved"]]
      query_lang   id  rank retrieved
    0         en  s18     1       s18
    1         en  s33     1       s33
    2         fr  s18     1       s18
    3         fr  s33     2       s18
    >>> result.settings["model"], result.settings["layer"], result.settings["sentences"]
    ('whisper-base-offline', 6, 2)
    """
    grid_options = [
        name
        for name, parameter in inspect.signature(evaluate_grid).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name not in ("layers", "metrics")
    ]
    moved = {  # the options that dataclasses hold, named as the user knew them
        **{
            name: f"scoring=ScoringOptions({name}=...)"
            for name in (field.name for field in fields(ScoringOptions))
        },
        "candidates": "search=SearchOptions(candidates=...)",
        "agreement_sample": "search=SearchOptions(agreement_sample=...)",
    }
    refuse_unknown(
        "evaluate",
        [name for name in options if name not in grid_options],
        ["layer", "metric", *grid_options],
        hints=moved,
    )
    if isinstance(options.get("search"), str):
        raise TypeError(f"evaluate(): give search=SearchOptions({options['search']!r}, ...)")
    results = evaluate_grid(corpus, layers=[layer], metrics=[metric], **options)
    return next(iter(results.values()))
