"""A pytest plugin for the CUDA tests part: it logs the running counts after every test (so a
kill keeps them) and stops the session once the part's deadline has passed."""

from __future__ import annotations

from typing import Any

import pytest

from .figures import PartLog
from .sizing import Deadline

OUTCOMES = ("passed", "failed", "skipped")


class Outcomes:
    """Counts of passed, failed and skipped tests, the failures' node ids, and how many of the
    selected tests have not run (yet)."""

    def __init__(self, log: PartLog, deadline: Deadline) -> None:
        self.log = log
        self.deadline = deadline
        self.counts: dict[str, Any] = {key: 0 for key in OUTCOMES}
        self.counts.update(selected=0, not_run=0, failures=[], stopped="")
        self._finished: set[str] = set()

    def _write(self) -> None:
        self.counts["not_run"] = self.counts["selected"] - len(self._finished)
        self.log.tests(self.counts)

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.counts["selected"] = len(session.items)
        self._write()

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """One outcome per test: its first failure or skip, else its call's pass."""
        if report.nodeid in self._finished:
            return
        if report.failed or report.skipped or report.when == "call":
            self._finished.add(report.nodeid)
            self.counts[report.outcome] += 1
            if report.failed:
                self.counts["failures"].append(f"{report.nodeid} ({report.when})")
            self._write()

    @pytest.hookimpl
    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        if self.deadline.remaining() <= 0 and not self.counts["stopped"]:
            self.counts["stopped"] = "the part's budget ran out"
            self._session.shouldstop = "gpu_check: the CUDA tests' budget ran out"
            self._write()

    @pytest.hookimpl
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._session = session
