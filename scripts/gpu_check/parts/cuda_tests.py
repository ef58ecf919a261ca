"""The CUDA tests: every metric of the metric tester on ``torch-cuda`` and ``triton-cuda``
(``tests/conftest.py`` adds those backends where CUDA is present), the OT and Sinkhorn tests on
CUDA (hand-computed exact and Sinkhorn plans, log-domain Sinkhorn reaching exact OT at small
``reg``, unconverged-pair counts), DTW's device tests, and the Triton SeqSim tests (which run
on CUDA where it is present).

The real-embedding Sinkhorn-against-exact-OT ranking (``tests/test_whisper_base_offline.py``)
needs whisper-base's weights (142 MB), more than the wheels may carry: it is not run here.
"""

from __future__ import annotations

from ..figures import PartLog
from ..sizing import Deadline

TEST_FILES = (
    "tests/test_metric_harness.py",
    "tests/test_ot.py",
    "tests/test_sinkhorn_convergence.py",
    "tests/test_dtw.py",
    "tests/test_triton.py",
)


def selection(device: str) -> str:
    """The ``-k`` expression: the tests parametrised on ``device`` by tests/conftest.py's
    backends, and test_triton.py's, which run on CUDA when present (``"cpu"`` in the dry run,
    where the same tests exist on the CPU backends)."""
    return f"torch-{device} or triton-{device} or test_triton"


def pytest_arguments(device: str) -> list[str]:
    return ["-q", "-p", "no:cacheprovider", "-rf", *TEST_FILES, "-k", selection(device)]


def run(log: PartLog, deadline: Deadline) -> None:
    import pytest

    from ..pytest_outcomes import Outcomes

    # "no tests ran" (5) cannot happen on CUDA; failures are counted by the plugin
    pytest.main(pytest_arguments("cuda"), plugins=[Outcomes(log, deadline)])
