"""A user's own encoder, registered by a plugin file, goes through every command as a built-in
one does: embed, evaluate (from a manifest and from its store), index and search, and pair
(with its own time axis). Its frames are checked against the same computation written here
with numpy, and the store names its family and frame rate."""

from __future__ import annotations

import itertools
import textwrap

import numpy as np
import pandas as pd
import pytest
import soundfile
from click.testing import CliRunner
from helpers import write_manifest

from seqsim.cli import main
from seqsim.encoders.registry import available_encoders, unregister_encoder
from seqsim.evaluation import evaluate
from seqsim.store import EmbeddingStore

HOP = 160  # 10 ms at 16 kHz: a frame rate other than Whisper's 20 ms
BANDS = 8

PLUGIN = f"""
import numpy as np
import torch

from seqsim.encoders import SpeechEncoder, register_encoder


@register_encoder("bands", replace=True)
class Bands(SpeechEncoder):
    '''Log energies of {BANDS} frequency bands every {HOP} samples; layer 1 has the
    utterance's mean frame taken off.'''

    family = "bands"

    def __init__(self, model="bands", **options):
        super().__init__(**options)
        self._describe(model, num_layers=1, frame_seconds={HOP} / 16_000)

    def encode(self, batch, batch_size):
        utterances = []
        for samples in batch:
            count = -(-len(samples) // {HOP})
            padded = np.pad(samples, (0, count * {HOP} - len(samples)))
            spectrum = np.abs(np.fft.rfft(padded.reshape(count, {HOP}), axis=1)) ** 2
            bands = np.array_split(spectrum, {BANDS}, axis=1)
            energies = np.log(np.stack([b.sum(1) for b in bands], 1) + 1e-6).astype(np.float32)
            layers = {{0: energies, 1: energies - energies.mean(0)}}
            utterances.append({{k: torch.from_numpy(layers[k]) for k in self.layers}})
        return utterances
"""


def band_energies(samples: np.ndarray) -> dict[int, np.ndarray]:
    """The plugin's frames, computed here frame by frame."""
    frames = []
    for start in range(0, len(samples), HOP):
        window = np.zeros(HOP)
        window[: len(samples[start : start + HOP])] = samples[start : start + HOP]
        power = np.abs(np.fft.rfft(window)) ** 2
        edges = np.cumsum([0] + [len(b) for b in np.array_split(power, BANDS)])
        frames.append([np.log(power[a:b].sum() + 1e-6) for a, b in itertools.pairwise(edges)])
    energies = np.array(frames)
    return {0: energies, 1: energies - energies.mean(0)}


@pytest.fixture
def plugin(tmp_path):
    """The plugin file; the family it registers is removed afterwards."""
    path = tmp_path / "bands_plugin.py"
    path.write_text(textwrap.dedent(PLUGIN))
    yield str(path)
    if "bands" in available_encoders():
        unregister_encoder("bands")


def run(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def test_a_registered_encoder_embeds_evaluates_searches_and_draws_like_a_built_in(plugin, tmp_path):
    manifest = write_manifest(tmp_path)
    store_path = tmp_path / "store"
    embedded = run("--import", plugin, "embed", manifest, "--model", "bands", "--layers", "all")
    assert embedded.exit_code == 2  # --out is required: nothing ran
    embedded = run(
        "--import", plugin, "embed", manifest, "--model", "bands", "--layers", "all",
        "--out", store_path,
    )  # fmt: skip
    assert embedded.exit_code == 0, embedded.output
    store = EmbeddingStore(store_path)
    assert store.settings["family"] == "bands"
    assert store.settings["frame_seconds"] == HOP / 16_000
    assert store.settings["layers"] == [0, 1] and store.settings["hidden_states"] == 2
    for layer in (0, 1):
        keys, frames = store.load(layer)
        for key, stored in zip(keys, frames, strict=True):
            lang, sentence = key.split("/")
            number = ["aa", "bb", "cc"].index(lang)
            audio, _ = soundfile.read(tmp_path / "audio" / str(number) / f"{sentence}.wav")
            expected = band_energies(audio.astype(np.float32).astype(np.float64))[layer]
            np.testing.assert_allclose(np.asarray(stored, np.float32), expected, atol=2e-2)

    # evaluate from the manifest (embedding again into a store of its own) and from the store
    report = tmp_path / "report"
    evaluated = run(
        "--import", plugin, "evaluate", "--manifest", manifest, "--model", "bands",
        "--layer", "1", "--out", report,
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    assert EmbeddingStore(report / "store").settings["family"] == "bands"
    from_store = evaluate(store=store_path, layer=1, progress=False)
    table = pd.read_csv(report / "r_at_1.csv", index_col=0)
    assert table.loc["aa", "bb"] == pytest.approx(from_store.matrix("r@1").loc["aa", "bb"])
    assert from_store.settings["family"] == "bands"
    assert from_store.settings["frame_seconds"] == HOP / 16_000

    # a search whose queries the plugin embeds
    index = tmp_path / "bands.index"
    built = run("index", "build", "--store", store_path, "--layer", "1", "--out", index)
    assert built.exit_code == 0, built.output
    hits = tmp_path / "hits.tsv"
    searched = run(
        "--import", plugin, "search", index, "--manifest", manifest, "--model", "bands",
        "--store", tmp_path / "queries", "--k", "1", "--out", hits,
    )  # fmt: skip
    assert searched.exit_code == 0, searched.output
    assert len(hits.read_text().splitlines()) > 1

    # the pair picture, on the plugin's 10 ms time axis
    picture = tmp_path / "pair.png"
    a, b = tmp_path / "audio" / "0" / "0.wav", tmp_path / "audio" / "1" / "0.wav"
    drawn = run(
        "--import", plugin, "pair", a, b, "--model", "bands", "--layer", "0", "--out", picture
    )
    assert drawn.exit_code == 0, drawn.output
    frames_a = -(-soundfile.info(a).frames // HOP)
    assert f"({frames_a} x " in drawn.output and picture.stat().st_size > 0


def test_an_unknown_model_names_the_families_and_what_to_do(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "speecht5"}')
    manifest = write_manifest(tmp_path, sentences=1)
    result = run("embed", manifest, "--model", folder, "--out", tmp_path / "store")
    assert result.exit_code != 0
    assert "model_type 'speecht5'" in result.output
    assert "register your own (register_encoder) or pass family=" in result.output
