"""Where a metric runs: the ``backend`` and ``device`` arguments every metric takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

BackendName = Literal["auto", "torch", "numba"]
BACKENDS: tuple[str, ...] = ("torch", "numba")


@dataclass(frozen=True)
class Backend:
    """A resolved backend: ``name`` is ``"torch"`` or ``"numba"``; torch runs on ``device``."""

    name: str
    device: torch.device

    def __str__(self) -> str:
        return f"{self.name}:{self.device}" if self.name == "torch" else self.name


def resolve_backend(
    backend: BackendName | str | Backend = "auto", device: str | torch.device | None = None
) -> Backend:
    """Turn the user's ``backend``/``device`` into a :class:`Backend`.

    ``"auto"`` picks torch on CUDA when a GPU is present (or ``device`` names one), else numba,
    the faster CPU path (see docs/performance.md). ``numba`` runs on the CPU only.
    A :class:`Backend` passes through unchanged.
    """
    if isinstance(backend, Backend):
        return backend
    if backend not in ("auto", *BACKENDS):
        raise ValueError(f"unknown backend {backend!r}; choose one of 'auto', 'torch', 'numba'")
    if device is None:
        resolved_device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        resolved_device = torch.device(device)
    if backend == "auto":
        backend = "torch" if resolved_device.type != "cpu" else "numba"
    if backend == "numba":
        if resolved_device.type != "cpu" and device is not None:
            raise ValueError(f"the numba backend runs on the CPU only, not on device {device!r}")
        resolved_device = torch.device("cpu")
    return Backend(backend, resolved_device)
