"""Hostile inputs that were once accepted without a word (issue 20, defects 6-8): audio at 3 Hz,
of 1 ms, or whose channels cancel; channel-first arrays; a directory or a FIFO given as audio;
a long utterance encoded all at once; a Ray address where nothing listens; and evaluations of
two spellings of one layer, of more CSLS neighbours than candidates, or of a language that
holds a single sentence. Each is built here and must be refused, or warned about, by name.

None of these checks depends on permissions, so they hold for root and other users alike.
"""

import os
import re
import socket
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
import soundfile
import torch
from click.testing import CliRunner
from helpers import tone

from seqsim import WhisperEmbedder
from seqsim.audio import SAMPLE_RATE, AudioError, ShortAudioWarning, load
from seqsim.cli import main
from seqsim.corpus import Corpus, CorpusError, Utterance
from seqsim.distributed.cluster import RayConnectionError, check_reachable
from seqsim.evaluation import EvaluationWarning, evaluate_embeddings, evaluate_grid
from seqsim.evaluation_options import ScoringOptions
from seqsim.sequences import PackedSequences
from seqsim.store import EmbeddingStore

WINDOW = 30 * SAMPLE_RATE


def _write(path, samples, rate, subtype="PCM_16"):
    soundfile.write(path, samples, rate, subtype=subtype)
    return path


def _message(path, text):
    """A regex for an error that starts with ``path`` and says ``text``."""
    return "^" + re.escape(f"{path}: {text}")


# ---------------------------------------------------------------- sample rate and duration


def test_a_file_at_3_hz_is_refused_naming_the_file_and_the_rate(tmp_path):
    path = _write(tmp_path / "three_hz.wav", np.linspace(-0.5, 0.5, 30), 3)
    with pytest.raises(AudioError, match=_message(path, "a sample rate of 3 Hz is below 4000 Hz")):
        load(path)


def test_the_lowest_accepted_rate_is_4_khz():
    with pytest.raises(AudioError, match="a sample rate of 3999 Hz is below 4000 Hz"):
        load((tone(1.0, rate=3999), 3999))
    assert len(load((tone(1.0, rate=4000), 4000))) == 16_000  # 1 s at 16 kHz


def test_a_file_of_1_ms_is_refused_naming_the_file_and_its_duration(tmp_path):
    path = _write(tmp_path / "click.wav", tone(0.001), SAMPLE_RATE)  # 16 samples
    expected = "1 ms of audio is shorter than one encoder frame (20 ms)"
    with pytest.raises(AudioError, match=_message(path, expected)):
        load(path)


@pytest.mark.parametrize(
    ("rate", "samples", "refused"),
    [  # one encoder frame is 20 ms: 320 samples at 16 kHz, 160 at 8 kHz, 882 at 44.1 kHz
        (16_000, 319, True),
        (16_000, 320, False),
        (8_000, 159, True),
        (8_000, 160, False),
        (44_100, 881, True),
        (44_100, 882, False),
    ],
)
def test_audio_is_refused_below_one_encoder_frame_and_accepted_from_it(rate, samples, refused):
    audio = (np.random.default_rng(samples).uniform(-0.5, 0.5, samples), rate)
    if refused:
        with pytest.raises(AudioError, match="shorter than one encoder frame"):
            load(audio)
    else:
        assert len(load(audio)) >= 320


def test_audio_from_one_frame_to_0_1_s_is_still_embedded_with_a_warning(tiny_whisper_dir):
    embedder = WhisperEmbedder(str(tiny_whisper_dir), progress=False)
    with pytest.warns(ShortAudioWarning, match="0.05 s of audio is implausibly short"):
        embedding = embedder.embed((tone(0.05), SAMPLE_RATE))
    assert embedding.frames.shape[0] == 3  # ceil(800 / 320)


# ---------------------------------------------------------------- silence after the down-mix


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_stereo_whose_channels_cancel_is_refused_as_silent(tmp_path, subtype):
    left = tone(1.0)
    path = _write(tmp_path / "cancel.wav", np.stack([left, -left], axis=1), SAMPLE_RATE, subtype)
    expected = "audio is all silence once its 2 channels are mixed to mono (they cancel out)"
    with pytest.raises(AudioError, match=_message(path, expected)):
        load(path)


def test_a_quiet_recording_is_kept_and_one_step_of_pcm_dither_is_silence(tmp_path):
    quiet = _write(tmp_path / "quiet.wav", tone(1.0) / 300, SAMPLE_RATE)  # peak about -60 dBFS
    assert np.abs(load(quiet)).max() > 1e-3
    steps = np.random.default_rng(0).integers(-1, 2, SAMPLE_RATE).astype(np.int16)
    dither = _write(tmp_path / "dither.wav", steps, SAMPLE_RATE)
    with pytest.raises(AudioError, match=_message(dither, "audio is all silence (every sample")):
        load(dither)


# ---------------------------------------------------------------- channel layout


