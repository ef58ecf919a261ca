"""The encoder seam: audio in, frames out, for any speech encoder.

:class:`SpeechEncoder` is what every encoder family is (Whisper, the wav2vec2 family, a user's
own): it checks the options common to all, reads audio in a background thread, reports bad
audio without stopping, draws the progress bar, and hands each batch of 16 kHz samples to the
family's :meth:`SpeechEncoder.encode`, which returns each utterance's frames with the padding
stripped by the family's own rule. Its :meth:`~SpeechEncoder.settings` are what a store records
of the frames, so that frames of two encoders never share a store.
"""

from __future__ import annotations

import inspect
import logging
import numbers
import sys
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar, overload

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import audio as audio_io
from .._defaults import DEFAULT_DEVICE, DEFAULT_LAYER
from ..audio import SAMPLE_RATE, AudioError, AudioInput
from ..backends import resolve_device
from ..checks import check_choice, check_count, check_flag, refuse_unknown
from ..progress import progress_bar

ENCODER_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
DEFAULT_BATCH_SIZES = {"cuda": 16, "cpu": 1}
"""Utterances per forward pass by device type when ``batch_size`` is None: on the CPU batching
is no faster (docs/extractor.md has the numbers), and one utterance at a time moves the
progress bar at every utterance."""

LayerSelection = int | Sequence[int] | Literal["all"]
OUTPUTS = ("torch", "numpy")
"""What :meth:`SpeechEncoder.embed` returns frames as: torch tensors or numpy arrays."""

LayerFrames = dict[int, torch.Tensor]
"""One utterance's frames per selected hidden-state index: (frames, d) float32 CPU tensors."""

FramesT = TypeVar("FramesT", torch.Tensor, np.ndarray)


@dataclass(frozen=True)
class _LayerFrames(Generic[FramesT]):
    """Frames per selected layer and the utterance's length: what both embedding types share."""

    layers: dict[int, FramesT]
    num_samples: int

    @property
    def frames(self) -> FramesT:
        """The frames of the only selected layer.

        Raises
        ------
        ValueError
            When several layers were selected: use ``layers[k]``.

        Examples
        --------
        >>> import torch
        >>> from seqsim import Embedding
        >>> Embedding({4: torch.zeros(2, 8), 6: torch.zeros(2, 8)}, 640).frames
        Traceback (most recent call last):
            ...
        ValueError: several layers were selected [4, 6]; use .layers[k]
        """
        if len(self.layers) != 1:
            raise ValueError(f"several layers were selected {sorted(self.layers)}; use .layers[k]")
        return next(iter(self.layers.values()))

    @property
    def duration(self) -> float:
        """The utterance's length in seconds.

        Examples
        --------
        >>> import torch
        >>> from seqsim import Embedding
        >>> Embedding({6: torch.zeros(8, 512)}, num_samples=2_400).duration
        0.15
        """
        return self.num_samples / SAMPLE_RATE


@dataclass(frozen=True)
class Embedding(_LayerFrames[torch.Tensor]):
    """One utterance's encoder frames, for every layer selected, as every
    :class:`SpeechEncoder` returns them.

    Parameters
    ----------
    layers : dict of int to torch.Tensor
        ``layers[k]`` is a (frames, d) float32 CPU tensor for each selected hidden-state index
        ``k`` (0 = input embeddings, ``L`` = final output), padding stripped.
    num_samples : int
        Samples of the utterance at 16 kHz.

    Examples
    --------
    >>> import torch
    >>> from seqsim import Embedding
    >>> embedding = Embedding({6: torch.zeros(50, 512)}, num_samples=16_000)
    >>> embedding.frames.shape, embedding.duration
    (torch.Size([50, 512]), 1.0)
    """

    def numpy(self) -> NumpyEmbedding:
        """The same frames as float32 numpy arrays.

        Returns
        -------
        NumpyEmbedding
            ``layers[k]`` a (frames, d) float32 array for every layer.

        Examples
        --------
        >>> import torch
        >>> from seqsim import Embedding
        >>> Embedding({6: torch.ones(2, 3)}, num_samples=640).numpy().frames.dtype
        dtype('float32')
        """
        arrays = {layer: frames.numpy() for layer, frames in self.layers.items()}
        return NumpyEmbedding(arrays, self.num_samples)


