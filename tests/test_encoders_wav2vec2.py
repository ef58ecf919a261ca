"""The wav2vec2 family behind the encoder seam: tiny random models of every kind, saved with
their feature extractor to a folder and loaded by path, against transformers' own forward on
each utterance alone."""

from __future__ import annotations

import copy
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from helpers import write_manifest
from transformers import (
    Data2VecAudioConfig,
    Data2VecAudioModel,
    HubertConfig,
    HubertModel,
    PreTrainedModel,
    SeamlessM4TFeatureExtractor,
    Wav2Vec2BertConfig,
    Wav2Vec2BertModel,
    Wav2Vec2Config,
    Wav2Vec2ConformerConfig,
    Wav2Vec2ConformerModel,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2ForCTC,
    Wav2Vec2ForPreTraining,
    Wav2Vec2Model,
    WavLMConfig,
    WavLMModel,
    WhisperFeatureExtractor,
)

from seqsim.audio import AudioError
from seqsim.cli import main
from seqsim.embed_runs import embed
from seqsim.encoders import EncoderSpec, encoder_info, family_of, load_encoder
from seqsim.encoders.wav2vec2 import Wav2Vec2Encoder, Wav2Vec2ModelError, fbank_frames
from seqsim.evaluation import evaluate
from seqsim.store import EmbeddingStore

LENGTHS = (4_999, 8_123, 12_345)
"""Samples of the test utterances: all different, so a batch of them is padded."""

CONV = {
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "conv_dim": (8, 8),
    "conv_stride": (5, 64),  # 320 samples a frame, as every real model of the family
    "conv_kernel": (10, 79),  # the first frame after 10 + 78 x 5 = 400 samples, as theirs
    "num_feat_extract_layers": 2,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}
LAYER_NORM = {"feat_extract_norm": "layer", "do_stable_layer_norm": True}
W2V_BERT = {
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "output_hidden_size": 16,
    "feature_projection_input_dim": 160,
    "conv_depthwise_kernel_size": 3,
    "left_max_position_embeddings": 8,
    "right_max_position_embeddings": 4,
}
ADAPTER = {"add_adapter": True, "num_adapter_layers": 1, "adapter_stride": 2}


def _mask_extractor(do_normalize: bool = True) -> Wav2Vec2FeatureExtractor:
    return Wav2Vec2FeatureExtractor(do_normalize=do_normalize, return_attention_mask=True)


def _plain_extractor(do_normalize: bool = True) -> Wav2Vec2FeatureExtractor:
    return Wav2Vec2FeatureExtractor(do_normalize=do_normalize, return_attention_mask=False)


# name: (model class, config, feature extractor, batched with the attention mask)
CASES: dict[str, tuple[type[PreTrainedModel], Any, Any, bool]] = {
    "wav2vec2-layer": (
        Wav2Vec2Model,
        Wav2Vec2Config(**CONV, **LAYER_NORM),
        _mask_extractor(),
        True,
    ),
    "wav2vec2-group": (Wav2Vec2Model, Wav2Vec2Config(**CONV), _plain_extractor(), False),
    "hubert-group": (HubertModel, HubertConfig(**CONV), _plain_extractor(False), False),
    "wavlm-group": (
        WavLMModel,
        WavLMConfig(**CONV, num_buckets=8, max_bucket_distance=20),
        _plain_extractor(False),
        False,
    ),
    "wavlm-layer": (
        WavLMModel,
        WavLMConfig(**CONV, **LAYER_NORM, num_buckets=8, max_bucket_distance=20),
        _mask_extractor(),
        True,
    ),
    "data2vec-audio": (
        Data2VecAudioModel,
        Data2VecAudioConfig(**{**CONV, "num_conv_pos_embeddings": 3}, conv_pos_kernel_size=5),
        _mask_extractor(),
        False,
    ),
    "wav2vec2-conformer": (
        Wav2Vec2ConformerModel,
        Wav2Vec2ConformerConfig(**CONV, feat_extract_norm="layer", conv_depthwise_kernel_size=3),
        _mask_extractor(),
        False,
    ),
    "w2v-bert": (
        Wav2Vec2BertModel,
        Wav2Vec2BertConfig(**W2V_BERT),
        SeamlessM4TFeatureExtractor(),
        True,
    ),
    "w2v-bert-adapter": (
        Wav2Vec2BertModel,
        Wav2Vec2BertConfig(**W2V_BERT, **ADAPTER),
        SeamlessM4TFeatureExtractor(),
        True,
    ),
}


