"""``--dry-run``: the checks that need no GPU, so that the script cannot rot unseen.

- the budgets add up to well under the device call's 8 minutes;
- every part's module imports and has ``run``, and every name it calls resolves;
- the CUDA tests' pytest selection picks tests from every file it names (on a machine without
  CUDA, the same tests on the CPU backends: tests/conftest.py adds ``torch-cuda`` and
  ``triton-cuda`` exactly where it adds nothing on the CPU);
- the report writer turns fake figures into the table and the JSON file.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from .figures import Figure, PartRecords
from .parts.cuda_tests import TEST_FILES, pytest_arguments
from .plan import PARTS, budget_problem
from .report import JSON, MARKDOWN, PartOutcome, write_report

REPOSITORY = Path(__file__).resolve().parents[2]


def check_budget(total: float) -> list[str]:
    problem = budget_problem(total)
    return [] if problem is None else [problem]


def resolve(need: str) -> str | None:
    """Import ``"module:name"``; None when it resolves, else what is wrong."""
    module_name, _, name = need.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # any import failure is the finding
        return f"{need}: cannot import {module_name} ({type(error).__name__}: {error})"
    if name and not hasattr(module, name):
        return f"{need}: {module_name} has no {name}"
    return None


def check_imports() -> list[str]:
    problems = []
    for part in PARTS:
        problems += [
            f"part {part.name}: {problem}"
            for problem in map(resolve, (f"{part.module}:run", *part.needs))
            if problem is not None
        ]
    return problems


def selected_per_file(device: str) -> Counter[str]:
    """How many tests the CUDA tests' selection picks from each file (``--collect-only``)."""
    command = [sys.executable, "-m", "pytest", "--collect-only", *pytest_arguments(device)]
    listing = subprocess.run(
        command, cwd=REPOSITORY, capture_output=True, text=True, check=False
    ).stdout
    return Counter(m.group(1) for m in re.finditer(r"^(tests/[\w.]+\.py)::", listing, re.M))


def check_test_selection(device: str) -> list[str]:
    counts = selected_per_file(device)
    print(f"gpu_check: the CUDA tests' selection, as on {device}: {dict(counts)}")
    return [f"the CUDA tests select nothing in {path}" for path in TEST_FILES if not counts[path]]


def fake_outcomes() -> list[PartOutcome]:
    """Outcomes of a run that never happened: a GEMM, two SeqSim figures with a peer, one cut
    size, a cut part and a test summary."""
    gemm = Figure(
        "gemm",
        "fake matmul",
        "4 x 4 x 4",
        "gemm d=4",
        seconds=1.0,
        flops=8e14,
        yardstick="gemm d=4",
    )
    group = "seqsim 10 d=4"
    seqsim = [
        Figure(
            "seqsim",
            "fake fused",
            "10 x 10",
            group,
            items=100,
            seconds=2.0,
            flops=8e14,
            yardstick="gemm d=4",
        ),
        Figure(
            "seqsim",
            "fake peer",
            "10 x 10",
            group,
            items=100,
            seconds=8.0,
            flops=8e14,
            yardstick="gemm d=4",
            peer=True,
        ),
        Figure(
            "seqsim",
            "fake fused",
            "20 x 20",
            "seqsim 20 d=4",
            items=400,
            status="cut: projected 9.0 s, 1.0 s left",
        ),
    ]
    tests = {
        "passed": 3,
        "failed": 1,
        "skipped": 0,
        "selected": 5,
        "not_run": 1,
        "failures": ["tests/test_fake.py::test_x[torch-cuda] (call)"],
        "stopped": "",
    }
    return [
        PartOutcome("gemm", 10, "done", 2.0, PartRecords([gemm], environment={"device": "fake"})),
        PartOutcome("cuda tests", 10, "done", 5.0, PartRecords([], tests=tests)),
        PartOutcome("seqsim", 10, "cut: killed at its 10 s budget", 10.0, PartRecords(seqsim)),
    ]


def check_writer() -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        write_report(fake_outcomes(), Path(folder), "dry run")
        table = (Path(folder) / MARKDOWN).read_text()
        figures = json.loads((Path(folder) / JSON).read_text())["figures"]
    problems = []
    if "| part | implementation | size | seconds |" not in table or "cut" not in table:
        problems.append("the Markdown report lacks the table or the cut part")
    if len(figures) != 4:
        problems.append(f"the JSON report holds {len(figures)} figures of the 4 written")
    return problems


def dry_run(total: float) -> list[str]:
    """Every check; the list of problems (empty when the check is ready to run)."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return [
        *check_budget(total),
        *check_imports(),
        *check_test_selection(device),
        *check_writer(),
    ]
