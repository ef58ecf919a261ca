"""Packaging: the distribution name and version, the optional dependencies, the lazy package
and a command line that starts without torch."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import seqsim
from seqsim import _version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
HEAVY = ("torch", "transformers", "numba", "ot", "ray", "faiss")


def _python(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter and return what it printed."""
    environment = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"} | env
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    "arguments", [["--help"], ["evaluate", "--help"], ["embed", "--help"], ["map", "--help"]]
)
def test_the_cli_help_loads_no_heavy_module(arguments):
    printed = _python(
        "import json, sys\n"
        "import seqsim.cli\n"
        "try:\n"
        f"    seqsim.cli.main({arguments!r})\n"
        "except SystemExit as end:\n"
        "    assert end.code == 0, end.code\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    usage, loaded = printed.rsplit("\n", 2)[0], json.loads(printed.rsplit("\n", 2)[1])
    assert "Usage: " in usage
    assert loaded == []


def test_import_seqsim_is_lazy_and_sets_the_openmp_spin_count_first():
    printed = _python(
        "import os, sys\n"
        "import seqsim\n"
        "print('torch' in sys.modules, os.environ['GOMP_SPINCOUNT'])\n"
        "from seqsim import SeqSim\n"
        "import seqsim.metrics\n"
        "print(SeqSim is seqsim.metrics.SeqSim, 'torch' in sys.modules)\n"
    )
    assert printed.split("\n")[:2] == ["False 0", "True True"]


def test_a_saved_result_is_read_without_the_evaluation_pipeline():
    """The result type, its file checks and the report do not depend on the evaluator; the
    evaluator re-exports the same class."""
    printed = _python(
        "import sys\n"
        "import seqsim.result_file, seqsim.report\n"
        "print('seqsim.evaluation' in sys.modules)\n"
        "import seqsim.evaluation, seqsim.result\n"
        "print(seqsim.evaluation.RetrievalResult is seqsim.result.RetrievalResult)\n"
    )
    assert printed.split("\n")[:2] == ["False", "True"]


def test_every_public_name_resolves_and_unknown_names_raise():
    for name in seqsim.__all__:
        assert getattr(seqsim, name) is not None, name
    assert set(seqsim.__all__) <= set(dir(seqsim))
    with pytest.raises(AttributeError, match="module 'seqsim' has no attribute 'NoSuchName'"):
        _ = seqsim.NoSuchName  # type: ignore[attr-defined]


def test_the_distribution_name_and_version_are_pyprojects():
    assert _version.DISTRIBUTION == PROJECT["name"] == "seqsim-speech"
    assert _version._source_version() == PROJECT["version"]
    # installed under the new name, or run from this source tree: pyproject's version either way
    assert seqsim.__version__ == PROJECT["version"]


def test_seqsim_version_names_the_distribution():
    from click.testing import CliRunner

    from seqsim.cli import main

    result = CliRunner().invoke(main, ["--version"], prog_name="seqsim")
    assert result.exit_code == 0
    assert result.output == f"seqsim (seqsim-speech), version {PROJECT['version']}\n"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_librosa_and_fastdtw_are_not_runtime_dependencies():
    dependencies = " ".join(PROJECT["dependencies"])
    assert "librosa" not in dependencies and "fastdtw" not in dependencies
    extras = PROJECT["optional-dependencies"]
    assert any(d.startswith("fastdtw") for d in extras["fastdtw"])
    assert {"librosa", "fastdtw"} <= {d.split(">")[0] for d in extras["dev"]}
    # the library itself never imports librosa, and fastdtw only inside a function
    sources = sorted((ROOT / "src" / "seqsim").rglob("*.py"))
    assert not [p for p in sources if "librosa" in _imported_modules(p)]
    top_level = {
        p
        for p in sources
        for node in ast.parse(p.read_text()).body
        if isinstance(node, ast.ImportFrom | ast.Import)
        and "fastdtw" in ast.unparse(node).replace("_fastdtw", "")
    }
    assert not top_level


def test_dtw_fastdtw_without_the_package_names_the_extra(monkeypatch):
    from seqsim import DTWSim

    monkeypatch.setitem(sys.modules, "fastdtw", None)  # what a missing package looks like
    with pytest.raises(ImportError, match=r"pip install 'seqsim-speech\[fastdtw\]'"):
        DTWSim(method="fastdtw")
    # the exact DTW does not need it: one frame against itself costs 1 - 1 = 0
    frame = [np.array([[1.0, 0.0]], dtype=np.float32)]
    assert DTWSim(backend="numba").matrix(frame, frame)[0, 0] == pytest.approx(0.0)


def test_dtw_fastdtw_with_the_package_runs(monkeypatch):
    pytest.importorskip("fastdtw")
    from seqsim import DTWSim

    # two identical sequences align on the diagonal at cost 0: similarity 0
    frames = [np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)]
    assert DTWSim(method="fastdtw").matrix(frames, frames)[0, 0] == pytest.approx(0.0)


def test_the_cli_shows_store_errors_once_the_store_is_loaded():
    from seqsim.cli.errors import library_errors
    from seqsim.store import StoreError

    assert StoreError in library_errors() and ValueError in library_errors()


def test_license_file_is_mit():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 seqsim developers\n")
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
