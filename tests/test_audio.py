import warnings

import librosa
import numpy as np
import pytest
import soundfile
import soxr
from helpers import tone

from seqsim.audio import SAMPLE_RATE, Audio, AudioError, is_one_input, load


def test_resampling_matches_soxr_high_quality_and_keeps_the_pitch():
    original = tone(1.0, rate=44_100, frequency=1000.0)
    resampled = load((original, 44_100))
    reference = librosa.resample(
        original, orig_sr=44_100, target_sr=SAMPLE_RATE, res_type="soxr_hq"
    )
    assert len(resampled) == 16_000
    np.testing.assert_allclose(resampled, reference, atol=1e-5)
    spectrum = np.abs(np.fft.rfft(resampled))
    assert np.argmax(spectrum) * SAMPLE_RATE / len(resampled) == pytest.approx(1000.0, abs=2)
    assert not np.allclose(resampled, original[:: 44_100 // 16_000][:16_000], atol=1e-3)


def test_stereo_is_mixed_down_and_integer_pcm_scaled(tmp_path):
    left, right = tone(0.5), tone(0.5, frequency=220.0)
    stereo = np.stack([left, right], axis=1)
    np.testing.assert_allclose(load((stereo, SAMPLE_RATE)), (left + right) / 2, atol=1e-7)
    pcm = (left * 32767).astype(np.int16)
    np.testing.assert_allclose(load((pcm, SAMPLE_RATE)), pcm / 32768.0, atol=1e-7)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, stereo, SAMPLE_RATE, subtype="PCM_16")
    np.testing.assert_allclose(load(path), (left + right) / 2, atol=1e-4)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.wav", "missing.wav: file not found"),
        (
            lambda p: _write_bytes(p / "corrupt.wav", b"RIFF garbage"),
            "corrupt.wav: unreadable or corrupt",
        ),
        (
            lambda p: _write_audio(p / "empty.wav", np.zeros(0, np.float32)),
            "empty.wav: empty audio",
        ),
        (
            lambda p: _write_audio(p / "silent.wav", np.zeros(800, np.float32)),
            "silent.wav: audio is all silence",
        ),
    ],
)
def test_bad_files_are_named(tmp_path, make, message):
    with pytest.raises(AudioError, match=message):
        load(make(tmp_path))


def test_bad_arrays_are_rejected():
    with pytest.raises(AudioError, match="sample rate must be positive, got 0"):
        load((tone(0.1), 0))
    samples = tone(0.1)
    samples[5] = np.nan
    with pytest.raises(AudioError, match="NaN or infinite"):
        load(Audio(samples, SAMPLE_RATE))
    with pytest.raises(AudioError, match="cannot read audio from a int"):
        load(3)


def _write_bytes(path, data):
    path.write_bytes(data)
    return path


def _write_audio(path, samples):
    soundfile.write(path, samples, SAMPLE_RATE)
    return path


@pytest.mark.parametrize("rate", [8000.0, np.float32(8000), np.int64(8000)])
def test_an_integral_float_or_numpy_sample_rate_is_that_rate(rate):
    samples = tone(0.25, 8000)
    expected = soxr.resample(samples, 8000, SAMPLE_RATE, quality="HQ")
    np.testing.assert_array_equal(load((samples, rate)), expected)
    np.testing.assert_array_equal(load(Audio(samples, rate)), expected)


@pytest.mark.parametrize(
    ("rate", "message"),
    [
        (16000.5, "sample rate must be a whole number, got 16000.5"),
        (float("nan"), "sample rate must be a whole number, got nan"),
        (True, "sample rate must be a whole number, got True"),
        (0.0, "sample rate must be positive, got 0"),
        (-8000, "sample rate must be positive, got -8000"),
    ],
)
def test_a_non_integral_or_non_positive_sample_rate_is_named(rate, message):
    with pytest.raises(AudioError) as raised:
        load((tone(0.1), rate))
    assert str(raised.value) == f"in-memory audio: {message}"


