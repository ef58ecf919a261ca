"""The sequence index: exhaustive search equals the metric's matrix, the two-stage search equals
exhaustive when the shortlist holds everything, planted matches are found, results survive a
save and load, and bad input is refused with a clear message."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from helpers import random_sequences
from store_workers import SETTINGS, frames_for

from seqsim import PackedSequences, SeqSim, get_metric
from seqsim.evaluation_options import ScoringOptions, SearchOptions
from seqsim.search import (
    CandidateGenerator,
    CentroidInteraction,
    FrameVotes,
    MeanPooled,
    SearchIndexError,
    SequenceIndex,
    register_generator,
)
from seqsim.search.candidates import GENERATORS
from seqsim.store import EmbeddingStore


def reference_top_k(matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best first; equal scores: smaller id first (written with sorted(), independently)."""
    ids = np.array([sorted(range(len(row)), key=lambda j: (-row[j], j))[:k] for row in matrix])
    return np.take_along_axis(matrix, ids, axis=1), ids


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(7)
    return random_sequences(rng, 60, 16, min_len=3, max_len=25)


@pytest.fixture(scope="module")
def queries():
    rng = np.random.default_rng(8)
    return random_sequences(rng, 9, 16, min_len=3, max_len=25)


@pytest.mark.parametrize("metric", ["seqsim", "avgsim", "dtw"])
def test_exhaustive_search_is_the_metric_matrix_top_k(corpus, queries, metric):
    index = SequenceIndex(metric)
    index.add(corpus)
    scores, ids = index.search(queries, k=7, exhaustive=True)
    expected_scores, expected_ids = reference_top_k(get_metric(metric).matrix(queries, corpus), 7)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_array_equal(scores, expected_scores)


def test_ties_are_ordered_by_id():
    """One-hot frames make every cosine exactly 0 or 1, so copies tie exactly."""
    a, b = np.eye(4, dtype=np.float32)[:2], np.eye(4, dtype=np.float32)[2:]
    index = SequenceIndex()
    index.add([a, b, a, b])
    for exhaustive in (True, False):
        scores, ids = index.search([a, b], k=4, exhaustive=exhaustive)
        np.testing.assert_array_equal(ids, [[0, 2, 1, 3], [1, 3, 0, 2]])
        np.testing.assert_array_equal(scores, [[1, 1, 0, 0], [1, 1, 0, 0]])


@pytest.mark.parametrize("generator", ["frames", "mean", "centroids"])
def test_a_shortlist_of_everything_gives_the_exhaustive_result(corpus, queries, generator):
    index = SequenceIndex(generator=generator, candidates=len(corpus))
    index.add(corpus[:25])
    index.add(corpus[25:])  # added in two parts
    scores, ids = index.search(queries, k=10)
    exhaustive_scores, exhaustive_ids = index.search(queries, k=10, exhaustive=True)
    np.testing.assert_array_equal(ids, exhaustive_ids)
    np.testing.assert_allclose(scores, exhaustive_scores, rtol=0, atol=1e-6)


def planted(rng, count, dim=32, noise=0.15):
    """Sequences and, for some of them, a query that is a noisy, time-warped copy."""
    sequences = random_sequences(rng, count, dim, min_len=8, max_len=30)
    targets = rng.choice(count, 12, replace=False)
    queries = []
    for target in targets:
        source = sequences[target]
        warped = source[np.sort(rng.choice(len(source), len(source), replace=True))]
        queries.append(warped + noise * rng.standard_normal(warped.shape).astype(np.float32))
    return sequences, queries, targets


@pytest.mark.parametrize(
    "options",
    [
        {"generator": "frames", "candidates": 5},
        {"generator": "frames", "candidates": 5, "factory": "HNSW16"},
        {"generator": "frames", "candidates": 5, "factory": "IVF8,Flat", "nprobe": 4},
        {"generator": "mean", "candidates": 10},
        {"generator": "centroids", "candidates": 5, "centroids": 64, "rescore": 50},
    ],
)
def test_every_planted_match_is_found(options):
    sequences, queries, targets = planted(np.random.default_rng(3), 400)
    index = SequenceIndex(**options)
    index.add(sequences)
    _, ids = index.search(queries, k=1)
    np.testing.assert_array_equal(ids[:, 0], targets)


