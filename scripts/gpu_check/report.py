"""The results: one Markdown table and one JSON file of every figure, rewritten after each part.

Derived columns are computed here, from the figures of the same run: "% of GEMM" is a figure's
FLOP rate over the best rate of its yardstick group (the dense bf16 GEMM of the same width),
"x peer" its items per second over those of its group's peer.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .figures import Figure, PartRecords

MARKDOWN = "gpu_check.md"
JSON = "gpu_check.json"
DONE = "done"


@dataclass
class PartOutcome:
    """How one part ended: ``status`` is ``"done"``, ``"cut: ..."``, ``"failed: ..."`` or
    ``"no CUDA device"``; ``seconds`` is the wall time it used of its ``budget``."""

    name: str
    budget: float
    status: str
    seconds: float = 0.0
    records: PartRecords = field(default_factory=lambda: PartRecords(figures=[]))


def gemm_rates(figures: list[Figure]) -> dict[str, float]:
    """The best FLOP rate of each group that some figure names as its yardstick."""
    yardsticks = {f.yardstick for f in figures if f.yardstick}
    rates: dict[str, float] = {}
    for figure in figures:
        rate = figure.flop_rate
        if figure.group in yardsticks and rate is not None:
            rates[figure.group] = max(rate, rates.get(figure.group, 0.0))
    return rates


def peer_rates(figures: list[Figure]) -> dict[str, float]:
    """The items per second of each group's peer."""
    rates: dict[str, float] = {}
    for figure in figures:
        rate = figure.items_per_second
        if figure.peer and rate is not None:
            rates.setdefault(figure.group, rate)
    return rates


def derived(figure: Figure, gemm: dict[str, float], peers: dict[str, float]) -> dict[str, Any]:
    """A figure with its rates: items/s, TFLOP/s, % of GEMM (None where not applicable) and
    x peer (None for the peer itself and where the group has none)."""
    rate, items_rate = figure.flop_rate, figure.items_per_second
    yardstick = gemm.get(figure.yardstick or "")
    peer = peers.get(figure.group)
    return {
        **asdict(figure),
        "items_per_second": items_rate,
        "tflops": None if rate is None else rate / 1e12,
        "percent_of_gemm": (
            None
            if rate is None or not yardstick or figure.group == figure.yardstick
            else 100 * rate / yardstick
        ),
        "x_peer": None if figure.peer or items_rate is None or not peer else items_rate / peer,
    }


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def table_row(row: dict[str, Any]) -> str:
    seconds = _number(row["seconds"], 3) if row["status"] == "measured" else row["status"]
    note = "; ".join(text for text in (row["note"], "peer" if row["peer"] else "") if text)
    cells = [
        row["part"],
        row["implementation"],
        row["size"],
        seconds,
        _number(row["items_per_second"], 1),
        _number(row["tflops"], 1),
        _number(row["percent_of_gemm"], 0),
        "" if row["x_peer"] is None else f"{row['x_peer']:.2f}",
        note,
    ]
    return "| " + " | ".join(cells) + " |"


def rows(outcomes: list[PartOutcome]) -> list[dict[str, Any]]:
    figures = [figure for outcome in outcomes for figure in outcome.records.figures]
    gemm, peers = gemm_rates(figures), peer_rates(figures)
    return [derived(figure, gemm, peers) for figure in figures]


def test_summary(outcomes: list[PartOutcome]) -> dict[str, Any] | None:
    return next((o.records.tests for o in outcomes if o.records.tests is not None), None)


def environment(outcomes: list[PartOutcome]) -> dict[str, Any]:
    return next((o.records.environment for o in outcomes if o.records.environment), {})


def markdown(outcomes: list[PartOutcome], title: str) -> str:
    """The whole Markdown report."""
    env = environment(outcomes)
    lines = [f"# {title}", ""]
    lines += [f"- {key}: {value}" for key, value in env.items()] or ["- device: unknown"]
    lines += [
        "",
        "| part | implementation | size | seconds | items/s | TFLOP/s | % of GEMM | x peer "
        "| note |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
        *map(table_row, rows(outcomes)),
        "",
        "## CUDA tests",
        "",
    ]
    tests = test_summary(outcomes)
    if tests is None:
        lines.append("not run (see the parts below)")
    else:
        counts = ", ".join(f"{tests[key]} {key}" for key in ("passed", "failed", "skipped"))
        lines.append(f"{counts}; {tests['not_run']} of {tests['selected']} selected not run")
        lines += [f"- FAILED {node}" for node in tests["failures"]]
    lines += ["", "## Parts", "", "| part | budget s | used s | status |", "|---|---:|---:|---|"]
    lines += [f"| {o.name} | {o.budget:.0f} | {o.seconds:.1f} | {o.status} |" for o in outcomes]
    cut = [o for o in outcomes if o.status != DONE]
    cut_figures = [row for row in rows(outcomes) if row["status"] != "measured"]
    lines += ["", "## Cut, missing or failed", ""]
    lines += [f"- part {o.name}: {o.status}" for o in cut]
    lines += [
        f"- {r['part']}, {r['implementation']}, {r['size']}: {r['status']}" for r in cut_figures
    ]
    if not cut and not cut_figures:
        lines.append("nothing")
    return "\n".join(lines) + "\n"


def write_report(outcomes: list[PartOutcome], folder: Path, title: str) -> None:
    """Write ``gpu_check.md`` and ``gpu_check.json`` into ``folder`` (replacing them)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "title": title,
        "environment": environment(outcomes),
        "parts": [
            {"name": o.name, "budget": o.budget, "seconds": o.seconds, "status": o.status}
            for o in outcomes
        ],
        "tests": test_summary(outcomes),
        "figures": rows(outcomes),
    }
    (folder / JSON).write_text(json.dumps(document, indent=1) + "\n")
    (folder / MARKDOWN).write_text(markdown(outcomes, title))
