from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from helpers import random_sequences

from seqsim import Metric, PackedSequences, SeqSim
from seqsim.evaluation import evaluate_embeddings
from seqsim.evaluation_options import ScoringOptions, SearchOptions
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
    result = evaluate_embeddings(embeddings, "seqsim", scoring=ScoringOptions(bootstrap=200))
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
    result = evaluate_embeddings(embeddings, "seqsim", scoring=ScoringOptions(center=True))
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


# Multi-positive: aa and bb each hold sentences X and Y twice (x1, x2, y1, y2 in aa; in bb the
# order X, Y, X, Y). SCORES[i, j] is the score of aa's utterance i against bb's utterance j,
# and of bb's j against aa's i (a symmetric metric).
SCORES = np.array(
    [
        [0.9, 0.1, 0.2, 0.3],  # x1: right {0, 2}; best right 0.9 is the top -> rank 1
        [0.5, 0.8, 0.4, 0.1],  # x2: best right 0.5 (column 0), below 0.8 -> 2
        [0.7, 0.2, 0.6, 0.6],  # y1: right {1, 3}; best 0.6 (col 3), below 0.7, tied col 2 -> 3
        [0.4, 0.4, 0.9, 0.4],  # y2: best right 0.4 (col 1), below 0.9, tied col 0 -> 3
    ]
)
# bb -> aa is SCORES.T: bX1 [.9 .5 .7 .4] right {0, 1} -> 1; bY1 [.1 .8 .2 .4] right {2, 3}
# -> 2 (0.4 below 0.8); bX2 [.2 .4 .6 .9] right {0, 1} -> 3; bY2 [.3 .1 .6 .4] -> 1
EXPECTED_RANKS = {"aa": [1, 2, 3, 3], "bb": [1, 2, 3, 1]}


@dataclass(eq=False, repr=False)
class Lookup(Metric):
    """Scores read from SCORES: an utterance is one frame holding its row (aa, 0..3) or
    4 + its column (bb)."""

    name: ClassVar[str] = "lookup"

    def matrix(self, queries, candidates):
        table = np.zeros((8, 8))
        table[:4, 4:] = SCORES
        table[4:, :4] = SCORES.T
        rows, columns = (np.asarray(p.frames)[:, 0].astype(int) for p in (queries, candidates))
        return table[np.ix_(rows, columns)]


def multi_positive_embeddings():
    codes = {"aa": [0, 1, 2, 3], "bb": [4, 5, 6, 7]}
    ids = {"aa": ["x1", "x2", "y1", "y2"], "bb": ["bX1", "bY1", "bX2", "bY2"]}
    embeddings = {
        lang: (ids[lang], packed([np.array([[c]], np.float32) for c in codes[lang]]))
        for lang in ("aa", "bb")
    }
    sentences = {"aa": ["X", "X", "Y", "Y"], "bb": ["X", "Y", "X", "Y"]}
    return embeddings, sentences


def test_multi_positive_ranks_by_hand():
    embeddings, sentences = multi_positive_embeddings()
    result = evaluate_embeddings(embeddings, Lookup(), sentences=sentences)
    for query_lang, expected in EXPECTED_RANKS.items():
        ranks = result.ranks.query(f"query_lang == '{query_lang}'")
        assert list(ranks["rank"]) == expected
        row = result.summary.query(f"query_lang == '{query_lang}'").iloc[0]
        assert row["n"] == row["candidates"] == 4
        assert row["chance"] == 0.5  # 2 right among 4 candidates for every query
        assert row["r@1"] == expected.count(1) / 4
        assert row["mrr"] == pytest.approx(np.mean([1 / r for r in expected]))
    x2 = result.ranks.query("query_lang == 'aa' and id == 'x2'").iloc[0]
    assert (x2["sentence"], x2["retrieved"], x2["retrieved_sentence"]) == ("X", "bY1", "Y")
    assert result.settings["multi_positive"] is True and result.settings["sentences"] == 2
    assert result.settings["recordings_per_language"] == {"aa": 4, "bb": 4}
    assert result.matrix("candidates").loc["aa", "bb"] == 4  # a count, not a percentage


def test_multi_positive_report_states_recordings_and_the_pairs_chance():
    from seqsim.report import report_markdown

    embeddings, sentences = multi_positive_embeddings()
    text = report_markdown(evaluate_embeddings(embeddings, Lookup(), sentences=sentences))
    # 2 sentences, 4 recordings per language; 2 right among 4 candidates -> chance 50 %
    assert "2 sentences, several recordings each (recordings: aa 4, bb 4)" in text
    assert "chance level 50.0 %" in text


def test_multi_positive_chance_with_unequal_recordings():
    embeddings, _ = multi_positive_embeddings()
    sentences = {"aa": ["X", "Y", "Y", "Y"], "bb": ["X", "Y", "X", "X"]}
    row = (
        evaluate_embeddings(embeddings, Lookup(), sentences=sentences)
        .summary.query("query_lang == 'aa'")
        .iloc[0]
    )
    assert row["chance"] == pytest.approx((3 / 4 + 3 * (1 / 4)) / 4)  # X thrice in bb, Y once


