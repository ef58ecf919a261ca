import numpy as np
import pytest

from seqsim import Metric, SeqSim, available_metrics, get_metric, register_metric
from seqsim.metrics.base import _REGISTRY


@pytest.fixture(autouse=True)
def restore_registry():
    saved = dict(_REGISTRY)
    yield
    _REGISTRY.clear()
    _REGISTRY.update(saved)


def test_builtin_metrics_are_registered():
    assert {"seqsim", "avgsim", "dtw", "ot"} <= set(available_metrics())
    assert get_metric("dtw", normalization="path").normalization == "path"


def test_unknown_metric_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown metric 'cosine'.*avgsim, dtw, ot, seqsim"):
        get_metric("cosine")


def test_register_a_plain_function():
    @register_metric("first_frame_cosine")
    def first_frame_cosine(x: np.ndarray, y: np.ndarray) -> float:
        return float(x[0] @ y[0] / np.linalg.norm(x[0]) / np.linalg.norm(y[0]))

    metric = get_metric("first_frame_cosine")
    x = np.array([[1.0, 0.0], [5.0, 5.0]], dtype=np.float32)
    y = np.array([[1.0, 1.0]], dtype=np.float32)
    assert metric(x, y) == pytest.approx(1 / np.sqrt(2))
    assert metric.matrix([x, y], [y]).shape == (2, 1)
    with pytest.raises(ValueError, match=r"queries\[0\] is empty"):
        metric.matrix([x[:0]], [y])


def test_register_a_metric_class_and_refuse_silent_overwrite():
    @register_metric("frame_count_gap")
    class FrameCountGap(Metric):
        def matrix(self, queries, candidates):
            return -np.abs(
                np.array([len(q) for q in queries])[:, None]
                - np.array([len(c) for c in candidates])
            ).astype(float)

    assert get_metric("frame_count_gap")(np.ones((3, 2)), np.ones((5, 2))) == -2.0
    with pytest.raises(ValueError, match="registered already"):
        register_metric("seqsim")(SeqSim)
    with pytest.raises(TypeError, match="cannot register"):
        register_metric("number")(3)


@pytest.mark.parametrize(
    "metric",
    [
        SeqSim(),
        SeqSim("precision"),
        get_metric("avgsim"),
        get_metric("dtw"),
        get_metric("dtw", normalization="path"),
        get_metric("ot"),
        get_metric("ot", solver="sinkhorn"),
    ],
    ids=repr,
)
def test_declared_symmetry_holds(metric):
    rng = np.random.default_rng(0)
    a = [rng.standard_normal((int(n), 6)).astype(np.float32) for n in rng.integers(2, 15, size=4)]
    b = [rng.standard_normal((int(n), 6)).astype(np.float32) for n in rng.integers(2, 15, size=3)]
    forward, backward = metric.matrix(a, b), metric.matrix(b, a).T
    if metric.symmetric:
        np.testing.assert_allclose(forward, backward, atol=1e-6)
    elif isinstance(metric, SeqSim):
        assert not np.allclose(forward, backward, atol=1e-3)  # precision is recall swapped
