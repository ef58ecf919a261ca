"""How fast the ``seqsim`` command answers ``--help``, next to two yardsticks measured in the
same run: a bare ``python -c pass`` (the floor: the interpreter's start) and ``python -c
"import torch"`` (what the help cost when the CLI imported torch at start-up). The summary's
"x baseline" column is how many times faster than importing torch each one is. The aim:
``seqsim --help`` under 1 s, near the floor.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from harness import measure

_SCRIPT = Path(sys.executable).with_name("seqsim")
SEQSIM = [str(_SCRIPT)] if _SCRIPT.is_file() else [shutil.which("seqsim") or "seqsim"]

COMMANDS = {
    'python -c "import torch"': ([sys.executable, "-c", "import torch"], True),
    "python -c pass": ([sys.executable, "-c", "pass"], False),
    "seqsim --help": ([*SEQSIM, "--help"], False),
    "seqsim evaluate --help": ([*SEQSIM, "evaluate", "--help"], False),
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_start_up(benchmark, name):
    command, baseline = COMMANDS[name]

    def run() -> None:
        subprocess.run(command, check=True, capture_output=True)

    measure(benchmark, run, group="cli start-up", name=name, items=1, baseline=baseline, rounds=5)
