"""Shared fixtures: every metric test runs once per available backend (as POT's tests do)."""

from __future__ import annotations

import pytest
import torch

BACKENDS = [("numba", None), ("torch", "cpu")]
if torch.cuda.is_available():
    BACKENDS.append(("torch", "cuda"))


@pytest.fixture(params=BACKENDS, ids=lambda p: p[0] if p[1] is None else f"{p[0]}-{p[1]}")
def backend_options(request: pytest.FixtureRequest) -> dict:
    """Keyword arguments selecting one backend, for metric constructors."""
    backend, device = request.param
    return {"backend": backend, "device": device}