def test_channel_first_audio_is_read_as_channel_last(tiny_whisper_dir):
    rng = np.random.default_rng(1)
    left, right = (rng.normal(0.0, 0.1, 48_157).astype(np.float32) for _ in range(2))
    channel_last = np.stack([left, right], axis=1)
    mono = (left + right) / 2
    for layout in (channel_last, channel_last.T, torch.from_numpy(channel_last.T.copy())):
        np.testing.assert_allclose(load((layout, SAMPLE_RATE)), mono, atol=1e-7)
    embedder = WhisperEmbedder(str(tiny_whisper_dir), progress=False)
    first = embedder.embed((np.stack([left, right]), SAMPLE_RATE))
    last = embedder.embed((channel_last, SAMPLE_RATE))
    assert first.num_samples == 48_157
    assert first.frames.shape[0] == 151  # ceil(48157 / 320)
    torch.testing.assert_close(first.frames, last.frames)


@pytest.mark.parametrize("shape", [(6, 4), (16, 16), (2, 3)])
def test_an_ambiguous_layout_is_refused_naming_the_item_and_the_shape(shape):
    samples = np.full(shape, 0.1, np.float32)
    expected = f"cannot tell samples from channels in an array of shape {shape}"
    with pytest.raises(AudioError, match=_message("in-memory audio", expected)):
        load((samples, SAMPLE_RATE))
    with pytest.raises(AudioError, match=_message("clip.wav", expected)):
        load({"array": samples, "sampling_rate": SAMPLE_RATE, "path": "clip.wav"})


# ---------------------------------------------------------------- paths that are not files


def test_a_directory_is_named_as_one(tmp_path):
    folder = tmp_path / "speech.wav"
    folder.mkdir()
    with pytest.raises(AudioError, match=_message(folder, "is a directory")):
        load(folder)


def test_a_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "stream.wav"
    os.mkfifo(fifo)
    outcome = {}

    def read():
        try:
            load(fifo)
        except AudioError as error:
            outcome["error"] = str(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=30)
    if reader.is_alive():
        with open(fifo, "wb"):  # release the reader, blocked opening the FIFO
            pass
        reader.join()
        pytest.fail("load() blocked opening a FIFO")
    assert outcome["error"] == f"{fifo}: is not a regular file (a FIFO)"


def test_an_embed_run_skips_a_directory_and_a_fifo_by_name(tmp_path, tiny_whisper_dir):
    audio = tmp_path / "audio"
    audio.mkdir()
    _write(audio / "ok.wav", tone(0.5), SAMPLE_RATE)
    (audio / "folder.wav").mkdir()
    os.mkfifo(audio / "pipe.wav")
    manifest = tmp_path / "corpus.tsv"
    rows = ["id\tlang\tpath", "s1\ten\taudio/ok.wav", "s2\ten\taudio/folder.wav"]
    manifest.write_text("\n".join([*rows, "s3\ten\taudio/pipe.wav"]) + "\n")
    command = [sys.executable, "-m", "seqsim", "embed", str(manifest)]
    command += ["--model", str(tiny_whisper_dir), "--out", str(tmp_path / "store")]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "embedded 1, already stored 0, failed 2" in run.stdout + run.stderr
    assert "audio/folder.wav: is a directory" in run.stderr
    assert "audio/pipe.wav: is not a regular file (a FIFO)" in run.stderr


# ---------------------------------------------------------------- long audio


def test_a_long_utterance_is_encoded_batch_size_windows_at_a_time(tiny_whisper_dir):
    audio = tone(95.0)  # windows of 30, 30, 30 and 5 s
    embedder = WhisperEmbedder(str(tiny_whisper_dir), progress=False, device="cpu")
    passes = []
    hook = embedder.encoder.conv1.register_forward_hook(
        lambda module, inputs, output: passes.append(inputs[0].shape[0])
    )
    try:
        whole = embedder.embed((audio, SAMPLE_RATE), batch_size=3)
        assert passes == [3, 1]
        passes.clear()
        embedder.embed((audio, SAMPLE_RATE), batch_size=1)
        assert passes == [1, 1, 1, 1]
    finally:
        hook.remove()
    assert whole.frames.shape[0] == 4750  # 95 s at 50 frames per second
    pieces = [
        (audio[start : start + WINDOW], SAMPLE_RATE) for start in range(0, len(audio), WINDOW)
    ]
    alone = torch.cat([piece.frames for piece in embedder.embed(pieces)])
    torch.testing.assert_close(whole.frames, alone, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- Ray


def _closed_port():
    with socket.create_server(("127.0.0.1", 0)) as server:
        return server.getsockname()[1]


def test_a_ray_address_where_nothing_listens_fails_at_once_naming_it():
    pytest.importorskip("ray")
    port = _closed_port()
    code = (
        "from seqsim.distributed import RayCluster\n"
        f"RayCluster(address='127.0.0.1:{port}').connect()"
    )
    environment = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=environment
    )
    assert run.returncode == 1
    expected = f"RayConnectionError: cannot reach a Ray cluster at 127.0.0.1:{port} within 10 s"
    assert expected in run.stderr
    assert "Connection refused" in run.stderr


def test_ray_address_from_the_environment_is_checked_too(monkeypatch):
    port = _closed_port()
    monkeypatch.setenv("RAY_ADDRESS", f"ray://127.0.0.1:{port}")
    with pytest.raises(RayConnectionError, match=f"at ray://127.0.0.1:{port} within 2 s"):
        check_reachable(None, timeout=2)
    check_reachable("local")  # a cluster started here: no address to check


