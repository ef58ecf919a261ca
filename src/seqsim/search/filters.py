"""Which utterances a search or a mining run may pair: the candidate languages, and leaving out
the query itself and its own language. Shared by :func:`seqsim.mine` and the search commands.

Utterances are named by their store keys (``lang/id``, :attr:`seqsim.corpus.Utterance.key`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from ..corpus import CorpusError, Utterance


def languages_of(keys: Sequence[str]) -> np.ndarray:
    """The language of every key, as an object array.

    Parameters
    ----------
    keys : sequence of str
        Store keys ``lang/id``.

    Returns
    -------
    numpy.ndarray
        (len(keys),) the languages, unescaped (``pt%2FBR/s1`` -> ``pt/BR``).

    Raises
    ------
    seqsim.corpus.CorpusError
        Naming a key that is not of the form ``lang/id``.

    Examples
    --------
    >>> from seqsim.search.filters import languages_of
    >>> languages_of(["en/s1", "pt%2FBR/s1"])
    array(['en', 'pt/BR'], dtype=object)
    """
    return np.array([Utterance.from_key(key).lang for key in keys], dtype=object)


def in_languages(keys: Sequence[str], langs: Collection[str] | None, what: str) -> np.ndarray:
    """Positions of the keys whose language is one of ``langs`` (every key for None).

    What ``seqsim index build --langs``, ``seqsim search --candidate-langs`` and the language
    options of :func:`seqsim.mine` select.

    Parameters
    ----------
    keys : sequence of str
        Store keys ``lang/id``.
    langs : collection of str or None
        The languages to keep; None keeps every key.
    what : str
        What the keys are, for the error message (``"the targets"``, ``"the index"``).

    Returns
    -------
    numpy.ndarray
        The positions kept, ascending (int64).

    Raises
    ------
    seqsim.corpus.CorpusError
        When a language of ``langs`` is not among the keys' (naming it and those there are).
    TypeError
        When ``langs`` is one string, or holds something else than strings.

    Examples
    --------
    >>> from seqsim.search.filters import in_languages
    >>> in_languages(["en/s1", "fr/s1", "en/s2"], ["en"], "the sources")
    array([0, 2])
    >>> in_languages(["en/s1"], ["de"], "the sources")
    Traceback (most recent call last):
        ...
    seqsim.corpus.CorpusError: the sources: no utterance in de; the languages there: en
    >>> in_languages(["en/s1"], "en", "the sources")
    Traceback (most recent call last):
        ...
    TypeError: the languages of the sources must be a list of strings, not the string 'en'
    """
    positions = np.arange(len(keys), dtype=np.int64)
    if langs is None:
        return positions
    if isinstance(langs, str) or not all(isinstance(lang, str) for lang in langs):
        given = f"the string {langs!r}" if isinstance(langs, str) else repr(langs)
        raise TypeError(f"the languages of {what} must be a list of strings, not {given}")
    languages = languages_of(keys)
    present = set(languages)
    absent = [lang for lang in dict.fromkeys(langs) if lang not in present]
    if absent:
        raise CorpusError(
            f"{what}: no utterance in {', '.join(absent)}; the languages there: "
            f"{', '.join(sorted(present))}"
        )
    return positions[np.isin(languages, list(langs))]


def own_positions(query_keys: Sequence[str], candidate_keys: Sequence[str]) -> np.ndarray:
    """Where each query is among the candidates (the same key), or -1.

    Parameters
    ----------
    query_keys, candidate_keys : sequence of str
        The keys of both sides.

    Returns
    -------
    numpy.ndarray
        (Q,) int64 candidate positions, -1 for a query that is no candidate.

    Examples
    --------
    >>> from seqsim.search.filters import own_positions
    >>> own_positions(["en/s1", "de/s1"], ["fr/s1", "en/s1"])
    array([ 1, -1])
    """
    position = {key: number for number, key in enumerate(candidate_keys)}
    return np.array([position.get(key, -1) for key in query_keys], dtype=np.int64)


def excluded_hits(
    query_keys: Sequence[str],
    candidate_keys: Sequence[str],
    ids: np.ndarray,
    *,
    exclude_self: bool = True,
    exclude_own_language: bool = False,
) -> np.ndarray:
    """Which hits to leave out: the query itself, and (optionally) candidates of its language.

    Parameters
    ----------
    query_keys : sequence of str
        The key of every query (row of ``ids``).
    candidate_keys : sequence of str
        The key of every candidate (what ``ids`` number).
    ids : numpy.ndarray
        (Q, n) candidate ids per query; negative ids (padding) are never left out.
    exclude_self : bool, default True
        Leave out a candidate with the query's own key (the same utterance).
    exclude_own_language : bool, default False
        Leave out every candidate in the query's language.

    Returns
    -------
    numpy.ndarray
        (Q, n) bool, True where the hit is left out.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.search.filters import excluded_hits
    >>> keys = ["en/s1", "fr/s1", "en/s2"]
    >>> excluded_hits(keys[:2], keys, np.array([[0, 1, 2], [1, 0, -1]]))
    array([[ True, False, False],
           [ True, False, False]])
    >>> excluded_hits(keys[:1], keys, np.array([[0, 1, 2]]), exclude_own_language=True)
    array([[ True, False,  True]])
    """
    valid = ids >= 0
    safe = np.where(valid, ids, 0)
    excluded = np.zeros(ids.shape, dtype=bool)
    if exclude_self:
        excluded |= ids == own_positions(query_keys, candidate_keys)[:, None]
    if exclude_own_language:
        query_langs = languages_of(query_keys)[:, None]
        excluded |= languages_of(candidate_keys)[safe] == query_langs
    return excluded & valid


def drop_hits(
    scores: np.ndarray, ids: np.ndarray, excluded: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best hits per query that are not ``excluded``, in their order.

    Search ``k`` plus the most hits a query can lose (1 for the query itself), then drop.

    Parameters
    ----------
    scores, ids : numpy.ndarray
        (Q, n) hits, best first, as :meth:`SequenceIndex.search
        <seqsim.search.SequenceIndex.search>` returns them.
    excluded : numpy.ndarray
        (Q, n) bool, True for a hit to drop (:func:`excluded_hits`).
    k : int
        Hits kept per query.

    Returns
    -------
    scores : numpy.ndarray
        (Q, k) the kept scores; ``-inf`` where fewer than ``k`` hits were left.
    ids : numpy.ndarray
        (Q, k) their ids; ``-1`` pads a short list.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.search.filters import drop_hits
    >>> scores, ids = np.array([[1.0, 0.8, 0.5]]), np.array([[0, 1, 2]])
    >>> drop_hits(scores, ids, np.array([[True, False, False]]), k=2)
    (array([[0.8, 0.5]]), array([[1, 2]]))
    """
    order = np.argsort(excluded, axis=1, kind="stable")[:, :k]  # kept hits first, in order
    kept_scores = np.take_along_axis(scores, order, axis=1)
    kept_ids = np.take_along_axis(ids, order, axis=1)
    dropped = np.take_along_axis(excluded, order, axis=1)
    width = kept_ids.shape[1]
    if width < k:
        pad = ((0, 0), (0, k - width))
        kept_scores = np.pad(kept_scores, pad, constant_values=-np.inf)
        kept_ids = np.pad(kept_ids, pad, constant_values=-1)
        dropped = np.pad(dropped, pad, constant_values=True)
    return np.where(dropped, -np.inf, kept_scores), np.where(dropped, -1, kept_ids)
