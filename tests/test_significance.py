"""Paired tests on per-query hits (issue 24): McNemar's exact test against hand-computed
binomial tails, the bootstrap intervals against the normal approximation of a proportion, the
resampling of whole sentences, and the refusals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from seqsim import PackedSequences
from seqsim.evaluation import evaluate_embeddings
from seqsim.result import RetrievalResult
from seqsim.significance import (
    SignificanceError,
    compare_results,
    mcnemar_p,
    mean_r1_interval,
    query_hits,
    result_significance,
)


def result_of(hits: dict[tuple[str, str], list[bool]], sentences: list[str] | None = None):
    """A result whose pairs' queries s0, s1, ... hit (rank 1) or miss (rank 2) as given."""
    rows = []
    for (query_lang, candidate_lang), pair in hits.items():
        for number, hit in enumerate(pair):
            row = {"query_lang": query_lang, "candidate_lang": candidate_lang}
            row.update({"id": f"s{number}", "rank": 1 if hit else 2})
            if sentences is not None:
                row["sentence"] = sentences[number]
            rows.append(row)
    languages = list(dict.fromkeys(lang for pair in hits for lang in pair))
    return RetrievalResult(languages, pd.DataFrame(), pd.DataFrame(rows), {"seed": 3})


@pytest.mark.parametrize(
    ("only_first", "only_second", "expected"),
    [
        (5, 0, 2 * 0.5**5),
        (0, 5, 2 * 0.5**5),
        (3, 1, 2 * (1 + 4) / 16),  # P(X <= 1) for X ~ B(4, 1/2)
        (7, 2, 2 * (1 + 9 + 36) / 512),  # P(X <= 2) for X ~ B(9, 1/2)
        (10, 10, 1.0),  # capped at 1
        (0, 0, 1.0),
    ],
)
def test_mcnemar_is_the_exact_binomial_tail_doubled(only_first, only_second, expected):
    assert mcnemar_p(only_first, only_second) == pytest.approx(expected, rel=1e-12)


def test_the_mean_interval_of_one_pair_is_that_of_a_proportion():
    # 400 independent queries, 120 hits: the percentile bootstrap of a proportion is close to
    # the normal interval p +- 1.96 sqrt(p (1 - p) / n)
    hits = [n < 120 for n in range(400)]
    interval = mean_r1_interval(result_of({("en", "fr"): hits}), samples=4000, seed=1)
    half = 1.96 * math.sqrt(0.3 * 0.7 / 400)
    assert interval.value == 0.3
    assert interval.low == pytest.approx(0.3 - half, abs=0.01)
    assert interval.high == pytest.approx(0.3 + half, abs=0.01)


def test_a_sentence_is_resampled_in_every_pair_at_once():
    # 10 pairs whose hits are the same sentences: 100 sentences carry the information, not
    # 1000 queries, so the interval is as wide as one pair's (resampling queries one by one
    # would make it sqrt(10) times narrower)
    hits = [n < 50 for n in range(100)]
    languages = ["a", "b", "c", "d", "e"]
    pairs = [(q, c) for q in languages for c in languages if q < c]
    together = mean_r1_interval(result_of(dict.fromkeys(pairs, hits)), samples=4000, seed=2)
    half = 1.96 * math.sqrt(0.25 / 100)
    assert together.high - together.low == pytest.approx(2 * half, rel=0.15)


def test_the_mean_is_the_results_mean_over_pairs_with_several_recordings(tmp_path):
    # multi-positive: languages hold different numbers of recordings, so pairs count
    # different numbers of queries; the mean is over pairs, as RetrievalResult.mean says
    rng = np.random.default_rng(5)
    counts = {"en": 6, "fr": 9, "de": 7}
    embeddings, sentences = {}, {}
    for lang, count in counts.items():
        said = [f"t{n % 4}" for n in range(count)]
        base = np.eye(4, dtype=np.float32)[[int(s[1]) for s in said]]
        frames = np.repeat(base + rng.normal(0, 0.9, base.shape).astype(np.float32), 2, axis=0)
        embeddings[lang] = (
            [f"{lang}{n}" for n in range(count)],
            PackedSequences.from_lengths(frames, [2] * count),
        )
        sentences[lang] = said
    result = evaluate_embeddings(embeddings, "avgsim", sentences=sentences)
    assert 0 < result.mean("r@1") < 1
    assert mean_r1_interval(result).value == pytest.approx(result.mean("r@1"), abs=1e-12)


def test_a_result_compared_with_itself_differs_by_nothing():
    result = result_of({("en", "fr"): [True, False, True], ("fr", "en"): [False, True, True]})
    comparison = compare_results(result, result, samples=200)
    assert (comparison.difference, comparison.low, comparison.high) == (0.0, 0.0, 0.0)
    assert comparison.p_bootstrap == 1.0 and comparison.p_mcnemar == 1.0
    assert (comparison.only_first, comparison.only_second, comparison.queries) == (0, 0, 6)


def test_a_clear_difference_is_significant_both_ways():
    # 200 queries; the first gets 30 more right and none fewer
    first = [n < 100 for n in range(200)]
    second = [n < 70 for n in range(200)]
    better, worse = result_of({("en", "fr"): first}), result_of({("en", "fr"): second})
    comparison = compare_results(better, worse, samples=2000)
    assert comparison.difference == pytest.approx(0.15)
    assert (comparison.only_first, comparison.only_second) == (30, 0)
    assert comparison.p_mcnemar == pytest.approx(2 * 0.5**30)
    assert 0 < comparison.low < 0.15 < comparison.high
    assert comparison.p_bootstrap == pytest.approx(1 / 2001 * 2)  # no resample reaches 0
    reverse = compare_results(worse, better, samples=2000)
    assert reverse.difference == pytest.approx(-0.15)
    assert (reverse.low, reverse.high) == pytest.approx((-comparison.high, -comparison.low))


def test_results_of_other_queries_are_refused_naming_one():
    first = result_of({("en", "fr"): [True, True, False]})
    second = result_of({("en", "fr"): [True, True]})
    with pytest.raises(SignificanceError, match=r"the second lacks the query 's2' of en -> fr"):
        compare_results(first, second)


def test_a_result_without_ranks_has_nothing_to_test():
    empty = RetrievalResult(["en", "fr"], pd.DataFrame(), pd.DataFrame(), {"metric": "x"})
    with pytest.raises(SignificanceError, match="has no per-query ranks to test"):
        query_hits(empty)
    assert result_significance(empty) is None


def test_pooled_rows_are_left_out_and_index_misses_are_misses():
    ranks = pd.DataFrame(
        {
            "query_lang": ["en", "en", "en", "en"],
            "candidate_lang": ["fr", "fr", "pooled", "pooled"],
            "id": ["s1", "s2", "s1", "s2"],
            "rank": [1, float("inf"), 1, 1],
        }
    )
    hits = query_hits(RetrievalResult(["en", "fr"], pd.DataFrame(), ranks))
    assert hits["hit"].tolist() == [True, False]


def test_the_record_names_each_compared_result():
    first = result_of({("en", "fr"): [True, True, False, False]})
    second = result_of({("en", "fr"): [True, False, False, False]})
    record = result_significance(first, {"avgsim_layer6": second}, samples=100).to_dict()
    assert record["seed"] == 3 and record["samples"] == 100
    assert record["mean_r@1"]["value"] == 0.5
    (compared,) = record["comparisons"]
    assert compared["name"] == "avgsim_layer6" and compared["difference"] == 0.25
    assert (compared["only_first"], compared["only_second"]) == (1, 0)
