import numpy as np
import pytest
from helpers import random_sequences

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


@pytest.mark.parametrize("dim", [2, 4])
def test_path_normalization_tie_rule(backend_options, dim):
    """docs/metrics.md: among equal-cost paths the diagonal predecessor wins, then (i-1, j),
    then (i, j-1). x = (e1, e1), y = (e2, e1), so the cost 1 - x_i . y_j is

        c = [[1, 0],
             [1, 0]]

    D(0,0) = 1, D(0,1) = 1 + 0 = 1, D(1,0) = 1 + 1 = 2, and
    D(1,1) = 0 + min(D(0,0) = 1 [diagonal], D(0,1) = 1 [(i-1, j)], D(1,0) = 2 [(i, j-1)]) = 1:
    a tie between (0,0) -> (1,1), 2 cells, and (0,0) -> (0,1) -> (1,1), 3 cells. The diagonal
    wins: -1/2 ("none" -1 and "sum" -1/4 do not depend on the path). Preferring (i-1, j) over
    the diagonal would give -1/3. Swapped, y against x, the tie in (1,1) is between the
    diagonal (D = 1) and (i, j-1) (D(1,0) = 1 + 0), and the diagonal wins again: -1/2.
    The pair is also scored inside a batch with longer sequences (padding on torch/triton).
    """
    e1, e2 = np.eye(dim, dtype=np.float32)[:2]
    x, y = np.stack([e1, e1]), np.stack([e2, e1])
    path = DTWSim("path", **backend_options)
    assert path(x, y) == -0.5
    assert path(y, x) == -0.5
    batched = path.matrix([x, np.tile(x, (4, 1))], [np.tile(y, (3, 1)), y])
    assert batched[0, 1] == -0.5
    assert DTWSim("none", **backend_options)(x, y) == -1.0
    assert DTWSim("sum", **backend_options)(x, y) == -0.25


def test_band_raises_cost_when_warping_is_needed(backend_options):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((12, 4)).astype(np.float32)
    y = np.concatenate([x[:1].repeat(3, axis=0), x[:9]])  # x delayed by 3 frames, same length
    free = DTWSim("none", **backend_options)(x, y)
    wide_enough = DTWSim("none", window=3, **backend_options)(x, y)
    diagonal_only = DTWSim("none", window=0, **backend_options)(x, y)
    assert wide_enough == pytest.approx(free, abs=1e-6)
    assert diagonal_only < free - 0.5


@pytest.mark.parametrize(
    ("normalization", "expected"), [("none", -2.0), ("sum", -2 / 5), ("path", -2 / 4)]
)
def test_fastdtw_hand_computed(backend_options, normalization, expected):
    """fastdtw runs its full DTW when a sequence is shorter than radius + 2 (fastdtw.py:
    ``if len(x) < min_time_size or len(y) < min_time_size: return dtw(x, y, dist=dist)``), so
    here it is exact. x = (e1, e2) (2 frames < 1 + 2), y = (e2, e1, e1); cost 1 - x_i . y_j:

        c = [[1, 0, 0],
             [0, 1, 1]]

    Every path starts in (0, 0) and ends in (1, 2), each of cost 1, and (0,0) -> (0,1) -> (1,2)
    adds nothing: D = 2, so -2 ("none") and -2 / (2 + 3) ("sum"). For "path", fastdtw's own
    tie rule counts: its ``min`` over (D[i-1, j], D[i, j-1], D[i-1, j-1]) keeps the first of
    equal costs, so in (1, 2) it takes (0, 2) (cost 1 + 0 + 0 = 1) over the diagonal (0, 1)
    (cost 1 + 0): the path (0,0), (0,1), (0,2), (1,2) of 4 cells, -2/4. (Exact DTW prefers the
    diagonal: 3 cells, -2/3, checked below.) It runs on every backend, as the numba fallback.
    """
    e1, e2 = [1.0, 0.0], [0.0, 1.0]
    x = np.array([e1, e2], dtype=np.float32)
    y = np.array([e2, e1, e1], dtype=np.float32)
    metric = DTWSim(normalization, method="fastdtw", radius=1, **backend_options)
    assert metric(x, y) == pytest.approx(expected, abs=1e-12)
    if normalization == "path":
        assert DTWSim("path", **backend_options)(x, y) == pytest.approx(-2 / 3, abs=1e-7)


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
