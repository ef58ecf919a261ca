"""The GPU check (``scripts/gpu_check.sh``, seqsim issue 21) on a machine without a GPU: its dry
run, the budget logic with fake fast and slow parts, the report from fake figures, and the
parts themselves at tiny sizes on the CPU (Triton left out: its interpreter is too slow)."""

from __future__ import annotations

import doctest
import importlib
import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
for folder in ("scripts", "benchmarks"):
    if str(REPOSITORY / folder) not in sys.path:
        sys.path.insert(0, str(REPOSITORY / folder))

from gpu_check import dry_run, plan  # noqa: E402
from gpu_check.figures import Figure, PartLog, PartRecords  # noqa: E402
from gpu_check.parts import target  # noqa: E402
from gpu_check.plan import Part  # noqa: E402
from gpu_check.pytest_outcomes import Outcomes  # noqa: E402
from gpu_check.report import JSON, MARKDOWN, PartOutcome, write_report  # noqa: E402
from gpu_check.runner import NO_CUDA, run_check  # noqa: E402
from gpu_check.sizing import Deadline, Series  # noqa: E402

PYTHONPATH = os.pathsep.join(str(REPOSITORY / f) for f in ("src", "scripts", "benchmarks"))


# ------------------------------------------------------------------ the dry run


def test_dry_run_through_the_shell_script_is_ready(tmp_path):
    result = subprocess.run(
        ["bash", "scripts/gpu_check.sh", "--dry-run"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "gpu_check --dry-run: ready" in result.stdout
    for path in ("test_metric_harness.py", "test_ot.py", "test_triton.py"):
        assert f"'tests/{path}': " in result.stdout  # each file selected some tests


def test_dry_run_names_a_part_whose_function_does_not_exist(monkeypatch):
    broken = Part("broken", 10, "gpu_check.parts.dtw", True, ("seqsim:NoSuchMetric",))
    monkeypatch.setattr(dry_run, "PARTS", (*plan.PARTS, broken))
    problems = dry_run.check_imports()
    assert problems == ["part broken: seqsim:NoSuchMetric: seqsim has no NoSuchMetric"]


def test_dry_run_names_a_test_file_the_selection_misses(monkeypatch):
    counts = Counter({path: 3 for path in dry_run.TEST_FILES})
    del counts["tests/test_ot.py"]
    monkeypatch.setattr(dry_run, "selected_per_file", lambda device: counts)
    assert dry_run.check_test_selection("cuda") == [
        "the CUDA tests select nothing in tests/test_ot.py"
    ]


def test_budgets_fit_the_device_call_and_an_overrun_is_refused():
    # 8 minutes of wall time: the parts, the wheels' install, and a margin must fit in it
    assert plan.DEFAULT_BUDGET + plan.INSTALL_SECONDS + plan.MARGIN_SECONDS <= 8 * 60
    assert plan.budget_problem(plan.DEFAULT_BUDGET) is None
    assert abs(sum(plan.scaled_budgets(100.0).values()) - 100.0) < 1e-9
    problem = plan.budget_problem(500)
    assert problem is not None and "570 s, over the device call's 480 s" in problem
    refused = subprocess.run(
        [sys.executable, "-m", "gpu_check", "--budget", "500", "--out", "unused"],
        env={**os.environ, "PYTHONPATH": PYTHONPATH},
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2 and "over the device call's 480 s" in refused.stderr


def test_the_writer_check_fails_on_a_report_without_the_cut_part(monkeypatch):
    monkeypatch.setattr(dry_run, "fake_outcomes", lambda: [])
    assert dry_run.check_writer() == [
        "the Markdown report lacks the table or the cut part",
        "the JSON report holds 0 figures of the 4 written",
    ]


# ------------------------------------------------------------------ the report


def fake_outcomes() -> list[PartOutcome]:
    gemm = Figure("gemm", "matmul", "8 x 4 x 8", "gemm d=4", seconds=2.0, flops=1e15,
                  yardstick="gemm d=4")  # fmt: skip
    fused = Figure("seqsim", "fused", "10 x 10, d=4", "seqsim 10", items=100, seconds=4.0,
                   flops=6e14, yardstick="gemm d=4")  # fmt: skip
    peer = Figure("seqsim", "padded", "10 x 10, d=4", "seqsim 10", items=100, seconds=10.0,
                  flops=6e14, yardstick="gemm d=4", peer=True)  # fmt: skip
    cut = Figure("seqsim", "fused", "20 x 20, d=4", "seqsim 20", items=400,
                 status="cut: projected 16.0 s, 3.0 s left")  # fmt: skip
    tests = {"passed": 7, "failed": 1, "skipped": 2, "selected": 12, "not_run": 2,
             "failures": ["tests/t.py::test_a[torch-cuda] (call)"], "stopped": ""}  # fmt: skip
    return [
        PartOutcome("gemm", 10, "done", 3.0, PartRecords([gemm], environment={"device": "H0"})),
        PartOutcome("cuda tests", 60, "done", 50.0, PartRecords([], tests=tests)),
        PartOutcome(
            "seqsim", 30, "cut: killed at its 30.0 s budget", 30.0, PartRecords([fused, peer, cut])
        ),  # fmt: skip
        PartOutcome("whisper", 20, NO_CUDA),
    ]


def table_rows(markdown: str) -> dict[tuple[str, str], list[str]]:
    """The figure table's rows by (implementation, size)."""
    rows = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 9 and cells[0] in ("gemm", "seqsim"):
            rows[cells[1], cells[2]] = cells
    return rows


def test_report_derives_rates_from_the_same_run_and_lists_what_was_cut(tmp_path):
    write_report(fake_outcomes(), tmp_path, "fake run")
    markdown = (tmp_path / MARKDOWN).read_text()
    rows = table_rows(markdown)
    # GEMM: 1e15 FLOPs in 2 s = 500 TFLOP/s. Fused: 6e14 / 4 s = 150 TFLOP/s = 30 % of it,
    # 100 pairs / 4 s = 25 pairs/s against the peer's 100 / 10 s = 10: x2.50.
    # | part | implementation | size | seconds | items/s | TFLOP/s | % of GEMM | x peer | note
    assert rows["matmul", "8 x 4 x 8"][3:8] == ["2.000", "", "500.0", "", ""]
    assert rows["fused", "10 x 10, d=4"][3:8] == ["4.000", "25.0", "150.0", "30", "2.50"]
    assert rows["padded", "10 x 10, d=4"][6:9] == ["12", "", "peer"]
    assert rows["fused", "20 x 20, d=4"][3] == "cut: projected 16.0 s, 3.0 s left"
    assert "7 passed, 1 failed, 2 skipped; 2 of 12 selected not run" in markdown
    assert "- FAILED tests/t.py::test_a[torch-cuda] (call)" in markdown
    assert "- part seqsim: cut: killed at its 30.0 s budget" in markdown
    assert "- part whisper: no CUDA device" in markdown
    assert "- device: H0" in markdown
    document = json.loads((tmp_path / JSON).read_text())
    fused = document["figures"][1]
    assert fused["percent_of_gemm"] == pytest.approx(30.0)
    assert fused["x_peer"] == pytest.approx(2.5)
    assert fused["tflops"] == pytest.approx(150.0)
    assert document["figures"][3]["status"].startswith("cut")
    assert document["tests"]["failed"] == 1
    assert [p["status"] for p in document["parts"]][2:] == [
        "cut: killed at its 30.0 s budget",
        NO_CUDA,
    ]


def test_a_log_line_cut_off_by_a_kill_is_skipped(tmp_path):
    log = PartLog(tmp_path / "part.jsonl")
    log.figure(Figure("dtw", "numba", "2 x 2", "dtw", items=4, seconds=1.0))
    with (tmp_path / "part.jsonl").open("a") as file:
        file.write('{"figure": {"part": "dtw", "implem')  # the kill came mid-write
    assert [f.items for f in PartLog.read(tmp_path / "part.jsonl").figures] == [4]


# ------------------------------------------------------------------ the budgets


def test_series_cuts_a_size_projected_past_the_deadline_and_every_size_after():
    series = Series(Deadline.after(1.0))
    first = series.measure(1.0, lambda: time.sleep(0.05))
    assert isinstance(first, float) and 0.05 <= first < 0.5
    second = series.measure(2.0, lambda: time.sleep(0.1))  # 0.1 s projected: it runs
    assert isinstance(second, float) and second >= 0.1
    ran = []
    cut = series.measure(100.0, lambda: ran.append(1))  # ~5 s projected, < 1 s left
    assert isinstance(cut, str) and cut.startswith("cut: projected") and not ran
    assert series.measure(1.0, lambda: ran.append(1)) == cut and not ran


FAKE_PARTS = {
    "fake_fast": """
        def run(log, deadline):
            log.figure(Figure("fast", "quick", "1", "fast", items=1, seconds=0.1))
    """,
    "fake_slow": """
        import time
        def run(log, deadline):
            log.figure(Figure("slow", "first size", "1", "slow", items=1, seconds=0.1))
            time.sleep(600)  # a hung kernel: only a kill ends it
    """,
    "fake_no_cuda": """
        def run(log, deadline):
            log.environment({"cuda_available": False, "device": "no CUDA device"})
    """,
}


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    for name, body in FAKE_PARTS.items():
        code = "from gpu_check.figures import Figure\n" + textwrap.dedent(body)
        (tmp_path / f"{name}.py").write_text(code)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), PYTHONPATH]))
    return tmp_path


