"""Runs the parts in order, each in its own process under its own budget.

The runner kills a part's process (and any it started) when its budget is spent, whatever it
is doing (a hung kernel included), and reads back what the part logged until then: the part is
reported as cut with what it finished, and the next part runs. The report is rewritten after
every part, so an interrupted check still leaves what it measured.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .figures import PartLog
from .plan import PARTS, Part, scaled_budgets
from .report import DONE, PartOutcome, write_report

LOG = "gpu_check.log"
NO_CUDA = "no CUDA device"
GRACE_SECONDS = 5.0
"""A part stops starting new sizes this long before the runner would kill it."""


def part_command(part: Part, log: Path, seconds: float) -> list[str]:
    """The command that runs one part in a fresh interpreter."""
    deadline = max(seconds - min(GRACE_SECONDS, 0.1 * seconds), 0.0)
    return [
        sys.executable,
        "-m",
        "gpu_check",
        "--part",
        part.module,
        "--part-log",
        str(log),
        "--seconds",
        f"{deadline:.1f}",
    ]


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def run_part(part: Part, seconds: float, work: Path, log_file: Path) -> PartOutcome:
    """Run ``part`` for at most ``seconds``; its output is appended to ``log_file``."""
    part_log = work / f"{part.slug}.jsonl"
    output = work / f"{part.slug}.out"
    started = time.monotonic()
    with output.open("w") as sink:
        process = subprocess.Popen(
            part_command(part, part_log, seconds),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed with all it started
        )
        code: int | None = None
        try:
            code = process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pass
        finally:  # also when the runner itself is stopped: nothing outlives it
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    used = time.monotonic() - started
    text = output.read_text(errors="replace")
    with log_file.open("a") as log:
        log.write(f"\n===== part {part.name} ({used:.1f} of {seconds:.1f} s)\n{text}")
    if code is None:
        status = f"cut: killed at its {seconds:.1f} s budget"
    elif code != 0:
        status = f"failed: exit code {code}: {last_line(text)}"
    else:
        status = DONE
    return PartOutcome(part.name, seconds, status, used, PartLog.read(part_log))


def run_check(
    out: Path, total: float, work: Path, title: str, parts: Sequence[Part] = PARTS
) -> list[PartOutcome]:
    """Run every part with its share of ``total`` seconds, writing the report to ``out`` after
    each; a part that needs CUDA is reported as "no CUDA device" without running when the
    device part found none."""
    out, work = Path(out), Path(work)
    out.mkdir(parents=True, exist_ok=True)
    budgets = scaled_budgets(total, parts)
    outcomes: list[PartOutcome] = []
    cuda = True
    for part in parts:
        if part.needs_cuda and not cuda:
            outcomes.append(PartOutcome(part.name, budgets[part.name], NO_CUDA))
        else:
            print(f"gpu_check: part {part.name}, {budgets[part.name]:.0f} s", flush=True)
            outcome = run_part(part, budgets[part.name], work, out / LOG)
            outcomes.append(outcome)
            print(f"gpu_check: part {part.name}: {outcome.status}", flush=True)
            environment = outcome.records.environment
            if environment is not None:
                cuda = bool(environment.get("cuda_available"))
        write_report(outcomes, out, title)
    return outcomes
