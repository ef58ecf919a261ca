"""Whisper's short context (``WhisperEmbedder(context="audio")``), checked against transformers'
own ``WhisperEncoder`` run on the short features with its positional embeddings cut, computed
here from the model's modules; the default (the 30 s window) is checked unchanged."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

from seqsim import EmbeddingStore, WhisperEmbedder
from seqsim.audio import SAMPLE_RATE
from seqsim.embed_runs import embed
from seqsim.encoders import EncoderSpec, encoder_info
from seqsim.encoders.whisper import whisper_encoder_info
from seqsim.store import StoreMismatchError

WINDOW = 30 * SAMPLE_RATE
LENGTHS = [3_210, 16_000, 25_601]  # 11, 50 and 81 frames kept


def noise(num_samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(num_samples)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny(tiny_whisper_dir):
    """The tiny model's encoder and feature extractor, loaded by transformers alone."""
    encoder = WhisperModel.from_pretrained(tiny_whisper_dir).get_encoder().eval()
    return encoder, WhisperFeatureExtractor.from_pretrained(tiny_whisper_dir)


def window_features(extractor, samples: np.ndarray) -> torch.Tensor:
    """(1, 80, 3000) log-mel features of ``samples`` padded to Whisper's 30 s window."""
    return extractor(samples, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features


def cut_encoder(encoder, frames: int):
    """A copy of transformers' encoder that takes ``frames`` encoder frames (2 x ``frames`` mel
    frames) with its positional embeddings cut to the first ``frames``: whisper.cpp's
    ``audio_ctx``."""
    cut = copy.deepcopy(encoder)
    cut.config.max_source_positions = frames
    positions = encoder.embed_positions.weight[:frames].detach().clone()
    cut.embed_positions = torch.nn.Embedding.from_pretrained(positions)
    return cut


def hidden_states(encoder, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """transformers' own hidden states 0..L (the last layer-normed) of one utterance."""
    with torch.no_grad():
        return encoder(features, output_hidden_states=True).hidden_states


def short_reference(tiny, samples: np.ndarray, frames: int) -> tuple[torch.Tensor, ...]:
    """Every hidden state of ``samples`` encoded in ``frames`` encoder frames: the 30 s
    window's features cut to their first 2 x ``frames`` mel frames, run through the cut
    encoder, the first ``ceil(n / 320)`` frames kept."""
    encoder, extractor = tiny
    features = window_features(extractor, samples)[..., : 2 * frames]
    kept = math.ceil(len(samples) / 320)
    return tuple(state[0, :kept] for state in hidden_states(cut_encoder(encoder, frames), features))


@pytest.fixture(scope="module")
def short(tiny_whisper_dir):
    return WhisperEmbedder(str(tiny_whisper_dir), layers="all", context="audio", progress=False)


@pytest.mark.parametrize("num_samples", LENGTHS)
def test_audio_context_frames_equal_the_cut_transformers_encoder(tiny, short, num_samples):
    """Kept frames plus one (the convolutions read one mel frame past the last kept one)."""
    samples = noise(num_samples, num_samples)
    frames = math.ceil(num_samples / 320) + 1
    reference = short_reference(tiny, samples, frames)
    embedding = short.embed((samples, SAMPLE_RATE))
    assert sorted(embedding.layers) == [0, 1, 2]
    for layer, expected in enumerate(reference):
        assert embedding.layers[layer].shape == (math.ceil(num_samples / 320), 32)
        torch.testing.assert_close(embedding.layers[layer], expected, rtol=0, atol=1e-5)


def test_the_margin_frame_keeps_hidden_state_0_as_in_the_window(tiny, short):
    """With the margin frame every kept frame's input embedding (convolutions plus positions)
    equals the 30 s window's; cut at the kept frames alone, the last one's would not (its
    convolution would read zeros instead of the padding's log-mel frame)."""
    encoder, extractor = tiny
    samples = noise(16_000, 7)
    window = hidden_states(encoder, window_features(extractor, samples))[0][0, :50]
    torch.testing.assert_close(short.embed((samples, SAMPLE_RATE)).layers[0], window)
    no_margin = short_reference(tiny, samples, frames=50)[0]
    torch.testing.assert_close(no_margin[:-1], window[:-1])
    assert not torch.allclose(no_margin[-1], window[-1], atol=1e-3)


def test_audio_context_differs_from_the_window(tiny, short):
    """The option changes the frames above the input embeddings (so it must be recorded)."""
    encoder, extractor = tiny
    samples = noise(16_000, 8)
    window = hidden_states(encoder, window_features(extractor, samples))[2][0, :50]
    assert not torch.allclose(short.embed((samples, SAMPLE_RATE)).layers[2], window, atol=1e-3)


def test_batched_equals_one_at_a_time(tiny, tiny_whisper_dir):
    """A batch of mixed lengths (two of them equal, sharing a forward pass) gives each
    utterance the frames it gets alone; padding the short ones to the longest would not."""
    lengths = [16_000, 3_210, 25_601, 16_000, 9_000]
    batch = [(noise(n, seed), SAMPLE_RATE) for seed, n in enumerate(lengths)]
    batched = WhisperEmbedder(
        str(tiny_whisper_dir), layers="all", context="audio", batch_size=8, progress=False
    ).embed(batch)
    alone = WhisperEmbedder(
        str(tiny_whisper_dir), layers="all", context="audio", batch_size=1, progress=False
    ).embed(batch)
    for together, single in zip(batched, alone, strict=True):
        for layer in (0, 1, 2):
            torch.testing.assert_close(
                together.layers[layer], single.layers[layer], rtol=0, atol=1e-5
            )
    padded_to_longest = short_reference(tiny, batch[1][0], frames=math.ceil(25_601 / 320) + 1)
    assert not torch.allclose(padded_to_longest[2], alone[1].layers[2], atol=1e-3)


def test_default_frames_are_the_30s_windows(tiny, tiny_whisper_dir):
    """The default context is unchanged: transformers' encoder on the 30 s window's features,
    uncut, first ``ceil(n / 320)`` frames."""
    encoder, extractor = tiny
    default = WhisperEmbedder(str(tiny_whisper_dir), layers="all", batch_size=4, progress=False)
    batch = [noise(n, n) for n in LENGTHS]
    for samples, embedding in zip(
        batch, default.embed([(s, SAMPLE_RATE) for s in batch]), strict=True
    ):
        kept = math.ceil(len(samples) / 320)
        reference = hidden_states(encoder, window_features(extractor, samples))
        for layer, expected in enumerate(reference):
            torch.testing.assert_close(embedding.layers[layer], expected[0, :kept])


def test_audio_longer_than_30s_keeps_the_windows(tiny, short):
    """A 31 s utterance: a full first window (the same frames in either context), then its
    last second in a short context of its own."""
    samples = noise(WINDOW + 16_000, 31)
    encoder, extractor = tiny
    full = hidden_states(encoder, window_features(extractor, samples[:WINDOW]))
    rest = short_reference(tiny, samples[WINDOW:], frames=51)
    embedding = short.embed((samples, SAMPLE_RATE))
    for layer in (0, 1, 2):
        assert embedding.layers[layer].shape == (1550, 32)
        torch.testing.assert_close(embedding.layers[layer][:1500], full[layer][0])
        torch.testing.assert_close(embedding.layers[layer][1500:], rest[layer], rtol=0, atol=1e-5)


def test_settings_record_the_context_only_when_it_is_not_the_default(tiny_whisper_dir, short):
    default = WhisperEmbedder(str(tiny_whisper_dir), layers="all", progress=False)
    assert set(default.settings()) == {
        "family",
        "model",
        "layers",
        "encoder_dtype",
        "hidden_states",
        "frame_seconds",
    }
    explicit = WhisperEmbedder(
        str(tiny_whisper_dir), layers="all", context="window", progress=False
    )
    assert explicit.settings() == default.settings()
    assert short.settings() == {**default.settings(), "options": {"context": "audio"}}


@pytest.mark.parametrize("bad", ["short", "Audio", "", None, 30])
def test_a_bad_context_is_refused_naming_the_choices_before_loading(tmp_path, bad):
    missing = tmp_path / "no-such-model"  # never read: the option is checked first
    message = f"context must be one of 'window', 'audio'; got {bad!r}"
    with pytest.raises(ValueError, match=f"^{message}$".replace("(", r"\(")):
        WhisperEmbedder(str(missing), context=bad, progress=False)
    with pytest.raises(ValueError, match="context must be one of 'window', 'audio'"):
        whisper_encoder_info(str(missing), context=bad)


def test_encoder_info_plans_the_short_context_settings(tiny_whisper_dir, short):
    folder = str(tiny_whisper_dir)
    planned = whisper_encoder_info(folder, context="audio")
    assert planned.options == {"context": "audio"}
    assert planned.settings(short.layers, short.dtype) == short.settings()
    assert encoder_info(folder, context="audio") == planned
    spec = EncoderSpec(folder, options={"context": "audio"})
    store_settings = spec.planned_settings("all", "float16", "auto", torch.device("cpu"))
    assert store_settings == {**short.settings(), "dtype": "float16"}
    assert whisper_encoder_info(folder).options == {}


def test_encoder_info_of_a_model_in_memory_plans_the_short_context_settings():
    torch.manual_seed(1)
    config = WhisperConfig(
        d_model=16,
        encoder_layers=3,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
    )
    model = WhisperModel(config).eval()
    embedder = WhisperEmbedder(model, layers=[1, -1], context="audio", progress=False)
    planned = whisper_encoder_info(model, context="audio")
    assert planned.num_layers == 3
    assert planned.settings(embedder.layers, embedder.dtype) == embedder.settings()
    assert embedder.settings()["options"] == {"context": "audio"}


def test_a_store_refuses_frames_of_the_other_context(tiny_whisper_dir, short, tmp_path):
    default = WhisperEmbedder(str(tiny_whisper_dir), layers="all", progress=False)
    embed(EmbeddingStore(tmp_path / "store"), [("a", (noise(16_000, 1), SAMPLE_RATE))], short)
    with pytest.raises(StoreMismatchError, match="options"):
        embed(EmbeddingStore(tmp_path / "store"), [("b", (noise(9_000, 2), SAMPLE_RATE))], default)
