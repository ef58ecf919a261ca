"""Mining (seqsim.mine): margins against an independent computation and hand-derived cases,
the directions, the index path against exhaustive scoring, planted pairs in real whisper-base
frames, resuming after an interruption, bad inputs, and the BUCC-style evaluation."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from seqsim import DTWSim, SeqSim, mine
from seqsim.corpus import Corpus, Utterance, read_manifest
from seqsim.mining import (
    MiningError,
    best_threshold,
    gold_pairs,
    mined_corpus,
    miner,
    mining_scores,
    plot_precision_recall,
    precision_recall,
)
from seqsim.ranking import margin_scores, neighbour_means
from seqsim.store import EmbeddingStore, StoreMismatchError

# ---------------------------------------------------------------------- references


def seqsim_by_formula(x: np.ndarray, y: np.ndarray) -> float:
    """SeqSim from its definition: frames L2-normalised, R = mean_x max_y x.y,
    P = mean_y max_x x.y, F1 = 2PR / (P + R)."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    recall = np.mean([max(float(a @ b) for b in y) for a in x])
    precision = np.mean([max(float(a @ b) for a in x) for b in y])
    return 2 * precision * recall / (precision + recall)


def ratio_margin_union_by_loops(scores: np.ndarray, k: int) -> dict[tuple[int, int], float]:
    """LASER's ratio-margin mining written out with loops: for every source, its k nearest
    targets; r(x), r(y) the means of the k best scores of a row and of a column; each source
    keeps the candidate of best margin s / ((r(x) + r(y)) / 2), and so does each target among
    its k nearest sources; the union of both."""
    n_sources, n_targets = scores.shape
    source_mean = [sum(sorted(scores[i], reverse=True)[:k]) / k for i in range(n_sources)]
    target_mean = [sum(sorted(scores[:, j], reverse=True)[:k]) / k for j in range(n_targets)]

    def margin(i: int, j: int) -> float:
        return scores[i, j] / ((source_mean[i] + target_mean[j]) / 2)

    mined = {}
    for i in range(n_sources):
        nearest = sorted(range(n_targets), key=lambda j: -scores[i, j])[:k]
        best = max(nearest, key=lambda j: margin(i, j))
        mined[i, best] = margin(i, best)
    for j in range(n_targets):
        nearest = sorted(range(n_sources), key=lambda i: -scores[i, j])[:k]
        best = max(nearest, key=lambda i: margin(i, j))
        mined[best, j] = margin(best, j)
    return mined


def planted(seed: int, n_sources: int = 16, n_targets: int = 12, shared: int = 8, dim: int = 16):
    """Random sources and targets, the first ``shared`` targets noisy copies of sources
    1, 3, 5, ... (so the gold pairs are (2t + 1, t))."""
    rng = np.random.default_rng(seed)

    def sequence() -> np.ndarray:
        return rng.standard_normal((int(rng.integers(4, 12)), dim)).astype(np.float32)

    sources = [sequence() for _ in range(n_sources)]
    copies = [
        sources[2 * t + 1] + 0.4 * rng.standard_normal(sources[2 * t + 1].shape)
        for t in range(shared)
    ]
    targets = [c.astype(np.float32) for c in copies] + [
        sequence() for _ in range(n_targets - shared)
    ]
    return sources, targets, {(2 * t + 1, t) for t in range(shared)}