@dataclass(frozen=True)
class NumpyEmbedding(_LayerFrames[np.ndarray]):
    """One utterance's frames as numpy arrays: what ``embed(..., output="numpy")`` returns.

    Parameters
    ----------
    layers : dict of int to numpy.ndarray
        ``layers[k]`` is a (frames, d) float32 array for each selected hidden-state index.
    num_samples : int
        Samples of the utterance at 16 kHz.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.encoders import NumpyEmbedding
    >>> embedding = NumpyEmbedding({6: np.zeros((50, 512), np.float32)}, num_samples=16_000)
    >>> embedding.frames.shape, embedding.duration
    ((50, 512), 1.0)
    """


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """The encoder's dtype: ``"auto"`` is float16 on CUDA and float32 on the CPU.

    Parameters
    ----------
    dtype : str or torch.dtype
        ``"auto"``, a name in :data:`ENCODER_DTYPES` (``"float16"``, ``"bfloat16"``,
        ``"float32"``) or one of those torch dtypes.
    device : torch.device
        Where the encoder runs.

    Returns
    -------
    torch.dtype
        float16, bfloat16 or float32.

    Raises
    ------
    ValueError
        For any other name or dtype.

    Examples
    --------
    >>> import torch
    >>> from seqsim.encoders import resolve_dtype
    >>> resolve_dtype("auto", torch.device("cpu")), resolve_dtype("bfloat16", torch.device("cpu"))
    (torch.float32, torch.bfloat16)
    >>> resolve_dtype("int8", torch.device("cpu"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: dtype must be one of 'auto', 'float16', 'bfloat16', 'float32' (...), got 'int8'
    """
    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    resolved = ENCODER_DTYPES.get(dtype) if isinstance(dtype, str) else dtype
    if resolved is None or resolved not in ENCODER_DTYPES.values():
        choices = ", ".join(repr(name) for name in ("auto", *ENCODER_DTYPES))
        raise ValueError(f"dtype must be one of {choices} (or that torch dtype), got {dtype!r}")
    return resolved


def requested_layers(layers: LayerSelection) -> list[int] | Literal["all"]:
    """``layers`` as a list of indices (or ``"all"``), checked for form only.

    Whether each index exists depends on the model: :func:`resolve_layers` checks that once it
    is loaded.

    Parameters
    ----------
    layers : int, sequence of int, or "all"
        A hidden-state index, a non-empty list of them (numpy integers too), or ``"all"``.

    Returns
    -------
    list of int or "all"
        The indices as Python ints, in the order given, or ``"all"``.

    Raises
    ------
    ValueError
        For an empty list, anything else that is not an index, a list of them or ``"all"``,
        and an index that is not an integer (a bool is refused).

    Examples
    --------
    >>> from seqsim.encoders import requested_layers
    >>> requested_layers(-1), requested_layers((4, 6)), requested_layers("all")
    ([-1], [4, 6], 'all')
    >>> requested_layers([1.5])
    Traceback (most recent call last):
        ...
    ValueError: layer 1.5 is not a hidden-state index (an integer)
    """
    if isinstance(layers, str) and layers == "all":
        return "all"
    requested: list[Any] = []
    if isinstance(layers, numbers.Integral):
        requested = [layers]
    elif isinstance(layers, Iterable) and not isinstance(layers, str):
        requested = list(layers)
    if not requested:
        raise ValueError(
            f"layers must be a hidden-state index, a non-empty list of them, or 'all'; "
            f"got {layers!r}"
        )
    for layer in requested:
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral):
            raise ValueError(f"layer {layer!r} is not a hidden-state index (an integer)")
    return [int(layer) for layer in requested]


