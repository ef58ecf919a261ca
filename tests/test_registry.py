import importlib.util
import inspect
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pytest
import torch
from helpers import random_sequences

from seqsim import (
    AvgSim,
    DTWSim,
    Metric,
    OTSim,
    PackedSequences,
    SeqSim,
    available_metrics,
    functional,
    get_metric,
    register_metric,
)
from seqsim.kernels import BlockKernels, choose_kernel
from seqsim.metrics import KernelMetric
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


# which block kernel runs where: the table of docs/metrics.md ("Backends and memory")

TRITON_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # conftest sets TRITON_INTERPRET
KERNEL_TABLE = [
    # registry name, options: kernel that runs on numba, torch (CPU), triton
    ("seqsim", {}, ("numba", "torch", "triton")),
    ("avgsim", {}, ("numba", "torch", "torch")),
    ("dtw", {}, ("numba", "torch", "triton")),
    ("dtw", {"normalization": "path", "window": 3}, ("numba", "torch", "triton")),
    ("dtw", {"method": "fastdtw"}, ("numba", "numba", "numba")),
    ("ot", {}, ("numba", "numba", "numba")),
    ("ot", {"solver": "sinkhorn"}, ("numba", "torch", "torch")),
    ("ot", {"solver": "sinkhorn", "log_domain": True}, ("numba", "torch", "torch")),
]


def test_the_table_covers_every_builtin_metric():
    builtin = {n for n in available_metrics() if _REGISTRY[n].__module__.startswith("seqsim.")}
    assert builtin == {name for name, _, _ in KERNEL_TABLE}


@pytest.mark.parametrize(("name", "options", "expected"), KERNEL_TABLE)
def test_kernel_choice_table(name, options, expected):
    backends = [("numba", None), ("torch", "cpu")]
    if importlib.util.find_spec("triton") is not None:
        backends.append(("triton", TRITON_DEVICE))
    for (backend, device), kernel in zip(backends, expected, strict=False):
        metric = get_metric(name, backend=backend, device=device, **options)
        choice = choose_kernel(metric.kernels, metric.backend)
        assert choice.kernel == kernel, f"{name} {options} on {backend}"
        assert choice.device == (
            torch.device("cpu") if kernel == "numba" else metric.backend.device
        )


def recall_tiles(queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
    """SeqSim's recall, by numpy on unit frames: a user's CPU-only block scorer."""
    assert isinstance(queries.frames, np.ndarray) and isinstance(candidates.frames, np.ndarray)
    cosines = queries.frames @ candidates.frames.T
    return np.array(
        [
            [cosines[q0:q1, c0:c1].max(axis=1).mean() for c0, c1 in pairwise(candidates.offsets)]
            for q0, q1 in pairwise(queries.offsets)
        ]
    )[None]


@dataclass(eq=False, repr=False)
class ScaledRecall(KernelMetric):
    """A user metric with one option and a numba kernel only."""

    scale: float = 1.0
    kernels = BlockKernels(numba=recall_tiles)

    def similarities(self, scores: np.ndarray) -> np.ndarray:
        return self.scale * scores[0]


def test_a_user_metric_with_only_a_numba_kernel_runs_on_every_backend(backend_options):
    rng = np.random.default_rng(1)
    queries = random_sequences(rng, 5, 6, max_len=12)
    candidates = random_sequences(rng, 4, 6, max_len=12)
    register_metric("scaled_recall")(ScaledRecall)
    metric = get_metric("scaled_recall", scale=2.0, **backend_options)
    assert choose_kernel(metric.kernels, metric.backend).kernel == "numba"
    expected = SeqSim("recall", backend="numba").matrix(queries, candidates)
    np.testing.assert_allclose(metric.matrix(queries, candidates), 2 * expected, atol=1e-6)
    tiny_blocks = get_metric("scaled_recall", working_memory=1e-4, **backend_options)
    np.testing.assert_allclose(tiny_blocks.matrix(queries, candidates), expected, atol=1e-6)
    assert metric.settings() == {"metric": "scaled_recall", "scale": 2.0}


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