def test_every_backend_reranks_to_the_same_scores(corpus, queries, backend_options):
    reference = SequenceIndex(candidates=20)
    reference.add(corpus)
    expected_scores, expected_ids = reference.search(queries, k=5)
    index = SequenceIndex(candidates=20, **backend_options)
    index.add(corpus)
    scores, ids = index.search(queries, k=5)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=2e-6)


@pytest.mark.parametrize(
    "options",
    [{"generator": "frames", "per_frame": 8}, {"centroids": 32, "rescore": 20}],
)
def test_save_and_load_give_identical_results(tmp_path, corpus, queries, options):
    index = SequenceIndex(candidates=15, **options)
    index.add(corpus, keys=[f"utt{n}" for n in range(len(corpus))])
    scores, ids = index.search(queries, k=6)
    path = index.save(tmp_path / "corpus.index")
    loaded = SequenceIndex.load(path)
    assert len(loaded) == len(corpus) and loaded.settings() == index.settings()
    again_scores, again_ids = loaded.search(queries, k=6)
    np.testing.assert_array_equal(again_ids, ids)
    np.testing.assert_array_equal(again_scores, scores)
    assert list(loaded.keys[ids[0]]) == [f"utt{n}" for n in ids[0]]


def test_an_index_from_a_store_reads_its_memory_map(tmp_path):
    store = EmbeddingStore(tmp_path / "store")
    keys = [f"k{n}" for n in range(40)]
    with store.writer(SETTINGS) as writer:
        for key in keys:
            writer.add(key, {layer: frames_for(key, layer) for layer in SETTINGS["layers"]})
    index = SequenceIndex.from_store(store, layer=1, candidates=10)
    assert list(index.keys) == store.keys() and index.source["layer"] == 1
    queries = [frames_for("k3", 1), frames_for("k17", 1)]
    _, ids = index.search(queries, k=1)
    assert list(index.keys[ids[:, 0]]) == ["k3", "k17"]
    loaded = SequenceIndex.load(index.save(tmp_path / "store.index"))
    np.testing.assert_array_equal(loaded.search(queries, k=3)[1], index.search(queries, k=3)[1])
    with store.writer(SETTINGS) as writer:  # the store moves on: the index must be rebuilt
        writer.add("new", {layer: frames_for("new", layer) for layer in SETTINGS["layers"]})
    with pytest.raises(SearchIndexError, match="has changed since the index was built"):
        SequenceIndex.load(tmp_path / "store.index")


def test_the_shortlist_is_trained_on_every_part_of_what_is_added(monkeypatch):
    """A store is often written language by language: k-means must not see the first block
    alone. Sequences 0-19 live in dimensions 0-3, sequences 20-39 in dimensions 4-7; both must
    get centroids, even when sequences are read in blocks of 4."""
    monkeypatch.setattr("seqsim.search.index.ADD_BLOCK", 4)
    rng = np.random.default_rng(3)
    sequences = []
    for number in range(40):
        frames = np.zeros((6, 8), np.float32)
        half = slice(0, 4) if number < 20 else slice(4, 8)
        frames[:, half] = rng.standard_normal((6, 4))
        sequences.append(frames)
    index = SequenceIndex(centroids=8, candidates=5)
    index.add(sequences)
    centroids = index.generator.centroid_vectors
    in_second_half = np.linalg.norm(centroids[:, 4:], axis=1) > np.linalg.norm(
        centroids[:, :4], axis=1
    )
    assert 0 < in_second_half.sum() < len(centroids)
    _, ids = index.search(sequences[20:23], k=1)
    np.testing.assert_array_equal(ids[:, 0], [20, 21, 22])


