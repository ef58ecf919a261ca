"""A search with the filters of :mod:`seqsim.search.filters`: candidates of some languages
only, without the query itself, without the query's own language. What ``seqsim search
--candidate-langs --exclude-self --exclude-own-language`` runs."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from .._defaults import DEFAULT_HITS
from ..checks import check_count, check_flag
from ..metrics.base import _stacklevel_outside_package
from ..sequences import SequencesLike, as_packed
from .filters import drop_hits, excluded_hits, in_languages, languages_of
from .index import SequenceIndex


def search_filtered(
    index: SequenceIndex,
    queries: SequencesLike,
    query_keys: Sequence[str],
    k: int = DEFAULT_HITS,
    *,
    candidate_langs: Sequence[str] | None = None,
    exclude_self: bool = False,
    exclude_own_language: bool = False,
    exhaustive: bool = False,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best indexed utterances for every query, among those the filters leave.

    The queries of one language are searched together, among the candidates of the
    languages asked for (less their own, with ``exclude_own_language``):
    :meth:`SequenceIndex.search` with ``among``, exact where ``exhaustive``, and as wide a
    rerank as an unfiltered search otherwise. ``exclude_self`` searches one hit more and
    drops the candidate with the query's own key (a store searched against itself: every
    query would find itself first).

    Parameters
    ----------
    index : SequenceIndex
        An index whose keys are ``lang/id`` (one built from a store).
    queries : list of (frames, dim) arrays or tensors, or PackedSequences
        The queries.
    query_keys : sequence of str
        The key (``lang/id``) of every query.
    k : int, default 10
        Hits per query; clamped to the candidates the filters leave.
    candidate_langs : sequence of str, optional
        The languages of the candidates; every indexed language when left out.
    exclude_self : bool, default False
        Leave out the candidate with the query's key.
    exclude_own_language : bool, default False
        Leave out every candidate in the query's language.
    exhaustive : bool, default False
        Score every candidate left (the reference).
    progress : bool, default False
        Show a progress bar (one per query language).

    Returns
    -------
    scores : numpy.ndarray
        (Q, k) float scores, best first; ``-inf`` pads a list that the filters shortened.
    ids : numpy.ndarray
        (Q, k) int64 ids of the candidates (``index.keys[ids]``); ``-1`` pads.

    Warns
    -----
    UserWarning
        If ``k`` is more than the candidates of ``candidate_langs`` (it is clamped).

    Raises
    ------
    seqsim.corpus.CorpusError
        If the index has no utterance in one of ``candidate_langs`` (naming it and the
        index's languages), or a key (query or candidate) is not ``lang/id``.
    ValueError
        If ``query_keys`` are not one per query, and as :meth:`SequenceIndex.search` says.

    Examples
    --------
    Three one-hot utterances, searched with themselves as queries:

    >>> import numpy as np
    >>> from seqsim.search import SequenceIndex, search_filtered
    >>> keys = ["en/s1", "fr/s1", "en/s2"]
    >>> frames = [np.eye(4, dtype=np.float32)[[0, 1]], np.eye(4, dtype=np.float32)[[0, 2]],
    ...           np.eye(4, dtype=np.float32)[[0, 3]]]
    >>> index = SequenceIndex()
    >>> index.add(frames, keys)
    >>> index.search(frames, k=2)[1]            # every query finds itself first
    array([[0, 1],
           [1, 0],
           [2, 0]])
    >>> search_filtered(index, frames, keys, k=2, exclude_self=True)[1]
    array([[1, 2],
           [0, 2],
           [0, 1]])
    >>> search_filtered(index, frames, keys, k=2, exclude_own_language=True)[1]
    array([[ 1, -1],
           [ 0,  2],
           [ 1, -1]])
    >>> search_filtered(index, frames[:1], keys[:1], k=1, candidate_langs=["fr"])[1]
    array([[1]])
    """
    check_count("k", k, 1)
    for name, flag in [
        ("exclude_self", exclude_self),
        ("exclude_own_language", exclude_own_language),
    ]:
        check_flag(name, flag)
    packed = as_packed(queries, "queries", dim=index.dim)
    if len(query_keys) != len(packed):
        raise ValueError(f"{len(query_keys)} query keys for {len(packed)} queries")
    candidate_keys = [str(key) for key in index.keys]
    allowed = in_languages(candidate_keys, candidate_langs, "the index")
    width = min(k, len(allowed))
    if width < k:
        warnings.warn(
            f"k={k} is more than the {len(allowed)} candidates the filters leave; returning "
            f"{width}",
            stacklevel=_stacklevel_outside_package(),
        )
    query_langs = languages_of(query_keys)
    groups = dict.fromkeys(query_langs) if exclude_own_language else {None: None}
    candidate_langs_of = languages_of(candidate_keys)
    scores = np.full((len(packed), width), -np.inf)
    ids = np.full((len(packed), width), -1, dtype=np.int64)
    for lang in groups:
        rows = np.arange(len(packed)) if lang is None else np.flatnonzero(query_langs == lang)
        among = allowed if lang is None else allowed[candidate_langs_of[allowed] != lang]
        if not among.size:
            continue  # no candidate is left to these queries
        whole = candidate_langs is None and lang is None
        found_scores, found_ids = index.search(
            packed.subset(rows) if lang is not None else packed,
            min(width + exclude_self, len(among)),
            exhaustive=exhaustive,
            progress=progress,
            among=None if whole else among,
        )
        excluded = excluded_hits(
            [query_keys[n] for n in rows], candidate_keys, found_ids, exclude_self=exclude_self
        )
        scores[rows], ids[rows] = drop_hits(found_scores, found_ids, excluded, width)
    return scores, ids
