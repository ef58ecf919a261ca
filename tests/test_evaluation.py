import numpy as np
import pytest
from helpers import random_sequences

from seqsim import PackedSequences, SeqSim
from seqsim.evaluation import evaluate_embeddings
from seqsim.ranking import ranks_of_targets, retrieval_measures


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