@pytest.mark.parametrize(("frames", "expected"), [(50, 50), (300, 64), (1000, 128), (5000, 128)])
def test_a_small_index_gets_one_centroid_per_few_frames(frames, expected):
    """Up to 128 requested: no more centroids than frames / 4 (a power of two), and the
    frames themselves where there are no more frames than centroids requested."""
    unit = np.random.default_rng(0).standard_normal((frames, 8)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    index = SequenceIndex(centroids=128)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index.add(PackedSequences.from_lengths(unit, [frames]))
    assert len(index.generator.centroid_vectors) == expected
    # fewer than asked is said, naming both numbers; as many as asked is not
    said = [str(w.message) for w in caught if "centroids=128 asked" in str(w.message)]
    assert [text.endswith(f"using centroids={expected}") for text in said] == (
        [True] if expected < 128 else []
    )


def test_an_index_of_a_store_takes_no_other_sequences(tmp_path):
    store = EmbeddingStore(tmp_path / "store")
    with store.writer(SETTINGS) as writer:
        writer.add("k0", {layer: frames_for("k0", layer) for layer in SETTINGS["layers"]})
    index = SequenceIndex.from_store(store, layer=1)
    with pytest.raises(SearchIndexError, match="add the utterances to the store"):
        index.add([frames_for("k1", 1)])


# ---------------------------------------------------------------------- bad input


def test_bad_searches_are_refused_clearly(corpus, queries):
    empty = SequenceIndex()
    with pytest.raises(SearchIndexError, match="the index is empty"):
        empty.search(queries)
    index = SequenceIndex()
    index.add(corpus)
    for k in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match=f"k must be an integer >= 1, got {k!r}"):
            index.search(queries, k=k)
    with pytest.warns(UserWarning, match="k=100 is more than the 60 sequences indexed"):
        scores, ids = index.search(queries, k=100)
    assert ids.shape == (len(queries), 60) and sorted(ids[0]) == list(range(60))
    wrong = [np.ones((4, 8), np.float32)]
    with pytest.raises(ValueError, match=r"queries\[0\] has dimension 8 .* 16"):
        index.search(wrong)
    bad = queries[0].copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"queries\[1\] has a NaN or infinite value at frame 1"):
        index.search([queries[1], bad])
    with pytest.raises(ValueError, match=r"sequences\[0\] has a NaN"):
        index.add([bad])
    with pytest.raises(ValueError, match="unknown generator 'colbert'"):
        SequenceIndex(generator="colbert")
    with pytest.raises(ValueError, match="faiss cannot build index 'IVF-nonsense'"):
        SequenceIndex(generator="frames", factory="IVF-nonsense").add(corpus)
    with pytest.raises(ValueError, match="3 keys for 60 sequences"):
        SequenceIndex().add(corpus, keys=["a", "b", "c"])


def test_damaged_index_files_are_named(tmp_path, corpus):
    index = SequenceIndex()
    index.add(corpus)
    path = index.save(tmp_path / "a.index")
    data = path.read_bytes()
    (tmp_path / "cut.index").write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF
    (tmp_path / "flipped.index").write_bytes(bytes(flipped))
    (tmp_path / "text.index").write_text("not an index")
    for name in ("cut.index", "flipped.index", "text.index"):
        with pytest.raises(SearchIndexError, match=f"{tmp_path / name}: not a readable seqsim"):
            SequenceIndex.load(tmp_path / name)
    with pytest.raises(SearchIndexError, match="no such index file"):
        SequenceIndex.load(tmp_path / "missing.index")


def test_saving_over_an_index_replaces_it_whole(tmp_path, corpus, queries, monkeypatch):
    first = SequenceIndex()
    first.add(corpus[:30])
    path = first.save(tmp_path / "a.index")
    second = SequenceIndex()
    second.add(corpus)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        second.save(path)
    monkeypatch.undo()
    assert len(SequenceIndex.load(path)) == 30  # the old index, whole
    assert [p.name for p in tmp_path.iterdir()] == ["a.index"]  # no temporary left
    second.save(path)
    assert len(SequenceIndex.load(path)) == 60