class MatrixMetric:
    """A metric of fixed scores: sequence ``i`` is one frame holding ``i``, and the score of
    source ``i`` and target ``j`` is ``scores[i, j]``; counts its calls."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = np.asarray(scores, dtype=np.float64)
        self.calls = 0

    def matrix(self, queries, candidates) -> np.ndarray:
        self.calls += 1
        rows = np.asarray(queries.frames)[:, 0].astype(int)
        columns = np.asarray(candidates.frames)[:, 0].astype(int)
        return self.scores[np.ix_(rows, columns)]

    def settings(self) -> dict:
        return {"metric": "matrix", "scores": self.scores.tolist()}


def numbered(count: int) -> list[np.ndarray]:
    return [np.array([[float(n)]], dtype=np.float32) for n in range(count)]


def as_dict(table: pd.DataFrame) -> dict[tuple[int, int], float]:
    return {(int(s), int(t)): m for s, t, m in table[["source", "target", "margin"]].values}


# ---------------------------------------------------------------------- margins


def test_mine_of_frame_lists_is_the_ratio_margin_computed_independently():
    sources, targets, _ = planted(seed=1)
    scores = np.array([[seqsim_by_formula(x, y) for y in targets] for x in sources])
    expected = ratio_margin_union_by_loops(scores, k=4)

    table = mine(sources, targets, k=4)

    assert list(table.columns) == ["source", "target", "score", "margin"]
    assert as_dict(table).keys() == expected.keys()
    for (s, t), margin in as_dict(table).items():
        assert margin == pytest.approx(expected[s, t], abs=1e-5)
    for s, t, score in table[["source", "target", "score"]].values:
        assert score == pytest.approx(scores[int(s), int(t)], abs=1e-5)
    assert (np.diff(table["margin"].to_numpy()) <= 0).all()  # best margin first


# Scores of 2 sources x 3 targets with k = 2: r(x) = (0.7, 0.75), r(y) = (0.85, 0.6, 0.15).
HAND = np.array([[0.9, 0.5, 0.1], [0.8, 0.7, 0.2]])
# Forward, distance s - (r(x) + r(y)) / 2: source 0 -> t0 0.125 (t1 -0.15); source 1 -> t1
# 0.025 (t0 0.0). Backward: t0 -> s0 0.125, t1 -> s1 0.025, t2 -> s1 0.2 - 0.45 = -0.25.
HAND_CASES = {
    ("distance", "forward"): {(0, 0): 0.125, (1, 1): 0.025},
    ("distance", "backward"): {(0, 0): 0.125, (1, 1): 0.025, (1, 2): -0.25},
    ("distance", "intersection"): {(0, 0): 0.125, (1, 1): 0.025},
    ("distance", "union"): {(0, 0): 0.125, (1, 1): 0.025, (1, 2): -0.25},
    ("csls", "union"): {(0, 0): 0.25, (1, 1): 0.05, (1, 2): -0.5},  # twice the distance
    ("absolute", "forward"): {(0, 0): 0.9, (1, 0): 0.8},
    ("absolute", "backward"): {(0, 0): 0.9, (1, 1): 0.7, (1, 2): 0.2},
    ("absolute", "intersection"): {(0, 0): 0.9},
    ("absolute", "union"): {(0, 0): 0.9, (1, 0): 0.8, (1, 1): 0.7, (1, 2): 0.2},
    # ratio: source 0 -> t0 0.9 / 0.775; source 1 -> t1 0.7 / 0.675 (t0: 0.8 / 0.8 = 1)
    ("ratio", "forward"): {(0, 0): 0.9 / 0.775, (1, 1): 0.7 / 0.675},
}


@pytest.mark.parametrize(("margin", "direction"), list(HAND_CASES), ids="-".join)
def test_margins_and_directions_on_a_hand_derived_case(margin, direction):
    table = mine(numbered(2), numbered(3), metric=MatrixMetric(HAND), k=2, margin=margin,
                 direction=direction)  # fmt: skip
    assert as_dict(table) == pytest.approx(HAND_CASES[margin, direction])
    assert table["margin"].is_monotonic_decreasing


def test_keep_threshold_and_max_per_utterance_on_the_hand_case():
    metric = MatrixMetric(HAND)
    # each source keeps both of its candidates: (0,0) 0.125, (1,1) 0.025, (1,0) 0.0, (0,1) -0.15
    both = mine(numbered(2), numbered(3), metric=metric, k=2, margin="distance",
                direction="forward", keep=2)  # fmt: skip
    assert both[["source", "target"]].values.tolist() == [[0, 0], [1, 1], [1, 0], [0, 1]]
    assert both["margin"].tolist() == pytest.approx([0.125, 0.025, 0.0, -0.15])
    above = mine(numbered(2), numbered(3), metric=metric, k=2, margin="absolute",
                 threshold=0.75)  # fmt: skip
    assert above[["source", "target"]].values.tolist() == [[0, 0], [1, 0]]
    # one-to-one, best first: (0,0) .9, (1,0) no (target 0 taken), (1,1) .7, (1,2) no
    one_each = mine(numbered(2), numbered(3), metric=metric, k=2, margin="absolute",
                    max_per_utterance=1)  # fmt: skip
    assert one_each[["source", "target"]].values.tolist() == [[0, 0], [1, 1]]


def test_neighbour_means_and_margin_scores_follow_their_formulas():
    scores = HAND
    assert neighbour_means(scores, 2).tolist() == pytest.approx([0.7, 0.75])
    assert neighbour_means(scores.T, 2).tolist() == pytest.approx([0.85, 0.6, 0.15])
    assert margin_scores(0.9, 0.7, 0.85, "ratio") == pytest.approx(0.9 / 0.775)
    assert margin_scores(0.9, 0.7, 0.85, "distance") == pytest.approx(0.125)
    assert margin_scores(0.9, 0.7, 0.85, "csls") == pytest.approx(0.25)
    assert margin_scores(0.9, 0.7, 0.85, "absolute") == pytest.approx(0.9)


def test_an_utterance_is_never_paired_with_itself(tmp_path):
    """Sources and targets from one store overlap: a key is never mined with itself, and k
    counts the other utterances only."""
    rng = np.random.default_rng(3)
    store = EmbeddingStore(tmp_path / "store")
    settings = {"model": "hand", "layers": [0], "dtype": "float32", "hidden_states": 1}
    with store.writer(settings) as writer:
        for lang, sentence in itertools.product(("en", "fr"), range(4)):
            writer.add(f"{lang}/s{sentence}", {0: rng.standard_normal((5, 8)).astype(np.float32)})
    table = mine(store, store, k=3, direction="union", metric=SeqSim(backend="numba"))
    assert (table["source_key"] != table["target_key"]).all()
    assert len(table) >= 8  # every utterance found a partner other than itself
    for search in ("exhaustive", "index"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # centroids clamped to the few frames
            found = mine(store, store, k=7, search=search, metric=SeqSim(backend="numba"))
        assert (found["source_key"] != found["target_key"]).all()
    with pytest.raises(MiningError, match="k=8 is more than the 7 targets"):
        mine(store, store, k=8)


# ---------------------------------------------------------------------- index and exhaustive


def test_the_index_finds_the_exhaustive_pairs_where_its_shortlist_covers_them():
    sources, targets, _ = planted(seed=2, n_sources=30, n_targets=24, shared=12)
    metric = SeqSim(backend="numba")
    exhaustive = mine(sources, targets, metric=metric, search="exhaustive")
    covering = mine(sources, targets, metric=metric, search="index", candidates=30,
                    index_options={"generator": "mean"})  # fmt: skip
    pd.testing.assert_frame_equal(covering, exhaustive, atol=1e-6, check_exact=False)
    # a short shortlist can only miss neighbours: each pair found by both has its score
    short = mine(sources, targets, metric=metric, search="index", candidates=3,
                 index_options={"generator": "mean"})  # fmt: skip
    both = short.merge(exhaustive, on=["source", "target"], suffixes=("", "_exhaustive"))
    assert np.allclose(both["score"], both["score_exhaustive"], atol=1e-6)


def test_auto_switches_to_the_index_at_exhaustive_below(monkeypatch):
    sources, targets, _ = planted(seed=4)
    used = []
    monkeypatch.setattr(
        miner.NeighbourFinder, "indexed", lambda self, index: used.append("index") or _raise()
    )
    with pytest.raises(RuntimeError, match="index path"):
        mine(sources, targets, exhaustive_below=len(sources) * len(targets))
    mine(sources, targets, exhaustive_below=len(sources) * len(targets) + 1)
    assert used == ["index"]


def _raise():
    raise RuntimeError("index path")


# ---------------------------------------------------------------------- resuming


class Interrupted(MatrixMetric):
    """Interrupted (KeyboardInterrupt) at its ``stop_at``-th call."""

    def __init__(self, scores: np.ndarray, stop_at: int) -> None:
        super().__init__(scores)
        self.stop_at = stop_at

    def matrix(self, queries, candidates):
        if self.calls + 1 == self.stop_at:
            raise KeyboardInterrupt
        return super().matrix(queries, candidates)


def test_an_interrupted_run_resumes_without_repeating_finished_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(miner, "SOURCE_BLOCK", 3)  # 10 sources: 4 blocks
    scores = np.random.default_rng(5).uniform(0.1, 1.0, size=(10, 9))
    expected = mine(numbered(10), numbered(9), metric=MatrixMetric(scores), k=3)

    with pytest.raises(KeyboardInterrupt):
        mine(numbered(10), numbered(9), metric=Interrupted(scores, stop_at=3), k=3,
             checkpoint=tmp_path)  # fmt: skip
    (run,) = tmp_path.glob("mining-*")
    assert sorted(p.name for p in run.iterdir()) == [
        "exhaustive-000000.npz",
        "exhaustive-000001.npz",
        "settings.json",
    ]  # fmt: skip  (the two finished blocks, whole; no temporary file left)

    resumed_metric = MatrixMetric(scores)
    resumed = mine(numbered(10), numbered(9), metric=resumed_metric, k=3, checkpoint=tmp_path)
    assert resumed_metric.calls == 2  # blocks 3 and 4 only
    pd.testing.assert_frame_equal(resumed, expected)
    again = MatrixMetric(scores)
    mine(numbered(10), numbered(9), metric=again, k=3, margin="csls", checkpoint=tmp_path)
    assert again.calls == 0  # another margin reuses every block

    other = MatrixMetric(scores * 0.5)  # other scores: another hash, nothing reused
    mine(numbered(10), numbered(9), metric=other, k=3, checkpoint=tmp_path)
    assert other.calls == 4 and len(list(tmp_path.glob("mining-*"))) == 2


def test_a_damaged_block_is_named_and_found_again(tmp_path, monkeypatch):
    monkeypatch.setattr(miner, "SOURCE_BLOCK", 3)
    scores = np.random.default_rng(6).uniform(0.1, 1.0, size=(7, 5))
    expected = mine(numbered(7), numbered(5), metric=MatrixMetric(scores), k=2,
                    checkpoint=tmp_path)  # fmt: skip
    (block,) = tmp_path.glob("mining-*/exhaustive-000001.npz")
    block.write_bytes(block.read_bytes()[:40])  # cut short, as a full disk might leave it
    metric = MatrixMetric(scores)
    with pytest.warns(UserWarning, match=f"{block}: damaged"):
        again = mine(numbered(7), numbered(5), metric=metric, k=2, checkpoint=tmp_path)
    assert metric.calls == 1
    pd.testing.assert_frame_equal(again, expected)


def test_a_resumed_index_run_builds_no_index(tmp_path, monkeypatch):
    sources, targets, _ = planted(seed=7)
    metric = SeqSim(backend="numba")
    options = {"search": "index", "index_options": {"generator": "mean"}, "metric": metric}
    first = mine(sources, targets, checkpoint=tmp_path, **options)
    monkeypatch.setattr(miner.SequenceIndex, "add", lambda *a, **k: _raise())
    pd.testing.assert_frame_equal(mine(sources, targets, checkpoint=tmp_path, **options), first)


# ---------------------------------------------------------------------- bad inputs


def store_of(tmp_path, frames: dict[str, np.ndarray]) -> EmbeddingStore:
    store = EmbeddingStore(tmp_path / "store")
    settings = {"model": "hand", "layers": [0], "dtype": "float32", "hidden_states": 2}
    with store.writer(settings) as writer:
        for key, value in frames.items():
            writer.add(key, {0: value})
    return store


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s, t: mine([], t), "the sources are empty: nothing to mine"),
        (lambda s, t: mine(s, []), "the targets are empty: nothing to mine"),
        (
            lambda s, t: mine(s, [t[0], np.ones((3, 5), np.float32)]),
            r"targets\[1\] has dimension 5 but the sources' dimension is 16",
        ),
        (lambda s, t: mine(s, [t[0], np.ones((0, 16), np.float32)]), r"targets\[1\] is empty"),
        (lambda s, t: mine(s, t, k=13), "k=13 is more than the 12 targets"),
        (lambda s, t: mine(s[:3], t, k=4), "k=4 is more than the 3 sources"),
        (lambda s, t: mine(s, t, margin="laser"), "margin must be one of 'ratio'"),
        (lambda s, t: mine(s, t, direction="both"), "direction must be one of 'union'"),
        (lambda s, t: mine(s, t, search="faiss"), "search must be one of 'auto'"),
        (lambda s, t: mine(s, t, k=2, keep=3), "keep=3 is more than k=2"),
        (lambda s, t: mine(s, t, source_langs=["en"]), "the sources are frames without keys"),
        (lambda s, t: mine(s, t, max_per_utterance=0), "max_per_utterance must be an integer"),
        (
            lambda s, t: mine(s, t, metric=DTWSim(backend="numba")),
            "margin='ratio' needs positive scores",
        ),
        (lambda s, t: mine(s, t, metric="bleu"), "unknown metric 'bleu'"),
    ],
)
def test_bad_inputs_are_named(call, message):
    sources, targets, _ = planted(seed=8)
    with pytest.raises(MiningError, match=message):
        call(sources, targets)


def test_bad_stores_and_corpora_are_named(tmp_path):
    frames = np.ones((3, 4), np.float32)
    store = store_of(tmp_path, {"en/s1": frames, "en/s2": frames * 2, "fr/s1": frames})
    with pytest.raises(StoreMismatchError, match=f"{store.path} holds layers \\[0\\]"):
        mine(store, store, layer=1)
    with pytest.raises(ValueError, match=r"the targets \(.*store\): no utterance in de"):
        mine(store, store, layer=0, target_langs=["de"])
    with pytest.raises(MiningError, match="no-such-thing: the sources are neither"):
        mine(tmp_path / "no-such-thing", store)
    corpus = Corpus([Utterance("s1", "en", tmp_path / "s1.wav")])
    with pytest.raises(MiningError, match="the sources are a corpus: give model and store"):
        mine(corpus, store)


# ---------------------------------------------------------------------- evaluation


def test_bucc_scores_precision_recall_curve_and_best_threshold_by_hand(tmp_path):
    # margins 1.4 .. 1.0; correct: yes, yes, no, yes, no; 4 gold pairs
    pairs = pd.DataFrame({"source": [0, 1, 2, 3, 4], "target": [0, 1, 0, 3, 2],
                          "margin": [1.4, 1.3, 1.2, 1.1, 1.0]})  # fmt: skip
    gold = {(0, 0), (1, 1), (3, 3), (5, 5)}
    at_all = mining_scores(pairs, gold)
    assert (at_all.mined, at_all.correct, at_all.gold) == (5, 3, 4)
    assert (at_all.precision, at_all.recall) == pytest.approx((3 / 5, 3 / 4))
    assert at_all.f1 == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    curve = precision_recall(pairs, gold)
    assert curve["precision"].tolist() == pytest.approx([1, 1, 2 / 3, 3 / 4, 3 / 5])
    assert curve["recall"].tolist() == pytest.approx([1 / 4, 2 / 4, 2 / 4, 3 / 4, 3 / 4])
    best = best_threshold(pairs, gold)  # F1 at 1.1: P 3/4, R 3/4 -> 0.75, the best
    assert (best.threshold, best.mined, best.f1) == (1.1, 4, pytest.approx(0.75))
    assert mining_scores(pairs, gold, threshold=1.1) == best
    picture = plot_precision_recall(curve, tmp_path / "pr.png", best)
    assert picture.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(MiningError, match="no gold pairs"):
        mining_scores(pairs, set())
    with pytest.raises(MiningError, match="no pair was mined"):
        best_threshold(pairs.iloc[:0], gold)


def test_gold_pairs_are_the_same_sentences_and_equal_margins_share_a_threshold():
    assert gold_pairs(["a", "b", "a"], ["a", "c"]) == {(0, 0), (2, 0)}
    tied = pd.DataFrame({"source": [0, 1, 2], "target": [0, 1, 2], "margin": [1.2, 1.2, 1.1]})
    assert precision_recall(tied, {(0, 0), (1, 1)})["mined"].tolist() == [2, 3]


def test_mined_pairs_become_a_manifest(tmp_path):
    pairs = pd.DataFrame({"source_key": ["en/a", "en/b"], "target_key": ["fr/x", "fr/y"],
                          "source_path": ["/d/a.wav", "/d/b.wav"],
                          "target_path": ["/d/x.wav", "/d/y.wav"]})  # fmt: skip
    from seqsim.corpus import write_manifest

    corpus = read_manifest(
        write_manifest(mined_corpus(pairs), tmp_path / "m.tsv"), check_files=False
    )
    said = {(u.key, u.sentence) for u in corpus.utterances}
    assert said == {("en/a", "pair000001"), ("fr/x", "pair000001"),
                    ("en/b", "pair000002"), ("fr/y", "pair000002")}  # fmt: skip
    twice = pd.concat([pairs, pairs.iloc[:1]])
    with pytest.raises(MiningError, match="en/a is in more than one mined pair"):
        mined_corpus(twice)
    with pytest.raises(MiningError, match="no source_path, target_path"):
        mined_corpus(pairs[["source_key", "target_key"]])


# ---------------------------------------------------------------------- real frames


@pytest.mark.slow
def test_planted_pairs_in_real_whisper_frames_are_mined(tmp_path):
    """French s01-s20 against Spanish s11-s30 of the demo, embedded by the real whisper-base:
    the 10 shared sentences are the gold pairs, hidden among 10 unshared ones on each side.
    The best F1 must beat, by far, the best F1 of the same pairs against shuffled gold."""
    from seqsim.corpus import demo_corpus

    utterances = demo_corpus().utterances
    french = Corpus([u for u in utterances if u.lang == "fr" and "s01" <= u.sentence <= "s20"])
    spanish = Corpus([u for u in utterances if u.lang == "es" and "s11" <= u.sentence <= "s30"])
    table = mine(french, spanish, model="whisper-base-offline", store=tmp_path / "store",
                 k=4, max_per_utterance=1)  # fmt: skip
    said = [u.sentence for u in french.utterances]
    heard = [u.sentence for u in spanish.utterances]
    gold = gold_pairs(said, heard)
    assert len(gold) == 10
    best = best_threshold(table, gold)
    rng = np.random.default_rng(0)
    shuffled = [best_threshold(table, gold_pairs(said, list(rng.permutation(heard)))).f1
                for _ in range(20)]  # fmt: skip
    assert best.f1 >= 0.35 and best.f1 > 2 * np.mean(shuffled)  # measured 0.47 against 0.04
    assert table["source_key"].str.startswith("fr/").all()
    assert table["target_path"].str.endswith(".ogg").all()
