"""Speed of every metric's ``matrix`` on 200 x 200 sequences of ~150 frames, d = 512, next to
the naive or peer implementation in the same run. Run: ``python -m pytest benchmarks``.

Slow references run on a subset of the pairs; the summary compares pairs per second. The torch
backend runs on CUDA when a GPU is present (so DTW and Sinkhorn on the GPU are compared with
numba and POT on the CPU), else on the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fastdtw import fastdtw
from harness import measure, measure_matrix, pairwise_flops, pot_emd2_per_pair
from numba import njit

from seqsim import AvgSim, DTWSim, OTSim, SeqSim

GEMM_FRAMES = 8192
TORCH_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
ON_GPU = TORCH_DEVICE == "cuda"


def unit(frames: np.ndarray) -> np.ndarray:
    return frames / np.linalg.norm(frames, axis=1, keepdims=True)


# ---------------------------------------------------------------- the GEMM yardstick


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_gemm(benchmark, library):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((GEMM_FRAMES, 512)).astype(np.float32)
    b = rng.standard_normal((GEMM_FRAMES, 512)).astype(np.float32)
    if library == "torch":
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        function = lambda: ta @ tb.T  # noqa: E731
    else:
        function = lambda: a @ b.T  # noqa: E731
    measure(
        benchmark,
        function,
        group="gemm",
        name=f"one {library} matmul (CPU)",
        items=0,
        flops=2.0 * GEMM_FRAMES**2 * 512,
    )


# ---------------------------------------------------------------- SeqSim


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_seqsim(benchmark, corpus, backend):
    queries, candidates = corpus
    device = TORCH_DEVICE if backend == "torch" else None
    metric = SeqSim(backend=backend, device=device)
    measure_matrix(
        benchmark,
        metric,
        queries,
        candidates,
        group="seqsim",
        name=f"SeqSim, {metric.backend}",
        flops=pairwise_flops(queries, candidates),
        rounds=3 if backend == "numba" or ON_GPU else 1,
        yardstick="gemm" if metric.backend.device.type == "cpu" else "",  # GPU: test_scaling.py
    )


def naive_seqsim(queries, candidates):
    out = np.empty((len(queries), len(candidates)))
    for i, x in enumerate(queries):
        for j, y in enumerate(candidates):
            cos = unit(x) @ unit(y).T
            recall, precision = cos.max(axis=1).mean(), cos.max(axis=0).mean()
            out[i, j] = 2 * precision * recall / (precision + recall)
    return out


def test_seqsim_per_pair_numpy_loop(benchmark, corpus):
    queries, candidates = corpus[0][:50], corpus[1][:50]
    measure(
        benchmark,
        lambda: naive_seqsim(queries, candidates),
        group="seqsim",
        name="per-pair numpy loop",
        items=2500,
        flops=pairwise_flops(queries, candidates),
        baseline=True,
    )


# ---------------------------------------------------------------- AvgSim


def test_avgsim(benchmark, corpus):
    queries, candidates = corpus
    measure_matrix(
        benchmark,
        AvgSim(backend="numba"),
        queries,
        candidates,
        group="avgsim",
        name="AvgSim, numba",
        rounds=3,
    )


def test_avgsim_per_pair_numpy_loop(benchmark, corpus):
    queries, candidates = corpus

    def loop():
        return [
            [
                (unit(x.mean(0, keepdims=True)) @ unit(y.mean(0, keepdims=True)).T).item()
                for y in candidates
            ]
            for x in queries
        ]

    measure(benchmark, loop, group="avgsim", name="per-pair numpy loop", items=40000, baseline=True)


# ---------------------------------------------------------------- DTW


def test_dtw_numba(benchmark, corpus):
    queries, candidates = corpus
    measure_matrix(
        benchmark,
        DTWSim(backend="numba"),
        queries,
        candidates,
        group="dtw",
        name="DTWSim, numba",
        rounds=2,
    )


DEVICE_DTW_BACKENDS = ["torch", "triton"] if ON_GPU else ["torch"]


@pytest.mark.parametrize("backend", DEVICE_DTW_BACKENDS)
def test_dtw_on_device(benchmark, corpus, backend):
    size = 200 if ON_GPU else 40
    queries, candidates = corpus[0][:size], corpus[1][:size]
    metric = DTWSim(backend=backend, device=TORCH_DEVICE)
    measure_matrix(
        benchmark, metric, queries, candidates, group="dtw", name=f"DTWSim, {metric.backend}"
    )


def python_dtw(cost: np.ndarray) -> float:
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    total[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            total[i, j] = cost[i - 1, j - 1] + min(
                total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]
            )
    return total[n, m]


def test_dtw_per_pair_python_loop(benchmark, corpus):
    queries, candidates = corpus[0][:3], corpus[1][:3]

    def loop():
        return [[python_dtw(1 - unit(x) @ unit(y).T) for y in candidates] for x in queries]

    measure(
        benchmark,
        loop,
        group="dtw",
        name="per-pair pure-Python DP",
        items=9,
        baseline=True,
        rounds=1,
    )


jitted_dtw = njit(cache=True)(python_dtw)


def test_dtw_per_pair_numba_jit_loop(benchmark, corpus):
    queries, candidates = corpus[0][:50], corpus[1][:50]
    jitted_dtw(np.ones((2, 2)))

    def loop():
        return [
            [jitted_dtw((1 - unit(x) @ unit(y).T).astype(np.float64)) for y in candidates]
            for x in queries
        ]

    measure(benchmark, loop, group="dtw", name="per-pair numba-jit DP", items=2500)


def test_dtw_fastdtw_package(benchmark, corpus):
    queries, candidates = corpus[0][:2], corpus[1][:2]

    def loop():
        return [
            [
                fastdtw(unit(x), unit(y), radius=1, dist=lambda a, b: 1 - a @ b)[0]
                for y in candidates
            ]
            for x in queries
        ]

    measure(benchmark, loop, group="dtw", name="fastdtw package (radius 1)", items=4, rounds=1)


# ---------------------------------------------------------------- OT


def test_ot_exact(benchmark, corpus):
    queries, candidates = corpus[0][:20], corpus[1][:20]
    measure_matrix(
        benchmark, OTSim(), queries, candidates, group="ot", name="OTSim exact (POT per pair)"
    )


def test_ot_pot_emd2_per_pair(benchmark, corpus):
    queries, candidates = corpus[0][:20], corpus[1][:20]

    def loop():
        return pot_emd2_per_pair(queries, candidates)

    measure(
        benchmark,
        loop,
        group="ot",
        name="POT emd2 per-pair loop",
        items=400,
        baseline=True,
        rounds=1,
    )


SINKHORN_RUNS = [
    pytest.param("numba", False, 100, id="numba"),
    pytest.param("numba", True, 100, id="numba-log"),
    pytest.param("torch", False, 200 if ON_GPU else 30, id="torch"),
    pytest.param("torch", True, 200 if ON_GPU else 30, id="torch-log"),
]


@pytest.mark.parametrize(("backend", "log_domain", "size"), SINKHORN_RUNS)
def test_ot_sinkhorn(benchmark, corpus, backend, log_domain, size):
    queries, candidates = corpus[0][:size], corpus[1][:size]
    device = TORCH_DEVICE if backend == "torch" else None
    metric = OTSim("sinkhorn", reg=0.05, log_domain=log_domain, backend=backend, device=device)
    domain = "log-domain" if log_domain else "scaling"
    name = f"OTSim sinkhorn reg 0.05 {domain}, {metric.backend}"
    measure_matrix(benchmark, metric, queries, candidates, group="ot", name=name)