def test_the_default_metric_is_seqsim(corpus):
    index = SequenceIndex()
    assert isinstance(index.metric, SeqSim) and index.settings()["metric"]["metric"] == "seqsim"


def test_agreement_with_exhaustive_search():
    """A shortlist of everything agrees fully; a shortlist of one agrees only where the
    generator's first guess is the exhaustive top-1, counted here independently."""
    from seqsim.search import agreement

    sequences, queries, _ = planted(np.random.default_rng(5), 80, noise=1.5)
    full = SequenceIndex(generator="mean", candidates=80)
    full.add(sequences)
    result = agreement(full, queries, cutoffs=(1, 3))
    assert result.queries == 12 and result.recall == {1: 1.0, 3: 1.0} and result.top1 == 1.0
    narrow = SequenceIndex(generator="mean", candidates=1)
    narrow.add(sequences)
    exhaustive_best = SeqSim().matrix(queries, sequences).argmax(axis=1)

    def unit_mean(frames):
        mean = (frames / np.linalg.norm(frames, axis=1, keepdims=True)).mean(axis=0)
        return mean / np.linalg.norm(mean)

    means = np.stack([unit_mean(s) for s in sequences])
    guesses = [int(np.argmax(means @ unit_mean(q))) for q in queries]
    expected = np.mean(np.array(guesses) == exhaustive_best)
    assert 0 < expected < 1  # the case tells something
    assert agreement(narrow, queries, cutoffs=(1,)).top1 == pytest.approx(expected)
    sampled = agreement(full, queries, sample=5, seed=1)
    assert sampled.queries == 5


# ---------------------------------------------------------------------- evaluation


def parallel_languages(
    rng, sentences=12, dim=16, langs=("aa", "bb", "cc"), noise=0.9, lengths=(6, 14)
):
    """Each sentence a base sequence; each language a differently warped, noisy rendering."""
    bases = random_sequences(rng, sentences, dim, min_len=lengths[0], max_len=lengths[1])
    embeddings = {}
    for lang in langs:
        renderings = []
        for base in bases:
            warped = base[np.sort(rng.choice(len(base), len(base), replace=True))]
            renderings.append(warped + noise * rng.standard_normal(warped.shape).astype(np.float32))
        lengths = [len(r) for r in renderings]
        packed = PackedSequences.from_lengths(np.concatenate(renderings), lengths)
        embeddings[lang] = ([f"s{n:02d}" for n in range(sentences)], packed)
    return embeddings


def test_evaluation_through_the_index_matches_exhaustive_ranks():
    from seqsim.evaluation import evaluate_embeddings

    embeddings = parallel_languages(np.random.default_rng(11))
    exhaustive = evaluate_embeddings(embeddings, "seqsim")
    searched = evaluate_embeddings(embeddings, "seqsim", search=SearchOptions("index", 100))
    pairs = searched.summary[searched.summary["candidate_lang"] != "pooled"]
    for measure in ("r@1", "r@5", "r@10"):
        np.testing.assert_allclose(pairs[measure], exhaustive.summary[measure])
    assert searched.mean() == pytest.approx(exhaustive.mean())
    assert (searched.summary["agreement_r@1"] == 1.0).all()
    assert searched.settings["search"] == "index" and searched.settings["candidates"] == 100
    # pooled: all other languages at once; any rendering of the same sentence is a hit
    pooled = searched.summary[searched.summary["candidate_lang"] == "pooled"].set_index(
        "query_lang"
    )
    for query_lang in ("aa", "bb", "cc"):
        others = [lang for lang in ("aa", "bb", "cc") if lang != query_lang]
        candidates = [embeddings[lang][1][n] for lang in others for n in range(12)]
        queries = [embeddings[query_lang][1][n] for n in range(12)]
        matrix = SeqSim().matrix(queries, candidates)
        hits = 0
        for n, row in enumerate(matrix):
            best = sorted(range(len(row)), key=lambda j: (-row[j], j))[0]
            hits += best % 12 == n
        assert pooled.loc[query_lang, "r@1"] == pytest.approx(hits / 12)


