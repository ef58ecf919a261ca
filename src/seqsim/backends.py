"""Where a metric runs: the ``backend``, ``device`` and ``working_memory`` arguments every
metric takes, and the option checks that metrics and the embedder share.

Every check raises a one-line ``ValueError`` that names the option and the value it got.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Literal

import torch

from ._defaults import BACKEND_CHOICES
from ._defaults import BACKENDS as BACKENDS  # exported here as before
from .checks import check_positive

BackendName = Literal["auto", "torch", "numba", "triton"]
CPU_WORKING_MEMORY_MB = 256.0
CUDA_MAX_WORKING_MEMORY_MB = 4096.0
_DEVICE_CHOICES = "use 'auto', 'cpu', 'cuda' or 'cuda:N'"


def check_working_memory(working_memory: object) -> None:
    """Check that ``working_memory`` (MiB of scratch per block pair) is None or a positive number.

    Parameters
    ----------
    working_memory : object
        What the user passed; None stands for the backend's default
        (:meth:`Backend.default_working_memory_mb`).

    Raises
    ------
    ValueError
        When it is not None and not a positive finite number (a bool is refused too).

    Examples
    --------
    >>> from seqsim.backends import check_working_memory
    >>> check_working_memory(None)
    >>> check_working_memory(64)
    >>> check_working_memory(-1)
    Traceback (most recent call last):
        ...
    ValueError: working_memory must be a positive finite number of MiB, got -1
    """
    if working_memory is not None:
        check_positive("working_memory", working_memory, "number of MiB")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The torch device that ``device`` names, checked against this machine.

    Parameters
    ----------
    device : str or torch.device, optional
        ``None`` or ``"auto"`` is the first CUDA device when there is one, else the CPU;
        otherwise ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or the equivalent ``torch.device``.

    Returns
    -------
    torch.device
        A CPU or CUDA device that exists on this machine.

    Raises
    ------
    ValueError
        For a name torch does not parse, a device other than CPU or CUDA, CUDA on a machine
        without it (the message says whether torch is a CPU-only build or no GPU was found), or
        ``cuda:N`` past the last GPU.

    Examples
    --------
    >>> from seqsim.backends import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("gpu")
    Traceback (most recent call last):
        ...
    ValueError: unknown device 'gpu'; use 'auto', 'cpu', 'cuda' or 'cuda:N'
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; {_DEVICE_CHOICES}") from None
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; {_DEVICE_CHOICES}")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            reason = (
                f"torch {torch.__version__} is a CPU-only build"
                if torch.version.cuda is None
                else "no GPU was found"
            )
            raise ValueError(
                f"device {device!r} was asked for, but no CUDA device is available ({reason})"
            )
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(
                f"device {device!r} does not exist: this machine has {count} CUDA device(s), "
                f"cuda:0 to cuda:{count - 1}"
            )
    return resolved


@dataclass(frozen=True)
class Backend:
    """A resolved backend, as :func:`resolve_backend` returns it.

    Its string form is what logs and reports show: ``numba``, or ``torch:cpu``,
    ``triton:cuda:0``, ... (name and device).

    Parameters
    ----------
    name : str
        ``"torch"``, ``"numba"`` or ``"triton"``.
    device : torch.device
        Where torch and Triton run; always the CPU for numba.

    Examples
    --------
    >>> import torch
    >>> from seqsim import Backend
    >>> str(Backend("torch", torch.device("cpu"))), str(Backend("numba", torch.device("cpu")))
    ('torch:cpu', 'numba')
    """

    name: str
    device: torch.device

    def __str__(self) -> str:
        return self.name if self.name == "numba" else f"{self.name}:{self.device}"

    def default_working_memory_mb(self) -> float:
        """Scratch per block pair, in MiB, when the caller gives none.

        256 MiB on the CPU (blocks stay in cache-friendly sizes); on CUDA a quarter of the free
        device memory, at least 256 MiB and at most 4 GiB, because each block pair costs a
        fixed tens of kernel launches and a synchronisation, which small blocks would not
        amortise.

        Returns
        -------
        float
            The working memory in MiB.

        Examples
        --------
        >>> import torch
        >>> from seqsim import Backend
        >>> Backend("numba", torch.device("cpu")).default_working_memory_mb()
        256.0
        """
        if self.device.type != "cuda":
            return CPU_WORKING_MEMORY_MB
        free_bytes, _ = torch.cuda.mem_get_info(self.device)
        return max(CPU_WORKING_MEMORY_MB, min(CUDA_MAX_WORKING_MEMORY_MB, free_bytes / 4 / 2**20))


def resolve_backend(
    backend: BackendName | str | Backend = "auto", device: str | torch.device | None = None
) -> Backend:
    """Turn the user's ``backend``/``device`` into a :class:`Backend`.

    Which of a metric's kernels each backend runs is decided by
    :func:`seqsim.kernels.choose_kernel`.

    Parameters
    ----------
    backend : {"auto", "torch", "numba", "triton"} or Backend, default "auto"
        ``"auto"`` picks torch on CUDA when a GPU is present (or ``device`` names one), else
        numba, the faster CPU path (see docs/performance.md). ``numba`` runs on the CPU only.
        ``triton`` needs CUDA, or ``TRITON_INTERPRET=1`` (Triton's CPU interpreter, for
        testing) on the CPU. A :class:`Backend` passes through unchanged (``device`` is then
        ignored).
    device : str or torch.device, optional
        Goes through :func:`resolve_device`; numba ignores ``None`` and ``"auto"`` and runs on
        the CPU.

    Returns
    -------
    Backend
        The backend's name and the device it runs on.

    Raises
    ------
    ValueError
        For an unknown backend name, any device :func:`resolve_device` rejects, numba asked
        for on a device other than the CPU, or triton without the triton package or, on the
        CPU, without ``TRITON_INTERPRET=1``.

    Examples
    --------
    >>> from seqsim import resolve_backend
    >>> resolve_backend("numba")
    Backend(name='numba', device=device(type='cpu'))
    >>> str(resolve_backend("torch", device="cpu"))
    'torch:cpu'
    >>> resolve_backend("cupy")
    Traceback (most recent call last):
        ...
    ValueError: unknown backend 'cupy'; choose one of 'auto', 'torch', 'numba', 'triton'
    """
    if isinstance(backend, Backend):
        return backend
    if backend not in BACKEND_CHOICES:
        choices = ", ".join(repr(name) for name in BACKEND_CHOICES)
        raise ValueError(f"unknown backend {backend!r}; choose one of {choices}")
    resolved_device = resolve_device(device)
    if backend == "auto":
        backend = "torch" if resolved_device.type != "cpu" else "numba"
    if backend == "numba":
        if resolved_device.type != "cpu" and device not in (None, "auto"):
            raise ValueError(f"the numba backend runs on the CPU only, not on device {device!r}")
        resolved_device = torch.device("cpu")
    if backend == "triton":
        if importlib.util.find_spec("triton") is None:
            raise ValueError("the triton backend needs the triton package (pip install triton)")
        if resolved_device.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
            raise ValueError(
                "the triton backend needs a CUDA device, or TRITON_INTERPRET=1 to run Triton's "
                "CPU interpreter"
            )
    return Backend(backend, resolved_device)
