"""whisper-base extraction in float16 on CUDA, in utterances per second.

The real weights do not travel (the 64 MiB wheel budget): the encoder is a randomly initialised
``WhisperModel`` of whisper-base's shape (d_model 512, 6 encoder layers, 8 heads, FFN 2048,
80 mel bins, 1500 positions), which costs what the real one costs, fed 5 s of synthetic audio
per utterance (Whisper pads every utterance to 30 s, so the length does not change the cost).
"""

from __future__ import annotations

from ..figures import Figure, PartLog
from ..sizing import Deadline, Series
from . import target

SIZES = (64, 256, 1024)
BATCH = 32
SECONDS = 5.0
SAMPLE_RATE = 16_000


def whisper_base_shaped_model():
    """A random ``WhisperModel`` whose encoder has whisper-base's shape (a one-layer decoder
    with a small vocabulary: the embedder uses the encoder only)."""
    import torch
    from transformers import WhisperConfig, WhisperModel

    torch.manual_seed(0)
    config = WhisperConfig(
        vocab_size=64,
        num_mel_bins=80,
        d_model=512,
        encoder_layers=6,
        encoder_attention_heads=8,
        encoder_ffn_dim=2048,
        decoder_layers=1,
        decoder_attention_heads=8,
        decoder_ffn_dim=2048,
        max_source_positions=1500,
        max_target_positions=32,
        pad_token_id=1,
        bos_token_id=2,
        eos_token_id=2,
        decoder_start_token_id=3,
    )
    return WhisperModel(config).eval()


def run(log: PartLog, deadline: Deadline) -> None:
    import numpy as np

    from seqsim import WhisperEmbedder

    embedder = WhisperEmbedder(
        whisper_base_shaped_model(),
        layers=-1,
        device=target.DEVICE,
        dtype="float16",
        batch_size=BATCH,
        progress=False,
    )
    rng = np.random.default_rng(0)
    samples = int(SECONDS * SAMPLE_RATE)
    audio = [(0.1 * rng.standard_normal(samples).astype(np.float32), SAMPLE_RATE)] * max(SIZES)
    embedder.embed(audio[:2])  # warm-up, outside the timing
    series = Series(deadline)
    for size in SIZES:
        figure = Figure(
            "whisper",
            f"WhisperEmbedder.embed, whisper-base shape, float16, batch {BATCH}",
            f"{size} utterances of {SECONDS:g} s",
            "whisper",
            items=size,
            note="random weights of whisper-base's shape, synthetic audio",
        )
        series.run(log, size, lambda a=audio[:size]: embedder.embed(a), figure)
