import numpy as np
import ot
import pytest
from helpers import random_sequences
from references import cosine_matrix

from seqsim import OTSim


def uniform(n: int) -> np.ndarray:
    return np.full(n, 1.0 / n)


def test_hand_computed_transport(backend_options):
    # Two frames e1, e2 against one frame e1: half the mass moves at cost 1.
    x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    y = np.array([[1.0, 0.0]], dtype=np.float32)
    assert OTSim(**backend_options)(x, y) == pytest.approx(0.5, abs=1e-7)


def test_exact_equals_pot_emd2(backend_options):
    rng = np.random.default_rng(11)
    queries = random_sequences(rng, 5, 10, max_len=25)
    candidates = random_sequences(rng, 4, 10, max_len=25)
    matrix = OTSim(**backend_options).matrix(queries, candidates)
    for i, x in enumerate(queries):
        for j, y in enumerate(candidates):
            cost = 1.0 - cosine_matrix(x, y)
            expected = 1.0 - ot.emd2(uniform(len(x)), uniform(len(y)), cost)
            assert matrix[i, j] == pytest.approx(expected, abs=1e-6)


def test_sinkhorn_equals_pot_log_sinkhorn(backend_options):
    rng = np.random.default_rng(12)
    queries = random_sequences(rng, 4, 10, max_len=25)
    candidates = random_sequences(rng, 3, 10, max_len=25)
    metric = OTSim("sinkhorn", reg=0.1, max_iter=5000, tol=1e-10, **backend_options)
    matrix = metric.matrix(queries, candidates)
    for i, x in enumerate(queries):
        for j, y in enumerate(candidates):
            cost = 1.0 - cosine_matrix(x, y)
            expected = ot.sinkhorn2(
                uniform(len(x)),
                uniform(len(y)),
                cost,
                reg=0.1,
                method="sinkhorn_log",
                numItermax=5000,
                stopThr=1e-12,
            )
            assert matrix[i, j] == pytest.approx(1.0 - float(expected), abs=1e-6)


def test_sinkhorn_approaches_exact_as_reg_shrinks():
    rng = np.random.default_rng(13)
    x, y = random_sequences(rng, 2, 8, min_len=10)
    exact = OTSim()(x, y)
    gaps = [
        abs(OTSim("sinkhorn", reg=reg, max_iter=20000)(x, y) - exact) for reg in (0.2, 0.05, 0.01)
    ]
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 5e-3


def test_sinkhorn_backends_agree_with_mixed_convergence_speeds():
    rng = np.random.default_rng(14)
    queries = random_sequences(rng, 6, 12, max_len=40)
    candidates = random_sequences(rng, 5, 12, max_len=40)
    for reg in (0.02, 0.1):
        by_numba = OTSim("sinkhorn", reg=reg, backend="numba").matrix(queries, candidates)
        by_torch = OTSim("sinkhorn", reg=reg, backend="torch", device="cpu").matrix(
            queries, candidates
        )
        np.testing.assert_allclose(by_numba, by_torch, atol=1e-5)


def test_rejects_bad_options():
    with pytest.raises(ValueError, match="solver"):
        OTSim("greenkhorn")
    with pytest.raises(ValueError, match="reg must be at least"):
        OTSim("sinkhorn", reg=0.001)
    with pytest.raises(ValueError, match="max_iter"):
        OTSim("sinkhorn", max_iter=0)


def test_log_domain_follows_the_scaling_iterates(backend_options):
    rng = np.random.default_rng(15)
    queries = random_sequences(rng, 4, 12, max_len=30)
    candidates = random_sequences(rng, 3, 12, max_len=30)
    scaling = OTSim("sinkhorn", reg=0.05, backend="numba").matrix(queries, candidates)
    logged = OTSim("sinkhorn", reg=0.05, log_domain=True, **backend_options).matrix(
        queries, candidates
    )
    np.testing.assert_allclose(logged, scaling, atol=1e-5)  # float32 in torch, float64 in numba


def test_log_domain_reaches_small_regularisers(backend_options):
    rng = np.random.default_rng(16)
    x, y = random_sequences(rng, 2, 8, min_len=10)
    exact = OTSim()(x, y)
    with pytest.raises(ValueError, match="pass log_domain=True"):
        OTSim("sinkhorn", reg=0.001)
    small = OTSim("sinkhorn", reg=0.001, log_domain=True, max_iter=20000, **backend_options)(x, y)
    assert np.isfinite(small) and abs(small - exact) < 2e-3
