"""The machine: GPU name and memory, and the versions of what the figures depend on."""

from __future__ import annotations

import platform
from importlib import metadata

from ..figures import PartLog
from ..sizing import Deadline

PACKAGES = ("torch", "triton", "numba", "numpy", "transformers", "POT", "faiss-cpu")


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def run(log: PartLog, deadline: Deadline) -> None:
    import torch

    cuda = torch.cuda.is_available()
    environment: dict[str, object] = {"cuda_available": cuda}
    if cuda:
        properties = torch.cuda.get_device_properties(0)
        environment["device"] = properties.name
        environment["gpu_memory_gib"] = round(properties.total_memory / 2**30, 1)
        environment["multiprocessors"] = properties.multi_processor_count
        environment["cuda"] = torch.version.cuda
    else:
        environment["device"] = "no CUDA device"
    environment["python"] = platform.python_version()
    environment.update({package: version(package) for package in PACKAGES})
    log.environment(environment)
