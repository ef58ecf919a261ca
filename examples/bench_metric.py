"""Benchmark a metric with pytest-benchmark, next to a naive numpy implementation.

Both compute the SeqSim matrix of the same random sequences (Q queries x R candidates of
40-160 frames, d = 512, like whisper-base frames): ``SeqSim().matrix`` (one GEMM per block of
packed frames, then numba kernels over all pairs) and a loop over pairs in numpy. Each test
first checks that its result equals the naive one; the table that pytest-benchmark prints
puts them in one group, so their ratio shows in parentheses. Swap in your own metric (any
``get_metric`` name, or your registered one) to time it the same way.

Run (pytest-benchmark comes with the ``dev`` extra)::

    python -m pytest examples/bench_metric.py
    BENCH_SEQUENCES=4 python -m pytest examples/bench_metric.py --benchmark-min-rounds=1
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from seqsim import SeqSim

SEQUENCES = int(os.environ.get("BENCH_SEQUENCES", "16"))
"""Queries, and candidates: SEQUENCES x SEQUENCES pairs are scored per round."""


def naive_seqsim_matrix(queries: list[np.ndarray], candidates: list[np.ndarray]) -> np.ndarray:
    """SeqSim of every pair, one pair at a time: the F1 of the mean best cosines."""
    scores = np.zeros((len(queries), len(candidates)))
    for i, x in enumerate(queries):
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        for j, y in enumerate(candidates):
            y = y / np.linalg.norm(y, axis=1, keepdims=True)
            cosines = x @ y.T
            recall, precision = cosines.max(axis=1).mean(), cosines.max(axis=0).mean()
            scores[i, j] = 2 * precision * recall / (precision + recall)
    return scores


@pytest.fixture(scope="module")
def sequences() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)

    def make() -> list[np.ndarray]:
        lengths = rng.integers(40, 161, size=SEQUENCES)
        return [rng.standard_normal((n, 512)).astype(np.float32) for n in lengths]

    return make(), make()


@pytest.fixture(scope="module")
def expected(sequences: tuple[list[np.ndarray], list[np.ndarray]]) -> np.ndarray:
    return naive_seqsim_matrix(*sequences)


@pytest.mark.benchmark(group="SeqSim matrix")
def test_naive_numpy(benchmark, sequences, expected) -> None:
    result = benchmark(naive_seqsim_matrix, *sequences)
    np.testing.assert_allclose(result, expected)


@pytest.mark.benchmark(group="SeqSim matrix")
def test_seqsim_numba(benchmark, sequences, expected) -> None:
    metric = SeqSim(backend="numba")
    metric.matrix(*sequences)  # compiled (or loaded from numba's cache) before timing
    result = benchmark(metric.matrix, *sequences)
    np.testing.assert_allclose(result, expected, atol=1e-5)
