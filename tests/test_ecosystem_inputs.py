"""Inputs people already have: Hugging Face datasets audio, lhotse cuts and manifests, models
already in memory, sentence-transformers-style call options."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch

from seqsim.audio import AudioError, is_one_input, load
from seqsim.corpus import (
    Corpus,
    CorpusError,
    Utterance,
    corpus_from_dataset,
    corpus_from_lhotse,
    read_manifest,
)
from seqsim.encoders.whisper import WhisperEmbedder
from seqsim.evaluation import evaluate
from seqsim.store import StoreMismatchError
from seqsim.whisper.loading import in_memory_name

datasets = pytest.importorskip("datasets")
lhotse = pytest.importorskip("lhotse")

LANGS, SENTENCES = ("en", "fr"), ("s1", "s2", "s3")


def _noise(seed: int, seconds: float = 0.5, rate: int = 16_000) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.1, int(seconds * rate)).astype(np.float32)


@pytest.fixture
def wavs(tmp_path):
    """Two languages x three sentences of noise at 8 kHz: {(lang, sentence): path}."""
    files = {}
    for number, (lang, sentence) in enumerate((lang, s) for lang in LANGS for s in SENTENCES):
        path = tmp_path / f"{lang}_{sentence}.wav"
        soundfile.write(path, _noise(number, rate=8000), 8000)
        files[(lang, sentence)] = path
    return files


@pytest.fixture
def table(wavs):
    rows = {
        "id": [s for _, s in wavs],
        "lang": [lang for lang, _ in wavs],
        "audio": [str(p) for p in wavs.values()],
    }
    return datasets.Dataset.from_dict(rows).cast_column(
        "audio", datasets.Audio(sampling_rate=16_000)
    )


@pytest.fixture(scope="module")
def embedder(tiny_whisper_dir):
    return WhisperEmbedder(str(tiny_whisper_dir), layers=[1, 2], progress=False)


def _same(first, second) -> None:
    assert first.num_samples == second.num_samples
    assert sorted(first.layers) == sorted(second.layers)
    for layer in first.layers:
        torch.testing.assert_close(first.layers[layer], second.layers[layer])


# one audio input: the rule and the forms


def test_an_audio_dict_and_a_tuple_are_one_input_and_a_dataset_is_several(table):
    samples = np.ones(4)
    assert is_one_input({"array": samples, "sampling_rate": 16_000, "path": None})
    assert is_one_input({"bytes": b"", "path": "a.wav"})
    assert is_one_input((samples, 16_000))
    assert not is_one_input(table)
    assert not is_one_input([{"array": samples, "sampling_rate": 16_000}])


def test_a_row_dict_embeds_as_its_file(embedder, wavs):
    path = wavs[("en", "s1")]
    samples, rate = soundfile.read(path, dtype="float32")
    row = {"array": samples, "sampling_rate": rate, "path": str(path)}
    _same(embedder.embed(row), embedder.embed(path))
    _same(embedder.embed((samples, rate)), embedder.embed(path))
    undecoded = {"bytes": path.read_bytes(), "path": None}
    _same(embedder.embed(undecoded), embedder.embed(path))


def test_a_bad_audio_dict_is_named():
    with pytest.raises(AudioError, match=r"^clip\.wav: an audio dict with 'array' needs"):
        load({"array": np.ones(4), "path": "clip.wav"})
    with pytest.raises(AudioError, match="in-memory audio: unreadable or corrupt audio bytes"):
        load({"bytes": b"not audio", "path": None})


def test_a_decoder_object_is_read_through_get_all_samples(embedder, wavs):
    path = wavs[("fr", "s2")]
    samples, rate = soundfile.read(path, dtype="float32")

    class Decoded:  # what torchcodec's AudioDecoder gives: (channels, samples) and a rate
        data, sample_rate = torch.from_numpy(samples[None, :]), rate

    class Decoder:
        def get_all_samples(self):
            return Decoded()

    _same(embedder.embed(Decoder()), embedder.embed(path))


def test_a_dataset_embeds_row_by_row_as_its_files(embedder, table, wavs):
    embeddings = embedder.embed(table)
    assert len(embeddings) == len(wavs)
    for embedding, path in zip(embeddings, wavs.values(), strict=True):
        _same(embedding, embedder.embed(path))
    assert embedder.embed(table, audio_column="audio")[0].num_samples == 8000


def test_a_dataset_without_one_audio_column_needs_audio_column(embedder, table, wavs):
    second = table.add_column("other", [str(p) for p in wavs.values()])
    second = second.cast_column("other", datasets.Audio())
    with pytest.raises(ValueError, match="exactly one Audio column, found 'audio', 'other'"):
        embedder.embed(second)
    assert embedder.embed(second, audio_column="other")[0].num_samples == 8000
    with pytest.raises(ValueError, match="audio_column 'lang' is not an Audio feature"):
        embedder.embed(table, audio_column="lang")
    with pytest.raises(ValueError, match="audio_column is for a datasets.Dataset, not a list"):
        embedder.embed([wavs[("en", "s1")]], audio_column="audio")


# call options


def test_batch_size_and_numpy_output_per_call(embedder, wavs, monkeypatch):
    import seqsim.encoders.whisper

    batches = []
    encode = seqsim.encoders.whisper.encoder_hidden_states

    def counting(encoder, features, layers):
        batches.append(len(features))
        return encode(encoder, features, layers)

    monkeypatch.setattr(seqsim.encoders.whisper, "encoder_hidden_states", counting)
    paths = list(wavs.values())[:3]
    one_by_one = embedder.embed(paths)
    together = embedder.embed(paths, batch_size=3, output="numpy")
    assert batches == [1, 1, 1, 3]
    assert embedder.batch_size == 1  # the call did not change the embedder
    for tensor, array in zip(one_by_one, together, strict=True):
        assert all(
            isinstance(a, np.ndarray) and a.dtype == np.float32 for a in array.layers.values()
        )
        for layer in tensor.layers:
            np.testing.assert_allclose(array.layers[layer], tensor.layers[layer], atol=1e-5)


def test_the_bar_can_be_shown_for_one_call(embedder, wavs, capsys):
    embedder.embed(wavs[("en", "s1")], show_progress_bar=True)
    assert "embedding" in capsys.readouterr().err
    embedder.embed(wavs[("en", "s1")])
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"convert_to_numpy": True}, 'use output="numpy"'),
        ({"normalize_embeddings": True}, "takes batch_size, show_progress_bar, device, output"),
    ],
)
def test_unknown_call_options_are_refused_clearly(embedder, wavs, options, message):
    with pytest.raises(TypeError, match=message):
        embedder.embed(wavs[("en", "s1")], **options)


def test_bad_call_options(embedder, wavs):
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        embedder.embed(wavs[("en", "s1")], batch_size=0)
    with pytest.raises(ValueError, match="output"):
        embedder.embed(wavs[("en", "s1")], output="list")


# models in memory


def test_a_loaded_model_gives_the_frames_of_its_folder(tiny_whisper_dir, embedder, wavs):
    from transformers import WhisperForConditionalGeneration, WhisperModel

    model = WhisperModel.from_pretrained(tiny_whisper_dir)
    path = wavs[("en", "s3")]
    for given in (model, model.encoder):
        in_memory = WhisperEmbedder(given, layers=[1, 2], progress=False)
        _same(in_memory.embed(path), embedder.embed(path))
        assert in_memory.settings()["model"] == in_memory_name(model)
        assert in_memory.settings()["model"] != embedder.settings()["model"]
    generation = WhisperForConditionalGeneration.from_pretrained(tiny_whisper_dir)
    _same(
        WhisperEmbedder(generation, layers=[1, 2], progress=False).embed(path), embedder.embed(path)
    )


def test_two_in_memory_models_are_never_named_alike(tiny_whisper_dir):
    from transformers import WhisperModel

    original = WhisperModel.from_pretrained(tiny_whisper_dir)
    tuned = WhisperModel.from_pretrained(tiny_whisper_dir)
    with torch.no_grad():
        tuned.encoder.layers[0].fc1.bias.add_(0.01)  # a "fine-tuned" copy
    assert original.config._name_or_path == tuned.config._name_or_path == str(tiny_whisper_dir)
    name = in_memory_name(original)
    assert name.startswith(f"in-memory:{tiny_whisper_dir}@sha256:")
    assert in_memory_name(tuned) != name
    assert in_memory_name(WhisperModel.from_pretrained(tiny_whisper_dir)) == name


def test_a_model_of_another_kind_is_refused():
    with pytest.raises(TypeError, match="model must be a name or folder .* got a Linear"):
        WhisperEmbedder(torch.nn.Linear(2, 2), progress=False)


def test_loading_an_in_memory_model_is_logged(tiny_whisper_dir, caplog):
    from transformers import WhisperModel

    with caplog.at_level(logging.INFO, logger="seqsim.encoders.whisper"):
        WhisperEmbedder(WhisperModel.from_pretrained(tiny_whisper_dir), progress=False)
    assert caplog.records[0].getMessage() == "loading model an in-memory WhisperModel"


# corpora: datasets and lhotse


def _file_corpus(wavs) -> Corpus:
    return Corpus([Utterance(s, lang, path) for (lang, s), path in wavs.items()])


def test_a_dataset_corpus_evaluates_as_the_same_files(tiny_whisper_dir, table, wavs, tmp_path):
    corpus = corpus_from_dataset(table)
    assert sorted(u.key for u in corpus.utterances) == sorted(f"{lang}/{s}" for lang, s in wavs)
    assert all(u.path is None for u in corpus.utterances)
    options = {"model": str(tiny_whisper_dir), "metric": "avgsim", "layer": 1}
    from_dataset = evaluate(corpus, store=tmp_path / "a", **options)
    from_files = evaluate(_file_corpus(wavs), store=tmp_path / "b", **options)
    np.testing.assert_allclose(from_dataset.matrix("r@1"), from_files.matrix("r@1"))
    assert from_dataset.matrix("r@1").shape == (2, 2)


def test_a_dataset_corpus_reads_its_other_columns(table):
    rows = table.add_column("sentence", ["k1", "k2", "k3"] * 2)
    rows = rows.add_column("speaker", [7] * 6)
    corpus = corpus_from_dataset(rows, sentence_column="sentence", speaker_column="speaker")
    english = corpus.by_language("en")
    assert [(u.id, u.sentence, u.speaker) for u in english] == [
        ("s1", "k1", "7"),
        ("s2", "k2", "7"),
        ("s3", "k3", "7"),
    ]
    with pytest.raises(CorpusError, match="the dataset has no column.*language"):
        corpus_from_dataset(table, lang_column="language")
    twice = datasets.concatenate_datasets([table, table])
    with pytest.raises(CorpusError, match=r"duplicate \(id, lang\) = \(s1, en\) at dataset row 0"):
        corpus_from_dataset(twice)


def _cut(path, cut_id, lang=None, sentence=None, custom=None):
    recording = lhotse.Recording.from_file(path, recording_id=cut_id)
    cut = recording.to_cut()
    supervision_custom = {"sentence": sentence} if sentence else None
    cut.supervisions = [
        lhotse.SupervisionSegment(
            cut_id,
            cut_id,
            0.0,
            recording.duration,
            language=lang,
            text=f"text of {cut_id}",
            speaker="anna",
            custom=supervision_custom,
        )
    ]
    cut.custom = custom
    return cut


def test_a_cutset_and_its_manifest_file_make_the_same_corpus(wavs, tmp_path):
    cuts = lhotse.CutSet.from_cuts(
        _cut(path, f"{lang}_{s}", lang=lang, sentence=s) for (lang, s), path in wavs.items()
    )
    corpus = corpus_from_lhotse(cuts)
    en = corpus.by_language("en")
    assert [(u.id, u.sentence, u.text, u.speaker) for u in en] == [
        (f"en_{s}", s, f"text of en_{s}", "anna") for s in SENTENCES
    ]
    assert len(corpus.parallel().utterances) == 6
    manifest = tmp_path / "cuts.jsonl.gz"
    cuts.to_file(manifest)
    assert read_manifest(manifest).utterances == corpus.utterances
    samples, rate = soundfile.read(wavs[("en", "s1")], dtype="float32")
    np.testing.assert_allclose(load(en[0].audio), load((samples, rate)), atol=1e-6)


def test_a_cut_may_name_its_language_in_a_custom_field(wavs):
    path = wavs[("fr", "s2")]
    corpus = corpus_from_lhotse(
        [_cut(path, "c1", custom={"language_code": "fr", "sentence": "s2"})],
        lang_field="language_code",
    )
    assert [(u.key, u.sentence) for u in corpus.utterances] == [("fr/c1", "s2")]
    with pytest.raises(CorpusError, match=r"item 1 \(c1\): no language"):
        corpus_from_lhotse([_cut(path, "c1")])


def test_recordings_are_named_lang_slash_id(wavs):
    recordings = lhotse.RecordingSet.from_recordings(
        lhotse.Recording.from_file(path, recording_id=f"{lang}/{s}")
        for (lang, s), path in wavs.items()
    )
    assert sorted(u.key for u in corpus_from_lhotse(recordings).utterances) == sorted(
        f"{lang}/{s}" for lang, s in wavs
    )
    bare = lhotse.Recording.from_file(wavs[("en", "s1")], recording_id="s1")
    with pytest.raises(CorpusError, match=r"item 1 \(s1\): a recording carries no language"):
        corpus_from_lhotse([bare])


def test_a_cutset_corpus_evaluates_as_the_same_files(tiny_whisper_dir, wavs, tmp_path):
    cuts = lhotse.CutSet.from_cuts(_cut(path, s, lang=lang) for (lang, s), path in wavs.items())
    options = {"model": str(tiny_whisper_dir), "metric": "avgsim", "layer": 2}
    from_cuts = evaluate(corpus_from_lhotse(cuts), store=tmp_path / "a", **options)
    from_files = evaluate(_file_corpus(wavs), store=tmp_path / "b", **options)
    np.testing.assert_allclose(from_cuts.matrix("r@1"), from_files.matrix("r@1"))


def test_an_unreadable_lhotse_manifest_is_named(tmp_path):
    broken = tmp_path / "cuts.jsonl.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(CorpusError, match=r"cuts\.jsonl\.gz: not a lhotse manifest"):
        read_manifest(broken)


# every input through evaluate, against the same audio given as files


def test_a_loaded_model_evaluates_as_its_folder(tiny_whisper_dir, wavs, tmp_path):
    from transformers import WhisperModel

    model = WhisperModel.from_pretrained(tiny_whisper_dir)
    options = {"metric": "avgsim", "layer": 1}
    in_memory = evaluate(_file_corpus(wavs), model=model, store=tmp_path / "a", **options)
    by_folder = evaluate(
        _file_corpus(wavs), model=str(tiny_whisper_dir), store=tmp_path / "b", **options
    )
    np.testing.assert_allclose(in_memory.matrix("r@1"), by_folder.matrix("r@1"))
    assert in_memory.settings["model"] == in_memory_name(model)
    with pytest.raises(StoreMismatchError, match="not of 'in-memory:"):  # the folder's store
        evaluate(store=tmp_path / "b", model=model, **options)


def test_arrays_in_memory_evaluate_as_their_files(tiny_whisper_dir, wavs, tmp_path):
    arrays = Corpus(
        [
            Utterance(s, lang, None, audio=soundfile.read(path, dtype="float32"))
            for (lang, s), path in wavs.items()
        ]
    )
    options = {"model": str(tiny_whisper_dir), "metric": "avgsim", "layer": 2}
    from_arrays = evaluate(arrays, store=tmp_path / "a", **options)
    from_files = evaluate(_file_corpus(wavs), store=tmp_path / "b", **options)
    np.testing.assert_allclose(from_arrays.matrix("r@1"), from_files.matrix("r@1"))
    assert from_arrays.settings["data_fingerprint"] == from_files.settings["data_fingerprint"]


def test_the_cli_evaluates_a_lhotse_manifest(tiny_whisper_dir, wavs, tmp_path):
    from click.testing import CliRunner

    from seqsim.cli import main

    cuts = lhotse.CutSet.from_cuts(_cut(path, s, lang=lang) for (lang, s), path in wavs.items())
    manifest = tmp_path / "cuts.jsonl.gz"
    cuts.to_file(manifest)
    out = tmp_path / "report"
    args = ["evaluate", "--manifest", str(manifest), "--model", str(tiny_whisper_dir)]
    result = CliRunner().invoke(main, [*args, "--metric", "avgsim", "--layers", "2", "--out", out])
    assert result.exit_code == 0, result.output
    options = {"model": str(tiny_whisper_dir), "metric": "avgsim", "layer": 2}
    from_files = evaluate(_file_corpus(wavs), store=tmp_path / "b", **options)
    table = pd.read_csv(out / "r_at_1.csv", index_col=0)
    np.testing.assert_allclose(table.to_numpy(), from_files.matrix("r@1").round(1).to_numpy())


def test_device_per_call_moves_the_encoder_and_keeps_the_frames(tiny_whisper_dir, wavs):
    embedder = WhisperEmbedder(str(tiny_whisper_dir), layers=[1, 2], progress=False)
    path = wavs[("en", "s2")]
    before = embedder.embed(path)
    _same(embedder.embed(path, device="cpu"), before)
    assert embedder.device == torch.device("cpu") and embedder.to("cpu") is embedder
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        embedder.embed(path, device="gpu")
