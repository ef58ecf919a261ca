"""Sinkhorn OT says when it stops at ``max_iter`` unconverged (seqsim issue 12).

The reference is POT's own Sinkhorn, run for exactly ``t`` updates (``stopThr=0``) on the
transposed problem (POT scales the columns, then the rows; OTSim the rows, then the columns),
whose plan's row-marginal L1 error is recomputed here: a pair converges at the first ``t`` in
``1..max_iter`` whose error is below ``tol``, and scores ``1 - <plan_t, cost>`` there.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import ot
import pytest
from helpers import random_sequences
from references import cosine_matrix

from seqsim import OTSim, PackedSequences, SinkhornConvergenceWarning
from seqsim.evaluation import evaluate_embeddings
from seqsim.report import write_report
from seqsim.search import SequenceIndex

REG = 0.1


def pot_plans(x: np.ndarray, y: np.ndarray, updates: int) -> list[tuple[float, float]]:
    """(row-marginal L1 error, transport cost) of POT's plan after 1, 2, ... ``updates``."""
    cost = 1.0 - cosine_matrix(x, y)
    n, m = cost.shape
    steps = []
    for t in range(1, updates + 1):
        plan = ot.sinkhorn(
            np.full(m, 1 / m), np.full(n, 1 / n), cost.T, REG, numItermax=t, stopThr=0.0, warn=False
        ).T
        steps.append((float(np.abs(plan.sum(axis=1) - 1 / n).sum()), float((plan * cost).sum())))
    return steps


