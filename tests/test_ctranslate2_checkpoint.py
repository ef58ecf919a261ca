import numpy as np
import pytest
import torch
from ct2_writer import ctranslate2_variables, encode, write_checkpoint
from transformers import WhisperModel

from seqsim.whisper.ctranslate2_checkpoint import CheckpointError, load_ctranslate2_whisper
from seqsim.whisper.loading import is_ctranslate2_directory, load_whisper, whisper_info


@pytest.fixture(scope="module")
def tiny_model(tiny_whisper_dir):
    return WhisperModel.from_pretrained(tiny_whisper_dir).eval()


def features(seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(
        np.random.default_rng(seed).standard_normal((2, 80, 3000)).astype(np.float32)
    )


@pytest.mark.parametrize(
    ("dtype", "parts", "tolerance"), [(np.float32, 1, 1e-6), (np.float16, 3, 2e-2)]
)
def test_converted_model_reproduces_the_original(tmp_path, tiny_model, dtype, parts, tolerance):
    folder = write_checkpoint(tiny_model, tmp_path / "ct2", parts=parts, dtype=dtype)
    assert is_ctranslate2_directory(folder)
    converted = load_ctranslate2_whisper(folder)
    assert converted.config.encoder_layers == 2 and converted.config.d_model == 32
    with torch.no_grad():
        expected = tiny_model.encoder(features()).last_hidden_state
        actual = converted.encoder(features()).last_hidden_state
        torch.testing.assert_close(actual, expected, atol=tolerance, rtol=tolerance)
        tokens = torch.tensor([[1, 5, 7]])
        expected_decoder = tiny_model(features(), decoder_input_ids=tokens).last_hidden_state
        actual_decoder = converted(features(), decoder_input_ids=tokens).last_hidden_state
        torch.testing.assert_close(
            actual_decoder, expected_decoder, atol=tolerance * 10, rtol=tolerance * 10
        )


def test_load_whisper_recognises_a_ctranslate2_folder(tmp_path, tiny_model):
    folder = write_checkpoint(tiny_model, tmp_path / "ct2")
    loaded = load_whisper(str(folder))
    assert loaded.feature_extractor.feature_size == 80
    assert loaded.model.config.decoder_layers == 1


def test_truncated_checkpoint_is_reported_with_its_file(tmp_path, tiny_model):
    folder = write_checkpoint(tiny_model, tmp_path / "ct2", parts=2)
    (folder / "model.bin.part2").unlink()
    with pytest.raises(CheckpointError, match=r"model.bin.part1: file ends early"):
        load_ctranslate2_whisper(folder)


def test_wrong_version_and_missing_weights(tmp_path, tiny_model):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "model.bin").write_bytes(encode(ctranslate2_variables(tiny_model), {}, version=5))
    with pytest.raises(CheckpointError, match="format version 5; seqsim reads version 6"):
        load_ctranslate2_whisper(folder)
    with pytest.raises(CheckpointError, match="no model.bin or model.bin.part1"):
        load_ctranslate2_whisper(tmp_path)


def test_int8_checkpoints_are_refused_clearly(tmp_path, tiny_model):
    variables = ctranslate2_variables(tiny_model)
    variables["encoder/layer_0/ffn/linear_0/weight"] = np.zeros((64, 32), np.int8)
    folder = tmp_path / "int8"
    folder.mkdir()
    (folder / "model.bin").write_bytes(encode(variables, {}))
    with pytest.raises(CheckpointError, match="int8-quantized weights are not supported"):
        load_ctranslate2_whisper(folder)


def test_unknown_model_name_is_explained():
    with pytest.raises(ValueError, match="cannot load Whisper model '/no/such/folder'"):
        load_whisper("/no/such/folder")


def test_whisper_info_reads_the_layer_count_without_building_the_model(
    tmp_path, tiny_model, tiny_whisper_dir
):
    folder = write_checkpoint(tiny_model, tmp_path / "ct2", parts=2)
    for source in (str(folder) + "/", str(tiny_whisper_dir)):
        info = whisper_info(source)
        loaded = load_whisper(source)
        assert info.source == loaded.source  # the name settings record, "/" and all
        assert info.encoder_layers == len(loaded.model.get_encoder().layers) == 2
    with pytest.raises(ValueError, match="cannot load Whisper model '/no/such/folder'"):
        whisper_info("/no/such/folder")


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ('{"model_type": "whisper",', "cannot be read as JSON"),  # cut short
        (b"\xff\xfe{}", "cannot be read as JSON"),  # not UTF-8 text
        ('["model_type"]', "holds a JSON list, not an object"),
    ],
)
def test_a_malformed_config_next_to_weights_is_named(tmp_path, config, problem):
    """Weights and a config.json that is no JSON object: neither kind of folder can be told,
    and the error names the file (not a bare JSONDecodeError)."""
    (tmp_path / "model.bin").write_bytes(b"")
    path = tmp_path / "config.json"
    if isinstance(config, bytes):
        path.write_bytes(config)
    else:
        path.write_text(config)
    with pytest.raises(CheckpointError) as raised:
        is_ctranslate2_directory(tmp_path)
    assert str(raised.value).startswith(f"{path}: {problem}")
    with pytest.raises(CheckpointError, match="config.json: "):
        whisper_info(str(tmp_path))


def test_a_malformed_config_without_weights_is_left_to_transformers(tmp_path):
    (tmp_path / "config.json").write_text("{")
    assert not is_ctranslate2_directory(tmp_path)
