import json

import numpy as np
import pandas as pd
import pytest
import soundfile
from click.testing import CliRunner
from helpers import tone

from seqsim.cli import main


@pytest.fixture
def manifest(tmp_path):
    """Three 'languages' of five 'sentences': each sentence is a tone of its own pitch."""
    rows = ["id\tlang\tpath"]
    for lang, shift in (("aa", 0.0), ("bb", 3.0), ("cc", 7.0)):
        for k in range(5):
            path = tmp_path / "audio" / lang / f"{k}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, tone(0.5 + 0.1 * k, frequency=200.0 + 150 * k + shift), 16_000)
            rows.append(f"{k}\t{lang}\taudio/{lang}/{k}.wav")
    path = tmp_path / "corpus.tsv"
    path.write_text("\n".join(rows) + "\n")
    return path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_embed_then_evaluate_a_store(manifest, tiny_whisper_dir, tmp_path):
    store = tmp_path / "store"
    result = run("embed", manifest, "--model", tiny_whisper_dir, "--layers", "1,2", "--out", store)
    assert result.exit_code == 0, result.output
    assert "embedded 15, already stored 0, failed 0" in result.output
    again = run("embed", manifest, "--model", tiny_whisper_dir, "--layers", "1,2", "--out", store)
    assert "embedded 0, already stored 15" in again.output
    out = tmp_path / "report"
    result = run(
        "evaluate",
        "--store",
        store,
        "--metric",
        "seqsim",
        "--langs",
        "aa,bb",
        "--layer",
        "2",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "R@1 (%) seqsim" in result.output and "| aa | — |" in result.output
    table = pd.read_csv(out / "r_at_1.csv", index_col=0)
    assert list(table.index) == ["aa", "bb"] and list(table.columns) == ["aa", "bb"]
    assert np.isnan(table.loc["aa", "aa"]) and 0 <= table.loc["aa", "bb"] <= 100
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["layer"] == 2 and results["settings"]["metric"] == "seqsim"
    assert len(results["pairs"]) == 2 and len(results["settings_hash"]) == 12
    assert (out / "heatmap.png").stat().st_size > 1000 and (out / "report.md").is_file()


def test_evaluate_a_manifest_with_several_metrics_and_layers(manifest, tiny_whisper_dir, tmp_path):
    out = tmp_path / "report"
    result = run(
        "evaluate",
        "--manifest",
        manifest,
        "--model",
        tiny_whisper_dir,
        "--metric",
        "seqsim,avgsim",
        "--layer",
        "1,2",
        "--out",
        out,
        "--normalization",
        "csls",
        "--k",
        "2",
        "--figure-format",
        "svg",
    )
    assert result.exit_code == 0, result.output
    comparison = pd.read_csv(out / "metric_comparison_layer1.csv", index_col=0)
    assert list(comparison.index) == ["seqsim", "avgsim"] and "aa→bb" in comparison.columns
    assert (out / "layer_ablation_seqsim.svg").read_text().startswith("<?xml")
    ablation = pd.read_csv(out / "layer_ablation_avgsim.csv", index_col=0)
    assert list(ablation.index) == [1, 2]
    # one folder per (metric, layer), the first one included; nothing of a single run on top
    for name in ("seqsim", "avgsim"):
        for layer in (1, 2):
            folder = out / f"{name}_layer{layer}"
            assert (folder / "r_at_1.csv").is_file() and (folder / "heatmap.svg").is_file()
            assert json.loads((folder / "results.json").read_text())["settings"]["layer"] == layer
    assert not (out / "results.json").exists() and not (out / "r_at_1.csv").exists()
    assert "without normalisation" in (out / "seqsim_layer1" / "report.md").read_text()


def test_evaluate_keeps_the_language_order_and_both_layer_spellings(
    manifest, tiny_whisper_dir, tmp_path
):
    store = tmp_path / "store"
    # embed takes --layer as well as --layers; evaluate --layers as well as --layer
    assert (
        run(
            "embed", manifest, "--model", tiny_whisper_dir, "--layer", "2", "--out", store
        ).exit_code
        == 0
    )
    out = tmp_path / "report"
    result = run(
        "evaluate",
        "--store",
        store,
        "--langs",
        "cc,aa,bb",
        "--layers",
        "2",
        "--bootstrap",
        "50",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "r_at_1.csv", index_col=0)
    assert list(table.index) == list(table.columns) == ["cc", "aa", "bb"]
    results = json.loads((out / "results.json").read_text())
    assert results["languages"] == ["cc", "aa", "bb"] and results["settings"]["layer"] == 2
    assert [(p["query_lang"], p["candidate_lang"]) for p in results["pairs"]][:2] == [
        ("cc", "aa"),
        ("cc", "bb"),
    ]
    # the bootstrap intervals are printed and in report.md, as low–high in percent
    pair = results["pairs"][0]
    interval = f"{100 * pair['ci_low']:.1f}–{100 * pair['ci_high']:.1f}"
    assert "95 % bootstrap interval" in result.output and interval in result.output
    assert interval in (out / "report.md").read_text()


def test_demo_and_evaluate_offer_the_same_layer_and_figure_options():
    for command in ("evaluate", "demo"):
        text = CliRunner().invoke(main, [command, "--help"]).output
        assert "--layers, --layer" in text and "--figure-format [png|svg|pdf]" in text
    assert "--layers, --layer" in CliRunner().invoke(main, ["embed", "--help"]).output


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (  # a usage error: found while the command line is read, before anything loads
            ["--metric", "cosine"],
            2,
            "unknown metric 'cosine'; registered metrics: avgsim, dtw, ot, seqsim",
        ),
        (["--langs", "aa,zz"], 1, "language(s) zz not in the corpus; it has aa, bb, cc"),
    ],
)
def test_evaluate_errors_are_clear(manifest, tiny_whisper_dir, tmp_path, arguments, code, message):
    result = run(
        "evaluate",
        "--manifest",
        manifest,
        "--model",
        tiny_whisper_dir,
        "--out",
        tmp_path / "r",
        *arguments,
    )
    assert result.exit_code == code
    assert message in result.output