def reference(
    queries: list[np.ndarray], candidates: list[np.ndarray], max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """Similarities and converged flags (Q, R) under OTSim's stopping rule."""
    similarity = np.empty((len(queries), len(candidates)))
    converged = np.zeros(similarity.shape, dtype=bool)
    for i, x in enumerate(queries):
        for j, y in enumerate(candidates):
            steps = pot_plans(x, y, max_iter)
            stop = next((t for t, (error, _) in enumerate(steps) if error < tol), None)
            converged[i, j] = stop is not None
            similarity[i, j] = 1.0 - steps[max_iter - 1 if stop is None else stop][1]
    return similarity, converged


def tol_between_errors(queries, candidates, max_iter: int) -> float:
    """A ``tol`` that about half the pairs reach within ``max_iter`` and half do not, far from
    every pair's smallest error (so float32 arithmetic cannot move a pair across it)."""
    smallest = np.sort(
        [min(e for e, _ in pot_plans(x, y, max_iter)) for x in queries for y in candidates]
    )
    middle = np.arange(len(smallest) // 4, 3 * len(smallest) // 4)
    gap = middle[np.argmax(smallest[middle + 1] / smallest[middle])]
    assert smallest[gap + 1] / smallest[gap] > 1.05
    return float(np.sqrt(smallest[gap] * smallest[gap + 1]))


def scored(metric: OTSim, queries, candidates) -> tuple[np.ndarray, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        similarity = metric.matrix(queries, candidates)
    return similarity, [w for w in caught if w.category is SinkhornConvergenceWarning]


def message(unconverged: int, pairs: int, max_iter: int, tol: float) -> str:
    return (
        f"OTSim: Sinkhorn did not converge for {unconverged:,} of {pairs:,} pairs within "
        f"max_iter={max_iter} (tol={tol:g}); raise max_iter or reg"
    )


@pytest.mark.parametrize("log_domain", [False, True], ids=["scaling", "log"])
@pytest.mark.parametrize("max_iter", [1, 3])
def test_unconverged_pairs_are_counted_and_warned_once(backend_options, log_domain, max_iter):
    rng = np.random.default_rng(max_iter)
    queries = random_sequences(rng, 5, 6, 2, 7)
    candidates = random_sequences(rng, 6, 6, 2, 7)
    tol = tol_between_errors(queries, candidates, max_iter)
    expected, converged = reference(queries, candidates, max_iter, tol)
    unconverged = int((~converged).sum())
    assert 0 < unconverged < 30

    metric = OTSim(
        "sinkhorn", reg=REG, max_iter=max_iter, tol=tol, log_domain=log_domain, **backend_options
    )
    similarity, caught = scored(metric, queries, candidates)

    assert [str(w.message) for w in caught] == [message(unconverged, 30, max_iter, tol)]
    assert caught[0].filename == __file__  # names the caller's line, not seqsim's
    assert metric.diagnostics() == {"sinkhorn_unconverged_pairs": unconverged, "pairs": 30}
    np.testing.assert_allclose(similarity, expected, atol=2e-6)


@pytest.mark.parametrize("log_domain", [False, True], ids=["scaling", "log"])
def test_converged_calls_do_not_warn_and_score_the_converged_plan(backend_options, log_domain):
    rng = np.random.default_rng(7)
    queries = random_sequences(rng, 3, 6, 2, 7)
    candidates = random_sequences(rng, 4, 6, 2, 7)
    metric = OTSim(
        "sinkhorn", reg=REG, max_iter=5000, tol=1e-5, log_domain=log_domain, **backend_options
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", SinkhornConvergenceWarning)
        similarity = metric.matrix(queries, candidates)
        similarity = metric.matrix(queries, candidates)  # totals add up over calls
    assert metric.diagnostics() == {"sinkhorn_unconverged_pairs": 0, "pairs": 24}
    for i, x in enumerate(queries):
        for j, y in enumerate(candidates):
            cost = 1.0 - cosine_matrix(x, y)
            a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
            optimum = ot.sinkhorn2(a, b, cost, REG, numItermax=100_000, stopThr=1e-13)
            assert similarity[i, j] == pytest.approx(1.0 - optimum, abs=1e-5)


def test_the_exact_solver_reports_nothing():
    rng = np.random.default_rng(8)
    metric = OTSim("exact", backend="numba")
    _, caught = scored(metric, random_sequences(rng, 2, 4), random_sequences(rng, 3, 4))
    assert caught == [] and metric.diagnostics() == {}


def packed(sequences: list[np.ndarray]) -> PackedSequences:
    return PackedSequences.from_lengths(np.concatenate(sequences), [len(s) for s in sequences])


def test_evaluation_records_the_count_of_its_own_run_in_results_json(tmp_path):
    rng = np.random.default_rng(11)
    ids = [f"s{k}" for k in range(4)]
    frames = {lang: random_sequences(rng, 4, 6, 2, 7) for lang in ("aa", "bb", "cc")}
    tol = tol_between_errors(frames["aa"], frames["bb"], 1)
    unconverged = {
        (q, c): int((~reference(frames[q], frames[c], 1, tol)[1]).sum())
        for q in frames
        for c in frames
        if q != c
    }
    assert 0 < sum(unconverged.values()) < 6 * 16
    embeddings = {lang: (ids, packed(sequences)) for lang, sequences in frames.items()}
    metric = OTSim("sinkhorn", reg=REG, max_iter=1, tol=tol, backend="numba")
    expected = {"sinkhorn_unconverged_pairs": sum(unconverged.values()), "pairs": 6 * 16}
    for _ in range(2):  # the same metric again (as for a second layer): its own run only
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = evaluate_embeddings(embeddings, metric)
        assert result.diagnostics == expected
        found = sorted(str(w.message) for w in caught if w.category is SinkhornConvergenceWarning)
        assert found == sorted(message(n, 16, 1, tol) for n in unconverged.values() if n)
    write_report(result, tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["diagnostics"] == expected
    assert "sinkhorn_unconverged_pairs" in (tmp_path / "report.md").read_text()
    assert "diagnostics" not in result.settings  # results, not settings: the hash is unchanged


@pytest.mark.parametrize("exhaustive", [False, True], ids=["rerank", "exhaustive"])
def test_index_search_counts_the_pairs_it_scores(exhaustive):
    rng = np.random.default_rng(12)
    corpus = random_sequences(rng, 12, 8, 2, 7)
    queries = random_sequences(rng, 3, 8, 2, 7)
    metric = OTSim("sinkhorn", reg=REG, max_iter=1, tol=1e-12, backend="numba")
    index = SequenceIndex(metric, generator="mean", candidates=12)
    index.add(corpus)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index.search(queries, 5, exhaustive=exhaustive)
    assert not reference(queries, corpus, 1, 1e-12)[1].any()  # every pair is unconverged
    assert metric.diagnostics() == {"sinkhorn_unconverged_pairs": 36, "pairs": 36}
    warned = [w for w in caught if w.category is SinkhornConvergenceWarning]
    assert [str(w.message) for w in warned] == [message(36, 36, 1, 1e-12)]  # once per search
    assert warned[0].filename == __file__


def test_a_search_warns_once_with_the_unconverged_pairs_of_all_its_queries(monkeypatch):
    """Each query's rerank is one scoring call (and each block of an exhaustive search): the
    search sums them and warns once. The count is POT's, pair by pair, over every query."""
    from seqsim.distributed.scoring import _score_shortlists

    monkeypatch.setattr("seqsim.search.index.DEFAULT_CHUNK_QUERIES", 2)  # 3 chunks of queries
    rng = np.random.default_rng(13)
    corpus = random_sequences(rng, 6, 6, 2, 7)
    queries = random_sequences(rng, 5, 6, 2, 7)
    tol = tol_between_errors(queries, corpus, 1)
    converged = reference(queries, corpus, 1, tol)[1]
    per_query = (~converged).sum(axis=1)
    assert (per_query > 0).sum() >= 2  # several queries warn on their own: the sum tells
    expected = message(int(per_query.sum()), 30, 1, tol)
    found = {}
    for exhaustive in (False, True):
        metric = OTSim("sinkhorn", reg=REG, max_iter=1, tol=tol, backend="numba")
        index = SequenceIndex(metric, generator="mean", candidates=6)  # reranks all 6
        index.add(corpus)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found[exhaustive] = index.search(queries, 3, exhaustive=exhaustive)
        warned = [w for w in caught if w.category is SinkhornConvergenceWarning]
        assert [str(w.message) for w in warned] == [expected]
        assert warned[0].filename == __file__
        assert metric.diagnostics()["sinkhorn_unconverged_pairs"] == per_query.sum()

    # what a cluster worker runs for its queries' reranks: no warning there, the counts sent back
    with warnings.catch_warnings():
        warnings.simplefilter("error", SinkhornConvergenceWarning)
        shortlists = [np.arange(len(corpus))] * len(queries)
        task = (packed(queries), shortlists)
        scores, diagnostics = _score_shortlists((index.metric, index.sequences), task)
    assert diagnostics == {"sinkhorn_unconverged_pairs": per_query.sum(), "pairs": 30}
    np.testing.assert_array_equal(-np.sort(-np.array(scores))[:, :3], found[False][0])
