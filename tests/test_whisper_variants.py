"""Every Whisper variant seqsim takes, as tiny random models saved in the test: 128 mel bins
(large-v3 and turbo), distil-whisper (a ``WhisperForConditionalGeneration`` with 2 decoder
blocks), and a CTranslate2 checkpoint with 128 mel bins.

For each, every hidden state that ``WhisperEmbedder`` gives equals the model's own encoder
forward (``output_hidden_states=True``) on the 30 s-padded features of one utterance at a time,
first ``ceil(n / 320)`` frames, for a batch of utterances of different lengths."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from ct2_writer import write_checkpoint
from transformers import (
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperModel,
)

from seqsim import WhisperEmbedder
from seqsim.whisper.loading import load_whisper

RATE = 16_000
SAMPLES_PER_FRAME = 320  # Whisper keeps one frame per 20 ms: 2 x 160-sample mel hops
LENGTHS = [8_000, 24_321, 47_999, 160_000]  # 0.5 s to 10 s, none a whole number of frames


def tiny_config(mel_bins: int, decoder_layers: int = 1) -> WhisperConfig:
    """A randomly initialisable Whisper of width 32 and 3 encoder blocks."""
    return WhisperConfig(
        vocab_size=64,
        num_mel_bins=mel_bins,
        d_model=32,
        encoder_layers=3,
        decoder_layers=decoder_layers,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=1500,
        max_target_positions=32,
        pad_token_id=1,
        bos_token_id=2,
        eos_token_id=2,
        decoder_start_token_id=3,
    )


def build(kind: str, folder: Path) -> WhisperModel | WhisperForConditionalGeneration:
    """Save one variant into ``folder`` (with its feature extractor where it has one); return
    the model that serves as the reference."""
    torch.manual_seed(0)
    if kind == "128-mel":
        model = WhisperModel(tiny_config(128)).eval()
        model.save_pretrained(folder)
        WhisperFeatureExtractor(feature_size=128).save_pretrained(folder)
    elif kind == "distil":
        model = WhisperForConditionalGeneration(tiny_config(80, decoder_layers=2)).eval()
        model.save_pretrained(folder)
        WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    else:  # a CTranslate2 checkpoint, float32 so that it holds the reference's exact weights
        model = WhisperModel(tiny_config(128)).eval()
        write_checkpoint(model, folder, dtype=np.float32)
    return model


VARIANTS = {"128-mel": 128, "distil": 80, "ctranslate2-128-mel": 128}


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    return request.param, folder, build(request.param, folder)


def utterances() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in LENGTHS]


def reference_states(model, mel_bins: int, samples: np.ndarray) -> list[torch.Tensor]:
    """The model's own hidden states for one utterance, padded to Whisper's 30 s window."""
    extractor = WhisperFeatureExtractor(feature_size=mel_bins)
    features = extractor(samples, sampling_rate=RATE, return_tensors="pt").input_features
    assert features.shape == (1, mel_bins, 3000)
    with torch.no_grad():
        states = model.get_encoder()(features, output_hidden_states=True).hidden_states
    return [state[0] for state in states]


def test_frames_of_every_layer_equal_the_models_own_forward(variant):
    kind, folder, model = variant
    mel_bins = VARIANTS[kind]
    embedder = WhisperEmbedder(str(folder), layers="all", batch_size=3, progress=False)
    assert embedder.num_layers == 3
    assert embedder.feature_extractor.feature_size == mel_bins
    assert embedder.feature_extractor.mel_filters.shape == (201, mel_bins)
    sources = [(samples, RATE) for samples in utterances()]
    embeddings = embedder.embed(sources)  # one call: the utterances share batches
    for samples, embedding in zip(utterances(), embeddings, strict=True):
        kept = math.ceil(len(samples) / SAMPLES_PER_FRAME)
        expected = reference_states(model, mel_bins, samples)
        assert sorted(embedding.layers) == list(range(len(expected))) == [0, 1, 2, 3]
        for layer, frames in embedding.layers.items():
            assert frames.shape == (kept, 32)
            torch.testing.assert_close(frames, expected[layer][:kept], atol=2e-5, rtol=1e-5)


def test_the_loaded_feature_extractor_has_the_models_mel_bins(variant):
    kind, folder, _ = variant
    loaded = load_whisper(str(folder))
    assert loaded.model.config.num_mel_bins == VARIANTS[kind]
    assert loaded.feature_extractor.feature_size == VARIANTS[kind]


def test_a_feature_extractor_with_other_mel_bins_than_the_model_is_named(tmp_path):
    """A 128-bin model saved next to an 80-bin extractor (copied from another Whisper size):
    refused when it loads, naming the extractor's file, not a convolution's shape error at
    the first utterance."""
    WhisperModel(tiny_config(128)).save_pretrained(tmp_path)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(tmp_path)
    file = tmp_path / "preprocessor_config.json"
    message = re.escape(f"{file}: the feature extractor makes 80 mel bins")
    with pytest.raises(ValueError, match=f"^{message}, but the model takes 128"):
        load_whisper(str(tmp_path))
    with pytest.raises(ValueError, match=f"^{message}"):
        WhisperEmbedder(str(tmp_path), progress=False)