def test_a_narrow_shortlist_reports_its_disagreement():
    from seqsim.evaluation import evaluate_embeddings

    # more frames than centroids (4,096), so the shortlist works on quantised frames
    embeddings = parallel_languages(
        np.random.default_rng(12), sentences=80, noise=2.5, lengths=(60, 80)
    )
    searched = evaluate_embeddings(
        embeddings, "seqsim", search=SearchOptions("index", 1, agreement_sample=10)
    )
    assert (searched.summary["agreement_queries"] == 10).all()
    assert searched.summary["agreement_r@1"].min() < 1.0
    with pytest.raises(ValueError, match="normalization, center and bootstrap need full"):
        evaluate_embeddings(
            embeddings, "seqsim", scoring=ScoringOptions("csls"), search=SearchOptions("index")
        )
    with pytest.raises(ValueError, match="mode must be one of 'exhaustive', 'index'; got 'faiss'"):
        SearchOptions("faiss")


def test_an_index_search_records_the_scores_of_the_correct_and_best_wrong_candidates(tmp_path):
    from seqsim.evaluation import evaluate_embeddings
    from seqsim.report import write_report
    from seqsim.result import RetrievalResult

    embeddings = parallel_languages(np.random.default_rng(12), sentences=30, noise=2.5)
    searched = evaluate_embeddings(embeddings, "seqsim", search=SearchOptions("index", 1))
    ranks = searched.ranks
    pairs = ranks[ranks["candidate_lang"] != "pooled"]
    assert np.isinf(pairs["rank"]).any() and (pairs["rank"] == 1).any()  # misses and hits
    for (query_lang, candidate_lang), rows in pairs.groupby(["query_lang", "candidate_lang"]):
        matrix = SeqSim().matrix(embeddings[query_lang][1], embeddings[candidate_lang][1])
        ids = embeddings[candidate_lang][0]
        for n, row in enumerate(rows.itertuples()):
            # the correct candidate's exact score, found or missed by the shortlist
            assert row.score == pytest.approx(matrix[n, n], abs=1e-5)
            wrong = ids.index(row.wrong)
            assert wrong != n and row.wrong_score == pytest.approx(matrix[n, wrong], abs=1e-5)
            if row.rank == 1:
                assert row.wrong_score <= row.score
            elif np.isfinite(row.rank):
                assert row.wrong_score >= row.score
    pooled = ranks[ranks["candidate_lang"] == "pooled"]
    for query_lang, rows in pooled.groupby("query_lang"):
        others = [lang for lang in embeddings if lang != query_lang]
        best = np.max(
            [
                np.diag(SeqSim().matrix(embeddings[query_lang][1], embeddings[lang][1]))
                for lang in others
            ],
            axis=0,
        )
        np.testing.assert_allclose(rows["score"], best, atol=1e-5)  # the best recording
    write_report(searched, tmp_path / "report")
    loaded = RetrievalResult.load(tmp_path / "report")
    np.testing.assert_allclose(loaded.ranks["score"], ranks["score"])


