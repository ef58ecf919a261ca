"""Retrieval evaluation through a :class:`SequenceIndex`: per language pair, and among pooled
candidates (every other language at once), with the index's agreement with exhaustive search.

The measures are those of :mod:`seqsim.ranking`, computed from top-k lists: a target outside
the list is a miss (so MRR is MRR@k, with k the largest cutoff).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._defaults import DEFAULT_SEED
from ..metrics.base import Metric
from ..progress import progress_bar
from ..ranking import ranks_from_top_k, retrieval_measures
from ..sequences import PackedSequences
from .agreement import agreement
from .index import DEFAULT_CANDIDATES, SequenceIndex

CUTOFFS = (1, 5, 10)
POOLED = "pooled"
"""The candidate language of the rows that search every other language at once."""


def _concatenate(parts: list[PackedSequences]) -> PackedSequences:
    """The sequences of ``parts``, in order, as one packed copy."""
    frames = np.concatenate([np.asarray(p.subset(np.arange(len(p))).frames) for p in parts])
    return PackedSequences.from_lengths(frames, np.concatenate([p.lengths for p in parts]))


def search_rows(
    embeddings: Mapping[str, tuple[Sequence[str], PackedSequences]],
    metric: Metric,
    *,
    candidates: int = DEFAULT_CANDIDATES,
    pooled: bool = True,
    agreement_sample: int | None = None,
    seed: int = DEFAULT_SEED,
    progress: bool = False,
    **index_options: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Retrieval through a :class:`SequenceIndex`: summary rows and per-query rank rows.

    The rows are those :class:`~seqsim.result.RetrievalResult` holds, for every ordered
    language pair, plus, with ``pooled``, one row per query language against all other
    languages at once (candidate language ``"pooled"``; any recording of the same sentence
    counts). Each pair gets its own index of the candidate language(s). Each row also holds
    ``agreement_r@1`` and ``agreement_r@10``: how often the index keeps exhaustive search's
    top-1 (on ``agreement_sample`` queries, or all; see :func:`~seqsim.search.agreement`).
    The measures come from top-10 lists: a target outside the list is a miss (MRR is MRR@10).

    Parameters
    ----------
    embeddings : mapping of str to (sequence of str, PackedSequences)
        ``embeddings[lang] = (sentence ids, frames)``, the same ids in the same order in every
        language (sentence ``i`` of every language is a correct candidate for query ``i``).
    metric : Metric
        The metric of the rerank (a :class:`~seqsim.distributed.ClusterMetric` reranks on
        its cluster).
    candidates : int, default DEFAULT_CANDIDATES (100)
        The shortlist length per query.
    pooled : bool, default True
        Add the pooled rows.
    agreement_sample : int, optional
        Queries on which agreement is measured (default: all).
    seed : int, default 0
        Seed of that sample.
    progress : bool, default False
        Show a progress bar over the searched pairs.
    **index_options
        Other options of :class:`SequenceIndex` (``generator`` and its options).

    Returns
    -------
    rows : list of dict
        Per (query language, candidate language): ``query_lang``, ``candidate_lang``, ``n``,
        ``chance``, ``r@1``, ``r@5``, ``r@10``, ``mrr``, ``agreement_r@1``,
        ``agreement_r@10`` and ``agreement_queries``.
    rank_rows : list of dict
        Per query and row: ``query_lang``, ``candidate_lang``, ``id``, ``rank`` (inf where
        missed), ``retrieved`` (the sentence id of the top hit), ``score`` (the best correct
        candidate's: the rerank's, or the metric's exact score where the search missed it),
        ``wrong`` and ``wrong_score`` (the best wrong hit; None and NaN where every hit is
        correct).

    Raises
    ------
    ValueError
        If an index option is bad (see :class:`SequenceIndex`), or frames are empty or differ
        in dimension.

    Examples
    --------
    Two languages with the same frames: every query finds its own sentence.

    >>> import numpy as np
    >>> from seqsim import PackedSequences, SeqSim
    >>> from seqsim.search.retrieval import search_rows
    >>> rng = np.random.default_rng(0)
    >>> frames = rng.standard_normal((15, 8)).astype(np.float32)
    >>> packed = PackedSequences.from_lengths(frames, [4, 6, 5])
    >>> ids = ["s1", "s2", "s3"]
    >>> rows, rank_rows = search_rows(
    ...     {"en": (ids, packed), "fr": (ids, packed)}, SeqSim(), candidates=2, generator="mean"
    ... )
    >>> [(row["query_lang"], row["candidate_lang"], row["r@1"], row["agreement_r@1"])
    ...  for row in rows]  # doctest: +NORMALIZE_WHITESPACE
    [('en', 'fr', 1.0, 1.0), ('fr', 'en', 1.0, 1.0),
     ('en', 'pooled', 1.0, 1.0), ('fr', 'pooled', 1.0, 1.0)]
    >>> {name: rank_rows[1][name] for name in ("id", "rank", "retrieved")}
    {'id': 's2', 'rank': 1.0, 'retrieved': 's2'}
    >>> row = rank_rows[1]
    >>> row["wrong"] in {"s1", "s3"}, row["score"] > row["wrong_score"]
    (True, True)
    """
    languages = list(embeddings)
    ids = list(embeddings[languages[0]][0])
    k = min(max(CUTOFFS), len(ids))
    jobs: list[tuple[str, str, list[str]]] = [
        (q, c, [c]) for q in languages for c in languages if q != c
    ]
    if pooled:
        jobs += [(q, POOLED, [c for c in languages if c != q]) for q in languages]
    rows, rank_rows = [], []
    for query_lang, candidate_lang, sources in progress_bar(
        jobs, desc="searched pairs", disable=not progress
    ):
        index = SequenceIndex(metric, candidates=candidates, **index_options)
        index.add(_concatenate([embeddings[lang][1] for lang in sources]))
        queries = embeddings[query_lang][1]
        scores, found = index.search(queries, k)
        # sentence i of every source language is a correct candidate for query i
        targets = [{i + s * len(ids) for s in range(len(sources))} for i in range(len(ids))]
        ranks = ranks_from_top_k(found, targets)
        correct = _correct_scores(index, queries, scores, found, targets, ranks)
        wrong, wrong_scores = _best_wrong(scores, found, targets)
        row: dict[str, Any] = {
            "query_lang": query_lang,
            "candidate_lang": candidate_lang,
            "n": len(ids),
            "chance": 1.0 / len(ids),
            **retrieval_measures(ranks, CUTOFFS),
        }
        kept = agreement(index, queries, cutoffs=(1, 10), sample=agreement_sample, seed=seed)
        row.update({f"agreement_r@{n}": value for n, value in kept.recall.items()})
        row["agreement_queries"] = kept.queries
        rows.append(row)
        rank_rows += [
            {
                "query_lang": query_lang,
                "candidate_lang": candidate_lang,
                "id": sentence,
                "rank": float(rank),
                "retrieved": ids[int(top) % len(ids)] if top >= 0 else None,
                "score": float(score),
                "wrong": ids[other % len(ids)] if other >= 0 else None,
                "wrong_score": float(other_score),
            }
            for sentence, rank, top, score, other, other_score in zip(
                ids, ranks, found[:, 0], correct, wrong, wrong_scores, strict=True
            )
        ]
    return rows, rank_rows