# ---------------------------------------------------------------- evaluation


def _store(folder, sentences, hidden_states=7, layers=(6,)):
    """A store of one-hot frames (sentence ``s<i>`` is the vector ``i``), by hand."""
    settings = {
        "model": "toy",
        "layers": list(layers),
        "dtype": "float32",
        "hidden_states": hidden_states,
    }
    with EmbeddingStore(folder).writer(settings) as writer:
        for lang, count in sentences.items():
            for number in range(count):
                frames = np.eye(10, dtype=np.float32)[[number, number]]
                writer.add(f"{lang}/s{number}", dict.fromkeys(layers, frames))
    return folder


def _cli(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def test_two_spellings_of_one_layer_are_refused_naming_both(tmp_path):
    store = _store(tmp_path / "store", {"en": 3, "fr": 3})
    expected = "layers -1 and 6 both name hidden state 6 of toy (hidden states 0..6): give it once"
    with pytest.raises(ValueError, match=re.escape(expected)):
        evaluate_grid(store=store, layers=[-1, 6], progress=False)
    result = _cli("evaluate", "--store", store, "--layers", "-1,6", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert f"Error: {expected}" in result.output


def test_a_layer_beyond_the_model_is_not_taken_modulo_its_hidden_states(tmp_path):
    store = _store(tmp_path / "store", {"en": 3, "fr": 3}, layers=(2, 6))
    with pytest.raises(ValueError, match=r"layer 9 does not exist: toy has hidden states 0\.\.6"):
        evaluate_grid(store=store, layers=[9], progress=False)  # 9 % 7 would be layer 2


def test_two_spellings_of_one_layer_are_refused_before_anything_is_embedded(
    tmp_path, tiny_whisper_dir
):
    utterances = []
    for lang in ("en", "fr"):
        for number in range(2):
            path = _write(tmp_path / f"{lang}{number}.wav", tone(0.5 + 0.1 * number), SAMPLE_RATE)
            utterances.append(Utterance(f"s{number}", lang, path))
    store = tmp_path / "store"
    with pytest.raises(ValueError, match="layers -1 and 2 both name hidden state 2"):
        evaluate_grid(Corpus(utterances), model=str(tiny_whisper_dir), store=store, layers=[-1, 2])
    assert EmbeddingStore(store).settings is None  # nothing was embedded


def test_more_csls_neighbours_than_candidates_are_lowered_warned_and_recorded(tmp_path):
    store = _store(tmp_path / "store", {"en": 10, "fr": 10})
    expected = "k=500 neighbours for csls, but en has only 10 utterances: using k=10"
    with pytest.warns(EvaluationWarning, match=re.escape(expected)):
        results = evaluate_grid(store=store, scoring=ScoringOptions("csls", k=500), progress=False)
    result = next(iter(results.values()))
    assert result.settings["k"] == 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exact = evaluate_grid(store=store, scoring=ScoringOptions("csls", k=10), progress=False)
    assert next(iter(exact.values())).summary.equals(result.summary)


def test_a_language_with_a_single_sentence_is_refused_naming_it(tmp_path):
    store = _store(tmp_path / "store", {"de": 1, "en": 10, "fr": 10})
    expected = (
        "only 1 sentence(s) present in every language (de 1, en 10, fr 10): de has 1; "
        "without de 10 would be kept (leave it out of {})"
    )
    with pytest.raises(CorpusError, match=re.escape(expected.format("langs"))):
        evaluate_grid(store=store, progress=False)
    result = _cli("evaluate", "--store", store, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert expected.format("--langs") in result.output
    kept = evaluate_grid(store=store, langs=["en", "fr"], progress=False)
    assert next(iter(kept.values())).settings["sentences"] == 10


def test_two_languages_with_one_sentence_in_common_are_refused(tmp_path):
    store = _store(tmp_path / "store", {"en": 10, "fr": 1})
    expected = "only 1 sentence(s) present in every language (en 10, fr 1): fr has 1; retrieval"
    with pytest.raises(CorpusError, match=re.escape(expected)):
        evaluate_grid(store=store, progress=False)


def test_a_language_that_keeps_few_sentences_is_warned_about_by_name(tmp_path):
    store = _store(tmp_path / "store", {"de": 4, "en": 10, "fr": 10})
    expected = (
        "only 4 of 10 sentences are present in every language (de 4, en 10, fr 10): de has 4; "
        "without de 10 would be kept"
    )
    with pytest.warns(EvaluationWarning, match=re.escape(expected)):
        results = evaluate_grid(store=store, progress=False)
    assert next(iter(results.values())).settings["sentences"] == 4


def test_evaluating_one_sentence_in_memory_is_refused():
    frames = PackedSequences.from_lengths(np.eye(2, dtype=np.float32), [2])
    with pytest.raises(ValueError, match="at least 2 sentences in every language, got 1"):
        evaluate_embeddings({"en": (["s1"], frames), "fr": (["s1"], frames)})
