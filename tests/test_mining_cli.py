"""``seqsim mine``: the pairs of a store's languages as a TSV (the library's pairs), the gold
evaluation and calibration, manifests embedded with a (tiny, random) Whisper, resuming, and
bad input as one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import write_manifest

from seqsim import SeqSim, mine
from seqsim.cli import main
from seqsim.store import EmbeddingStore


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def two_languages(tmp_path) -> EmbeddingStore:
    """English and French of eight sentences, French a noisy copy of English (no model)."""
    rng = np.random.default_rng(11)
    store = EmbeddingStore(tmp_path / "store")
    settings = {"model": "hand", "layers": [0], "dtype": "float32", "hidden_states": 1}
    with store.writer(settings) as writer:
        for sentence in range(8):
            english = rng.standard_normal((int(rng.integers(4, 10)), 8)).astype(np.float32)
            french = english + 0.5 * rng.standard_normal(english.shape).astype(np.float32)
            writer.add(f"en/s{sentence}", {0: english})
            writer.add(f"fr/s{sentence}", {0: french})
    return store


def test_mine_writes_the_librarys_pairs_by_key(two_languages, tmp_path):
    out = tmp_path / "mined"
    result = run("mine", "--sources", two_languages.path, "--targets", two_languages.path,
                 "--source-langs", "en", "--target-langs", "fr", "--layer", "0",
                 "--backend", "numba", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out / "pairs.tsv", sep="\t")
    expected = mine(two_languages, two_languages, layer=0, source_langs=["en"],
                    target_langs=["fr"], metric=SeqSim(backend="numba"))  # fmt: skip
    assert list(written.columns) == ["source_key", "target_key", "score", "margin"]
    assert written[["source_key", "target_key"]].values.tolist() == (
        expected[["source_key", "target_key"]].values.tolist()
    )
    assert np.allclose(written["margin"], expected["margin"], atol=1e-6)
    assert f"mined {len(expected)} pairs" in result.output
    assert not (out / "manifest.tsv").exists()  # stores know no audio paths


def test_evaluate_and_calibrate_score_the_pairs_against_the_sentences(two_languages, tmp_path):
    out = tmp_path / "dev"
    result = run("mine", "--sources", two_languages.path, "--targets", two_languages.path,
                 "--source-langs", "en", "--target-langs", "fr", "--layer", "0",
                 "--backend", "numba", "--calibrate", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    pairs = pd.read_csv(out / "pairs.tsv", sep="\t")
    correct = (pairs["source_key"].str[3:] == pairs["target_key"].str[3:]).to_numpy()
    scores = json.loads((out / "evaluation.json").read_text())
    assert scores["at_threshold"]["mined"] == len(pairs)
    assert scores["at_threshold"]["correct"] == correct.sum()
    assert scores["at_threshold"]["gold"] == 8  # en/sN with fr/sN
    assert scores["at_threshold"]["precision"] == pytest.approx(correct.mean())
    threshold = json.loads((out / "threshold.json").read_text())["threshold"]
    assert threshold == scores["best"]["threshold"]
    assert (out / "precision_recall.png").read_bytes()[:4] == b"\x89PNG"
    assert "calibrated threshold" in result.output


def test_manifests_are_embedded_and_the_pairs_become_a_manifest(tmp_path, tiny_whisper_dir):
    manifest = write_manifest(tmp_path, langs=("en", "fr"), sentences=3)
    out = tmp_path / "mined"
    args = ["mine", "--sources", manifest, "--targets", manifest, "--source-langs", "en",
            "--target-langs", "fr", "--model", tiny_whisper_dir, "--k", "2",
            "--max-per-utterance", "1", "--backend", "numba", "--out", out]  # fmt: skip
    result = run(*args)
    assert result.exit_code == 0, result.output
    pairs = pd.read_csv(out / "pairs.tsv", sep="\t")
    assert list(pairs.columns) == [
        "source_key", "target_key", "source_path", "target_path", "score", "margin"
    ]  # fmt: skip
    assert set(EmbeddingStore(out / "store").keys()) == {
        f"{lang}/{n}" for lang in ("en", "fr") for n in range(3)
    }
    rows = (out / "manifest.tsv").read_text().splitlines()
    assert rows[0] == "id\tlang\tpath\tsentence" and len(rows) == 1 + 2 * len(pairs)
    again = run(*args)  # everything stored and found: nothing embedded or scored again
    assert again.exit_code == 0, again.output
    assert pd.read_csv(out / "pairs.tsv", sep="\t").equals(pairs)


def test_bad_input_is_one_line_naming_it(two_languages, tmp_path):
    base = ["mine", "--sources", two_languages.path, "--targets", two_languages.path,
            "--layer", "0", "--out", tmp_path / "out"]  # fmt: skip
    too_many = run(*base, "--source-langs", "en", "--target-langs", "fr", "--k", "9")
    assert too_many.exit_code == 1
    assert "Error: --k 9 is more than the 8 targets" in too_many.output
    absent = run(*base, "--source-langs", "de")
    assert absent.exit_code == 1 and "no utterance in de; the languages there" in absent.output
    layer = run(*base[:-4], "--layer", "3", "--out", tmp_path / "out")
    assert layer.exit_code == 1 and "not layer 3" in layer.output
    both = run(*base, "--calibrate", "--threshold", "1.0")
    assert both.exit_code == 2 and "--calibrate finds the threshold" in both.output
    margin = run(*base, "--margin", "laser")
    assert margin.exit_code == 2 and "'laser' is not one of" in margin.output
