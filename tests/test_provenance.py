"""Audio identities: what a store records of the audio behind each key."""

import hashlib
import os

import numpy as np
import pytest
import soundfile
from helpers import tone

from seqsim.audio import Audio, AudioError, LazyAudio
from seqsim.provenance import audio_fingerprint, describe_record, identify, same_audio


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "s01.wav"
    soundfile.write(path, tone(0.5), 16_000)
    return path


def test_a_file_is_its_absolute_path_size_time_and_the_hash_of_its_bytes(wav, monkeypatch):
    monkeypatch.chdir(wav.parent)
    record = identify("s01.wav")
    status = os.stat(wav)
    assert record == {
        "path": str(wav),
        "size": status.st_size,
        "mtime_ns": status.st_mtime_ns,
        "sha256": hashlib.sha256(wav.read_bytes()).hexdigest(),
    }


def test_an_unchanged_file_is_not_read_again_and_a_changed_one_is(wav, monkeypatch):
    known = identify(wav)
    opened = []
    real_open = open

    def counting_open(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting_open)
    assert identify(wav, known) == known and opened == []
    soundfile.write(wav, tone(0.6), 16_000)  # new bytes, new size
    changed = identify(wav, known)
    assert opened == [str(wav)] and not same_audio(known, changed)


def test_a_touched_file_is_hashed_again_and_still_the_same_audio(wav):
    known = identify(wav)
    os.utime(wav, ns=(known["mtime_ns"] + 10**9, known["mtime_ns"] + 10**9))
    touched = identify(wav, known)
    assert touched["mtime_ns"] != known["mtime_ns"] and same_audio(known, touched)


def test_the_same_bytes_under_another_path_are_the_same_audio(wav, tmp_path):
    copy = tmp_path / "copy.wav"
    copy.write_bytes(wav.read_bytes())
    assert same_audio(identify(wav), identify(copy))
    other = tmp_path / "other.wav"
    soundfile.write(other, tone(0.5, frequency=300.0), 16_000)
    assert not same_audio(identify(wav), identify(other))


def test_in_memory_audio_is_the_hash_of_samples_dtype_shape_and_rate():
    samples = tone(0.2)
    tuple_id = identify((samples, 16_000))
    assert identify(Audio(samples, 16_000)) == tuple_id
    assert identify({"array": samples, "sampling_rate": 16_000, "path": None}) == tuple_id
    assert identify((samples, 8_000)) != tuple_id
    assert identify((samples.astype(np.float64), 16_000)) != tuple_id
    assert identify((samples[:-1], 16_000)) != tuple_id


def test_encoded_bytes_and_lazy_audio(wav):
    data = wav.read_bytes()
    from_bytes = identify({"bytes": data, "path": "clip.wav"})
    assert from_bytes == {"sha256": hashlib.sha256(data).hexdigest(), "name": "clip.wav"}
    lazy = identify(LazyAudio(lambda: str(wav), "row 3"))
    assert lazy["name"] == "row 3" and same_audio(identify(wav), lazy)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(AudioError, match="gone.wav: file not found"):
        identify(tmp_path / "gone.wav")


def test_a_fifo_is_named_without_being_opened(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)  # opening it would wait for a writer for ever
    with pytest.raises(AudioError, match=r"pipe.wav: is not a regular file \(a FIFO\)"):
        identify(fifo)


def test_unknown_audio_matches_nothing_and_is_named_so():
    assert not same_audio(None, {"sha256": "ab"})
    assert describe_record(None) == "unrecorded audio"


def test_the_fingerprint_follows_each_keys_audio():
    records = [("en/s1", {"sha256": "a"}), ("fr/s1", {"sha256": "b"})]
    assert audio_fingerprint(records) == audio_fingerprint(records[::-1])
    assert audio_fingerprint(records) != audio_fingerprint([records[0], ("fr/s1", None)])
    assert audio_fingerprint(records) != audio_fingerprint(records[:1])
