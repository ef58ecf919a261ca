"""Every script in examples/ runs as printed (a subprocess, on a small input) and prints what it
promises. Scores and R@1 are checked against numpy formulas applied to the stored frames.

The scripts that embed share one store, made here once: the first 4 demo sentences in English
and French, every layer of the offline whisper-base (what each script would embed itself).
A new script in examples/ without an entry in CHECKS fails ``test_example``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODEL = "whisper-base-offline"
LANGS = ("en", "fr")
SENTENCES = 4
SMALL = ["--langs", ",".join(LANGS), "--sentences", str(SENTENCES)]
FINAL_LAYER = 6  # whisper-base: hidden states 0 (input embeddings) to 6
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# ---------------------------------------------------------------------- the shared store


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first SENTENCES demo sentences in LANGS, every layer, embedded once."""
    from seqsim import EmbeddingStore, WhisperEmbedder
    from seqsim.corpus import Corpus, demo_corpus
    from seqsim.embed_runs import embed

    sentences = [f"s{number:02d}" for number in range(1, SENTENCES + 1)]
    corpus = Corpus([u for u in demo_corpus().utterances if u.lang in LANGS and u.id in sentences])
    path = tmp_path_factory.mktemp("examples") / "store"
    embedder = WhisperEmbedder(MODEL, layers="all", progress=False)
    report = embed(EmbeddingStore(path), corpus.audio_items(), embedder)
    assert report.embedded == len(LANGS) * SENTENCES and not report.failures
    return path


# ---------------------------------------------------------------------- references (numpy)


def stored_frames(store: Path, layer: int) -> dict[str, np.ndarray]:
    """``lang/id`` -> float64 frames of ``layer``."""
    from seqsim import EmbeddingStore

    keys, frames = EmbeddingStore(store).load(layer)
    return {key: np.asarray(frames[row], dtype=np.float64) for row, key in enumerate(keys)}