def resolve_layers(
    requested: list[int] | Literal["all"], num_layers: int, model_name: str
) -> list[int]:
    """The hidden-state indices ``requested`` selects in a model of ``num_layers`` encoder blocks.

    Parameters
    ----------
    requested : list of int or "all"
        As :func:`requested_layers` returns it.
    num_layers : int
        Encoder blocks of the model: it has hidden states ``0..num_layers``.
    model_name : str
        The model, for the error message.

    Returns
    -------
    list of int
        Sorted, each once, negative ones counted from the end.

    Raises
    ------
    ValueError
        For an index outside ``-(num_layers + 1)..num_layers``.

    Examples
    --------
    >>> from seqsim.encoders import resolve_layers
    >>> resolve_layers([-1, 4, 4], 6, "whisper-base"), resolve_layers("all", 2, "tiny")
    ([4, 6], [0, 1, 2])
    >>> resolve_layers([7], 6, "whisper-base")
    Traceback (most recent call last):
        ...
    ValueError: layer 7 does not exist: whisper-base has hidden states 0..6 (or -7..-1)
    """
    count = num_layers + 1
    if requested == "all":
        return list(range(count))
    for layer in requested:
        if not -count <= layer < count:
            raise ValueError(
                f"layer {layer!r} does not exist: {model_name} has hidden states "
                f"0..{count - 1} (or -{count}..-1)"
            )
    return sorted({layer % count for layer in requested})


@dataclass(frozen=True)
class EncoderInfo:
    """What a store records of an encoder's model, known without running it.

    Parameters
    ----------
    family : str
        The registered family (:func:`~seqsim.encoders.available_encoders`), e.g. ``"whisper"``.
    model : str
        The model's identity as settings record it: a hub id or folder as given, an offline
        name, or a digest of the weights of a model passed in memory.
    num_layers : int
        Encoder blocks: the model has hidden states ``0..num_layers``.
    frame_seconds : float
        Seconds of audio per frame (the frame rate's inverse).
    options : dict, optional
        Options of the family that change the frames (none by default), recorded with them.

    Examples
    --------
    >>> from seqsim.encoders import EncoderInfo
    >>> info = EncoderInfo("whisper", "whisper-base-offline", 6, 0.02)
    >>> info.num_layers + 1, 1 / info.frame_seconds  # hidden states, frames per second
    (7, 50.0)
    """

    family: str
    model: str
    num_layers: int
    frame_seconds: float
    options: dict[str, Any] = field(default_factory=dict)

    def settings(self, layers: list[int], encoder_dtype: torch.dtype) -> dict[str, Any]:
        """The settings of frames of ``layers`` made in ``encoder_dtype``, as a store records
        them.

        Parameters
        ----------
        layers : list of int
            The hidden states kept (as :func:`resolve_layers` returns them).
        encoder_dtype : torch.dtype
            The encoder's dtype.

        Returns
        -------
        dict
            ``family``, ``model``, ``layers``, ``encoder_dtype`` (as a string),
            ``hidden_states`` (``num_layers + 1``), ``frame_seconds``, and the family's
            ``options`` where it has any.

        Examples
        --------
        >>> import torch
        >>> from seqsim.encoders import EncoderInfo
        >>> EncoderInfo("whisper", "whisper-base-offline", 6, 0.02).settings([6], torch.float32)
        ... # doctest: +NORMALIZE_WHITESPACE
        {'family': 'whisper', 'model': 'whisper-base-offline', 'layers': [6],
         'encoder_dtype': 'torch.float32', 'hidden_states': 7, 'frame_seconds': 0.02}
        """
        settings = {
            "family": self.family,
            "model": self.model,
            "layers": layers,
            "encoder_dtype": str(encoder_dtype),
            "hidden_states": self.num_layers + 1,
            "frame_seconds": self.frame_seconds,
        }
        if self.options:
            settings["options"] = dict(self.options)
        return settings


@contextmanager
def _quiet_transformers(quiet: bool) -> Iterator[None]:
    """With ``quiet``, transformers draws none of its progress bars (weights, downloads)."""
    from transformers.utils import logging as transformers_logging

    if not (quiet and transformers_logging.is_progress_bar_enabled()):
        yield
        return
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers_logging.enable_progress_bar()