def test_a_pickled_index_of_a_store_carries_the_store_path_not_its_frames(tmp_path):
    """What Ray ships to a worker: the shortlist's arrays and the store's path."""
    store = EmbeddingStore(tmp_path / "store")
    keys = [f"k{n}" for n in range(200)]
    with store.writer(SETTINGS) as writer:
        for key in keys:
            writer.add(key, {layer: frames_for(key, layer, dim=64) for layer in SETTINGS["layers"]})
    index = SequenceIndex.from_store(store, layer=0, candidates=10, centroids=16)
    _, frames = store.load(0)
    shipped = pickle.dumps(index)
    assert len(shipped) < frames.frames.nbytes / 4
    again = pickle.loads(shipped)
    queries = [frames_for("k3", 0, dim=64), frames_for("k170", 0, dim=64)]
    for exhaustive in (False, True):
        found = again.search(queries, 3, exhaustive=exhaustive)
        expected = index.search(queries, 3, exhaustive=exhaustive)
        for got, want in zip(found, expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_a_pickled_index_of_arrays_carries_its_frames_and_metric(corpus, queries):
    index = SequenceIndex(get_metric("dtw", window=3), candidates=5)
    index.add(corpus)
    again = pickle.loads(pickle.dumps(index))
    assert again.settings() == index.settings() and again.metric.window == 3
    for got, want in zip(again.search(queries, 4), index.search(queries, 4), strict=True):
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------- seqsim issue 12


class Everything(CandidateGenerator):
    """A user's own generator (not registered): it shortlists every indexed sequence, so a
    search through it is exhaustive. At module level, so a pickle can name its class."""

    name = "everything"

    def __init__(self, spare: int = 0) -> None:
        self.spare, self.count, self.done = spare, 0, False

    @property
    def trained(self) -> bool:
        return self.done

    def options(self):
        return {"generator": self.name, "spare": self.spare}

    def train(self, sample):
        self.done = True

    def add(self, packed):
        self.count += len(packed)

    def shortlist(self, queries, count):
        ids = np.full((len(queries), count), -1)
        ids[:, : min(count, self.count)] = np.arange(min(count, self.count))
        return ids

    def state(self):
        return {"count": np.array(self.count)}

    def restore(self, state):
        self.count, self.done = int(state["count"]), True


def assert_found(found, expected) -> None:
    """The same ids, and the same scores but for float32 rounding (one query at a time)."""
    np.testing.assert_array_equal(found[1], expected[1])
    np.testing.assert_allclose(found[0], expected[0], rtol=0, atol=1e-6)


class RenamedMean(MeanPooled):
    """A subclass that keeps its parent's name: a file naming "mean" would load MeanPooled."""


@pytest.fixture
def registry():
    """The generator registry, as it was before the test (restored in place: the modules
    that use it hold the same dict)."""
    before = dict(GENERATORS)
    yield GENERATORS
    GENERATORS.clear()
    GENERATORS.update(before)


class WorstFirst(MeanPooled):
    """A shortlist of the least promising sequences: the correct one is missed."""

    def shortlist(self, queries, count):
        everything = super().shortlist(queries, self.index.ntotal)
        return everything[:, ::-1][:, :count]


def test_a_missed_query_may_score_above_its_best_wrong_hit_and_reads_back(tmp_path, registry):
    from seqsim._defaults import DEFAULT_GENERATOR
    from seqsim.evaluation import evaluate_embeddings
    from seqsim.report import write_report
    from seqsim.result import RetrievalResult

    embeddings = parallel_languages(np.random.default_rng(13), sentences=20, noise=0.3)
    registry[DEFAULT_GENERATOR] = WorstFirst  # the evaluator's shortlist, made adversarial
    searched = evaluate_embeddings(embeddings, "seqsim", search=SearchOptions("index", 1))
    ranks = searched.ranks
    missed = ranks[np.isinf(ranks["rank"]) & (ranks["candidate_lang"] != "pooled")]
    assert len(missed) and (missed["score"] > missed["wrong_score"]).all()
    for row in missed.itertuples():  # the exact scores, from the metric
        query, candidate = embeddings[row.query_lang][1], embeddings[row.candidate_lang][1]
        n = int(row.id[1:])
        assert row.score == pytest.approx(SeqSim().matrix([query[n]], [candidate[n]])[0, 0])
    write_report(searched, tmp_path / "report")
    loaded = RetrievalResult.load(tmp_path / "report")
    np.testing.assert_allclose(loaded.ranks["wrong_score"], ranks["wrong_score"])


def test_an_index_of_your_own_generator_is_refused_at_save_until_registered(
    tmp_path, corpus, queries, registry
):
    expected = reference_top_k(SeqSim().matrix(queries, corpus), 5)
    index = SequenceIndex(generator=Everything(spare=3), candidates=len(corpus))
    index.add(corpus)
    with pytest.raises(
        SearchIndexError,
        match=r"generator Everything is named 'everything', which is not registered.*"
        r"seqsim\.search\.register_generator",
    ):
        index.save(tmp_path / "mine.index")
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
    renamed = SequenceIndex(generator=RenamedMean())
    renamed.add(corpus)
    with pytest.raises(SearchIndexError, match="named 'mean', which is MeanPooled's"):
        renamed.save(tmp_path / "renamed.index")
    with pytest.raises(SearchIndexError, match="the index is empty: add sequences before saving"):
        SequenceIndex(generator="mean").save(tmp_path / "empty.index")

    # a pickle (what a cluster search sends out) carries the class: no registration needed
    again = pickle.loads(pickle.dumps(index))
    assert type(again.generator) is Everything and again.generator.spare == 3
    assert_found(again.search(queries, 5), expected)

    # registered: saved, loaded (by name, with its options and state), searched alike
    register_generator("everything")(Everything)
    loaded = SequenceIndex.load(index.save(tmp_path / "mine.index"))
    assert type(loaded.generator) is Everything and loaded.generator.spare == 3
    assert_found(loaded.search(queries, 5), expected)
    by_name = SequenceIndex(generator="everything", spare=1)
    assert isinstance(by_name.generator, Everything) and by_name.generator.spare == 1
    with pytest.raises(ValueError, match="a generator named 'everything' is registered already"):
        register_generator("everything")(Everything)
    with pytest.raises(TypeError, match="expected a CandidateGenerator"):
        register_generator("function")(len)

    del registry["everything"]  # where the class is not registered, the file names what is missing
    with pytest.raises(
        SearchIndexError,
        match=rf"{tmp_path / 'mine.index'}: its shortlist: unknown generator 'everything'.*"
        r"register_generator",
    ):
        SequenceIndex.load(tmp_path / "mine.index")


@pytest.mark.parametrize("generator", [MeanPooled(), FrameVotes(), CentroidInteraction()])
def test_adding_to_an_untrained_generator_says_to_train_it(generator):
    packed = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    name = type(generator).__name__
    with pytest.raises(ValueError, match=rf"the {name} generator is not trained: call its train"):
        generator.add(packed)


def small_store(path) -> EmbeddingStore:
    store = EmbeddingStore(path)
    with store.writer(SETTINGS) as writer:
        for key in ("k0", "k1", "k2"):
            writer.add(key, {layer: frames_for(key, layer) for layer in SETTINGS["layers"]})
    return store


def test_an_index_from_a_store_shows_its_progress_bar_only_when_asked(tmp_path, capsys):
    store = small_store(tmp_path / "store")
    capsys.readouterr()
    quiet = SequenceIndex.from_store(store, layer=1, progress=False)
    assert "indexing" not in capsys.readouterr().err
    shown = SequenceIndex.from_store(store, layer=1)  # on by default, as for a store's embedding
    assert "indexing" in capsys.readouterr().err
    assert list(quiet.keys) == list(shown.keys) == ["k0", "k1", "k2"]
    with pytest.raises(ValueError, match="progress must be True or False, got 1"):
        SequenceIndex.from_store(store, layer=1, progress=1)


def test_the_search_summary_counts_each_query_once():
    """2 sentences x 2 languages: rows en->fr, fr->en, en->pooled, fr->pooled, each searching
    the 2 queries of its query language. 4 queries (2 en, 2 fr), 4 x 2 = 8 searches, 4 rows;
    with agreement_sample=1: 1 query per language, 2 queries, 4 searches."""
    from seqsim.evaluation import evaluate_embeddings
    from seqsim.report import search_summary

    frames = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    embeddings = {"en": (["s1", "s2"], frames), "fr": (["s1", "s2"], frames)}
    result = evaluate_embeddings(embeddings, search=SearchOptions("index", 1))
    assert search_summary(result).endswith("(4 queries, 8 searches in 4 rows)")
    sampled = evaluate_embeddings(embeddings, search=SearchOptions("index", 1, agreement_sample=1))
    assert search_summary(sampled).endswith("(2 queries, 4 searches in 4 rows)")