def test_store_of_another_model_or_layer_is_refused(manifest, tiny_whisper_dir, tmp_path):
    store = tmp_path / "store"
    run("embed", manifest, "--model", tiny_whisper_dir, "--layers", "2", "--out", store)
    other = run(
        "evaluate", "--store", store, "--model", "openai/whisper-large-v3", "--out", tmp_path / "r"
    )
    assert other.exit_code == 1 and "not of 'openai/whisper-large-v3'" in other.output
    layer = run("evaluate", "--store", store, "--layer", "1", "--out", tmp_path / "r")
    assert (
        layer.exit_code == 1
        and "holds layers [2]" in layer.output
        and "not layer 1" in layer.output
    )


def test_manifest_errors_and_usage(tmp_path, tiny_whisper_dir):
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tpath\n1\tx.wav\n")
    result = run("embed", bad, "--model", tiny_whisper_dir, "--out", tmp_path / "s")
    assert result.exit_code == 1 and "bad.tsv:1: missing column(s) lang" in result.output
    usage = run("evaluate", "--manifest", bad, "--out", tmp_path / "r")
    assert usage.exit_code == 2 and "--manifest needs --model" in usage.output
    assert run("evaluate", "--out", tmp_path / "r").exit_code == 2
    assert "seqsim" in run("metrics").output
    for command in ("embed", "evaluate", "demo", "metrics"):
        assert run(command, "--help").exit_code == 0


def test_bad_audio_is_skipped_and_reported(manifest, tiny_whisper_dir, tmp_path):
    (manifest.parent / "audio" / "aa" / "3.wav").write_bytes(b"broken")
    result = CliRunner().invoke(
        main,
        ["embed", str(manifest), "--model", str(tiny_whisper_dir), "--out", str(tmp_path / "s")],
    )
    assert result.exit_code == 0
    assert "embedded 14, already stored 0, failed 1" in result.output
    assert "3.wav: unreadable or corrupt audio" in result.output


def test_evaluate_reuses_a_store_that_holds_more_layers(manifest, tiny_whisper_dir, tmp_path):
    store = tmp_path / "store"
    run("embed", manifest, "--model", tiny_whisper_dir, "--layers", "1,2", "--out", store)
    shards = sorted(p.name for p in (store / "shards").iterdir())
    result = run(
        "evaluate", "--manifest", manifest, "--model", tiny_whisper_dir, "--store", store,
        "--layer", "-1", "--out", tmp_path / "r",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (store / "shards").iterdir()) == shards  # nothing recomputed
    assert json.loads((store / "store.json").read_text())["layers"] == [1, 2]
    assert json.loads((tmp_path / "r" / "results.json").read_text())["settings"]["layer"] == 2


@pytest.mark.usefixtures("restore_metric_registry")
def test_import_registers_a_users_metric_for_every_command(tmp_path):
    plugin = tmp_path / "my_metrics.py"
    plugin.write_text(
        "from seqsim import register_metric\n\n"
        "@register_metric('first_frame_dot', overwrite=True)\n"
        "def first_frame_dot(x, y):\n"
        "    return float(x[0] @ y[0])\n\n"
        "if __name__ == '__main__':\n"
        "    raise SystemExit('the main block must not run on --import')\n"
    )
    listed = CliRunner().invoke(main, ["--import", str(plugin), "metrics"])
    assert listed.exit_code == 0, listed.output
    assert "first_frame_dot" in listed.output.split()
    store = tmp_path / "store"
    from seqsim import EmbeddingStore

    frames = {"en/s1": [[1.0, 0.0]], "en/s2": [[0.0, 1.0]], "fr/s1": [[1.0, 0.1]]}
    frames["fr/s2"] = [[0.1, 1.0]]
    settings = {"model": "hand", "layers": [0], "dtype": "float32", "hidden_states": 1}
    with EmbeddingStore(store).writer(settings) as w:
        for key, rows in frames.items():
            w.add(key, {0: np.array(rows, np.float32)})
    out = tmp_path / "report"
    args = ["--import", str(plugin), "evaluate", "--store", str(store), "--layer", "0"]
    result = CliRunner().invoke(main, [*args, "--metric", "first_frame_dot", "--out", str(out)])
    assert result.exit_code == 0, result.output
    # first frames: en/s1 . fr/s1 = 1.0 > en/s1 . fr/s2 = 0.1, and so on: every query right
    assert pd.read_csv(out / "r_at_1.csv", index_col=0).loc["en", "fr"] == 100.0


@pytest.mark.parametrize(
    "target, message",
    [
        ("no_such_module_xyz", "--import no_such_module_xyz: no module named 'no_such_module_xyz'"),
        ("missing.py", "--import missing.py: file not found"),
        ("broken.py", "--import broken.py: importing it failed: ZeroDivisionError"),
    ],
)
def test_import_errors_name_the_module(tmp_path, monkeypatch, target, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.py").write_text("1 / 0\n")
    result = CliRunner().invoke(main, ["--import", target, "metrics"])
    assert result.exit_code == 1 and message in result.output