def test_multi_positive_refuses_a_sentence_missing_in_a_language_and_index_search():
    embeddings, _ = multi_positive_embeddings()
    lopsided = {"aa": ["X", "X", "Y", "Y"], "bb": ["X", "X", "X", "X"]}
    with pytest.raises(ValueError, match="language bb has no recording of sentence.*Y"):
        evaluate_embeddings(embeddings, Lookup(), sentences=lopsided)
    with pytest.raises(ValueError, match="language aa: 4 utterances, 3 sentences"):
        evaluate_embeddings(embeddings, Lookup(), sentences={"aa": ["X"] * 3, "bb": ["X"] * 4})
    _, sentences = multi_positive_embeddings()
    with pytest.raises(ValueError, match="search='index' needs one recording per sentence"):
        evaluate_embeddings(
            embeddings, Lookup(), sentences=sentences, search=SearchOptions("index")
        )


def test_one_recording_each_under_its_own_id_equals_the_id_protocol():
    rng = np.random.default_rng(4)
    frames = {lang: packed(random_sequences(rng, 5, 8)) for lang in ("aa", "bb")}
    by_id = evaluate_embeddings({lang: (list("abcde"), f) for lang, f in frames.items()})
    recordings = {lang: ([f"{lang}-{s}" for s in "abcde"], f) for lang, f in frames.items()}
    by_sentence = evaluate_embeddings(recordings, sentences={"aa": "abcde", "bb": "abcde"})
    columns = ["r@1", "r@5", "mrr", "chance", "n"]
    pd.testing.assert_frame_equal(by_id.summary[columns], by_sentence.summary[columns])
    assert by_sentence.settings["multi_positive"] is False
    assert list(by_sentence.ranks["id"][:2]) == ["aa-a", "aa-b"]


def test_settings_hash_covers_what_changes_the_numbers(monkeypatch):
    import torch

    import seqsim.evaluation as evaluation

    rng = np.random.default_rng(5)
    ids = ["s0", "s1", "s2"]
    source = random_sequences(rng, 3, 8, min_len=3, max_len=6)
    frames = {"aa": (ids, packed(source)), "bb": (ids, packed(source[::-1]))}

    def digest(embeddings=frames, metric="seqsim", **options):
        metric_object = SeqSim(backend=metric) if metric != "seqsim" else "seqsim"
        return evaluate_embeddings(embeddings, metric_object, **options).settings_hash

    reference = digest()
    assert digest() == reference  # unchanged inputs, same hash
    half = {
        lang: (i, PackedSequences(p.frames.astype(np.float16), p.offsets))
        for lang, (i, p) in frames.items()
    }
    on_torch = {
        lang: (i, PackedSequences(torch.from_numpy(p.frames), torch.from_numpy(p.offsets)))
        for lang, (i, p) in frames.items()
    }
    other_corpus = {"aa": frames["aa"], "bb": (ids, packed(source))}
    renamed = {lang: (["s0", "s1", "s9"], p) for lang, (_, p) in frames.items()}
    changed = {
        "corpus frames": digest(other_corpus),
        "corpus keys": digest(renamed),
        "float16 frames": digest(half),
        "backend": digest(metric="torch"),
        "bootstrap samples": digest(scoring=ScoringOptions(bootstrap=10)),
        "seed": digest(scoring=ScoringOptions(seed=1)),
    }
    monkeypatch.setattr(evaluation, "__version__", "0.0.0-other")
    changed["seqsim version"] = digest()
    monkeypatch.undo()
    monkeypatch.setattr(torch, "__version__", "0.0.0-other")
    changed["torch version"] = digest()
    monkeypatch.undo()
    real_version = evaluation.importlib.metadata.version
    monkeypatch.setattr(
        evaluation.importlib.metadata,
        "version",
        lambda name: "0.0.0-other" if name == "transformers" else real_version(name),
    )
    changed["transformers version"] = digest()
    monkeypatch.undo()
    for what, value in changed.items():
        assert value != reference, what
    assert len(set(changed.values())) == len(changed)
    # the same frames as torch tensors are the same data: the same hash
    fingerprint = evaluation.data_fingerprint
    assert fingerprint(on_torch) == fingerprint(frames) != fingerprint(half)


def test_settings_hash_covers_the_encoder_dtype_of_a_store(tmp_path):
    from seqsim.evaluation import evaluate_grid
    from seqsim.store import EmbeddingStore

    hashes = []
    for encoder_dtype in ("torch.float32", "torch.float16"):
        settings = {
            "model": "toy",
            "layers": [1],
            "dtype": "float16",
            "hidden_states": 2,
            "encoder_dtype": encoder_dtype,
        }
        folder = tmp_path / encoder_dtype
        with EmbeddingStore(folder).writer(settings) as writer:
            for key, hot in [("en/s1", 0), ("en/s2", 1), ("fr/s1", 0), ("fr/s2", 1)]:
                writer.add(key, {1: np.eye(2)[[hot, hot]]})
        (result,) = evaluate_grid(store=folder, layers=[1], progress=False).values()
        assert result.settings["encoder_dtype"] == encoder_dtype
        hashes.append(result.settings_hash)
    assert hashes[0] != hashes[1]
    # the grid computes the frames' fingerprint once per layer: it is theirs
    frames = np.float16(np.eye(2)[[0, 0, 1, 1]])
    own = {
        lang: (["s1", "s2"], PackedSequences.from_lengths(frames, [2, 2]))
        for lang in result.languages
    }
    assert (
        result.settings["data_fingerprint"] == evaluate_embeddings(own).settings["data_fingerprint"]
    )