def test_non_numeric_samples_and_tuples_that_are_not_one_input():
    with pytest.raises(AudioError, match="samples must be numbers, got an array of dtype <U1"):
        load((["a", "b"], SAMPLE_RATE))
    with pytest.raises(AudioError, match="cannot read audio from a tuple"):
        load(("a.wav", "b.wav"))


def test_one_input_is_a_path_an_audio_or_samples_with_a_numeric_rate(tmp_path):
    samples = tone(0.1)
    assert is_one_input("a.wav") and is_one_input(tmp_path) and is_one_input(Audio(samples, 8))
    assert is_one_input((samples, 16_000)) and is_one_input((samples, 16_000.0))
    assert is_one_input((samples, np.int32(8000))) and is_one_input((samples, 0.5))
    assert not is_one_input(("a.wav", "b.wav"))
    assert not is_one_input((Audio(samples, 8), Audio(samples, 8)))
    assert not is_one_input([samples, 16_000])  # a list is a list of inputs
    assert not is_one_input((samples, 16_000, 1))


def _wav_with_header_claiming(path, seconds_claimed, seconds_present, subtype="PCM_16"):
    """A WAV file cut after ``seconds_present`` of the ``seconds_claimed`` its header states
    (how a copy that stopped half-way looks): the header is written whole, the data cut."""
    soundfile.write(path, tone(seconds_claimed), SAMPLE_RATE, subtype=subtype)
    data = path.read_bytes()
    start = data.index(b"data") + 8
    width = {"PCM_16": 2, "FLOAT": 4}[subtype]
    path.write_bytes(data[: start + width * int(seconds_present * SAMPLE_RATE)])
    return path


def test_a_truncated_wav_is_refused_with_both_durations(tmp_path):
    path = _wav_with_header_claiming(tmp_path / "cut.wav", 1.9, 0.067)
    assert len(soundfile.read(path)[0]) == 1072  # libsndfile alone reads what is there
    with pytest.raises(
        AudioError,
        match=r"cut.wav: truncated WAV file: its header claims "
        r"1.900 s of audio, the file holds 0.067 s",
    ):
        load(path)
    cut_float = _wav_with_header_claiming(tmp_path / "cut32.wav", 1.0, 0.5, subtype="FLOAT")
    with pytest.raises(AudioError, match="claims 1.000 s of audio, the file holds 0.500 s"):
        load(cut_float)
    with pytest.raises(AudioError, match="clip.wav: truncated WAV file"):
        load({"bytes": path.read_bytes(), "path": "clip.wav"})


def test_whole_and_streamed_wavs_pass(tmp_path):
    whole = tmp_path / "whole.wav"
    soundfile.write(whole, tone(0.5), SAMPLE_RATE, subtype="PCM_16")
    assert len(load(whole)) == 8000
    # a streaming writer leaves the data size at 0xFFFFFFFF: no claim, the data is all there
    data = bytearray(whole.read_bytes())
    size_at = data.index(b"data") + 4
    data[size_at : size_at + 4] = (0xFFFFFFFF).to_bytes(4, "little")
    streamed = tmp_path / "streamed.wav"
    streamed.write_bytes(bytes(data))
    assert len(load(streamed)) == 8000
    flac = tmp_path / "whole.flac"
    soundfile.write(flac, tone(0.5), SAMPLE_RATE)
    assert len(load(flac)) == 8000


def test_implausibly_short_audio_is_embedded_with_a_warning(tiny_whisper_dir):
    from seqsim import WhisperEmbedder
    from seqsim.audio import SHORT_AUDIO_SECONDS, ShortAudioWarning

    embedder = WhisperEmbedder(str(tiny_whisper_dir), progress=False)
    short = int(SHORT_AUDIO_SECONDS * SAMPLE_RATE) - 1
    with pytest.warns(
        ShortAudioWarning,
        match=r"in-memory audio: 0.09994 s of audio is implausibly short .* \(under 0.1 s\)",
    ):
        embedding = embedder.embed((tone(1.0)[:short], SAMPLE_RATE))
    assert embedding.frames.shape[0] == -(-short // 320)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShortAudioWarning)
        embedder.embed((tone(1.0)[: short + 1], SAMPLE_RATE))
