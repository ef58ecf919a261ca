"""Extraction throughput on the real whisper-base (CPU), next to the bare encoder forward on
the same batch in the same run: everything outside the encoder (reading, resampling, log-mel
features, stripping, storing) should cost at most 10 % of the total.
"""

from __future__ import annotations

from importlib import resources

import pytest
import soundfile
import torch
from harness import fastest_seconds, measure

from seqsim import EmbeddingStore, WhisperEmbedder
from seqsim.audio import SAMPLE_RATE, load
from seqsim.embed_runs import embed
from seqsim.encoders.whisper import encoder_hidden_states
from seqsim.whisper.loading import OFFLINE_BASE

BATCH = 8
DEMO = resources.files("seqsim") / "data" / "demo" / "audio"
PATHS = [str(DEMO / lang / f"s{k:02d}.ogg") for lang in ("en", "de") for k in range(1, 9)]
AUDIO_SECONDS = sum(soundfile.info(p).duration for p in PATHS)


@pytest.fixture(scope="module")
def embedder():
    embedder = WhisperEmbedder(OFFLINE_BASE, layers=-1, batch_size=BATCH, progress=False)
    embedder.embed(PATHS[:1])  # warm up
    return embedder


def test_embed_files(benchmark, embedder):
    measure(
        benchmark,
        lambda: embedder.embed(PATHS),
        group="extraction",
        name="embed(paths): everything",
        items=len(PATHS),
    )
    seconds = fastest_seconds(benchmark)
    if seconds is not None:
        benchmark.extra_info["audio_seconds_per_second"] = AUDIO_SECONDS / seconds


def test_embed_into_store(benchmark, embedder, tmp_path_factory):
    utterances = [(f"u{k}", p) for k, p in enumerate(PATHS)]

    def run():
        embed(EmbeddingStore(tmp_path_factory.mktemp("store")), utterances, embedder)

    measure(
        benchmark,
        run,
        group="extraction",
        name="embed_runs.embed: everything + storing",
        items=len(PATHS),
    )


def test_bare_encoder_forward(benchmark, embedder):
    samples = [load(p) for p in PATHS]
    batches = [
        embedder.feature_extractor(
            samples[i : i + BATCH], sampling_rate=SAMPLE_RATE, return_tensors="pt"
        ).input_features
        for i in range(0, len(samples), BATCH)
    ]

    @torch.inference_mode()
    def forward():
        return [
            encoder_hidden_states(embedder.encoder, features, embedder.layers)
            for features in batches
        ]

    measure(
        benchmark,
        forward,
        group="extraction",
        name="bare encoder forward",
        items=len(PATHS),
        baseline=True,
    )
