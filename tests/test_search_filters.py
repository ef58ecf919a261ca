"""The filters that search and mining share (seqsim.search.filters): candidate languages, and
leaving out the query itself and its own language, against hand-built key lists."""

from __future__ import annotations

import numpy as np
import pytest

from seqsim.corpus import CorpusError
from seqsim.search.filters import (
    drop_hits,
    excluded_hits,
    in_languages,
    languages_of,
    own_positions,
)

KEYS = ["en/s1", "fr/s1", "en/s2", "pt%2FBR/s1", "fr/s2"]


def test_languages_are_read_from_keys_escaped_or_not():
    assert languages_of(KEYS).tolist() == ["en", "fr", "en", "pt/BR", "fr"]
    with pytest.raises(CorpusError, match="store key 'en' is not of the form lang/id"):
        languages_of(["en"])


def test_languages_select_positions_in_order_and_an_absent_one_is_named():
    assert in_languages(KEYS, None, "the index").tolist() == [0, 1, 2, 3, 4]
    assert in_languages(KEYS, ["fr", "pt/BR"], "the index").tolist() == [1, 3, 4]
    with pytest.raises(CorpusError, match="the index have no utterance in de, xx; their "
                       "languages: en, fr, pt/BR"):  # fmt: skip
        in_languages(KEYS, ["fr", "de", "xx"], "the index")


def test_own_positions_find_each_query_among_the_candidates():
    assert own_positions(["fr/s2", "de/s9", "en/s1"], KEYS).tolist() == [4, -1, 0]


def test_excluded_hits_leave_out_the_query_and_its_language():
    ids = np.array([[0, 2, 1, -1], [1, 4, 0, 3]])
    queries = ["en/s1", "fr/s1"]
    itself = excluded_hits(queries, KEYS, ids)
    assert itself.tolist() == [[True, False, False, False], [True, False, False, False]]
    language = excluded_hits(queries, KEYS, ids, exclude_self=False, exclude_own_language=True)
    assert language.tolist() == [[True, True, False, False], [True, True, False, False]]
    nothing = excluded_hits(queries, KEYS, ids, exclude_self=False)
    assert not nothing.any()


def test_dropped_hits_close_up_in_order_and_pad_a_short_list():
    scores = np.array([[1.0, 0.9, 0.8], [1.0, 0.7, 0.6]])
    ids = np.array([[0, 2, 1], [1, 4, 0]])
    excluded = np.array([[True, False, False], [True, True, False]])
    kept_scores, kept_ids = drop_hits(scores, ids, excluded, k=2)
    assert kept_ids.tolist() == [[2, 1], [0, -1]]
    assert kept_scores.tolist() == [[0.9, 0.8], [0.6, -np.inf]]
    wider_scores, wider_ids = drop_hits(scores, ids, excluded, k=4)  # more than was searched
    assert wider_ids.tolist() == [[2, 1, -1, -1], [0, -1, -1, -1]]
    assert np.isneginf(wider_scores[:, 2:]).all()
