"""A store knows the audio behind each key: other audio under a stored key is embedded again
(or refused where there is no model), never scored with the old frames."""

import os
import shutil

import numpy as np
import pytest
import soundfile
from helpers import tone, write_manifest

from seqsim import EmbeddingStore, WhisperEmbedder
from seqsim.corpus import read_manifest
from seqsim.embed_runs import embed
from seqsim.evaluation import evaluate
from seqsim.provenance import AudioChangedError
from seqsim.store import StoreMismatchError
from seqsim.store import store as store_module


@pytest.fixture
def corpus_files(tmp_path):
    """A manifest of 3 languages x 5 sentences (each sentence a tone of its own pitch), and a
    copy whose bb rows point at the recording of the next sentence (a swapped manifest)."""
    manifest = write_manifest(tmp_path)
    rows = manifest.read_text().splitlines()
    swapped = [rows[0]]
    for row in rows[1:]:
        sentence, lang, path = row.split("\t")
        if lang == "bb":
            path = f"audio/1/{(int(sentence) + 1) % 5}.wav"
        swapped.append(f"{sentence}\t{lang}\t{path}")
    swapped_manifest = tmp_path / "swapped.tsv"
    swapped_manifest.write_text("\n".join(swapped) + "\n")
    return manifest, swapped_manifest


def test_a_swapped_manifest_over_a_filled_store_gives_the_fresh_store_numbers(
    tmp_path, corpus_files, tiny_whisper_dir
):
    manifest, swapped = corpus_files
    model, langs = str(tiny_whisper_dir), ["aa", "bb"]
    store = tmp_path / "store"
    correct = evaluate(
        read_manifest(manifest), model=model, store=store, langs=langs, layer=2, progress=False
    )
    over_the_store = evaluate(
        read_manifest(swapped), model=model, store=store, langs=langs, layer=2, progress=False
    )
    fresh = evaluate(
        read_manifest(swapped),
        model=model,
        store=tmp_path / "fresh",
        langs=langs,
        layer=2,
        progress=False,
    )
    pd_equal = over_the_store.summary.equals(fresh.summary)
    assert pd_equal and over_the_store.ranks.equals(fresh.ranks)
    assert over_the_store.settings_hash == fresh.settings_hash != correct.settings_hash
    assert over_the_store.settings["audio_fingerprint"] != correct.settings["audio_fingerprint"]
    assert over_the_store.settings["data_fingerprint"] != correct.settings["data_fingerprint"]


def test_changed_audio_is_embedded_again_and_counted(tmp_path, corpus_files, tiny_whisper_dir):
    manifest, swapped = corpus_files
    embedder = WhisperEmbedder(str(tiny_whisper_dir), layers=[2], progress=False)
    store = EmbeddingStore(tmp_path / "store")
    embed(store, read_manifest(manifest).audio_items(), embedder, shard_size=4)
    report = embed(store, read_manifest(swapped).audio_items(), embedder, shard_size=4)
    assert (report.embedded, report.skipped) == (5, 10)
    assert [change["key"] for change in report.changed] == [f"bb/{k}" for k in range(5)]
    assert report.changed[0]["stored"].endswith("audio/1/0.wav")
    assert report.changed[0]["given"].endswith("audio/1/1.wav")
    keys, frames = store.load(2)
    assert sorted(keys) == sorted(key for key, _ in read_manifest(swapped).audio_items())
    given = dict(read_manifest(swapped).audio_items())
    for row, key in enumerate(keys):  # every key's frames are now those of its given audio
        expected = embedder.embed(given[key]).layers[2].numpy().astype(np.float16)
        np.testing.assert_array_equal(np.asarray(frames[row]), expected)
    again = embed(store, read_manifest(swapped).audio_items(), embedder)
    assert (again.embedded, again.skipped, again.changed) == (0, 15, [])


def test_a_file_rewritten_in_place_is_embedded_again_a_touched_one_is_not(
    tmp_path, tiny_whisper_dir
):
    path = tmp_path / "s1.wav"
    soundfile.write(path, tone(0.5), 16_000)
    embedder = WhisperEmbedder(str(tiny_whisper_dir), layers=[2], progress=False)
    store = EmbeddingStore(tmp_path / "store")
    embed(store, [("aa/s1", path)], embedder)
    status = os.stat(path)
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 5 * 10**9))
    touched = embed(store, [("aa/s1", path)], embedder)
    assert (touched.embedded, touched.changed) == (0, [])
    soundfile.write(path, tone(0.5, frequency=300.0), 16_000)  # same size, other samples
    assert os.stat(path).st_size == status.st_size
    rewritten = embed(store, [("aa/s1", path)], embedder)
    assert rewritten.embedded == 1 and rewritten.changed[0]["key"] == "aa/s1"
    _, frames = store.load(2)
    expected = embedder.embed(path).layers[2].numpy().astype(np.float16)
    np.testing.assert_array_equal(np.asarray(frames[0]), expected)