_HINTS = {
    "convert_to_numpy": 'use output="numpy"',
    "convert_to_tensor": 'frames are torch tensors by default (output="torch")',
}

Prepared = TypeVar("Prepared")
"""What a family's :meth:`SpeechEncoder.prepare` makes of a batch (features, masks, ...)."""

_Batch = tuple[list[tuple[int, int | AudioError]], Any]
"""A read batch: per item its sample count or error, and the family's prepared inputs."""


class SpeechEncoder(ABC):
    """Audio in, frames out: the base of every encoder, built in or your own.

    A family subclasses it, calls ``super().__init__`` with the common options (checked before
    anything loads), loads its model, calls :meth:`_describe` with what the model is, and
    implements :meth:`encode`; it may override :meth:`prepare` (runs in the reader thread,
    e.g. feature extraction), :meth:`check_samples` (refuse audio it cannot take) and
    :meth:`_move` (move its model to another device). Register it with
    :func:`~seqsim.encoders.register_encoder` and every part of seqsim takes it by name:
    :func:`~seqsim.load_encoder`, the store, the evaluator, ``seqsim embed``, ``evaluate``,
    ``pair``, ``map`` and the Ray actors.

    Parameters
    ----------
    layers : int, sequence of int, or "all", default -1
        A hidden-state index (negative counts from the end: -1 is the final output), a list of
        them, or ``"all"``. One forward pass serves all of them.
    device : str or torch.device, default "auto"
        ``"auto"`` (or None) is CUDA when present, else the CPU
        (:func:`~seqsim.backends.resolve_device`).
    dtype : str or torch.dtype, default "auto"
        The encoder's dtype: ``"auto"`` is float16 on CUDA, float32 on the CPU
        (:func:`resolve_dtype`). Frames are returned as float32 whatever it is.
    batch_size : int, optional
        Utterances read together and encoded in one :meth:`encode` call. None is 16 on CUDA
        and 1 on the CPU (:data:`DEFAULT_BATCH_SIZES`). :meth:`embed` can override it.
    progress : bool, default True
        Say on stderr that the model is loading and show a bar while embedding; False draws
        nothing. The rest (model loaded, in how long, where) goes to the family's logger.

    Attributes
    ----------
    family : str
        The registered family name (a class attribute).
    model_name : str
        The model's identity as settings record it.
    layers : list of int
        The hidden-state indices kept, sorted, non-negative.
    num_layers : int
        Encoder blocks of the model.
    frame_seconds : float
        Seconds of audio per frame.
    device, dtype, batch_size, progress
        The options, resolved.

    Examples
    --------
    An encoder of one's own in a few lines: frames of 20 ms holding each frame's mean and
    peak amplitude, one "layer".

    >>> import numpy as np
    >>> import torch
    >>> from seqsim.encoders import SpeechEncoder
    >>> class Loudness(SpeechEncoder):
    ...     family = "loudness"
    ...     def __init__(self, model="loudness", **options):
    ...         super().__init__(**options)
    ...         self._describe(model, num_layers=0, frame_seconds=0.02)
    ...     def encode(self, batch, batch_size):
    ...         frames = [np.abs(s[: len(s) // 320 * 320]).reshape(-1, 320) for s in batch]
    ...         return [{0: torch.tensor(np.stack([f.mean(1), f.max(1)], 1))} for f in frames]
    >>> encoder = Loudness(progress=False)
    >>> noise = np.random.default_rng(0).normal(0.0, 0.1, 16_000).astype(np.float32)
    >>> encoder.embed((noise, 16_000)).frames.shape
    torch.Size([50, 2])
    >>> encoder.settings()  # doctest: +NORMALIZE_WHITESPACE
    {'family': 'loudness', 'model': 'loudness', 'layers': [0],
     'encoder_dtype': 'torch.float32', 'hidden_states': 1, 'frame_seconds': 0.02}
    """

    family: ClassVar[str]
    model_name: str
    layers: list[int]
    num_layers: int
    frame_seconds: float

    def __init__(
        self,
        *,
        layers: LayerSelection = DEFAULT_LAYER,
        device: str | torch.device | None = DEFAULT_DEVICE,
        dtype: str | torch.dtype = "auto",
        batch_size: int | None = None,
        progress: bool = True,
    ) -> None:
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        if batch_size is None:
            batch_size = DEFAULT_BATCH_SIZES[self.device.type]
        check_count("batch_size", batch_size, 1)
        self._requested_layers = requested_layers(layers)
        check_flag("progress", progress)
        self.batch_size = batch_size
        self.progress = progress

    def _describe(
        self, model_name: str, num_layers: int, frame_seconds: float, **options: Any
    ) -> None:
        """Record what the loaded model is, and resolve the layers asked for against it.

        Parameters
        ----------
        model_name : str
            The model's identity as settings record it.
        num_layers : int
            Encoder blocks (hidden states ``0..num_layers``).
        frame_seconds : float
            Seconds of audio per frame.
        **options
            The family's options that change the frames (recorded in the settings).

        Raises
        ------
        ValueError
            For a layer the model does not have.
        """
        self.model_name = model_name
        self.num_layers = num_layers
        self.frame_seconds = frame_seconds
        self._frame_options = options
        self.layers = resolve_layers(self._requested_layers, num_layers, model_name)
        logging.getLogger(type(self).__module__).info(
            "loaded %s (%d layers) in %.1f s on %s",
            model_name,
            num_layers,
            time.perf_counter() - getattr(self, "_load_started", time.perf_counter()),
            self.device,
        )

    @contextmanager
    def _loading(self, shown: str) -> Iterator[None]:
        """Around loading the model ``shown``: said on stderr with ``progress`` (transformers'
        bars silenced without), and logged on the family's module logger; :meth:`_describe`
        logs what was loaded and how long it took."""
        logging.getLogger(type(self).__module__).info("loading model %s", shown)
        if self.progress:  # part of the progress display, as the bars are
            tqdm.write(f"loading {shown} ...", file=sys.stderr)
        self._load_started = time.perf_counter()
        with _quiet_transformers(not self.progress):
            yield

    def info(self) -> EncoderInfo:
        """What this encoder's model is, as :func:`~seqsim.encoders.encoder_info` plans it.

        Returns
        -------
        EncoderInfo
        """
        return EncoderInfo(
            self.family,
            self.model_name,
            self.num_layers,
            self.frame_seconds,
            dict(self._frame_options),
        )

    def settings(self) -> dict[str, Any]:
        """What determines the frames this encoder produces, as a store records them.

        Returns
        -------
        dict
            :meth:`EncoderInfo.settings` of this encoder's layers and dtype.
        """
        return self.info().settings(self.layers, self.dtype)

    # ------------------------------------------------------------------ what a family writes

    def check_samples(self, source: AudioInput, samples: np.ndarray) -> None:  # noqa: B027
        """Refuse audio this encoder cannot take; by default it takes any.

        Parameters
        ----------
        source : AudioInput
            The utterance, to name it (:func:`~seqsim.audio.describe`).
        samples : numpy.ndarray
            Its 16 kHz mono float32 samples.

        Raises
        ------
        AudioError
            Naming the utterance and what is wrong.
        """

    def prepare(self, batch: list[np.ndarray]) -> Any:
        """Turn a batch of 16 kHz samples into the model's inputs, in the reader thread while
        the previous batch is encoded; by default the samples themselves.

        Parameters
        ----------
        batch : list of numpy.ndarray
            16 kHz mono float32 samples, one array per utterance (at least one).

        Returns
        -------
        object
            What :meth:`encode` takes.
        """
        return batch

    @abstractmethod
    def encode(self, prepared: Any, batch_size: int) -> list[LayerFrames]:
        """The frames of every utterance of a prepared batch, padding stripped.

        Runs under ``torch.inference_mode``.

        Parameters
        ----------
        prepared : object
            What :meth:`prepare` made of the batch.
        batch_size : int
            The most utterances (or windows) one forward pass may take.

        Returns
        -------
        list of dict of int to torch.Tensor
            Per utterance, in order: ``{layer: (frames, d) float32 CPU tensor}`` for every
            layer in :attr:`layers`.
        """

    def _move(self, device: torch.device) -> None:
        """Move the model to ``device`` (keeping its dtype); a family with a model overrides
        it."""
        raise ValueError(f"{type(self).__name__} runs on {self.device} only, not {device}")

    # ------------------------------------------------------------------ what every family shares

    def to(self, device: str | torch.device) -> SpeechEncoder:
        """Move the encoder to ``device``, keeping its dtype; later calls run there.

        Parameters
        ----------
        device : str or torch.device
            ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``
            (:func:`~seqsim.backends.resolve_device`).

        Returns
        -------
        SpeechEncoder
            This encoder.

        Raises
        ------
        ValueError
            For a device this machine does not have.
        """
        resolved = resolve_device(device)
        if resolved != self.device:
            self._move(resolved)
            self.device = resolved
        return self

    @overload
    def embed(  # type: ignore[overload-overlap]
        self,
        audio: AudioInput,
        *,
        batch_size: int | None = ...,
        show_progress_bar: bool | None = ...,
        device: str | torch.device | None = ...,
        output: Literal["torch"] = ...,
        audio_column: str | None = ...,
    ) -> Embedding: ...

    @overload
    def embed(  # type: ignore[overload-overlap]
        self,
        audio: AudioInput,
        *,
        batch_size: int | None = ...,
        show_progress_bar: bool | None = ...,
        device: str | torch.device | None = ...,
        output: Literal["numpy"],
        audio_column: str | None = ...,
    ) -> NumpyEmbedding: ...

    @overload
    def embed(
        self,
        audio: Sequence[AudioInput] | Any,
        *,
        batch_size: int | None = ...,
        show_progress_bar: bool | None = ...,
        device: str | torch.device | None = ...,
        output: Literal["torch"] = ...,
        audio_column: str | None = ...,
    ) -> list[Embedding]: ...

    @overload
    def embed(
        self,
        audio: Sequence[AudioInput] | Any,
        *,
        batch_size: int | None = ...,
        show_progress_bar: bool | None = ...,
        device: str | torch.device | None = ...,
        output: Literal["numpy"],
        audio_column: str | None = ...,
    ) -> list[NumpyEmbedding]: ...

    def embed(
        self,
        audio: Any,
        *,
        batch_size: int | None = None,
        show_progress_bar: bool | None = None,
        device: str | torch.device | None = None,
        output: str = "torch",
        audio_column: str | None = None,
        **unknown: Any,
    ) -> Any:
        """Embed one utterance or a list of them.

        Follows sentence-transformers' ``encode`` where it fits frames of varying length:
        ``batch_size``, ``show_progress_bar`` and ``device`` per call, and numpy output on
        request.

        Parameters
        ----------
        audio : AudioInput, sequence of AudioInput, or datasets.Dataset
            One utterance: a path, an :class:`~seqsim.audio.Audio`, a ``(samples,
            sample_rate)`` tuple (any sample rate, mono or multi-channel), a Hugging Face audio
            dict (``{"array", "sampling_rate", "path"}``, a ``datasets`` row's ``audio``), or
            anything else :func:`~seqsim.audio.is_one_input` accepts. Or a list of them, or a
            Hugging Face ``datasets.Dataset`` with an audio column (every row, in order).
        batch_size : int, optional
            Utterances per forward pass for this call; the embedder's by default.
        show_progress_bar : bool, optional
            Draw the bar for this call; the embedder's ``progress`` by default.
        device : str or torch.device, optional
            Move the encoder there first (:meth:`to`; it stays there, as with
            sentence-transformers' ``encode``); the embedder's device by default.
        output : {"torch", "numpy"}, default "torch"
            Frames as float32 CPU tensors (:class:`Embedding`) or float32 numpy arrays
            (:class:`NumpyEmbedding`).
        audio_column : str, optional
            A dataset's audio column; by default its only ``Audio`` feature.

        Returns
        -------
        Embedding, NumpyEmbedding, or a list of them
            One per utterance, in order: a single one for a single input.

        Raises
        ------
        AudioError
            Naming the item, at the first bad one (missing, unreadable, empty, silent, NaN,
            or refused by the family's :meth:`check_samples`, such as Whisper's ``strict``);
            :meth:`embed_iter` reports them instead.
        ValueError
            For a bad ``batch_size``, ``device``, ``output`` or ``audio_column``.
        TypeError
            For an unknown keyword.

        Warns
        -----
        ShortAudioWarning
            For each utterance shorter than :data:`~seqsim.audio.SHORT_AUDIO_SECONDS`
            (embedded all the same).

        Examples
        --------
        With an untrained 2-block Whisper: one second of audio keeps 50 frames of every
        hidden state.

        >>> import tempfile
        >>> import numpy as np
        >>> from transformers import WhisperConfig, WhisperModel
        >>> from seqsim import WhisperEmbedder
        >>> tiny = WhisperConfig(d_model=8, encoder_layers=2, decoder_layers=1,
        ...                      encoder_ffn_dim=16, decoder_ffn_dim=16,
        ...                      encoder_attention_heads=2, decoder_attention_heads=2)
        >>> folder = tempfile.TemporaryDirectory()
        >>> WhisperModel(tiny).save_pretrained(folder.name)  # an untrained 2-block Whisper, d = 8
        >>> embedder = WhisperEmbedder(folder.name, layers="all", progress=False)
        >>> noise = np.random.default_rng(0).normal(0.0, 0.1, 16_000).astype(np.float32)
        >>> embedding = embedder.embed((noise, 16_000))
        >>> {layer: tuple(frames.shape) for layer, frames in embedding.layers.items()}
        {0: (50, 8), 1: (50, 8), 2: (50, 8)}
        >>> [e.frames.shape[0] for e in WhisperEmbedder(folder.name, progress=False).embed(
        ...     [(noise[:3210], 16_000), (noise, 8_000)])]  # ceil(3210 / 320); 2 s at 16 kHz
        [11, 100]

        numpy output, a Hugging Face audio dict, and a keyword ``embed`` does not take:

        >>> clip = {"array": noise, "sampling_rate": 16_000, "path": None}
        >>> embedder.embed(clip, output="numpy").layers[2].shape
        (50, 8)
        >>> embedder.embed(clip, convert_to_numpy=True)
        Traceback (most recent call last):
            ...
        TypeError: embed() got an unexpected keyword argument 'convert_to_numpy' (it takes \
batch_size, show_progress_bar, device, output, audio_column); use output="numpy"
        >>> folder.cleanup()
        """
        _refuse_unknown(SpeechEncoder.embed, unknown)
        check_choice("output", output, OUTPUTS)
        if device is not None:
            self.to(device)
        single = audio_io.is_one_input(audio)
        sources = [audio] if single else audio_io.several_inputs(audio, audio_column)
        if single and audio_column is not None:
            raise ValueError("audio_column is for a datasets.Dataset, not one utterance")
        results: list[Any] = []
        for index, result in self.embed_iter(
            sources, batch_size=batch_size, show_progress_bar=show_progress_bar
        ):
            if isinstance(result, AudioError):
                raise result
            note = audio_io.short_audio_note(audio_io.describe(sources[index]), result.num_samples)
            if note is not None:
                warnings.warn(note, audio_io.ShortAudioWarning, stacklevel=2)
            results.append(result.numpy() if output == "numpy" else result)
        return results[0] if single else results

    def embed_iter(
        self,
        sources: Sequence[AudioInput],
        *,
        batch_size: int | None = None,
        show_progress_bar: bool | None = None,
    ) -> Iterator[tuple[int, Embedding | AudioError]]:
        """Yield ``(index, Embedding or AudioError)`` for every source, in order.

        Bad audio is reported, not raised, so a long job goes on. The next batch is read and
        turned into features in a background thread while the encoder runs. With
        ``progress``, a bar on stderr counts utterances and shows seconds of audio embedded per
        second.

        Parameters
        ----------
        sources : sequence of AudioInput
            Paths, :class:`~seqsim.audio.Audio` objects, ``(samples, sample_rate)`` tuples,
            or any other :data:`~seqsim.audio.AudioInput`.
        batch_size : int, optional
            Utterances per forward pass for this call; the embedder's by default.
        show_progress_bar : bool, optional
            Draw the bar for this call; the embedder's ``progress`` by default.

        Yields
        ------
        tuple of (int, Embedding or AudioError)
            The source's index and its embedding, or the error that names what is wrong
            with it.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from transformers import WhisperConfig, WhisperModel
        >>> from seqsim import Embedding, WhisperEmbedder
        >>> tiny = WhisperConfig(d_model=8, encoder_layers=2, decoder_layers=1,
        ...                      encoder_ffn_dim=16, decoder_ffn_dim=16,
        ...                      encoder_attention_heads=2, decoder_attention_heads=2)
        >>> folder = tempfile.TemporaryDirectory()
        >>> WhisperModel(tiny).save_pretrained(folder.name)  # an untrained 2-block Whisper, d = 8
        >>> embedder = WhisperEmbedder(folder.name, progress=False)
        >>> noise = np.random.default_rng(0).normal(0.0, 0.1, 16_000).astype(np.float32)
        >>> for index, result in embedder.embed_iter([(noise, 16_000), (np.zeros(99), 16_000)]):
        ...     print(index, result.frames.shape if isinstance(result, Embedding) else result)
        0 torch.Size([50, 8])
        1 in-memory audio: audio is all silence (every sample within 1/32768 of 0)
        >>> folder.cleanup()
        """
        if batch_size is None:
            batch_size = self.batch_size
        check_count("batch_size", batch_size, 1)
        if show_progress_bar is None:
            show_progress_bar = self.progress
        check_flag("show_progress_bar", show_progress_bar)
        batches = [
            range(start, min(start + batch_size, len(sources)))
            for start in range(0, len(sources), batch_size)
        ]
        bar = progress_bar(
            total=len(sources),
            unit="utt",
            disable=not (show_progress_bar and sources),
            desc="embedding",
        )
        audio_seconds, started = 0.0, time.perf_counter()
        with ThreadPoolExecutor(max_workers=1) as reader, bar:
            upcoming = [reader.submit(self._read, sources, batches[0])] if batches else []
            for number in range(len(batches)):
                read = upcoming.pop().result()
                if number + 1 < len(batches):
                    upcoming.append(reader.submit(self._read, sources, batches[number + 1]))
                for index, result in self._encoded(read, batch_size):
                    if isinstance(result, Embedding):
                        audio_seconds += result.duration
                    bar.update()
                    elapsed = time.perf_counter() - started
                    bar.set_postfix(audio_s_per_s=f"{audio_seconds / elapsed:.1f}", refresh=False)
                    yield index, result

    def _read(self, sources: Sequence[AudioInput], indices: range) -> _Batch:
        """Read a batch: per item its sample count (or error), and the good items prepared."""
        items: list[tuple[int, int | AudioError]] = []
        good: list[np.ndarray] = []
        for index in indices:
            try:
                samples = audio_io.load(sources[index])
                self.check_samples(sources[index], samples)
            except AudioError as error:
                items.append((index, error))
                continue
            items.append((index, len(samples)))
            good.append(samples)
        return items, self.prepare(good) if good else None

    def _encoded(
        self, read: _Batch, batch_size: int
    ) -> Iterator[tuple[int, Embedding | AudioError]]:
        """Encode a read batch; yield each item's embedding or error, in order."""
        items, prepared = read
        with torch.inference_mode():
            frames = iter(self.encode(prepared, batch_size) if prepared is not None else ())
        for index, outcome in items:
            yield (
                index,
                outcome if isinstance(outcome, AudioError) else Embedding(next(frames), outcome),
            )


def _refuse_unknown(method: Any, unknown: dict[str, Any]) -> None:
    """A TypeError naming the first unknown keyword, the keywords ``method`` takes (read from
    its signature), and a hint."""
    takes = [
        parameter.name
        for parameter in inspect.signature(method).parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    refuse_unknown(method.__name__, unknown, takes, _HINTS)
