import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import random_sequences

from seqsim import PackedSequences
from seqsim.evaluation import RetrievalResult, evaluate_embeddings
from seqsim.evaluation_options import ScoringOptions
from seqsim.report import (
    layer_ablation,
    plot_heatmap,
    plot_layer_ablation,
    result_heatmap,
    write_report,
)
from seqsim.result_file import ResultFileError


def packed(sequences):
    return PackedSequences.from_lengths(np.concatenate(sequences), [len(s) for s in sequences])


def hand_result():
    """Three languages; R@1 values whose percentages end in .5 (where rounding half to even to
    integers went wrong) and one third."""
    pairs = [("en", "fr", 0.275), ("en", "de", 0.225), ("fr", "en", 1 / 3)]
    pairs += [("fr", "de", 0.125), ("de", "en", 0.5), ("de", "fr", 0.0)]
    summary = pd.DataFrame(
        {
            "query_lang": [q for q, _, _ in pairs],
            "candidate_lang": [c for _, c, _ in pairs],
            "n": 40,
            "chance": 1 / 40,
            "r@1": [v for _, _, v in pairs],
            "r@5": 1.0,
            "r@10": 1.0,
            "mrr": 0.5,
        }
    )
    return RetrievalResult(
        ["en", "fr", "de"], summary, pd.DataFrame(), {"metric": "seqsim", "normalization": "none"}
    )


def test_heatmap_cells_equal_the_csv_table(tmp_path):
    result = hand_result()
    files = write_report(result, tmp_path)
    table = pd.read_csv(files["r_at_1.csv"], index_col=0)
    axes = result_heatmap(result).axes[0]
    cells = {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in axes.texts
    }
    expected = {
        ("en", "fr"): "27.5",
        ("en", "de"): "22.5",
        ("fr", "en"): "33.3",
        ("fr", "de"): "12.5",
        ("de", "en"): "50.0",
        ("de", "fr"): "0.0",
    }
    languages = ["en", "fr", "de"]
    for i, q in enumerate(languages):
        for j, c in enumerate(languages):
            if q == c:
                assert cells[(i, j)] == "—" and np.isnan(table.loc[q, c])
            else:
                assert cells[(i, j)] == expected[(q, c)]
                assert float(cells[(i, j)]) == table.loc[q, c]
    note = result_heatmap(result).texts[0].get_text()
    assert "N = 40 sentences" in note and "chance 2.5 %" in note
    assert result.settings_hash in note


def test_heatmap_shows_bootstrap_intervals_under_the_values():
    result = hand_result()
    result.summary["ci_low"] = result.summary["r@1"] - 0.1
    result.summary["ci_high"] = result.summary["r@1"] + 0.05
    texts = [t.get_text() for t in result_heatmap(result).axes[0].texts]
    assert "[17.5, 32.5]" in texts and "[12.5, 27.5]" in texts


def test_plots_draw_into_given_axes_and_the_layer_plot_has_a_chance_line(tmp_path):
    from matplotlib.figure import Figure

    figure = Figure()
    left, right = figure.subplots(1, 2)
    matrix = pd.DataFrame({"en": [np.nan, 60.0], "fr": [40.0, np.nan]}, index=["en", "fr"])
    assert plot_heatmap(matrix, ax=left) is figure
    table = pd.DataFrame({"mean r@1 (%)": [20.0, 35.0]}, index=pd.Index([4, 6], name="layer"))
    assert plot_layer_ablation(table, ax=right, chance=2.5) is figure
    chance_line = right.get_lines()[1]
    assert list(chance_line.get_ydata()) == [2.5, 2.5]
    path = tmp_path / "layers.pdf"
    plot_layer_ablation(table, path)
    assert path.read_bytes().startswith(b"%PDF")
    with pytest.raises(ValueError, match="layers.gif"):
        plot_layer_ablation(table, tmp_path / "layers.gif")


def test_write_report_then_load_gives_an_equal_result(tmp_path):
    rng = np.random.default_rng(3)
    source = random_sequences(rng, 6, 8, min_len=3, max_len=7)
    noisy = [s + 0.3 * rng.standard_normal(s.shape).astype(np.float32) for s in source]
    ids = ["007", "1", "NA", "s3", "s4", "s5"]  # ids a CSV reader would turn into numbers or NaN
    embeddings = {"fr": (ids, packed(source)), "en": (ids, packed(noisy))}
    result = evaluate_embeddings(embeddings, "seqsim", scoring=ScoringOptions(bootstrap=20, seed=4))
    result.failures = [{"key": "en/s9", "source": "s9.wav", "reason": "s9.wav: not audio"}]
    result.diagnostics = {"pairs": 3}
    folder = tmp_path / "report"
    write_report(result, folder)
    loaded = RetrievalResult.load(folder)
    assert loaded == result
    assert loaded.languages == ["fr", "en"] and list(loaded.ranks["id"][:3]) == ids[:3]
    assert loaded.settings_hash == result.settings_hash
    pd.testing.assert_frame_equal(loaded.matrix("r@5"), result.matrix("r@5"))
    assert RetrievalResult.load(folder / "results.json") == result
    # equality can fail: one rank off, or the ranks left behind
    changed = RetrievalResult.load(folder)
    changed.ranks.loc[0, "rank"] += 1
    assert changed != result
    (folder / "ranks.csv").unlink()
    with pytest.raises(ResultFileError, match="ranks.csv: missing"):
        RetrievalResult.load(folder)


def test_results_json_states_schema_and_units(tmp_path):
    data = json.loads(write_report(hand_result(), tmp_path)["results.json"].read_text())
    assert data["schema"] == 1
    assert data["units"] == {
        "n": "count",
        "chance": "fraction",
        "r@1": "fraction",
        "r@5": "fraction",
        "r@10": "fraction",
        "mrr": "fraction",
    }
    assert data["mean"]["r@1"] == pytest.approx((0.275 + 0.225 + 1 / 3 + 0.125 + 0.5) / 6)


def test_load_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results.json"):
        RetrievalResult.load(tmp_path)
    (tmp_path / "results.json").write_text('{"schema": 99, "pairs": []}')
    with pytest.raises(ValueError, match="results schema 99"):
        RetrievalResult.load(tmp_path)
    (tmp_path / "results.json").write_text('{"schema": 1, "pairs": []}')
    with pytest.raises(ValueError, match="lacks units, settings, settings_hash, languages"):
        RetrievalResult.load(tmp_path)


def test_layer_ablation_table_feeds_the_plot():
    result = hand_result()
    figure = plot_layer_ablation(layer_ablation({6: result, 4: result}))
    assert [float(y) for y in figure.axes[0].get_lines()[0].get_ydata()] == pytest.approx(
        [100 * result.mean()] * 2
    )


def test_importing_the_report_module_leaves_the_matplotlib_backend_alone():
    code = (
        "import matplotlib; before = matplotlib.get_backend(); import seqsim.report; "
        "import seqsim.cli; print(before, matplotlib.get_backend())"
    )
    env = {"MPLBACKEND": "pdf", "PATH": ""}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["pdf", "pdf"]
