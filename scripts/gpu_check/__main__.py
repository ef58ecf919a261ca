"""``python -m gpu_check``: the check, its dry run, or one part (as the runner starts it)."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from .figures import PartLog
from .plan import DEFAULT_BUDGET, budget_problem
from .sizing import Deadline


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="check the plan; use no GPU")
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET,
        help=f"seconds for all parts together (default {DEFAULT_BUDGET:g})",
    )
    parser.add_argument(
        "--out", type=Path, default=os.environ.get("OUT"), help="report folder (default $OUT)"
    )
    parser.add_argument("--part", help=argparse.SUPPRESS)  # the runner's: one part's module
    parser.add_argument("--part-log", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_one_part(module: str, log: Path, seconds: float) -> int:
    deadline = Deadline.after(seconds)
    importlib.import_module(module).run(PartLog(log), deadline)
    return 0


def main(argv: list[str] | None = None) -> int:
    options = arguments(argv)
    if options.part:
        return run_one_part(options.part, options.part_log, options.seconds)
    if options.dry_run:
        from .dry_run import dry_run

        problems = dry_run(options.budget)
        for problem in problems:
            print(f"gpu_check --dry-run: {problem}", file=sys.stderr)
        print(f"gpu_check --dry-run: {'FAILED' if problems else 'ready'}")
        return 1 if problems else 0
    problem = budget_problem(options.budget)
    if problem is not None:
        print(f"gpu_check: {problem}", file=sys.stderr)
        return 2
    if options.out is None:
        print("gpu_check: give --out DIR (no $OUT is set)", file=sys.stderr)
        return 2
    from .runner import run_check

    # gpu_check.sh's last limit sends SIGTERM: exit through the runner's cleanup
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    title = f"seqsim GPU check, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as work:
        outcomes = run_check(options.out, options.budget, Path(work), title)
    failed = [o.name for o in outcomes if o.status.startswith("failed")]
    print(f"gpu_check: report in {options.out}" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
