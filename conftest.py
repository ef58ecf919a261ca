"""Root pytest configuration, loaded before anything is collected.

``python -m pytest`` also runs the doctests of ``src/seqsim`` (``--doctest-modules`` and
``testpaths`` in pyproject.toml), which imports every module of the package. This file makes
that import work on any machine the tests run on:

- Triton kernels on a machine without CUDA run in Triton's CPU interpreter, which
  ``TRITON_INTERPRET=1`` selects only when it is set before a kernel is defined, so it is set
  here, before the collector imports ``seqsim.kernels.triton_kernels``; without Triton that
  module is not collected at all.
- Ray is imported by ``seqsim.distributed`` only when a cluster is used, so its modules import
  without it; a doctest that needs it (it stops on ``RayNotInstalledError``, or on importing
  ``ray``) is skipped where Ray is not installed, saying so, like the Ray tests.

Doctests print numpy scalars as numbers (``0.5``, not ``np.float64(0.5)``) whatever the numpy
version; they compare output exactly (up to whitespace and ``...``), so examples print floats
rounded to the digits that matter.
"""

from __future__ import annotations

import doctest
import importlib.util
import os
from collections.abc import Iterator
from contextlib import nullcontext

import numpy as np
import pytest
from _pytest.doctest import DoctestItem

import seqsim  # noqa: F401  (first: it sets GOMP_SPINCOUNT before torch loads libgomp)

# isort: split
import torch

HAS_TRITON = importlib.util.find_spec("triton") is not None
if HAS_TRITON and not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

collect_ignore = [] if HAS_TRITON else ["src/seqsim/kernels/triton_kernels.py"]

NUMPY_2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


@pytest.fixture(autouse=True)
def _doctest_print_options(request: pytest.FixtureRequest) -> Iterator[None]:
    """Numpy's print options for doctests only; other tests see numpy's defaults."""
    if not isinstance(request.node, DoctestItem):
        yield
        return
    with np.printoptions(legacy="1.25") if NUMPY_2 else nullcontext():
        yield


def _ray_missing(error: BaseException) -> bool:
    """Whether ``error`` says that Ray (or a part of it) is not installed."""
    # imported here: seqsim.distributed imports the kernels, after TRITON_INTERPRET is set
    from seqsim.distributed import RayNotInstalledError

    if isinstance(error, RayNotInstalledError):
        return True
    return isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] == "ray"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A doctest that stops because Ray is not installed is reported skipped, not failed."""
    outcome = yield
    error = call.excinfo.value if call.excinfo is not None else None
    if (
        isinstance(item, DoctestItem)
        and isinstance(error, doctest.UnexpectedException)
        and _ray_missing(error.exc_info[1])
    ):
        report = outcome.get_result()  # type: ignore[attr-defined]
        path, line, _ = item.reportinfo()
        report.outcome = "skipped"
        reason = "Skipped: needs Ray, the optional extra seqsim[ray]"
        report.longrepr = (str(path), (line or 0) + 1, reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every docstring example runs in a fresh namespace, as if pasted into a new interpreter:
    it must import what it uses (the module's own names are not there)."""
    for item in items:
        if isinstance(item, DoctestItem):
            item.dtest.globs = {"__name__": "__main__"}
