"""What a part measures, and the log it appends it to as it goes.

A part's process writes one JSON line per record to the log the runner gives it: a
:class:`Figure`, the running counts of the CUDA tests, or the environment (device name and
versions). The runner reads the log back after the part ends, also when it was killed, so what
was written before survives.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

MEASURED = "measured"


@dataclass(frozen=True)
class Figure:
    """One line of the results table.

    Parameters
    ----------
    part : str
        The part that measured it (``"seqsim"``, ``"dtw"``, ...).
    implementation : str
        What ran (``"SeqSim, triton"``, ``"numba (CPU)"``, ...).
    size : str
        The problem size in words (``"1000 x 1000, d=512"``).
    group : str
        Figures compared with each other: "x peer" divides a figure's items/s by that of the
        group's peer.
    items : int, optional
        Pairs, queries or utterances done in ``seconds``.
    seconds : float, optional
        Wall time of one run (the fastest where it ran twice); None when not measured.
    flops : float, optional
        Useful FLOPs of the run, where it has any.
    yardstick : str, optional
        The group of the GEMM figures whose best FLOP rate is this figure's 100 %.
    peer : bool
        Whether this figure is its group's peer (the baseline of "x peer").
    status : str
        ``"measured"``, or why not: ``"cut: ..."``, ``"missing: ..."``, ``"failed: ..."``.
    note : str
        Anything the reader needs (what the data are, how many ran).

    Examples
    --------
    >>> from gpu_check.figures import Figure
    >>> figure = Figure("seqsim", "SeqSim, triton", "1000 x 1000, d=512", "seqsim 1000 d=512",
    ...                 items=10**6, seconds=0.5, flops=1e14)
    >>> figure.items_per_second, figure.flop_rate
    (2000000.0, 200000000000000.0)
    """

    part: str
    implementation: str
    size: str
    group: str
    items: int | None = None
    seconds: float | None = None
    flops: float | None = None
    yardstick: str | None = None
    peer: bool = False
    status: str = MEASURED
    note: str = ""

    @property
    def measured(self) -> bool:
        return self.status == MEASURED and self.seconds is not None and self.seconds > 0

    @property
    def items_per_second(self) -> float | None:
        if not self.measured or not self.items:
            return None
        assert self.seconds is not None
        return self.items / self.seconds

    @property
    def flop_rate(self) -> float | None:
        if not self.measured or not self.flops:
            return None
        assert self.seconds is not None
        return self.flops / self.seconds

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Figure:
        names = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in record.items() if key in names})


@dataclass
class PartRecords:
    """Everything one part logged: its figures, the last test counts, the environment."""

    figures: list[Figure]
    tests: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None


class PartLog:
    """The append-only log of one part (JSON lines), flushed after every record.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from gpu_check.figures import Figure, PartLog
    >>> path = Path(tempfile.mkdtemp()) / "gemm.jsonl"
    >>> log = PartLog(path)
    >>> log.figure(Figure("gemm", "torch matmul", "16384 x 512 x 16384", "gemm d=512",
    ...                   seconds=0.001, flops=2.7e11))
    >>> [figure.implementation for figure in PartLog.read(path).figures]
    ['torch matmul']
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _append(self, kind: str, record: dict[str, Any]) -> None:
        with self.path.open("a") as file:
            file.write(json.dumps({kind: record}) + "\n")

    def figure(self, figure: Figure) -> None:
        self._append("figure", asdict(figure))

    def tests(self, counts: dict[str, Any]) -> None:
        self._append("tests", counts)

    def environment(self, environment: dict[str, Any]) -> None:
        self._append("environment", environment)

    @staticmethod
    def read(path: Path) -> PartRecords:
        """The records of a log; a last line cut off by a kill is ignored."""
        records = PartRecords(figures=[])
        if not Path(path).exists():
            return records
        for line in Path(path).read_text().splitlines():
            try:
                (kind, record), *_ = json.loads(line).items()
            except (json.JSONDecodeError, ValueError, AttributeError):
                continue  # the line being written when the part was killed
            if kind == "figure":
                records.figures.append(Figure.from_dict(record))
            elif kind == "tests":
                records.tests = record
            elif kind == "environment":
                records.environment = record
        return records
