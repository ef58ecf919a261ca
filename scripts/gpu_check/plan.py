"""The parts of the check, in order, with their budgets and what each one calls.

``needs`` lists every module and name a part imports (``"module:name"``), so that the dry run
can check that they resolve on any machine before a GPU is lent.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

DEVICE_CALL_SECONDS = 480
"""The device machine's wall time for the whole call, that everything must end well inside."""
INSTALL_SECONDS = 40
"""gpu_check.sh's limit on installing the carried wheels."""
MARGIN_SECONDS = 30
"""Kept free inside the device call: the interpreter's start, the report, the copy back."""


@dataclass(frozen=True)
class Part:
    """One part: ``module`` (such as ``gpu_check.parts.gemm``) has ``run(log, deadline)``;
    ``seconds`` is its share of the default budget."""

    name: str
    seconds: float
    module: str
    needs_cuda: bool
    needs: tuple[str, ...]

    def run_function(self):
        return importlib.import_module(self.module).run

    @property
    def slug(self) -> str:
        """The part's name as a file name."""
        return self.name.replace(" ", "_")


PARTS: tuple[Part, ...] = (
    Part("device", 15, "gpu_check.parts.device", False, ("torch.cuda:get_device_properties",)),
    Part(
        "gemm",
        15,
        "gpu_check.parts.gemm",
        True,
        ("test_scaling:GEMM_ROWS", "test_scaling:DIMS", "test_scaling:gemm_group"),
    ),
    Part("cuda tests", 90, "gpu_check.parts.cuda_tests", True, ("pytest:main",)),
    Part(
        "seqsim",
        110,
        "gpu_check.parts.seqsim",
        True,
        (
            "seqsim:SeqSim",
            "test_scaling:case_flops",
            "test_scaling:case_lengths",
            "test_scaling:case_sequences",
            "test_scaling:padded_bmm_seqsim",
            "seqsim.kernels.triton_kernels:seqsim_tiles",
        ),
    ),
    Part("dtw", 35, "gpu_check.parts.dtw", True, ("seqsim:DTWSim", "harness:make_sequences")),
    Part(
        "sinkhorn",
        30,
        "gpu_check.parts.sinkhorn",
        True,
        ("seqsim:OTSim", "ot:emd2", "harness:make_sequences", "harness:pot_emd2_per_pair"),
    ),
    Part(
        "search",
        35,
        "gpu_check.parts.search",
        True,
        ("seqsim.search:SequenceIndex", "seqsim:SeqSim", "faiss:IndexFlatL2"),
    ),
    Part(
        "whisper",
        30,
        "gpu_check.parts.whisper",
        True,
        ("seqsim:WhisperEmbedder", "transformers:WhisperConfig", "transformers:WhisperModel"),
    ),
)
DEFAULT_BUDGET = sum(part.seconds for part in PARTS)


def scaled_budgets(total: float, parts: Sequence[Part] = PARTS) -> dict[str, float]:
    """Each part's seconds when ``parts`` together get ``total`` seconds (shares kept).

    Examples
    --------
    >>> from gpu_check.plan import DEFAULT_BUDGET, scaled_budgets
    >>> budgets = scaled_budgets(DEFAULT_BUDGET / 2)
    >>> budgets["seqsim"], round(sum(budgets.values()))
    (55.0, 180)
    """
    planned = sum(part.seconds for part in parts)
    return {part.name: part.seconds * total / planned for part in parts}


def budget_problem(total: float) -> str | None:
    """Why ``total`` seconds for the parts do not fit the device call (None when they do)."""
    whole = total + INSTALL_SECONDS + MARGIN_SECONDS
    if total <= 0:
        return f"the budget must be a positive number of seconds, got {total:g}"
    if whole > DEVICE_CALL_SECONDS:
        return (
            f"the parts' {total:g} s + {INSTALL_SECONDS} s for the wheels + {MARGIN_SECONDS} s "
            f"of margin = {whole:g} s, over the device call's {DEVICE_CALL_SECONDS} s"
        )
    return None