def test_without_a_model_other_audio_is_refused_naming_the_files(
    tmp_path, corpus_files, tiny_whisper_dir
):
    manifest, swapped = corpus_files
    store = tmp_path / "store"
    evaluate(
        read_manifest(manifest), model=str(tiny_whisper_dir), store=store, layer=2, progress=False
    )
    with pytest.raises(
        AudioChangedError,
        match=r"holds 5 utterance\(s\) made from other audio "
        r"than given now: bb/0 was .*audio/1/0.wav, is now .*audio/1/1.wav",
    ):
        evaluate(read_manifest(swapped), store=store, layer=2, progress=False)
    unchanged = evaluate(read_manifest(manifest), store=store, layer=2, progress=False)
    assert unchanged.settings["sentences"] == 5


def test_audio_that_cannot_be_checked_is_reused_and_listed(tmp_path, tiny_whisper_dir):
    kept, moved = tmp_path / "kept.wav", tmp_path / "moved.wav"
    for path in (kept, moved):
        soundfile.write(path, tone(0.4), 16_000)
    embedder = WhisperEmbedder(str(tiny_whisper_dir), layers=[2], progress=False)
    store = EmbeddingStore(tmp_path / "store")
    embed(store, [("aa/kept", kept), ("aa/moved", moved)], embedder)
    with store.writer(store.settings) as writer:  # a producer of one's own records no audio
        writer.add("aa/own", {2: np.ones((3, 32))})
    kept.unlink()  # gone from the path it was stored from
    shutil.move(moved, tmp_path / "elsewhere.wav")
    items = [("aa/kept", kept), ("aa/moved", tmp_path / "gone.wav"), ("aa/own", "own.wav")]
    report = embed(store, items, embedder)
    assert report.unchecked == ["aa/kept", "aa/own"]
    # a stored key given a path that does not exist is other audio: dropped, then it fails
    assert [change["key"] for change in report.changed] == ["aa/moved"]
    assert [failure["key"] for failure in report.failures] == ["aa/moved"]
    assert sorted(store.keys()) == ["aa/kept", "aa/own"]


def test_discard_never_loses_a_kept_utterance_when_interrupted(tmp_path, monkeypatch):
    from store_workers import SETTINGS, frames_for

    store = EmbeddingStore(tmp_path / "store")
    with store.writer(SETTINGS, shard_size=3) as writer:
        for key in "abcdef":
            writer.add(key, {layer: frames_for(key, layer) for layer in SETTINGS["layers"]})
    real_unlink = type(tmp_path).unlink

    def killed(path, *args, **kwargs):
        raise KeyboardInterrupt  # after the rewritten shard appears, before the old one goes

    monkeypatch.setattr(type(tmp_path), "unlink", killed)
    with pytest.raises(KeyboardInterrupt):
        store.discard(["b"])
    monkeypatch.setattr(type(tmp_path), "unlink", real_unlink)
    assert sorted(store.keys()) == list("abcdef")  # the old copy of b is still there
    assert store.discard(["b", "e"]) == ["b", "e"]
    assert sorted(store.keys()) == list("acdf")
    for layer in SETTINGS["layers"]:
        keys, frames = store.load(layer)
        for row, key in enumerate(keys):
            np.testing.assert_array_equal(np.asarray(frames[row]), frames_for(key, layer))


def test_a_store_of_another_model_is_refused_before_the_model_loads(
    tmp_path, corpus_files, tiny_whisper_dir, monkeypatch
):
    manifest, _ = corpus_files
    store = tmp_path / "store"
    evaluate(
        read_manifest(manifest), model=str(tiny_whisper_dir), store=store, layer=1, progress=False
    )
    other = shutil.copytree(tiny_whisper_dir, tmp_path / "other-whisper")

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("seqsim.encoders.whisper.load_whisper", no_loading)
    with pytest.raises(StoreMismatchError, match="other-whisper' was asked for"):
        evaluate(read_manifest(manifest), model=str(other), store=store, layer=1, progress=False)
    # everything stored: evaluated without loading the model at all
    result = evaluate(
        read_manifest(manifest), model=str(tiny_whisper_dir), store=store, layer=1, progress=False
    )
    assert result.settings["sentences"] == 5


def test_a_store_of_the_previous_format_is_refused_with_the_reason(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "store.json").write_text('{"format": 2, "model": "m"}')
    with pytest.raises(StoreMismatchError, match="store of format 2, this seqsim reads format 3"):
        _ = EmbeddingStore(tmp_path / "old").settings
    assert store_module.FORMAT_VERSION == 3