@dataclass(frozen=True)
class Tiny:
    """A tiny random model saved to ``folder`` with its feature extractor.

    ``model`` is it in memory (the reference), and ``final`` the same weights whose
    ``last_hidden_state`` is the encoder's output: the model itself, or for an adapter config
    the model loaded without its adapter."""

    name: str
    folder: Path
    model: PreTrainedModel
    final: PreTrainedModel
    extractor: Any
    batched: bool


def _save(name: str, folder: Path) -> Tiny:
    kind, config, extractor, batched = CASES[name]
    torch.manual_seed(sum(map(ord, name)))
    model = kind(config).eval()
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)
    final = model
    if getattr(config, "add_adapter", False):
        final = kind.from_pretrained(folder, add_adapter=False).eval()
    return Tiny(name, folder, model, final, extractor, batched)


@pytest.fixture(scope="module", params=list(CASES))
def tiny(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    return _save(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def layer_norm_wav2vec2(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    return _save("wav2vec2-layer", tmp_path_factory.mktemp("wav2vec2-layer"))


def _utterances(lengths: tuple[int, ...] = LENGTHS) -> list[np.ndarray]:
    """Noise with an offset and a scale of its own each, so that normalising changes it."""
    rng = np.random.default_rng(7)
    return [
        (0.05 * (index + 1) + (0.1 + 0.2 * index) * rng.standard_normal(n)).astype(np.float32)
        for index, n in enumerate(lengths)
    ]


def reference_layers(tiny: Tiny, samples: np.ndarray, extractor: Any = None) -> list[torch.Tensor]:
    """Every hidden state of the model's own forward on ``samples`` alone: the extractor
    applied as it is configured, ``output_hidden_states`` for states 0..L-1 and the encoder's
    output (``last_hidden_state`` of the model without an adapter) for L; the frames of the
    utterance only (for w2v-BERT, those its extractor's attention mask keeps)."""
    inputs = (extractor or tiny.extractor)(samples, sampling_rate=16_000, return_tensors="pt")
    with torch.no_grad():
        states = tiny.model(**inputs, output_hidden_states=True).hidden_states
        final = tiny.final(**inputs).last_hidden_state
    every = [*states[:-1], final]
    kept = int(inputs["attention_mask"].sum()) if "input_features" in inputs else final.shape[1]
    return [state[0, :kept] for state in every]


def _assert_frames_equal(got: torch.Tensor, expected: torch.Tensor, exact: bool) -> None:
    assert got.dtype == torch.float32 and got.shape == expected.shape
    if exact:
        assert torch.equal(got, expected)
    else:
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_the_family_takes_the_folder(tiny: Tiny) -> None:
    assert family_of(str(tiny.folder)).name == "wav2vec2"
    encoder = load_encoder(str(tiny.folder), progress=False)
    assert isinstance(encoder, Wav2Vec2Encoder)
    assert encoder.batches_with_mask is tiny.batched


def test_frame_counts_follow_the_models_own_formula(tiny: Tiny) -> None:
    encoder = load_encoder(str(tiny.folder), progress=False)
    embeddings = encoder.embed([(samples, 16_000) for samples in _utterances()], batch_size=3)
    for embedding, samples in zip(embeddings, _utterances(), strict=True):
        if isinstance(tiny.extractor, SeamlessM4TFeatureExtractor):
            mask = tiny.extractor(samples, sampling_rate=16_000).attention_mask
            expected = int(np.sum(mask))
        else:
            expected = int(tiny.model._get_feat_extract_output_lengths(len(samples)))
        assert embedding.frames.shape[0] == expected


def test_a_batch_of_different_lengths_equals_each_alone_in_every_layer(tiny: Tiny) -> None:
    encoder = load_encoder(str(tiny.folder), layers="all", batch_size=3, progress=False)
    utterances = _utterances()
    embeddings = encoder.embed([(samples, 16_000) for samples in utterances])
    for embedding, samples in zip(embeddings, utterances, strict=True):
        expected = reference_layers(tiny, samples)
        assert sorted(embedding.layers) == list(range(len(expected)))
        for layer, frames in embedding.layers.items():
            _assert_frames_equal(frames, expected[layer], exact=not tiny.batched)


def test_info_without_the_weights_equals_the_encoders(tiny: Tiny) -> None:
    encoder = load_encoder(str(tiny.folder), layers=-1, progress=False)
    info = encoder_info(str(tiny.folder))
    assert info == encoder.info()
    assert (info.family, info.num_layers, info.frame_seconds) == ("wav2vec2", 2, 320 / 16_000)
    planned = EncoderSpec(str(tiny.folder)).planned_settings(
        -1, "float16", "auto", torch.device("cpu")
    )
    assert planned == {**encoder.settings(), "dtype": "float16"}


def test_an_adapter_changes_neither_frames_nor_frame_seconds(tmp_path: Path) -> None:
    """The adapter strides the model's last output by 2; the encoder's frames are not it."""
    tiny = _save("w2v-bert-adapter", tmp_path)
    samples = _utterances()[2]
    inputs = tiny.extractor(samples, sampling_rate=16_000, return_tensors="pt")
    with torch.no_grad():
        adapted = tiny.model(**inputs).last_hidden_state.shape[1]
    frames = load_encoder(str(tmp_path), progress=False).embed((samples, 16_000)).frames
    assert frames.shape[0] == int(inputs["attention_mask"].sum()) == 37  # (1 + 11945 // 160) // 2
    assert adapted < frames.shape[0]
    assert encoder_info(str(tmp_path)).frame_seconds == 2 * 160 / 16_000


@pytest.mark.parametrize("do_normalize", [True, False])
@pytest.mark.parametrize("case", ["wav2vec2-layer", "data2vec-audio"])
def test_the_extractors_do_normalize_is_honoured(
    case: str, do_normalize: bool, tmp_path: Path
) -> None:
    """A batch (wav2vec2) and one at a time (data2vec-audio). Group-normed models are left
    out: their first group norm undoes any offset and scale of the input, so normalising
    hardly changes their frames."""
    tiny = _save(case, tmp_path)
    extractor = Wav2Vec2FeatureExtractor(
        do_normalize=do_normalize, return_attention_mask=tiny.extractor.return_attention_mask
    )
    extractor.save_pretrained(tmp_path)
    utterances = _utterances()
    encoder = load_encoder(str(tmp_path), batch_size=3, progress=False)
    embeddings = encoder.embed([(samples, 16_000) for samples in utterances])
    for embedding, samples in zip(embeddings, utterances, strict=True):
        expected = reference_layers(tiny, samples, extractor)[-1]
        _assert_frames_equal(embedding.frames, expected, exact=not tiny.batched)
        other = Wav2Vec2FeatureExtractor(do_normalize=not do_normalize)
        assert (embedding.frames - reference_layers(tiny, samples, other)[-1]).abs().max() > 1e-3


def test_a_folder_without_a_feature_extractor_gets_the_default(tmp_path: Path) -> None:
    """Layer-normed wav2vec2: normalised inputs, batched with the mask, as transformers
    converts fairseq checkpoints."""
    tiny = _save("wav2vec2-layer", tmp_path)
    (tmp_path / "preprocessor_config.json").unlink()
    encoder = load_encoder(str(tmp_path), batch_size=3, progress=False)
    assert encoder.feature_extractor.do_normalize and encoder.batches_with_mask
    for embedding, samples in zip(
        encoder.embed([(samples, 16_000) for samples in _utterances()]), _utterances(), strict=True
    ):
        _assert_frames_equal(embedding.frames, reference_layers(tiny, samples)[-1], exact=False)


def test_a_model_in_memory_is_named_by_a_digest_of_its_weights(layer_norm_wav2vec2: Tiny) -> None:
    model = layer_norm_wav2vec2.model
    encoder = load_encoder(model, layers="all", progress=False)
    assert isinstance(encoder, Wav2Vec2Encoder) and encoder.model is model
    name = encoder.settings()["model"]
    assert re.fullmatch(r"in-memory:Wav2Vec2Model@sha256:[0-9a-f]{16}", name)
    assert encoder_info(model) == encoder.info()
    samples = _utterances()[1]
    for layer, frames in encoder.embed((samples, 16_000)).layers.items():
        _assert_frames_equal(frames, reference_layers(layer_norm_wav2vec2, samples)[layer], False)
    same = copy.deepcopy(model)
    assert encoder_info(same).model == name
    with torch.no_grad():
        same.encoder.layers[0].feed_forward.output_dense.bias[0] += 1e-3
    assert encoder_info(same).model != name


@pytest.mark.parametrize("head", [Wav2Vec2ForCTC, Wav2Vec2ForPreTraining])
def test_a_checkpoint_with_a_head_loads_as_its_base_model(head: type, tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = head(Wav2Vec2Config(**CONV, **LAYER_NORM, vocab_size=8)).eval()
    model.save_pretrained(tmp_path)
    _mask_extractor().save_pretrained(tmp_path)
    in_memory = load_encoder(model, progress=False)
    assert in_memory.model is model.wav2vec2
    encoder = load_encoder(str(tmp_path), layers="all", progress=False)
    base = Tiny("head", tmp_path, model.wav2vec2, model.wav2vec2, _mask_extractor(), True)
    samples = _utterances()[0]
    for layer, frames in encoder.embed((samples, 16_000)).layers.items():
        _assert_frames_equal(frames, reference_layers(base, samples)[layer], exact=True)


def test_blocks_above_the_highest_layer_asked_for_are_not_run(layer_norm_wav2vec2: Tiny) -> None:
    folder = str(layer_norm_wav2vec2.folder)
    samples = _utterances()[2]
    every = load_encoder(folder, layers="all", progress=False).embed((samples, 16_000))
    encoder = load_encoder(folder, layers=[1], progress=False)
    calls: list[str] = []
    hook = encoder.model.encoder.layers[1].register_forward_hook(lambda *_: calls.append("ran"))
    try:
        frames = encoder.embed((samples, 16_000)).frames
    finally:
        hook.remove()
    assert calls == []
    assert torch.equal(frames, every.layers[1])


def test_fbank_frames_are_the_frames_the_extractors_mask_keeps() -> None:
    extractor = SeamlessM4TFeatureExtractor()
    rng = np.random.default_rng(0)
    for length in [560, 561, 719, 720, 879, 880, 1_039, 4_999, 16_000, 16_001]:
        samples = rng.standard_normal(length).astype(np.float32)
        mask = extractor(samples, sampling_rate=16_000).attention_mask
        assert fbank_frames(length, 2) == int(np.sum(mask)), length
    assert [fbank_frames(length, 2) for length in (0, 399, 400, 559)] == [0, 0, 0, 0]


@pytest.mark.parametrize(("case", "too_short"), [("wav2vec2-group", 399), ("w2v-bert", 559)])
def test_an_utterance_too_short_for_one_frame_is_bad_audio_by_name(
    case: str, too_short: int, tmp_path: Path
) -> None:
    _save(case, tmp_path)
    encoder = load_encoder(str(tmp_path), progress=False)
    noise = np.random.default_rng(1).standard_normal(16_000).astype(np.float32)
    clips = [
        {"array": noise[:length], "sampling_rate": 16_000, "path": f"clip{length}.wav"}
        for length in (too_short, too_short + 1, 16_000)
    ]
    results = dict(encoder.embed_iter(clips))
    assert isinstance(results[0], AudioError)
    assert str(results[0]).startswith(f"clip{too_short}.wav: {too_short} samples")
    assert "too short for one frame" in str(results[0])
    assert results[1].frames.shape[0] == 1 and results[2].frames.shape[0] == 49


def test_a_folder_of_another_model_type_is_refused_by_name(tiny_whisper_dir: Path) -> None:
    with pytest.raises(Wav2Vec2ModelError, match="model_type 'whisper' is not of the wav2vec2"):
        load_encoder(str(tiny_whisper_dir), family="wav2vec2", progress=False)


def test_a_folder_without_weights_is_refused_by_name(tmp_path: Path) -> None:
    HubertConfig(**CONV).save_pretrained(tmp_path)
    with pytest.raises(Wav2Vec2ModelError, match=f"cannot load model '{re.escape(str(tmp_path))}'"):
        load_encoder(str(tmp_path), progress=False)


@pytest.mark.parametrize(
    ("extractor", "message"),
    [
        (Wav2Vec2FeatureExtractor(sampling_rate=8_000), "expects 8000 Hz audio"),
        (WhisperFeatureExtractor(), "is a WhisperFeatureExtractor; a 'wav2vec2' model takes"),
    ],
)
def test_a_feature_extractor_that_does_not_fit_is_refused_by_name(
    layer_norm_wav2vec2: Tiny, extractor: Any, message: str, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(layer_norm_wav2vec2.folder, folder)
    extractor.save_pretrained(folder)
    with pytest.raises(Wav2Vec2ModelError, match=f"^{re.escape(str(folder))}: .*{message}"):
        load_encoder(str(folder), progress=False)


@pytest.mark.parametrize("text", ["{", "[1]", '{"feature_extractor_type": "NoSuchExtractor"}'])
def test_a_damaged_feature_extractor_is_refused_by_name_not_replaced(
    layer_norm_wav2vec2: Tiny, text: str, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(layer_norm_wav2vec2.folder, folder)
    (folder / "preprocessor_config.json").write_text(text)
    expected = f"^{re.escape(str(folder))}: its preprocessor_config.json cannot be read"
    with pytest.raises(Wav2Vec2ModelError, match=expected):
        load_encoder(str(folder), progress=False)
    with pytest.raises(Wav2Vec2ModelError, match=expected):
        encoder_info(str(folder))


def test_a_store_of_wav2vec2_frames_names_the_family_and_frame_rate(
    layer_norm_wav2vec2: Tiny, tmp_path: Path
) -> None:
    folder = str(layer_norm_wav2vec2.folder)
    encoder = load_encoder(folder, layers=[0, -1], progress=False)
    utterances = _utterances()
    items = [(f"u{index}", (samples, 16_000)) for index, samples in enumerate(utterances)]
    store = EmbeddingStore(tmp_path / "store")
    report = embed(store, items, encoder, dtype="float32")
    assert report.embedded == 3
    settings = store.settings
    assert settings is not None
    assert (settings["family"], settings["model"], settings["layers"]) == (
        "wav2vec2",
        folder,
        [0, 2],
    )
    assert settings["frame_seconds"] == 0.02 and settings["hidden_states"] == 3
    keys, frames = store.load(-1)
    stored = dict(zip(keys, frames, strict=True))
    for index, samples in enumerate(utterances):
        expected = reference_layers(layer_norm_wav2vec2, samples)[-1]
        torch.testing.assert_close(torch.tensor(np.array(stored[f"u{index}"])), expected)


def test_the_command_line_evaluates_a_manifest_with_a_wav2vec2_folder(
    layer_norm_wav2vec2: Tiny, tmp_path: Path
) -> None:
    """`seqsim evaluate --manifest M --model FOLDER`: the family is read from the folder, the
    results record it, and the matrix is the one the store's frames give."""
    folder = layer_norm_wav2vec2.folder
    manifest = write_manifest(tmp_path)
    out = tmp_path / "report"
    args = ["evaluate", "--manifest", manifest, "--model", folder, "--layer", "1", "--out", out]
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    settings = results["settings"]
    assert (settings["family"], settings["model"], settings["layer"]) == (
        "wav2vec2",
        str(folder),
        1,
    )
    assert settings["frame_seconds"] == 0.02
    store = EmbeddingStore(out / "store")
    assert store.settings["family"] == "wav2vec2"
    keys, frames = store.load(1)
    encoder = load_encoder(str(folder), layers=1, progress=False)
    first = encoder.embed(str(tmp_path / "audio" / "0" / "0.wav"))
    stored = dict(zip(keys, frames, strict=True))
    torch.testing.assert_close(
        torch.tensor(np.array(stored["aa/0"]), dtype=torch.float32), first.frames,
        atol=2e-3, rtol=2e-3,
    )  # fmt: skip
    from_store = evaluate(store=out / "store", layer=1, progress=False)
    table = pd.read_csv(out / "r_at_1.csv", index_col=0)
    assert table.loc["aa", "bb"] == pytest.approx(from_store.matrix("r@1").loc["aa", "bb"])
