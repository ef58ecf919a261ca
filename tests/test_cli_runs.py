"""How a command line run fails or stops: before any work, naming options as the command line
writes them, leaving no empty folder, and saying what an interruption kept (exit 130)."""

import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import write_manifest

from seqsim.cli import main
from seqsim.corpus import Corpus, Utterance
from seqsim.evaluation import evaluate
from seqsim.evaluation_options import ScoringOptions, SearchOptions
from seqsim.store import EmbeddingStore


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def manifest(tmp_path):
    return write_manifest(tmp_path)


def test_ctrl_c_says_what_was_kept_exits_130_and_a_rerun_resumes(
    tmp_path, manifest, tiny_whisper_dir, monkeypatch
):
    from seqsim.encoders.whisper import WhisperEmbedder

    embed_iter = WhisperEmbedder.embed_iter

    def interrupted_after_seven(self, sources, **options):
        for seen, item in enumerate(embed_iter(self, sources, **options)):
            if seen == 7:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(WhisperEmbedder, "embed_iter", interrupted_after_seven)
    store = tmp_path / "store"
    arguments = ["embed", manifest, "--model", tiny_whisper_dir, "--out", store]
    result = run(*arguments, "--shard-size", "3")
    assert result.exit_code == 130
    assert f"7 of 15 utterances are stored in {store}" in result.output
    assert "run the same command again to resume" in result.output
    assert "interrupted (Ctrl-C)" in result.output and "Aborted!" not in result.output
    assert len(EmbeddingStore(store).keys()) == 7
    monkeypatch.undo()
    again = run(*arguments)
    assert "embedded 8, already stored 7" in again.output


def test_a_run_that_fails_leaves_no_folder_behind(tmp_path, manifest, tiny_whisper_dir):
    out = tmp_path / "deep" / "report"
    bad_model = run(
        "evaluate", "--manifest", manifest, "--model", tmp_path / "no-model", "--out", out
    )
    assert bad_model.exit_code == 1 and "cannot load model" in bad_model.output
    bad_layer = run(
        "evaluate",
        "--manifest",
        manifest,
        "--model",
        tiny_whisper_dir,
        "--layer",
        "9",
        "--out",
        out,
    )
    assert bad_layer.exit_code == 1 and "layer" in bad_layer.output
    no_store = run("evaluate", "--store", tmp_path / "nothing", "--out", out)
    assert no_store.exit_code == 1
    embed = run("embed", manifest, "--model", tmp_path / "no-model", "--out", tmp_path / "s")
    assert embed.exit_code == 1
    assert not (tmp_path / "deep").exists() and not (tmp_path / "s").exists()
    assert not (tmp_path / "nothing").exists()


def test_a_store_of_another_model_is_refused_before_loading_one_of_this_model_gains_a_layer(
    tmp_path, manifest, tiny_whisper_dir, monkeypatch
):
    store = tmp_path / "store"
    assert (
        run(
            "embed", manifest, "--model", tiny_whisper_dir, "--layers", "0,2", "--out", store
        ).exit_code
        == 0
    )
    alone = run("evaluate", "--store", store, "--layers", "0,1", "--out", tmp_path / "r")
    assert alone.exit_code == 1 and "holds layers [0, 2] of" in alone.output
    assert "not layer 1" in alone.output and not (tmp_path / "r").exists()

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded")

    other = shutil.copytree(tiny_whisper_dir, tmp_path / "other-whisper")
    with monkeypatch.context() as patched:
        patched.setattr("seqsim.encoders.whisper.load_whisper", refuse)
        result = run(
            "evaluate", "--manifest", manifest, "--model", other, "--store", store,
            "--layer", "1", "--out", tmp_path / "r",
        )  # fmt: skip
    assert result.exit_code == 1
    assert "other-whisper' was asked for" in result.output and not (tmp_path / "r").exists()
    # the store's own model: layer 1 is added to every stored utterance, 0 and 2 are kept
    layer_2 = EmbeddingStore(store).load(2)
    gained = run(
        "evaluate", "--manifest", manifest, "--model", tiny_whisper_dir, "--store", store,
        "--layer", "1", "--out", tmp_path / "r",
    )  # fmt: skip
    assert gained.exit_code == 0, gained.output
    assert EmbeddingStore(store).settings["layers"] == [0, 1, 2]
    kept = EmbeddingStore(store).load(2)
    assert kept[0] == layer_2[0]
    assert all(np.array_equal(a, b) for a, b in zip(kept[1], layer_2[1], strict=True))


def test_the_command_line_names_its_own_options(tmp_path, manifest, tiny_whisper_dir):
    store = tmp_path / "store"
    run("embed", manifest, "--model", tiny_whisper_dir, "--out", store)
    result = run(
        "evaluate",
        "--store",
        store,
        "--search",
        "index",
        "--normalization",
        "csls",
        "--out",
        tmp_path / "r",
    )
    assert result.exit_code == 1
    assert "--search index ranks by exact scores of a shortlist: --normalization" in result.output
    assert "search='index'" not in result.output and "(use --search exhaustive)" in result.output
    corpus = Corpus([Utterance("s1", "aa", None), Utterance("s1", "bb", None)])
    with pytest.raises(ValueError, match=r"search='index' ranks .* \(use search='exhaustive'\)"):
        evaluate(
            corpus,
            store=store,
            search=SearchOptions("index"),
            scoring=ScoringOptions("csls"),
            progress=False,
        )


def test_a_misspelt_keyword_names_evaluate_and_the_closest_option(tmp_path):
    with pytest.raises(
        TypeError,
        match=r"^evaluate\(\) got an unexpected keyword argument "
        r"'stor' \(it takes layer, metric, store, .*\); did you mean 'store'\?$",
    ):
        evaluate(None, stor=tmp_path)


def test_changed_audio_is_counted_in_the_evaluate_output(tmp_path, manifest, tiny_whisper_dir):
    store = tmp_path / "store"
    run("embed", manifest, "--model", tiny_whisper_dir, "--out", store)
    rows = manifest.read_text().replace("audio/1/0.wav", "audio/1/1.wav")
    swapped = tmp_path / "swapped.tsv"
    swapped.write_text(rows)
    result = run(
        "evaluate",
        "--manifest",
        swapped,
        "--model",
        tiny_whisper_dir,
        "--store",
        store,
        "--out",
        tmp_path / "r",
    )
    assert result.exit_code == 0, result.output
    assert "embedded 1, already stored 14" in result.output
    assert "embedded again 1 utterance(s) whose audio changed since they were stored" in (
        result.output
    )
    assert "bb/0: was " in result.output
