import inspect

import numpy as np
import pytest
import torch
from metric_tester import ScaledRecall

from seqsim import (
    AvgSim,
    DTWSim,
    Metric,
    OTSim,
    SeqSim,
    available_metrics,
    functional,
    get_metric,
    register_metric,
)

pytestmark = pytest.mark.usefixtures("restore_metric_registry")


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


def test_a_user_kernel_metric_lists_its_options_in_settings():
    """The metric harness (metric_tester.py) scores this user metric on every backend."""
    register_metric("scaled_recall")(ScaledRecall)
    metric = get_metric("scaled_recall", scale=2.0, backend="torch", device="cpu")
    assert metric.settings() == {"metric": "scaled_recall", "scale": 2.0}
    assert repr(metric) == "ScaledRecall(scale=2.0, backend='torch:cpu')"


# each option is declared once, on the class: constructor, function, settings and repr agree

SETTINGS = [
    (SeqSim(), {"output": "f1"}),
    (AvgSim(), {}),
    (DTWSim(), {"normalization": "sum", "window": None, "method": "exact", "radius": 1}),
    (
        OTSim(),
        {"solver": "exact", "reg": 0.05, "max_iter": 1000, "tol": 1e-6, "log_domain": False},
    ),
]


@pytest.mark.parametrize(("metric", "options"), SETTINGS, ids=repr)
def test_settings_repr_and_function_share_the_options(metric, options):
    assert metric.settings() == {"metric": metric.name, **options}
    shown = "".join(f"{k}={v!r}, " for k, v in options.items())
    assert repr(metric) == f"{type(metric).__name__}({shown}backend='{metric.backend}')"
    function = getattr(functional, f"{metric.name}_matrix")
    parameters = list(inspect.signature(function).parameters)
    run_options = ["backend", "device", "working_memory", "progress"]
    assert parameters == ["queries", "candidates", *options, *run_options]
    x = np.ones((3, 4), np.float32)
    assert function([x], [x], backend="numba")[0, 0] == metric.matrix([x], [x])[0, 0]


def test_a_metric_rebuilt_on_a_worker_keeps_its_options_and_resolves_auto_there(monkeypatch):
    """What a cluster worker runs of a metric built on a machine without a GPU."""
    built_here = get_metric("dtw", window=4)
    assert built_here.backend.name == "numba"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the worker has a GPU
    on_worker = built_here.resolved_here()
    assert type(on_worker) is type(built_here) and on_worker.window == 4
    assert (on_worker.backend.name, on_worker.backend.device.type) == ("torch", "cuda")
    pinned = get_metric("seqsim", backend="numba", working_memory=8).resolved_here()
    assert pinned.backend.name == "numba" and pinned.working_memory == 8
