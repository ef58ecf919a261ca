import json

import numpy as np
import pytest
import soundfile
import torch
from helpers import tone

from seqsim import EmbeddingStore, SeqSim, WhisperEmbedder
from seqsim.audio import SAMPLE_RATE, AudioError
from seqsim.store import StoreMismatchError


@pytest.fixture(scope="module")
def embedder(tiny_whisper_dir):
    return WhisperEmbedder(str(tiny_whisper_dir), layers=[1, 2], batch_size=2, progress=False)


@pytest.fixture
def corpus(tmp_path):
    utterances = []
    for k, seconds in enumerate([0.4, 1.3, 0.9, 2.2, 0.6, 1.7, 1.0]):
        path = tmp_path / f"u{k}.wav"
        soundfile.write(path, tone(seconds, frequency=200 + 50 * k), SAMPLE_RATE)
        utterances.append((f"u{k}", path))
    return utterances


class InterruptAfter:
    """An embedder stand-in that is 'killed' (KeyboardInterrupt) after ``count`` utterances."""

    def __init__(self, embedder, count):
        self.embedder, self.count, self.seen = embedder, count, 0

    def __getattr__(self, name):
        return getattr(self.embedder, name)

    def embed_iter(self, sources):
        for item in self.embedder.embed_iter(sources):
            if self.seen == self.count:
                raise KeyboardInterrupt
            self.seen += 1
            yield item


def test_round_trip_memory_mapped_and_float16(tmp_path, corpus, embedder):
    store = EmbeddingStore(tmp_path / "store")
    report = store.embed(corpus, embedder, shard_size=3)
    assert (report.embedded, report.skipped, report.failures) == (7, 0, [])
    keys, packed = store.load(2)
    assert keys == [key for key, _ in corpus]
    assert isinstance(packed.frames, np.memmap) and packed.frames.dtype == np.float16
    for key, (_, path) in zip(keys, corpus, strict=True):
        expected = embedder.embed(path).layers[2].numpy().astype(np.float16)
        np.testing.assert_array_equal(np.asarray(packed[keys.index(key)]), expected)
    settings = json.loads((tmp_path / "store" / "store.json").read_text())
    assert settings["model"] == embedder.model_name and settings["layers"] == [1, 2]
    assert settings["dtype"] == "float16" and "seqsim_version" in settings
    matrix = SeqSim().matrix(packed, packed)
    assert np.allclose(np.diag(matrix), 1.0, atol=1e-3)


def test_interrupted_job_resumes_without_recomputing(tmp_path, corpus, embedder):
    store = EmbeddingStore(tmp_path / "store")
    with pytest.raises(KeyboardInterrupt):
        store.embed(corpus, InterruptAfter(embedder, 4), shard_size=3)
    assert (
        len(store.keys()) == 4
    )  # one full shard of 3, plus the partial one flushed on the way out
    (store.shard_dir / "half-written.tmp").write_bytes(b"\0" * 10)  # as if killed mid-write
    counter = InterruptAfter(embedder, 10**9)
    report = EmbeddingStore(tmp_path / "store").embed(corpus, counter, shard_size=3)
    assert (report.embedded, report.skipped, counter.seen) == (3, 4, 3)
    assert not list(store.shard_dir.glob("*.tmp"))
    keys, packed = store.load(1)
    assert sorted(keys) == sorted(key for key, _ in corpus)
    fresh = EmbeddingStore(tmp_path / "fresh")
    fresh.embed(corpus, embedder)
    fresh_keys, fresh_packed = fresh.load(1)
    for key in keys:
        np.testing.assert_array_equal(
            np.asarray(packed[keys.index(key)]), np.asarray(fresh_packed[fresh_keys.index(key)])
        )


def test_failures_are_recorded_and_the_job_goes_on(tmp_path, corpus, embedder):
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    utterances = (
        corpus[:2]
        + [("bad", tmp_path / "broken.wav"), ("gone", tmp_path / "gone.wav")]
        + corpus[2:3]
    )
    store = EmbeddingStore(tmp_path / "store")
    report = store.embed(utterances, embedder)
    assert report.embedded == 3
    assert [f["key"] for f in report.failures] == ["bad", "gone"]
    lines = [
        json.loads(line)
        for line in (tmp_path / "store" / "failures.jsonl").read_text().splitlines()
    ]
    assert "broken.wav: unreadable or corrupt audio" in lines[0]["reason"]
    assert "gone.wav: file not found" in lines[1]["reason"]
    with pytest.raises(AudioError, match="broken.wav"):
        EmbeddingStore(tmp_path / "strict").embed(utterances, embedder, fail_fast=True)


def test_mismatched_settings_and_layers_are_refused(tmp_path, corpus, embedder, tiny_whisper_dir):
    store = EmbeddingStore(tmp_path / "store")
    store.embed(corpus[:2], embedder)
    other = WhisperEmbedder(str(tiny_whisper_dir), layers=[0], progress=False)
    with pytest.raises(
        StoreMismatchError, match=r"layers=\[1, 2\], but layers=\[0\] was asked for"
    ):
        store.embed(corpus, other)
    with pytest.raises(StoreMismatchError, match=r"holds layers \[1, 2\] .* not layer 0"):
        store.load(0)
    with pytest.raises(ValueError, match="duplicate utterance keys: \\['u0'\\]"):
        store.embed(corpus[:1] * 2, embedder)


def test_float32_storage(tmp_path, corpus, embedder):
    store = EmbeddingStore(tmp_path / "store")
    store.embed(corpus[:2], embedder, dtype="float32")
    keys, packed = store.load(2)
    torch.testing.assert_close(
        torch.from_numpy(np.array(packed[0])), embedder.embed(corpus[0][1]).layers[2]
    )