def precision_recall(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean best cosine of each frame of ``y`` in ``x`` (P) and of ``x`` in ``y`` (R)."""
    cosines = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (
        y / np.linalg.norm(y, axis=1, keepdims=True)
    ).T
    return float(cosines.max(axis=0).mean()), float(cosines.max(axis=1).mean())


def seqsim(x: np.ndarray, y: np.ndarray) -> float:
    precision, recall = precision_recall(x, y)
    return 2 * precision * recall / (precision + recall)


def chamfer(x: np.ndarray, y: np.ndarray) -> float:
    return sum(precision_recall(x, y)) / 2


def avgsim(x: np.ndarray, y: np.ndarray) -> float:
    a, b = x.mean(axis=0), y.mean(axis=0)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def r_at_1(
    frames: dict[str, np.ndarray], metric: Callable[[np.ndarray, np.ndarray], float]
) -> dict[str, float]:
    """R@1 (%) per ordered pair ``q→c`` of LANGS and their mean. A query's own translation must
    beat every candidate before it and tie at best with those after (the evaluator's tie rule:
    sentence id order)."""
    ids = [f"s{number:02d}" for number in range(1, SENTENCES + 1)]
    table = {}
    for query_lang in LANGS:
        for candidate_lang in LANGS:
            if query_lang == candidate_lang:
                continue
            hits = 0
            for i, sentence in enumerate(ids):
                query = frames[f"{query_lang}/{sentence}"]
                scores = [metric(query, frames[f"{candidate_lang}/{other}"]) for other in ids]
                target = scores[i]
                hits += all(s < target for s in scores[:i]) and all(
                    s <= target for s in scores[i + 1 :]
                )
            table[f"{query_lang}→{candidate_lang}"] = 100 * hits / len(ids)
    table["mean"] = sum(table.values()) / len(table)
    return table


# ---------------------------------------------------------------------- running and reading


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``python ARGS`` in ``cwd``; its stdout (the test fails with stderr on an error)."""
    done = subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"exit code {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def tables(text: str) -> list[pd.DataFrame]:
    """The markdown pipe tables in ``text``, first column as index; ``—`` reads as NaN."""
    found: list[list[list[str]]] = []
    previous_was_row = False
    for line in text.splitlines():
        is_row = line.startswith("|") and line.endswith("|")
        if is_row and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if not previous_was_row:
                found.append([])
            found[-1].append(cells)
        previous_was_row = is_row
    frames = []
    for header, *rows in found:
        values = [[math.nan if v == "—" else float(v) for v in row[1:]] for row in rows]
        index = pd.Index([row[0] for row in rows], name=header[0])
        frames.append(pd.DataFrame(values, index=index, columns=header[1:]))
    return frames


def number_after(label: str, text: str) -> float:
    match = re.search(rf"{re.escape(label)}\s*(-?[\d.]+)", text)
    assert match, f"{label!r} not in the output:\n{text}"
    return float(match[1])


def assert_matches(row: pd.Series, expected: dict[str, float]) -> None:
    """A printed R@1 row (one decimal) against the reference, pair by pair and the mean."""
    assert set(row.index) == set(expected), (list(row.index), list(expected))
    for column, value in expected.items():
        assert row[column] == pytest.approx(value, abs=0.051), column


def pair_row(matrix: pd.DataFrame) -> dict[str, float]:
    """A query x candidate R@1 matrix as ``q→c`` values plus their mean, like ``r_at_1``."""
    values = {
        f"{q}→{c}": float(matrix.loc[q, c]) for q in matrix.index for c in matrix.columns if q != c
    }
    values["mean"] = sum(values.values()) / len(values)
    return values


# ---------------------------------------------------------------------- one check per script


def check_quickstart(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    output = run(EXAMPLES / "quickstart.py", cwd=tmp_path)  # the two bundled demo files
    score = number_after("SeqSim =", output)
    precision, recall = number_after("precision", output), number_after("recall", output)
    assert -1 <= score <= 1
    assert score == pytest.approx(2 * precision * recall / (precision + recall), abs=2e-4)
    frames = stored_frames(request.getfixturevalue("demo_store"), FINAL_LAYER)
    # the store keeps float16 frames; the script scores the encoder's float32 ones
    assert score == pytest.approx(seqsim(frames["en/s01"], frames["fr/s01"]), abs=5e-3)


def check_compare_metrics(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = request.getfixturevalue("demo_store")
    output = run(EXAMPLES / "compare_metrics.py", *SMALL, "--store", store, cwd=tmp_path)
    (table,) = tables(output)
    assert list(table.index) == ["seqsim", "avgsim", "dtw", "ot"]
    assert list(table.columns) == ["en→fr", "fr→en", "mean"]
    assert ((table >= 0) & (table <= 100)).all().all()
    assert np.allclose(table["mean"], table[["en→fr", "fr→en"]].mean(axis=1), atol=0.051)
    frames = stored_frames(store, FINAL_LAYER)
    assert_matches(table.loc["seqsim"], r_at_1(frames, seqsim))
    assert_matches(table.loc["avgsim"], r_at_1(frames, avgsim))


def check_layer_sweep(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = request.getfixturevalue("demo_store")
    output = run(EXAMPLES / "layer_sweep.py", *SMALL, "--store", store, cwd=tmp_path)
    (table,) = tables(output)
    assert list(table.index) == [str(layer) for layer in range(FINAL_LAYER + 1)]
    for layer in range(FINAL_LAYER + 1):
        assert_matches(table.loc[str(layer)], r_at_1(stored_frames(store, layer), seqsim))
    png = tmp_path / "layer_sweep.png"  # the default
    assert f"plot: {png.name}" in output
    assert png.read_bytes().startswith(PNG_SIGNATURE)


def check_own_manifest(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = request.getfixturevalue("demo_store")
    out = tmp_path / "own"
    output = run(EXAMPLES / "own_manifest.py", *SMALL, "--store", store, "--out", out, cwd=tmp_path)
    lines = (out / "manifest.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id\tlang\tpath"
    rows = [line.split("\t") for line in lines[1:]]
    expected = [(f"s{n:02d}", lang) for lang in LANGS for n in range(1, SENTENCES + 1)]
    assert [(sentence, lang) for sentence, lang, _ in rows] == expected
    assert all(Path(path).is_file() for _, _, path in rows)
    # the store already holds these utterances (same keys): nothing is embedded again
    assert f"embedded 0, already stored {len(expected)}, failed 0" in output
    report = out / "report"
    for name in ("r_at_1.csv", "results.json", "ranks.csv", "report.md"):
        assert (report / name).stat().st_size > 0, name
    assert (report / "heatmap.png").read_bytes().startswith(PNG_SIGNATURE)
    expected_r1 = r_at_1(stored_frames(store, FINAL_LAYER), seqsim)
    (matrix,) = tables(output)
    assert_matches(pd.Series(pair_row(matrix)), expected_r1)
    results = json.loads((report / "results.json").read_text())
    assert 100 * results["mean"]["r@1"] == pytest.approx(expected_r1["mean"])


def check_custom_metric(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = request.getfixturevalue("demo_store")
    out = tmp_path / "cli-report"
    output = run(
        EXAMPLES / "custom_metric.py", *SMALL, "--store", store, "--out", out, cwd=tmp_path
    )
    frames = stored_frames(store, FINAL_LAYER)
    evaluator = tables(output)[0]  # evaluate(..., metric="chamfer"), printed first
    assert_matches(pd.Series(pair_row(evaluator)), r_at_1(frames, chamfer))
    # the CLI, in its own process, imported the script and selected its metric by name
    (csv,) = out.glob("metric_comparison_layer*.csv")
    comparison = pd.read_csv(csv, index_col="metric")
    assert list(comparison.index) == ["seqsim", "chamfer"]
    assert_matches(comparison.loc["chamfer"], r_at_1(frames, chamfer))
    assert_matches(comparison.loc["seqsim"], r_at_1(frames, seqsim))


def check_bench_metric(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    output = run(
        "-m",
        "pytest",
        EXAMPLES / "bench_metric.py",
        "--benchmark-min-rounds=1",
        "--benchmark-max-time=0",
        "-p",
        "no:cacheprovider",
        cwd=Path(request.config.rootpath),
        env={"BENCH_SEQUENCES": "4"},
    )
    assert re.search(r"\b2 passed\b", output), output
    # one benchmark group holds both, so pytest-benchmark prints their ratio
    assert "benchmark 'SeqSim matrix': 2 tests" in output
    assert "test_naive_numpy" in output and "test_seqsim_numba" in output


def check_search_store(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = request.getfixturevalue("demo_store")
    output = run(EXAMPLES / "search_store.py", *SMALL, "--store", store, "--k", "2", cwd=tmp_path)
    frames = stored_frames(store, FINAL_LAYER)
    ids = [f"s{number:02d}" for number in range(1, SENTENCES + 1)]
    hits = dict(re.findall(r"^(en/s\d\d): (.+)$", output, flags=re.MULTILINE))
    assert sorted(hits) == [f"en/{sentence}" for sentence in ids]
    top_is_translation = 0
    for query, shown in hits.items():
        found = re.findall(r"(\S+/\S+) (-?[\d.]+)( \*)?", shown)
        assert len(found) == 2
        # the index holds every fr utterance (fewer than its shortlist): its top 2 are the
        # exhaustive top 2, scored exactly
        expected = sorted(
            ((seqsim(frames[query], frames[f"fr/{s}"]), f"fr/{s}") for s in ids), reverse=True
        )[:2]
        for (key, score, star), (expected_score, expected_key) in zip(found, expected, strict=True):
            assert key == expected_key
            assert float(score) == pytest.approx(expected_score, abs=6e-4)
            assert bool(star) == (key.split("/")[1] == query.split("/")[1])
        top_is_translation += found[0][0].split("/")[1] == query.split("/")[1]
    assert number_after("R@1 among all other languages):", output) == pytest.approx(
        100 * top_is_translation / len(ids), abs=0.051
    )
    assert number_after("top-1 agreement with exhaustive search:", output) == 100.0


def check_ray_cluster(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    for module in ("ray", "ray.data"):  # ray first: finding ray.data imports ray
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the Ray example needs {module}, the extra seqsim-speech[ray]")
    store = request.getfixturevalue("demo_store")
    output = run(
        EXAMPLES / "ray_cluster.py", *SMALL, "--store", store, "--workers", "1", cwd=tmp_path
    )
    assert f"embedded on Ray: 0, already stored {len(LANGS) * SENTENCES}" in output
    (matrix,) = tables(output)
    assert_matches(pd.Series(pair_row(matrix)), r_at_1(stored_frames(store, FINAL_LAYER), seqsim))
    assert "the same as scored in this process: yes" in output


Check = Callable[[Path, pytest.FixtureRequest], None]
CHECKS: dict[str, Check] = {
    "quickstart.py": check_quickstart,
    "compare_metrics.py": check_compare_metrics,
    "layer_sweep.py": check_layer_sweep,
    "own_manifest.py": check_own_manifest,
    "custom_metric.py": check_custom_metric,
    "bench_metric.py": check_bench_metric,
    "search_store.py": check_search_store,
    "ray_cluster.py": check_ray_cluster,
}
LOADS_WHISPER = {
    "quickstart.py",
    "compare_metrics.py",
    "layer_sweep.py",
    "own_manifest.py",
    "custom_metric.py",
    "search_store.py",
}
"""The scripts that load the real whisper-base (marked slow; they still run in CI)."""


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(path.name, marks=[pytest.mark.slow] if path.name in LOADS_WHISPER else [])
        for path in sorted(EXAMPLES.glob("*.py"))
    ],
)
def test_example(script: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if script not in CHECKS:
        pytest.fail(f"examples/{script} has no check: add one to CHECKS in {Path(__file__).name}")
    CHECKS[script](tmp_path, request)


def test_every_example_documents_how_to_run_it() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for path in sorted(EXAMPLES.glob("*.py")):
        docstring = path.read_text(encoding="utf-8").split('"""')[1]
        assert f"examples/{path.name}" in docstring, f"{path.name}: no command in its docstring"
        assert f"({path.name})" in readme, f"{path.name} is not in examples/README.md"