def test_a_part_that_overruns_is_cut_and_the_next_part_still_runs(fake_parts, tmp_path):
    parts = [
        Part("slow", 6.0, "fake_slow", False, ()),
        Part("fast", 10.0, "fake_fast", False, ()),
    ]
    out, work = tmp_path / "out", tmp_path / "work"
    work.mkdir()
    started = time.monotonic()
    outcomes = run_check(out, 16.0, work, "fake", parts)
    assert time.monotonic() - started < 16.0  # the slow part was killed at its 6 s
    slow, fast = outcomes
    assert slow.status == "cut: killed at its 6.0 s budget" and 6.0 <= slow.seconds < 7.0
    assert [f.implementation for f in slow.records.figures] == ["first size"]  # kept
    assert fast.status == "done" and [f.part for f in fast.records.figures] == ["fast"]
    document = json.loads((out / JSON).read_text())
    assert [f["part"] for f in document["figures"]] == ["slow", "fast"]


def test_parts_that_need_cuda_do_not_run_without_it(fake_parts, tmp_path):
    parts = [
        Part("device", 10.0, "fake_no_cuda", False, ()),
        Part("gpu", 10.0, "fake_fast", True, ()),
    ]
    work = tmp_path / "work"
    work.mkdir()
    device, gpu = run_check(tmp_path / "out", 20.0, work, "fake", parts)
    assert device.status == "done"
    assert gpu.status == NO_CUDA and gpu.records.figures == []
    assert "- part gpu: no CUDA device" in (tmp_path / "out" / MARKDOWN).read_text()


