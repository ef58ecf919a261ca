"""The filters that search and mining share (seqsim.search.filters): candidate languages, and
leaving out the query itself and its own language, against hand-built key lists."""

from __future__ import annotations

import numpy as np
import pytest

from seqsim.corpus import CorpusError
from seqsim.search import MeanPooled, SearchIndexError, SequenceIndex, search_filtered
from seqsim.search.filters import (
    drop_hits,
    excluded_hits,
    in_languages,
    languages_of,
    own_positions,
)
from seqsim.store import EmbeddingStore

KEYS = ["en/s1", "fr/s1", "en/s2", "pt%2FBR/s1", "fr/s2"]


def test_languages_are_read_from_keys_escaped_or_not():
    assert languages_of(KEYS).tolist() == ["en", "fr", "en", "pt/BR", "fr"]
    with pytest.raises(CorpusError, match="store key 'en' is not of the form lang/id"):
        languages_of(["en"])


def test_languages_select_positions_in_order_and_an_absent_one_is_named():
    assert in_languages(KEYS, None, "the index").tolist() == [0, 1, 2, 3, 4]
    assert in_languages(KEYS, ["fr", "pt/BR"], "the index").tolist() == [1, 3, 4]
    with pytest.raises(CorpusError, match="the index: no utterance in de, xx; the "
                       "languages there: en, fr, pt/BR"):  # fmt: skip
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


# ---------------------------------------------------------------- searching with the filters

LANGS = ["en", "fr", "de"]


@pytest.fixture(scope="module")
def corpus():
    """30 random utterances in three languages (keys ``lang/sN``), frames of 8 dims."""
    rng = np.random.default_rng(7)
    keys = [f"{LANGS[n % 3]}/s{n}" for n in range(30)]
    frames = [rng.standard_normal((int(rng.integers(3, 9)), 8)).astype(np.float32) for _ in keys]
    return keys, frames


def reference_hits(query_frames, query_keys, keys, frames, k, langs, itself, own_language):
    """The k best candidates by SeqSim's formula in float64, filtered by hand: ids best first
    (equal scores by smaller id), padded with -1."""

    def unit(x):
        x = np.asarray(x, dtype=np.float64)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    rows = []
    for query, query_key in zip(query_frames, query_keys, strict=True):
        scored = []
        for number, (key, candidate) in enumerate(zip(keys, frames, strict=True)):
            lang = key.split("/")[0]
            if langs is not None and lang not in langs:
                continue
            if itself and key == query_key:
                continue
            if own_language and lang == query_key.split("/")[0]:
                continue
            cosines = unit(query) @ unit(candidate).T
            recall, precision = cosines.max(axis=1).mean(), cosines.max(axis=0).mean()
            scored.append((-2 * precision * recall / (precision + recall), number))
        best = [number for _, number in sorted(scored)[:k]]
        rows.append(best + [-1] * (k - len(best)))
    return np.array(rows)


FILTERS = [
    (None, False, False),
    (None, True, False),
    (None, False, True),
    (["fr", "de"], False, False),
    (["fr"], True, False),
    (["en", "fr"], True, True),
]


@pytest.mark.parametrize("exhaustive", [True, False], ids=["exhaustive", "shortlist"])
@pytest.mark.parametrize(("langs", "itself", "own_language"), FILTERS)
def test_a_filtered_search_gives_the_hand_filtered_ranking(
    corpus, langs, itself, own_language, exhaustive
):
    keys, frames = corpus
    index = SequenceIndex(candidates=30)  # a shortlist of every candidate: exact as well
    index.add(frames, keys)
    queries = [0, 1, 2, 7, 11]
    query_keys = [keys[n] for n in queries]
    query_frames = [frames[n] for n in queries]
    scores, ids = search_filtered(
        index, query_frames, query_keys, 4, candidate_langs=langs, exclude_self=itself,
        exclude_own_language=own_language, exhaustive=exhaustive,
    )  # fmt: skip
    expected = reference_hits(
        query_frames, query_keys, keys, frames, 4, langs, itself, own_language
    )
    np.testing.assert_array_equal(ids, expected)
    assert np.isneginf(scores[ids < 0]).all() and np.isfinite(scores[ids >= 0]).all()


def test_queries_of_another_store_are_not_their_namesakes_unless_asked(corpus):
    keys, frames = corpus
    index = SequenceIndex(candidates=30)
    index.add(frames, keys)
    # a query whose frames are a candidate's, under its key: itself first, or left out
    _, found = search_filtered(index, [frames[3]], [keys[3]], 2)
    _, without = search_filtered(index, [frames[3]], [keys[3]], 2, exclude_self=True)
    assert found[0, 0] == 3 and 3 not in without[0]
    assert without[0, 0] == found[0, 1]


def test_a_filtered_search_refuses_bad_filters_and_keys(corpus):
    keys, frames = corpus
    index = SequenceIndex()
    index.add(frames, keys)
    with pytest.raises(CorpusError, match="the index: no utterance in xx; the languages there"):
        search_filtered(index, frames[:1], keys[:1], 2, candidate_langs=["xx"])
    with pytest.raises(ValueError, match="2 query keys for 1 queries"):
        search_filtered(index, frames[:1], keys[:2], 2)
    with pytest.raises(TypeError, match="not the string 'fr'"):
        search_filtered(index, frames[:1], keys[:1], 2, candidate_langs="fr")
    with pytest.warns(UserWarning, match="k=20 is more than the 10 candidates the filters leave"):
        _, ids = search_filtered(index, frames[:1], keys[:1], 20, candidate_langs=["fr"])
    assert ids.shape == (1, 10) and (ids >= 0).all()


