"""Timing on CUDA without pytest-benchmark: each size runs once or twice, so the budget is
exact. ``torch.cuda.synchronize`` brackets every run, so the time is the GPU's as well."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def synchronize() -> None:
    """Wait for the GPU's queued work (nothing to wait for without CUDA)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def best_seconds(function: Callable[[], object], repeats: int = 1) -> float:
    """The fastest of ``repeats`` synchronised runs of ``function``, in seconds.

    Examples
    --------
    >>> from gpu_check.timing import best_seconds
    >>> best_seconds(lambda: sum(range(1000)), repeats=2) < 1.0
    True
    """
    fastest = float("inf")
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        function()
        synchronize()
        fastest = min(fastest, time.perf_counter() - start)
    return fastest


def event_seconds(function: Callable[[], object], repeats: int) -> float:
    """Mean seconds per call of ``repeats`` back-to-back calls, timed by CUDA events (for
    kernels of a millisecond, where a host timer's overhead would show)."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    function()  # warm-up: cuBLAS picks its kernel
    start.record()
    for _ in range(repeats):
        function()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1000 / repeats
