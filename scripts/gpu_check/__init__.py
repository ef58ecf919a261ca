"""The GPU check in one command (seqsim issue 21): ``bash scripts/gpu_check.sh``.

Every part of the check runs in its own process under its own time budget
(:mod:`gpu_check.runner`): the CUDA tests, the dense bf16 GEMM yardstick, SeqSim from 1,000 to
20,000 utterances, DTW, Sinkhorn, the index's rerank and whisper-base extraction. Each part
appends what it measures to a log as it goes (:mod:`gpu_check.figures`), and the Markdown
table and JSON file of every figure are rewritten after each part (:mod:`gpu_check.report`),
so a part that runs out of time is reported as cut with what it finished, and the others keep
their results. ``--dry-run`` checks the plan on any machine (:mod:`gpu_check.dry_run`).
"""
