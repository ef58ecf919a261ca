"""Budgets inside a part: sizes run in increasing order, and a size whose time, projected from
the previous size of the same series, would overrun what is left of the part's budget is cut,
together with the larger sizes after it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .figures import Figure, PartLog
from .timing import best_seconds

TWICE_UNDER_SECONDS = 2.0
"""A size projected to take less than this is timed twice (the faster run counts)."""


@dataclass(frozen=True)
class Deadline:
    """A point in time (``time.monotonic``) that a part must finish by.

    Examples
    --------
    >>> from gpu_check.sizing import Deadline
    >>> 9.0 < Deadline.after(10.0).remaining() <= 10.0
    True
    """

    end: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.end - time.monotonic()


@dataclass
class Series:
    """One implementation's sizes, measured in increasing order of ``work`` (FLOPs, pairs,
    utterances: anything the time is proportional to).

    Examples
    --------
    The first size runs; the second, 1000 times the work, is projected from it, and cut when
    the projection exceeds what is left:

    >>> from gpu_check.sizing import Deadline, Series
    >>> series = Series(Deadline.after(5.0))
    >>> seconds = series.measure(1.0, lambda: sum(range(10**5)))
    >>> series.measure(1e9, lambda: None)
    'cut: projected ...'
    >>> series.measure(2.0, lambda: None)  # later sizes are cut too
    'cut: projected ...'
    """

    deadline: Deadline
    last: tuple[float, float] | None = None
    """(work, seconds) of the last size measured."""
    cut: str | None = field(default=None)

    def projection(self, work: float) -> float:
        """Seconds the size of ``work`` should take, from the last size (0 for the first)."""
        if self.last is None:
            return 0.0
        last_work, last_seconds = self.last
        return last_seconds * work / last_work

    def measure(self, work: float, function: Callable[[], object]) -> float | str:
        """Time ``function`` (twice when it is projected short) and return its seconds, or the
        reason it was cut (``"cut: projected ..."``) without running it."""
        if self.cut is None:
            projected, left = self.projection(work), self.deadline.remaining()
            if left <= 0:
                self.cut = "cut: the budget ran out before this size"
            elif projected > left:
                self.cut = f"cut: projected {projected:.1f} s, {left:.1f} s left"
        if self.cut is not None:
            return self.cut
        repeats = 2 if self.last is not None and projected < TWICE_UNDER_SECONDS else 1
        seconds = best_seconds(function, repeats)
        self.last = (work, seconds)
        return seconds

    def run(
        self, log: PartLog, work: float, function: Callable[[], object], figure: Figure
    ) -> bool:
        """Measure one size (:meth:`measure`) and log ``figure`` with its seconds, or as cut;
        True when it was measured."""
        result = self.measure(work, function)
        if isinstance(result, str):
            log.figure(replace(figure, status=result))
            return False
        log.figure(replace(figure, seconds=result))
        return True