def test_the_test_counter_stops_the_session_when_the_budget_is_spent(tmp_path):
    (tmp_path / "test_fake.py").write_text(
        textwrap.dedent("""
            import pytest
            def test_passes(): pass
            def test_fails(): assert False
            @pytest.mark.skip(reason="no")
            def test_skipped(): pass
            def test_later(): pass
        """)
    )
    counts = []

    class Log:
        def tests(self, record):
            counts.append(dict(record))

    arguments = ["-q", "-p", "no:cacheprovider", "-c", os.devnull, "--rootdir", str(tmp_path)]
    pytest.main([*arguments, str(tmp_path)], plugins=[Outcomes(Log(), Deadline.after(600))])
    whole = counts[-1]
    assert (whole["passed"], whole["failed"], whole["skipped"], whole["not_run"]) == (2, 1, 1, 0)
    assert whole["failures"] == ["test_fake.py::test_fails (call)"]
    counts.clear()
    pytest.main([*arguments, str(tmp_path)], plugins=[Outcomes(Log(), Deadline.after(-1))])
    stopped = counts[-1]  # the budget was spent before the first test ended
    assert (stopped["passed"], stopped["selected"], stopped["not_run"]) == (1, 4, 3)
    assert stopped["stopped"] == "the part's budget ran out"


# ------------------------------------------------------------------ the parts, tiny, on the CPU


@pytest.fixture
def cpu_parts(monkeypatch):
    monkeypatch.setattr(target, "DEVICE", "cpu")
    modules = {
        name: importlib.import_module(f"gpu_check.parts.{name}")
        for name in ("seqsim", "dtw", "sinkhorn", "search")
    }
    tiny = {
        "seqsim": {"SIZES": (4, 8), "FRAMES": 6, "IMPLEMENTATIONS": ("torch", "padded bmm")},
        "dtw": {"DEVICE_SIZES": (3, 4), "PEER_SIZE": 3, "DEVICE_BACKENDS": ("torch",)},
        "sinkhorn": {"DEVICE_SIZES": (3,), "PEER_SIZE": 2},
        "search": {"CANDIDATES": 60, "QUERIES": 4, "CENTROIDS": 8, "DEVICE_BACKENDS": ("torch",)},
    }
    for name, constants in tiny.items():
        for constant, value in constants.items():
            monkeypatch.setattr(modules[name], constant, value)
    return modules


@pytest.mark.filterwarnings("ignore")
def test_every_part_runs_at_tiny_sizes_on_the_cpu(cpu_parts, tmp_path):
    log = PartLog(tmp_path / "parts.jsonl")
    for module in cpu_parts.values():
        module.run(log, Deadline.after(120))
    figures = PartLog.read(tmp_path / "parts.jsonl").figures
    assert all(f.measured for f in figures), [f for f in figures if not f.measured]
    seqsim = [(f.implementation, f.size, f.items) for f in figures if f.part == "seqsim"]
    assert seqsim[:3] == [
        ("SeqSim, torch", "4 x 4, d=512", 16),
        ("padded bmm (peer)", "4 x 4, d=512", 16),
        ("SeqSim, torch", "4 x 4, d=1280", 16),
    ]
    assert len(seqsim) == 8  # 2 sizes x 2 widths x 2 implementations
    by_part = Counter(f.part for f in figures)
    assert by_part == {"seqsim": 8, "dtw": 3, "sinkhorn": 3, "search": 2}
    assert sum(f.peer for f in figures) == 4 + 1 + 1 + 1  # padded bmm x 4, numba, POT, numba


# ------------------------------------------------------------------ the docstring examples


@pytest.mark.parametrize(
    "module", ["figures", "sizing", "timing", "plan"], ids=lambda name: f"gpu_check.{name}"
)
def test_docstring_examples(module):
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    imported = importlib.import_module(f"gpu_check.{module}")
    failures, tried = doctest.testmod(imported, optionflags=flags, extraglobs={}, globs={})
    assert tried > 0 and failures == 0
