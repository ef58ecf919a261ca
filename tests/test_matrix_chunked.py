"""Chunk-and-reduce scoring (``seqsim.matrix_chunked``) and a metric's shortlist rerank
(``Metric.shortlist_scores``): the same numbers as the SeqSim formula and the full matrix,
whatever the chunking, with the solver's diagnostics recorded once per call."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import random_sequences

from seqsim import OTSim, SeqSim, SinkhornConvergenceWarning, matrix_chunked
from seqsim.metrics.base import pack_pair


def seqsim_by_formula(x: np.ndarray, y: np.ndarray) -> float:
    """F1 of R = mean_x max_y x.y and P = mean_y max_x x.y over L2-normalised frames."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    cosines = x @ y.T
    recall, precision = cosines.max(axis=1).mean(), cosines.max(axis=0).mean()
    return 2 * precision * recall / (precision + recall)


@pytest.fixture(scope="module")
def sides():
    rng = np.random.default_rng(21)
    return random_sequences(rng, 7, 5, 1, 6), random_sequences(rng, 4, 5, 1, 6)


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 100])
def test_chunks_are_the_rows_of_the_formula_and_reduce_sees_their_start(sides, chunk_size):
    queries, candidates = sides
    expected = np.array([[seqsim_by_formula(q, c) for c in candidates] for q in queries])
    starts = []

    def keep(scores, start):
        starts.append(start)
        return scores

    chunks = list(
        matrix_chunked(
            SeqSim(backend="numba"), queries, candidates, reduce_func=keep, chunk_size=chunk_size
        )
    )
    assert starts == list(range(0, len(queries), chunk_size))
    assert [len(chunk) for chunk in chunks] == [
        min(chunk_size, len(queries) - start) for start in starts
    ]
    np.testing.assert_allclose(np.concatenate(chunks), expected, atol=1e-6)


def test_a_reduction_is_all_that_is_kept(sides):
    queries, candidates = sides
    best = matrix_chunked(
        SeqSim(backend="numba"),
        queries,
        candidates,
        reduce_func=lambda scores, start: scores.argmax(axis=1),
        chunk_size=2,
    )
    by_formula = [np.argmax([seqsim_by_formula(q, c) for c in candidates]) for q in queries]
    assert np.concatenate(list(best)).tolist() == by_formula


def test_bad_input_fails_when_called_before_any_chunk(sides):
    queries, candidates = sides
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1, got 0"):
        matrix_chunked(SeqSim(), queries, candidates, chunk_size=0)
    with pytest.raises(ValueError, match=r"candidates\[0\] has dimension 3"):
        matrix_chunked(SeqSim(), queries, [np.ones((2, 3))])


def test_a_sinkhorn_ot_warns_once_for_all_chunks(sides):
    queries, candidates = sides
    metric = OTSim("sinkhorn", max_iter=1, tol=1e-12, backend="numba")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        list(matrix_chunked(metric, queries, candidates, chunk_size=2))  # 4 chunks
    warned = [w for w in caught if w.category is SinkhornConvergenceWarning]
    whole = OTSim("sinkhorn", max_iter=1, tol=1e-12, backend="numba")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        whole.matrix(queries, candidates)  # one call: the counts and the warning to match
    assert [str(w.message) for w in warned] == [str(w.message) for w in caught]
    assert metric.diagnostics() == whole.diagnostics()
    assert (
        0 < metric.diagnostics()["sinkhorn_unconverged_pairs"] < 28 == metric.diagnostics()["pairs"]
    )


def test_shortlist_scores_are_the_formulas_of_each_querys_own_candidates(sides):
    queries, candidates = sides
    shortlists = [np.array([3, 0]), np.array([1]), np.array([0, 1, 2, 3])] + [np.array([2])] * 4
    scores, diagnostics = SeqSim(backend="numba").shortlist_scores(
        *pack_pair(queries, candidates), shortlists
    )
    assert diagnostics == {}
    for query, (row, shortlist) in enumerate(zip(scores, shortlists, strict=True)):
        expected = [seqsim_by_formula(queries[query], candidates[c]) for c in shortlist]
        np.testing.assert_allclose(row, expected, atol=1e-6)
    with pytest.raises(ValueError, match="2 shortlists for 7 queries"):
        SeqSim().shortlist_scores(*pack_pair(queries, candidates), shortlists[:2])