def test_languages_must_be_a_list_not_a_string():
    with pytest.raises(TypeError, match="the languages of the index must be a list of strings"):
        in_languages(KEYS, "en", "the index")
    with pytest.raises(TypeError, match=r"not \['en', 3\]"):
        in_languages(KEYS, ["en", 3], "the index")


# ---------------------------------------------------------------- SequenceIndex.search(among=)


class Recorded(MeanPooled):
    """The mean-vector shortlist, recording how many candidates each search asks it for."""

    asked: list[int] = []

    def shortlist(self, queries, count):
        Recorded.asked.append(count)
        return super().shortlist(queries, count)


def test_a_search_among_some_ids_scores_only_those_and_reranks_as_many(corpus):
    keys, frames = corpus
    among = np.arange(1, 30, 3)  # the 10 French utterances
    index = SequenceIndex(generator=Recorded(), candidates=4)
    index.add(frames, keys)
    sub = SequenceIndex(candidates=4)
    sub.add([frames[n] for n in among])
    exact_scores, exact = index.search(frames[:6], 3, exhaustive=True, among=among)
    sub_scores, sub_ids = sub.search(frames[:6], 3, exhaustive=True)
    np.testing.assert_array_equal(exact, among[sub_ids])
    np.testing.assert_allclose(exact_scores, sub_scores)
    Recorded.asked.clear()
    scores, ids = index.search(frames[:6], 3, among=among)
    assert Recorded.asked == [12]  # 4 reranked among a third of the index: 3 x 4 asked for
    assert np.isin(ids, among).all()
    # each hit's score is the exact one, whatever the shortlist found
    for row, (score_row, id_row) in enumerate(zip(scores, ids, strict=True)):
        full = index.search([frames[row]], 30, exhaustive=True)
        lookup = dict(zip(full[1][0], full[0][0], strict=True))
        np.testing.assert_allclose(score_row, [lookup[i] for i in id_row])
    # where every id is among: the unrestricted search, the same shortlist
    Recorded.asked.clear()
    everything = index.search(frames[:6], 3, among=np.arange(30))
    assert Recorded.asked == [4]
    np.testing.assert_array_equal(everything[1], index.search(frames[:6], 3)[1])


def test_among_is_checked(corpus):
    keys, frames = corpus
    index = SequenceIndex()
    index.add(frames, keys)
    with pytest.raises(ValueError, match="among is empty"):
        index.search(frames[:1], 2, among=[])
    with pytest.raises(ValueError, match="among holds id 30, not one of the 30 indexed"):
        index.search(frames[:1], 2, among=[0, 30])
    with pytest.raises(ValueError, match="among must be a 1-D array of sequence ids"):
        index.search(frames[:1], 2, among=[[0, 1]])
    with pytest.warns(UserWarning, match="k=5 is more than the 2 sequences searched among"):
        _, ids = index.search(frames[:1], 5, among=[4, 2])
    assert sorted(ids[0]) == [2, 4]


# ---------------------------------------------------------------- an index of some languages


def synthetic_store(folder, keys, seed=0):
    rng = np.random.default_rng(seed)
    store = EmbeddingStore(folder)
    settings = {"model": "synthetic", "layers": [0], "dtype": "float32", "hidden_states": 1}
    with store.writer(settings) as writer:
        for key in keys:
            frames = rng.standard_normal((int(rng.integers(3, 8)), 8)).astype(np.float32)
            writer.add(key, {0: frames})
    store.consolidate()
    return store


def test_an_index_of_some_languages_holds_them_and_knows_its_store_again(tmp_path):
    keys = [f"{LANGS[n % 3]}/s{n}" for n in range(12)]
    store = synthetic_store(tmp_path / "store", keys)
    index = SequenceIndex.from_store(store, 0, langs=["fr", "en", "fr"], progress=False)
    assert list(index.keys) == [key for key in keys if key.split("/")[0] in ("en", "fr")]
    assert index.source["langs"] == ["en", "fr"]
    stored_keys, frames = store.load(0)
    chosen = [n for n, key in enumerate(stored_keys) if key in set(index.keys)]
    expected = SequenceIndex()
    expected.add(frames.subset(np.array(chosen)), [stored_keys[n] for n in chosen])
    query = frames.subset(np.array([2]))
    np.testing.assert_array_equal(
        index.search(query, 8, exhaustive=True)[1], expected.search(query, 8, exhaustive=True)[1]
    )
    index.save(tmp_path / "i.index")
    loaded = SequenceIndex.load(tmp_path / "i.index")
    assert list(loaded.keys) == list(index.keys) and loaded.source["langs"] == ["en", "fr"]
    np.testing.assert_array_equal(loaded.search(query, 8)[1], index.search(query, 8)[1])
    # an utterance of a language not indexed added to the store: the index still holds
    with store.writer(store.settings) as writer:
        writer.add("de/new", {0: np.ones((3, 8), dtype=np.float32)})
    store.consolidate()
    assert list(SequenceIndex.load(tmp_path / "i.index").keys) == list(index.keys)
    # one of an indexed language: the store has changed under the index
    with store.writer(store.settings) as writer:
        writer.add("en/new", {0: np.ones((3, 8), dtype=np.float32)})
    store.consolidate()
    with pytest.raises(SearchIndexError, match="has changed since the index was built"):
        SequenceIndex.load(tmp_path / "i.index")
    with pytest.raises(CorpusError, match="store: no utterance in xx; the languages there: de, en, fr"):
        SequenceIndex.from_store(store, 0, langs=["xx"], progress=False)
