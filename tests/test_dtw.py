import numpy as np
import pytest
from fastdtw import fastdtw
from helpers import random_sequences
from references import cosine_matrix, dtw_reference

from seqsim import DTWSim


def test_hand_computed_costs(backend_options):
    # x = (e1, e2), y = (e1, e1, e2): the path e1-e1, e1-e1, e2-e2 costs 0.
    e1, e2 = [1.0, 0.0], [0.0, 1.0]
    x = np.array([e1, e2], dtype=np.float32)
    y = np.array([e1, e1, e2], dtype=np.float32)
    assert DTWSim(**backend_options)(x, y) == pytest.approx(0.0, abs=1e-7)
    # x = (e1,), y = (e2, e1): the only path visits both cells: cost 1 + 0.
    z = np.array([e2, e1], dtype=np.float32)
    single = x[:1]
    assert DTWSim("none", **backend_options)(single, z) == pytest.approx(-1.0, abs=1e-7)
    assert DTWSim("sum", **backend_options)(single, z) == pytest.approx(-1 / 3, abs=1e-7)
    assert DTWSim("path", **backend_options)(single, z) == pytest.approx(-1 / 2, abs=1e-7)


@pytest.mark.parametrize("normalization", ["none", "sum", "path"])
@pytest.mark.parametrize("window", [None, 0, 3])
def test_matches_plain_dynamic_programme(backend_options, normalization, window):
    rng = np.random.default_rng(7)
    queries = random_sequences(rng, 5, 6, max_len=18)
    candidates = random_sequences(rng, 4, 6, max_len=18)
    matrix = DTWSim(normalization, window=window, **backend_options).matrix(queries, candidates)
    for i, x in enumerate(queries):
        for j, y in enumerate(candidates):
            total, path_length = dtw_reference(1.0 - cosine_matrix(x, y), window)
            divisor = {"none": 1, "sum": len(x) + len(y), "path": path_length}[normalization]
            assert matrix[i, j] == pytest.approx(-total / divisor, abs=1e-5)


def test_band_raises_cost_when_warping_is_needed(backend_options):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((12, 4)).astype(np.float32)
    y = np.concatenate([x[:1].repeat(3, axis=0), x[:9]])  # x delayed by 3 frames, same length
    free = DTWSim("none", **backend_options)(x, y)
    wide_enough = DTWSim("none", window=3, **backend_options)(x, y)
    diagonal_only = DTWSim("none", window=0, **backend_options)(x, y)
    assert wide_enough == pytest.approx(free, abs=1e-6)
    assert diagonal_only < free - 0.5


def test_fastdtw_option_equals_fastdtw_package():
    rng = np.random.default_rng(9)
    queries = random_sequences(rng, 3, 5, min_len=4)
    candidates = random_sequences(rng, 3, 5, min_len=4)
    matrix = DTWSim("none", method="fastdtw", radius=2).matrix(queries, candidates)
    for i, x in enumerate(queries):
        for j, y in enumerate(candidates):
            ux = x / np.linalg.norm(x, axis=1, keepdims=True)
            uy = y / np.linalg.norm(y, axis=1, keepdims=True)
            expected, _ = fastdtw(ux, uy, radius=2, dist=lambda a, b: 1 - float(np.dot(a, b)))
            assert matrix[i, j] == pytest.approx(-expected, abs=1e-5)


def test_device_backends_equal_numba_on_long_unequal_sequences(device_backend_options):
    rng = np.random.default_rng(10)
    queries = random_sequences(rng, 2, 16, min_len=60, max_len=150)
    candidates = random_sequences(rng, 3, 16, min_len=1, max_len=150)
    for options in ({}, {"normalization": "path", "window": 20}):
        by_numba = DTWSim(**options, backend="numba").matrix(queries, candidates)
        by_backend = DTWSim(**options, **device_backend_options).matrix(queries, candidates)
        np.testing.assert_allclose(by_backend, by_numba, atol=1e-5)


def test_device_backends_handle_whisper_length_sequences(device_backend_options):
    """30 s of speech is 1500 encoder frames: the longest sequence the issue asks for."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1500, 8)).astype(np.float32)
    y = rng.standard_normal((1400, 8)).astype(np.float32)
    by_numba = DTWSim("path", backend="numba")(x, y)
    assert DTWSim("path", **device_backend_options)(x, y) == pytest.approx(by_numba, abs=1e-6)


def test_rejects_bad_options():
    with pytest.raises(ValueError, match="normalization"):
        DTWSim("mean")
    with pytest.raises(ValueError, match="window"):
        DTWSim(window=-1)
    with pytest.raises(ValueError, match="method"):
        DTWSim(method="approximate")
