import math

import numpy as np
import pytest
import soundfile
import torch
from helpers import tone
from transformers import WhisperFeatureExtractor, WhisperModel

from seqsim import WhisperEmbedder
from seqsim.audio import SAMPLE_RATE, AudioError
from seqsim.encoders.whisper import encoder_hidden_states, kept_frames


@pytest.fixture(scope="module")
def embedder(tiny_whisper_dir):
    return WhisperEmbedder(str(tiny_whisper_dir), layers="all", batch_size=3, progress=False)


@pytest.mark.parametrize(
    "samples",
    [1, 159, 160, 161, 319, 320, 321, 639, 640, 641, 16_000, 16_001, 479_680, 479_999, 480_000],
)
def test_kept_frames_match_the_feature_extractors_attention_mask(samples):
    extractor = WhisperFeatureExtractor(feature_size=80)
    mask = extractor(
        np.full(samples, 0.1, np.float32), sampling_rate=SAMPLE_RATE, return_attention_mask=True
    ).attention_mask[0]
    mel_frames = int(mask.sum())  # 10 ms mel frames; the encoder's second conv halves them
    assert kept_frames(samples) == math.ceil(mel_frames / 2)
    assert kept_frames(samples) == math.ceil(samples / 320)


def test_hidden_states_equal_transformers_own_forward(tiny_whisper_dir):
    model = WhisperModel.from_pretrained(tiny_whisper_dir).eval()
    features = torch.randn(2, 80, 3000)
    with torch.no_grad():
        reference = model.encoder(features, output_hidden_states=True).hidden_states
        ours = encoder_hidden_states(model.encoder, features, [0, 1, 2])
        only_first = encoder_hidden_states(model.encoder, features, [1])
    assert len(reference) == 3
    for index in range(3):
        torch.testing.assert_close(ours[index], reference[index])
    assert list(only_first) == [1]
    torch.testing.assert_close(only_first[1], reference[1])


@pytest.mark.parametrize("seconds", [0.37, 2.0, 7.51])
def test_frames_are_the_first_frames_of_transformers_encoder_on_30s_padded_features(
    tiny_whisper_dir, seconds
):
    """The frame values, computed without seqsim: transformers' feature extractor pads the audio
    to 30 s, transformers' encoder runs on it, and the first ``ceil(n / 320)`` frames of every
    hidden state are the speech (a rule that kept the last frames, or encoded the audio unpadded,
    gives other values)."""
    rng = np.random.default_rng(int(seconds * 100))
    audio = (0.1 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)
    extractor = WhisperFeatureExtractor.from_pretrained(tiny_whisper_dir)
    features = extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
    assert features.shape[-1] == 3000  # 30 s of 10 ms mel frames
    model = WhisperModel.from_pretrained(tiny_whisper_dir).eval()
    with torch.no_grad():
        states = model.encoder(features, output_hidden_states=True).hidden_states
    keep = math.ceil(len(audio) / 320)

    embedding = WhisperEmbedder(str(tiny_whisper_dir), layers="all", progress=False).embed(
        (audio, SAMPLE_RATE)
    )
    assert sorted(embedding.layers) == list(range(len(states)))
    for layer, frames in embedding.layers.items():
        assert frames.shape[0] == keep
        torch.testing.assert_close(frames, states[layer][0, :keep], atol=1e-5, rtol=1e-4)


def test_frame_counts_layers_and_long_audio_windows(embedder):
    lengths = [0.5, 1.0, 29.99, 30.0, 45.0]
    results = embedder.embed([(tone(s), SAMPLE_RATE) for s in lengths])
    for seconds, result in zip(lengths, results, strict=True):
        samples = int(round(seconds * SAMPLE_RATE))
        expected = sum(
            kept_frames(min(30 * SAMPLE_RATE, samples - start))
            for start in range(0, samples, 30 * SAMPLE_RATE)
        )
        assert sorted(result.layers) == [0, 1, 2]
        for frames in result.layers.values():
            assert frames.shape == (expected, 32) and frames.dtype == torch.float32
    assert results[-1].layers[2].shape[0] == 1500 + 750


def test_long_window_is_the_second_window_encoded_alone(embedder):
    audio = tone(45.0)
    whole = embedder.embed((audio, SAMPLE_RATE)).layers[2]
    second = embedder.embed((audio[30 * SAMPLE_RATE :], SAMPLE_RATE)).layers[2]
    torch.testing.assert_close(whole[1500:], second)


def test_batched_equals_one_at_a_time(embedder):
    sources = [(tone(s), SAMPLE_RATE) for s in (0.3, 2.0, 1.1, 4.0, 0.7)]
    batched = embedder.embed(sources)
    for source, result in zip(sources, batched, strict=True):
        alone = embedder.embed(source)
        for layer in result.layers:
            torch.testing.assert_close(
                result.layers[layer], alone.layers[layer], atol=1e-5, rtol=1e-5
            )


def test_layer_selection(tiny_whisper_dir):
    last = WhisperEmbedder(str(tiny_whisper_dir), progress=False)
    assert last.layers == [2]
    pair = WhisperEmbedder(str(tiny_whisper_dir), layers=[-3, 1], progress=False)
    assert pair.layers == [0, 1]
    result = pair.embed((tone(1.0), SAMPLE_RATE))
    with pytest.raises(ValueError, match="several layers were selected"):
        _ = result.frames
    assert last.embed((tone(1.0), SAMPLE_RATE)).frames.shape == (50, 32)
    with pytest.raises(ValueError, match=r"layer 3 does not exist: .* hidden states 0..2"):
        WhisperEmbedder(str(tiny_whisper_dir), layers=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'layer'"):
        WhisperEmbedder(str(tiny_whisper_dir), layer=3)


def test_strict_mode_and_bad_files_name_the_file(tiny_whisper_dir, tmp_path):
    strict = WhisperEmbedder(str(tiny_whisper_dir), strict=True, progress=False)
    path = tmp_path / "long.wav"
    soundfile.write(path, tone(31.0), SAMPLE_RATE)
    with pytest.raises(AudioError, match=r"long.wav: 31.0 s is longer than Whisper's 30 s window"):
        strict.embed(path)
    with pytest.raises(AudioError, match="nothing.wav: file not found"):
        strict.embed([(tone(1.0), SAMPLE_RATE), tmp_path / "nothing.wav"])


def test_deterministic(embedder):
    source = (tone(2.0), SAMPLE_RATE)
    torch.testing.assert_close(
        embedder.embed(source).layers[2], embedder.embed(source).layers[2], atol=0, rtol=0
    )


def test_a_float_sample_rate_is_one_utterance(embedder):
    samples = tone(1.0)
    one = embedder.embed((samples, float(SAMPLE_RATE)))
    reference = embedder.embed((samples, SAMPLE_RATE))
    assert one.layers.keys() == reference.layers.keys()
    for layer in one.layers:
        torch.testing.assert_close(one.layers[layer], reference.layers[layer], atol=0, rtol=0)
    with pytest.raises(AudioError, match="in-memory audio: sample rate must be a whole number"):
        embedder.embed((samples, 16000.5))
    with pytest.raises(AudioError, match="in-memory audio: sample rate must be positive"):
        embedder.embed((samples, -16000.0))
