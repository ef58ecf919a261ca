"""Measurement helpers for the benchmarks: every benchmark goes through :func:`measure`, which
records items (and FLOPs where they mean something) so that the summary printed after the run
can show throughput, the fraction of GEMM throughput, and the speed-up over the naive or peer
implementation of the same group, all measured in the same run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

N_SEQUENCES = 200
MEAN_FRAMES = 150
DIM = 512


@dataclass
class Record:
    group: str
    name: str
    items: int
    seconds: float
    flops: float | None
    baseline: bool
    yardstick: str


RECORDS: list[Record] = []
TABLES: dict[str, list[str]] = {}
"""More tables printed after the summary: title -> markdown lines (a header of two lines)."""


def measure(
    benchmark,
    function: Callable[[], object],
    *,
    group: str,
    name: str,
    items: int,
    flops: float | None = None,
    baseline: bool = False,
    rounds: int = 3,
    warmup_rounds: int = 0,
    yardstick: str = "gemm",
) -> object:
    """Time ``function`` with pytest-benchmark and record it for the summary table; its FLOP
    rate is shown as a share of the best rate in the group named ``yardstick``."""
    benchmark.group = group
    benchmark.extra_info.update(items=items, flops=flops)
    result = benchmark.pedantic(function, rounds=rounds, iterations=1, warmup_rounds=warmup_rounds)
    seconds = fastest_seconds(benchmark)
    if seconds is not None:
        RECORDS.append(Record(group, name, items, seconds, flops, baseline, yardstick))
    return result


def fastest_seconds(benchmark) -> float | None:
    """The fastest round of the benchmark just run; None under ``--benchmark-disable``."""
    return None if benchmark.stats is None else benchmark.stats.stats.min


def measure_matrix(
    benchmark,
    metric: Any,
    queries: list[np.ndarray],
    candidates: list[np.ndarray],
    *,
    group: str,
    name: str,
    rounds: int = 1,
    flops: float | None = None,
    yardstick: str = "gemm",
) -> object:
    """Warm ``metric`` up on two pairs (numba compiles, CUDA initialises), then time its
    ``matrix(queries, candidates)`` with :func:`measure`."""
    metric.matrix(queries[:2], candidates[:2])
    return measure(
        benchmark,
        lambda: metric.matrix(queries, candidates),
        group=group,
        name=name,
        items=len(queries) * len(candidates),
        flops=flops,
        rounds=rounds,
        yardstick=yardstick,
    )


def make_sequences(rng: np.random.Generator, count: int, dim: int = DIM) -> list[np.ndarray]:
    lengths = np.clip(rng.normal(MEAN_FRAMES, 25, size=count).round(), 50, 300).astype(int)
    return [rng.standard_normal((n, dim)).astype(np.float32) for n in lengths]


def pairwise_flops(queries: list[np.ndarray], candidates: list[np.ndarray]) -> float:
    """FLOPs of all frame dot products between the two lists."""
    dim = queries[0].shape[1]
    return 2.0 * sum(map(len, queries)) * sum(map(len, candidates)) * dim


class PeakMemory:
    """The peak anonymous resident memory (``RssAnon``: not counting memory-mapped files) of
    this process while the ``with`` block runs, above its level on entry, sampled every 20 ms
    (Linux)."""

    def __init__(self) -> None:
        self.peak_bytes = 0
        self._stop = threading.Event()

    @staticmethod
    def anonymous_bytes() -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0

    def __enter__(self) -> PeakMemory:
        start = self.anonymous_bytes()

        def sample() -> None:
            while not self._stop.wait(0.02):
                self.peak_bytes = max(self.peak_bytes, self.anonymous_bytes() - start)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def pot_emd2_per_pair(queries: list[np.ndarray], candidates: list[np.ndarray]) -> list[list[float]]:
    """Exact OT cost (1 - cosine, uniform weights) of every pair by POT's network simplex,
    one ``ot.emd2`` call per pair: the peer of the batched OT metric."""
    import ot

    def unit(frames: np.ndarray) -> np.ndarray:
        return frames / np.linalg.norm(frames, axis=1, keepdims=True)

    return [
        [
            ot.emd2(
                np.full(len(x), 1 / len(x)),
                np.full(len(y), 1 / len(y)),
                (1 - unit(x) @ unit(y).T).astype(np.float64),
                numItermax=10_000_000,
            )
            for y in candidates
        ]
        for x in queries
    ]
