"""The benchmark corpus fixture and the summary table printed after a benchmark run."""

from __future__ import annotations

import numpy as np
import pytest
from harness import N_SEQUENCES, RECORDS, TABLES, make_sequences


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--search-sizes",
        default="10000",
        help="corpus sizes of the search benchmark, comma-separated (the documented run: "
        "10000,30000,100000; the largest is built once and cached, 100 MB per 1,000)",
    )
    parser.addoption("--search-plot", default=None, help="draw the search scaling plot here")
    parser.addoption(
        "--search-backend",
        default="auto",
        help="metric backend of the search benchmark's rerank (auto, numba, torch, triton)",
    )
    parser.addoption(
        "--distributed-sizes",
        default="200",
        help="utterances of the Ray embedding benchmark, comma-separated (the documented run: "
        "200,1000; the demo's recordings repeated under new keys)",
    )
    parser.addoption(
        "--scaling-budget",
        type=float,
        default=30.0,
        help="skip scaling cases whose projected GEMM time exceeds this many seconds",
    )


@pytest.fixture(scope="session")
def scaling_budget(request: pytest.FixtureRequest) -> float:
    return float(request.config.getoption("scaling_budget"))


@pytest.fixture(scope="session")
def corpus() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """200 queries and 200 candidates of about 150 frames, d = 512 (float32)."""
    rng = np.random.default_rng(2024)
    return make_sequences(rng, N_SEQUENCES), make_sequences(rng, N_SEQUENCES)


def pytest_terminal_summary(terminalreporter) -> None:
    if RECORDS:
        write_summary(terminalreporter)
    for title, lines in TABLES.items():
        if len(lines) > 2:  # more than the header
            terminalreporter.write_sep("=", title)
            for line in lines:
                terminalreporter.write_line(line)


def write_summary(terminalreporter) -> None:
    best_rate = {
        group: max(r.flops / r.seconds for r in RECORDS if r.group == group and r.flops)
        for group in {r.group for r in RECORDS if r.flops}
    }
    lines = [
        "| group | implementation | items | seconds | items/s | GFLOP/s | % of GEMM | x baseline |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for group in dict.fromkeys(r.group for r in RECORDS):
        members = [r for r in RECORDS if r.group == group]
        base = next((r for r in members if r.baseline), None)
        for r in members:
            rate = r.items / r.seconds if r.items else float("nan")
            gflops = r.flops / r.seconds / 1e9 if r.flops else None
            gemm = best_rate.get(r.yardstick)
            share = f"{100 * r.flops / r.seconds / gemm:.0f}" if (r.flops and gemm) else ""
            speedup = f"{rate / (base.items / base.seconds):.2f}" if base and r.items else ""
            lines.append(
                f"| {group} | {r.name} | {r.items} | {r.seconds:.3f} | {rate:,.1f} | "
                f"{'' if gflops is None else f'{gflops:.1f}'} | {share} | {speedup} |"
            )
    terminalreporter.write_sep("=", "seqsim benchmark summary (min over rounds)")
    for line in lines:
        terminalreporter.write_line(line)