def _correct_scores(
    index: SequenceIndex,
    queries: PackedSequences,
    scores: np.ndarray,
    found: np.ndarray,
    targets: Sequence[set[int]],
    ranks: np.ndarray,
) -> np.ndarray:
    """The score of each query's best correct candidate: the rerank's own where the search
    found one, else the metric's exact score of each correct candidate (the best of them)."""
    correct = np.full(len(queries), np.nan)
    found_rows = np.flatnonzero(np.isfinite(ranks))
    correct[found_rows] = scores[found_rows, ranks[found_rows].astype(np.int64) - 1]
    missed = np.flatnonzero(~np.isfinite(ranks))
    if missed.size:
        shortlists = [np.array(sorted(targets[row]), dtype=np.int64) for row in missed]
        exact, diagnostics = index.metric.shortlist_scores(
            queries.subset(missed), index.sequences, shortlists
        )
        index.metric.record_diagnostics(diagnostics)
        correct[missed] = [row.max() for row in exact]
    return correct


def _best_wrong(
    scores: np.ndarray, found: np.ndarray, targets: Sequence[set[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's best-scoring wrong hit (the first that is no target) and its score; -1
    and NaN where every hit is a target."""
    wrong = np.full(len(found), -1, dtype=np.int64)
    wrong_scores = np.full(len(found), np.nan)
    for row, (hits, target) in enumerate(zip(found, targets, strict=True)):
        for position, hit in enumerate(hits):
            if hit >= 0 and int(hit) not in target:
                wrong[row], wrong_scores[row] = hit, scores[row, position]
                break
    return wrong, wrong_scores
