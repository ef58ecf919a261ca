import numpy as np
import pytest
from helpers import random_sequences

from seqsim import PackedSequences, SeqSim
from seqsim.evaluation import (
    bootstrap_interval,
    evaluate_embeddings,
    normalize_scores,
    ranks_of_targets,
    retrieval_measures,
)


def test_ranks_with_deterministic_ties():
    scores = np.array([[0.9, 0.1, 0.5], [0.8, 0.7, 0.6], [0.3, 0.3, 0.3]])
    # q0 is right; q1 loses to one candidate; q2 ties with the two earlier candidates
    np.testing.assert_array_equal(ranks_of_targets(scores), [1, 2, 3])
    measures = retrieval_measures(ranks_of_targets(scores))
    assert measures["r@1"] == pytest.approx(1 / 3)
    assert measures["r@5"] == measures["r@10"] == 1.0
    assert measures["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)


HUB = np.array([[0.70, 0.20, 0.75], [0.20, 0.70, 0.75], [0.10, 0.10, 0.80]])


def test_csls_and_margin_fix_a_hub_by_hand():
    # k = 2: r(q) = (0.725, 0.725, 0.45), r(c) = (0.45, 0.45, 0.775)
    csls = normalize_scores(HUB, "csls", k=2)
    assert csls[0, 0] == pytest.approx(1.4 - 0.725 - 0.45)
    assert csls[0, 2] == pytest.approx(1.5 - 0.725 - 0.775)
    margin = normalize_scores(HUB, "margin", k=2)
    assert margin[0, 0] == pytest.approx(0.7 / ((0.725 + 0.45) / 2))
    assert margin[2, 2] == pytest.approx(0.8 / ((0.45 + 0.775) / 2))
    assert retrieval_measures(ranks_of_targets(HUB))["r@1"] == pytest.approx(1 / 3)
    for method in ("csls", "margin"):
        assert (
            retrieval_measures(ranks_of_targets(normalize_scores(HUB, method, k=2)))["r@1"] == 1.0
        )
    np.testing.assert_array_equal(normalize_scores(HUB, "none"), HUB)
    with pytest.raises(ValueError, match="normalization must be"):
        normalize_scores(HUB, "zscore")


def test_bootstrap_interval_brackets_the_estimate_and_is_seeded():
    ranks = np.array([1] * 30 + [2] * 10)
    low, high = bootstrap_interval(ranks, samples=500, seed=3)
    assert low < 0.75 < high and 0.55 < low and high < 0.95
    assert (low, high) == bootstrap_interval(ranks, samples=500, seed=3)


def packed(sequences):
    return PackedSequences.from_lengths(np.concatenate(sequences), [len(s) for s in sequences])


def test_evaluate_embeddings_on_a_synthetic_parallel_corpus():
    rng = np.random.default_rng(0)
    ids = [f"s{k}" for k in range(8)]
    source = random_sequences(rng, 8, 16, min_len=5, max_len=12)
    translated = [s + 0.05 * rng.standard_normal(s.shape).astype(np.float32) for s in source]
    unrelated = random_sequences(rng, 8, 16, min_len=5, max_len=12)
    embeddings = {
        "aa": (ids, packed(source)),
        "bb": (ids, packed(translated)),
        "cc": (ids, packed(unrelated)),
    }
    result = evaluate_embeddings(embeddings, "seqsim", bootstrap=200)
    matrix = result.matrix("r@1")
    assert list(matrix.index) == list(matrix.columns) == ["aa", "bb", "cc"]
    assert np.isnan(matrix.loc["aa", "aa"])
    assert matrix.loc["aa", "bb"] == matrix.loc["bb", "aa"] == 100.0
    assert matrix.loc["aa", "cc"] < 60
    assert len(result.ranks) == 8 * 6
    row = result.summary.query("query_lang == 'aa' and candidate_lang == 'bb'").iloc[0]
    assert row["chance"] == 1 / 8 and row["ci_low"] <= 1.0 <= row["ci_high"]
    assert result.settings["metric"] == "seqsim" and len(result.settings_hash) == 12
    assert set(
        result.ranks.query("query_lang == 'aa' and candidate_lang == 'bb'")["retrieved"]
    ) == set(ids)


def test_language_mean_centering_removes_a_language_offset():
    rng = np.random.default_rng(1)
    ids = [f"s{k}" for k in range(10)]
    source = random_sequences(rng, 10, 16, min_len=5, max_len=12)
    offset = 6.0 * rng.standard_normal(16).astype(np.float32)
    shifted = [s + offset for s in source]  # every frame of language bb carries the same offset
    embeddings = {"aa": (ids, packed(source)), "bb": (ids, packed(shifted))}
    result = evaluate_embeddings(embeddings, "seqsim", center=True)
    assert result.mean("raw_r@1") < 0.8
    assert result.mean("r@1") == 1.0


def test_languages_must_share_sentence_ids():
    rng = np.random.default_rng(2)
    frames = packed(random_sequences(rng, 2, 4))
    with pytest.raises(ValueError, match="language bb does not hold the same sentence ids"):
        evaluate_embeddings({"aa": (["x", "y"], frames), "bb": (["y", "x"], frames)})


class CountingSeqSim(SeqSim):
    calls = 0

    def matrix(self, queries, candidates):
        CountingSeqSim.calls += 1
        return super().matrix(queries, candidates)


@pytest.mark.parametrize(("output", "expected_calls"), [("f1", 3), ("recall", 6)])
def test_symmetric_metrics_score_each_unordered_pair_once(output, expected_calls):
    rng = np.random.default_rng(3)
    ids = [f"s{k}" for k in range(4)]
    embeddings = {lang: (ids, packed(random_sequences(rng, 4, 8))) for lang in ("aa", "bb", "cc")}
    CountingSeqSim.calls = 0
    result = evaluate_embeddings(embeddings, CountingSeqSim(output))
    assert CountingSeqSim.calls == expected_calls
    direct = SeqSim(output).matrix(embeddings["bb"][1], embeddings["aa"][1])
    expected = retrieval_measures(ranks_of_targets(direct))["r@1"]
    assert (
        result.summary.query("query_lang == 'bb' and candidate_lang == 'aa'")["r@1"].item()
        == expected
    )
