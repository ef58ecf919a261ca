"""Whisper's short context on the real whisper-base (CPU): ``context="audio"`` next to the
default 30 s window (the baseline), the same demo utterances in the same run, ``embed(paths)``
end to end. The demo's utterances are 2 to 4 s long: the window encodes 1500 frames for each,
the short context about 100 to 200.
"""

from __future__ import annotations

from importlib import resources

import pytest
import soundfile
from harness import fastest_seconds, measure

from seqsim import WhisperEmbedder
from seqsim.audio import load
from seqsim.encoders.whisper import CONTEXTS, DEFAULT_CONTEXT, context_frames
from seqsim.whisper.loading import OFFLINE_BASE

DEMO = resources.files("seqsim") / "data" / "demo" / "audio"
PATHS = [str(DEMO / lang / f"s{k:02d}.ogg") for lang in ("en", "fr") for k in range(1, 5)]
AUDIO_SECONDS = sum(soundfile.info(p).duration for p in PATHS)
SAMPLES = [len(load(p)) for p in PATHS]


@pytest.mark.parametrize("context", CONTEXTS)
def test_embed_in_context(benchmark, context):
    embedder = WhisperEmbedder(OFFLINE_BASE, context=context, progress=False)
    embedder.embed(PATHS[:1])  # warm up
    measure(
        benchmark,
        lambda: embedder.embed(PATHS),
        group="whisper context",
        name=f'embed(paths), context="{context}"',
        items=len(PATHS),
        baseline=context == DEFAULT_CONTEXT,
    )
    benchmark.extra_info["encoded_frames"] = sum(context_frames(n, context) for n in SAMPLES)
    seconds = fastest_seconds(benchmark)
    if seconds is not None:
        benchmark.extra_info["audio_seconds_per_second"] = AUDIO_SECONDS / seconds
