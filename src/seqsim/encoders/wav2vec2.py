"""Frames of the wav2vec2 family: wav2vec2, XLS-R, MMS, wav2vec2-conformer, HuBERT,
mHuBERT-147, WavLM, data2vec-audio and w2v-BERT 2.0, through transformers.

One encoder, :class:`Wav2Vec2Encoder`, takes every model of the family, from a folder, a hub
id, or in memory; a ``*ForCTC`` or ``*ForPreTraining`` checkpoint is loaded as its base model
(transformers drops the head). Its padding rule is :func:`batches_with_mask` and its frames
kept :meth:`Wav2Vec2Encoder.kept_frames`; the class docstring says why each is what it is, and
what a layer is.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    Data2VecAudioModel,
    HubertModel,
    PretrainedConfig,
    PreTrainedModel,
    SeamlessM4TFeatureExtractor,
    Wav2Vec2BertModel,
    Wav2Vec2ConformerModel,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Model,
    WavLMModel,
)

from .. import audio as audio_io
from .._defaults import DEFAULT_DEVICE, DEFAULT_LAYER
from ..audio import SAMPLE_RATE, AudioError, AudioInput
from ..hub import from_pretrained, weights_name
from .base import EncoderInfo, LayerFrames, LayerSelection, SpeechEncoder

MODEL_CLASSES: dict[str, type[PreTrainedModel]] = {
    "wav2vec2": Wav2Vec2Model,
    "wav2vec2-conformer": Wav2Vec2ConformerModel,
    "hubert": HubertModel,
    "wavlm": WavLMModel,
    "data2vec-audio": Data2VecAudioModel,
    "wav2vec2-bert": Wav2Vec2BertModel,
}
"""The base model class of each transformers ``model_type`` of the family."""

MODEL_TYPES = tuple(MODEL_CLASSES)
"""The transformers ``model_type`` values the family takes."""

MASKED_TYPES = ("wav2vec2", "hubert", "wavlm")
"""Model types whose frames a padded batch with the attention mask leaves as they are alone,
where their feature encoder is layer-normed (:func:`batches_with_mask`)."""

FBANK_WINDOW_SAMPLES = 400
"""The 25 ms window of w2v-BERT's filterbank frames (``SeamlessM4TFeatureExtractor``)."""

FBANK_HOP_SAMPLES = 160
"""The 10 ms hop of w2v-BERT's filterbank frames."""

PREPROCESSOR_FILE = "preprocessor_config.json"
"""Where a model folder keeps its feature extractor's settings."""

DEFAULT_MEL_BINS = 80
"""Mel bins of w2v-BERT's filterbank where a folder has no feature extractor."""

FeatureExtractor = Wav2Vec2FeatureExtractor | SeamlessM4TFeatureExtractor


class Wav2Vec2ModelError(ValueError):
    """A model the wav2vec2 family cannot load: the message names it and says what is wrong."""


def is_wav2vec2_model(model: Any) -> bool:
    """Whether ``model`` is a transformers model of the family in memory: a base model of
    :data:`MODEL_CLASSES`, or a model with one as its base (``Wav2Vec2ForCTC``, ...).

    Parameters
    ----------
    model : object
        What :func:`~seqsim.load_encoder` was given.

    Returns
    -------
    bool
        False for names and folders (the family takes those by their ``model_type``).

    Examples
    --------
    >>> from transformers import HubertConfig, HubertForCTC
    >>> from seqsim.encoders.wav2vec2 import is_wav2vec2_model
    >>> tiny = HubertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
    ...                     intermediate_size=16, conv_dim=(8,), conv_stride=(320,),
    ...                     conv_kernel=(400,), num_feat_extract_layers=1, vocab_size=4,
    ...                     num_conv_pos_embedding_groups=2)
    >>> is_wav2vec2_model(HubertForCTC(tiny)), is_wav2vec2_model("facebook/hubert-base-ls960")
    (True, False)
    """
    return isinstance(model, PreTrainedModel) and isinstance(
        model.base_model, tuple(MODEL_CLASSES.values())
    )


def in_memory_name(model: PreTrainedModel) -> str:
    """How settings name a model passed in memory: ``in-memory:<name>@sha256:<digest>``.

    :func:`seqsim.hub.weights_name` of its base model (a head is left out, as the encoder
    does not use it): other weights never share a store; the same weights do, in any process.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A model of the family (:func:`is_wav2vec2_model`).

    Returns
    -------
    str

    Examples
    --------
    >>> import torch
    >>> from transformers import WavLMConfig, WavLMModel
    >>> from seqsim.encoders.wav2vec2 import in_memory_name
    >>> tiny = WavLMConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
    ...                    intermediate_size=16, conv_dim=(8,), conv_stride=(320,),
    ...                    conv_kernel=(400,), num_feat_extract_layers=1,
    ...                    num_conv_pos_embedding_groups=2, num_buckets=8)
    >>> _ = torch.manual_seed(0)
    >>> first, second = WavLMModel(tiny), WavLMModel(tiny)
    >>> name = in_memory_name(first)
    >>> name.startswith("in-memory:WavLMModel@sha256:"), len(name.rsplit(":", 1)[1])
    (True, 16)
    >>> name == in_memory_name(first), name == in_memory_name(second)
    (True, False)
    """
    return weights_name(model, model.base_model)


def batches_with_mask(config: PretrainedConfig) -> bool:
    """The family's padding rule: whether utterances of different lengths share a forward pass,
    padded to the longest with the attention mask, or each runs alone, unpadded.

    Padding is harmless only where every module either sees one frame at a time or obeys the
    mask: w2v-BERT (its convolutions are causal and masked), and wav2vec2, HuBERT and WavLM
    with a layer-normed feature encoder (``feat_extract_norm="layer"``: XLS-R, MMS, the large
    models). The others run alone: a group-normed feature encoder (wav2vec2-base, HuBERT-base,
    WavLM-base(+), mHuBERT-147) normalises over time, padding included, and was trained without
    a mask; data2vec-audio's stacked positional convolutions and wav2vec2-conformer's depthwise
    convolutions read the padding whatever the mask says. Even utterances of equal length are
    not batched there: a batch of them rounds differently from one alone (on the CPU too), and
    their frames are promised to equal one-at-a-time frames exactly.

    Parameters
    ----------
    config : transformers.PretrainedConfig
        The model's configuration.

    Returns
    -------
    bool

    Examples
    --------
    >>> from transformers import Data2VecAudioConfig, HubertConfig, Wav2Vec2Config
    >>> from seqsim.encoders.wav2vec2 import batches_with_mask
    >>> batches_with_mask(Wav2Vec2Config(feat_extract_norm="layer"))  # XLS-R, MMS
    True
    >>> batches_with_mask(HubertConfig(feat_extract_norm="group"))  # HuBERT-base
    False
    >>> batches_with_mask(Data2VecAudioConfig())
    False
    """
    if config.model_type == "wav2vec2-bert":
        return True
    return config.model_type in MASKED_TYPES and _layer_normed(config)


def _layer_normed(config: PretrainedConfig) -> bool:
    """Whether the convolutional feature encoder is layer-normed: ``feat_extract_norm``, or
    always for data2vec-audio, whose configuration has no such setting."""
    return getattr(config, "feat_extract_norm", "layer") == "layer"


def fbank_frames(num_samples: int, stride: int) -> int:
    """w2v-BERT's frames of ``num_samples``: the ``SeamlessM4TFeatureExtractor``'s filterbank
    frames (25 ms windows every 10 ms, none padded), stacked ``stride`` at a time; a stack
    that is partly padding is masked, so not kept.

    Parameters
    ----------
    num_samples : int
        Samples at 16 kHz.
    stride : int
        Filterbank frames per model frame (the extractor's ``stride``, 2 for w2v-BERT 2.0).

    Returns
    -------
    int

    Examples
    --------
    >>> from seqsim.encoders.wav2vec2 import fbank_frames
    >>> fbank_frames(16_000, 2), fbank_frames(559, 2), fbank_frames(560, 2)  # 98 / 2; 1 / 2
    (49, 0, 1)
    """
    if num_samples < FBANK_WINDOW_SAMPLES:
        return 0
    return (1 + (num_samples - FBANK_WINDOW_SAMPLES) // FBANK_HOP_SAMPLES) // stride


def frame_seconds(config: PretrainedConfig, extractor: FeatureExtractor) -> float:
    """Seconds of audio per frame: the product of the feature encoder's convolution strides
    over 16 kHz, or for w2v-BERT its extractor's ``stride`` filterbank hops of 10 ms.

    An adapter (``add_adapter``) strides only the model's last output, never the hidden states
    that are the frames, so it changes nothing here.

    Parameters
    ----------
    config : transformers.PretrainedConfig
        The model's configuration.
    extractor : Wav2Vec2FeatureExtractor or SeamlessM4TFeatureExtractor
        Its feature extractor (:func:`feature_extractor`).

    Returns
    -------
    float

    Examples
    --------
    >>> from transformers import (SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig,
    ...                           Wav2Vec2Config, Wav2Vec2FeatureExtractor)
    >>> from seqsim.encoders.wav2vec2 import frame_seconds
    >>> frame_seconds(Wav2Vec2Config(), Wav2Vec2FeatureExtractor())  # strides 5 x 2**6 = 320
    0.02
    >>> frame_seconds(Wav2Vec2BertConfig(), SeamlessM4TFeatureExtractor(stride=2))
    0.02
    """
    if isinstance(extractor, SeamlessM4TFeatureExtractor):
        samples = FBANK_HOP_SAMPLES * extractor.stride
    else:
        samples = math.prod(config.conv_stride)
    return samples / SAMPLE_RATE


def default_feature_extractor(config: PretrainedConfig) -> FeatureExtractor:
    """The feature extractor of a model that has none of its own (a folder without
    ``preprocessor_config.json``, or a model in memory).

    For the convolutional models, transformers' own choice when it converts a fairseq
    checkpoint: ``Wav2Vec2FeatureExtractor`` normalising every utterance
    (``do_normalize=True``), with an attention mask where the feature encoder is layer-normed.
    For w2v-BERT, ``SeamlessM4TFeatureExtractor`` with 80 mel bins, stacked to the config's
    ``feature_projection_input_dim``.

    Parameters
    ----------
    config : transformers.PretrainedConfig
        The model's configuration.

    Returns
    -------
    Wav2Vec2FeatureExtractor or SeamlessM4TFeatureExtractor

    Examples
    --------
    >>> from transformers import Wav2Vec2BertConfig, Wav2Vec2Config
    >>> from seqsim.encoders.wav2vec2 import default_feature_extractor
    >>> extractor = default_feature_extractor(Wav2Vec2Config(feat_extract_norm="group"))
    >>> extractor.do_normalize, extractor.return_attention_mask
    (True, False)
    >>> default_feature_extractor(Wav2Vec2BertConfig()).stride  # 160 inputs = 80 bins x 2
    2
    """
    if config.model_type == "wav2vec2-bert":
        stride = config.feature_projection_input_dim // DEFAULT_MEL_BINS
        return SeamlessM4TFeatureExtractor(
            feature_size=DEFAULT_MEL_BINS, num_mel_bins=DEFAULT_MEL_BINS, stride=stride
        )
    return Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=_layer_normed(config))


def feature_extractor(model: str | PreTrainedModel, config: PretrainedConfig) -> FeatureExtractor:
    """The model's own feature extractor, else :func:`default_feature_extractor`.

    Parameters
    ----------
    model : str or transformers.PreTrainedModel
        A folder or hub id (its ``preprocessor_config.json``; the default where a folder has
        none, or a hub id has none the Hub or its cache can give), or a model in memory (the
        default).
    config : transformers.PretrainedConfig
        The model's configuration.

    Returns
    -------
    Wav2Vec2FeatureExtractor or SeamlessM4TFeatureExtractor

    Raises
    ------
    Wav2Vec2ModelError
        Naming the model, for a ``preprocessor_config.json`` that cannot be read (never
        replaced by the default), or an extractor of another kind or sampling rate than 16 kHz.
    """
    folder = Path(model) if isinstance(model, str) else None
    if folder is None or (folder.is_dir() and not (folder / PREPROCESSOR_FILE).is_file()):
        return default_feature_extractor(config)
    try:
        extractor = from_pretrained(AutoFeatureExtractor, str(model))
    except OSError as error:
        if not folder.is_dir():  # a hub id without one
            return default_feature_extractor(config)
        raise _unreadable_extractor(str(model), error) from None
    except (ValueError, TypeError, AttributeError) as error:
        raise _unreadable_extractor(str(model), error) from None
    expected = type(default_feature_extractor(config))
    if not isinstance(extractor, expected):
        raise Wav2Vec2ModelError(
            f"{model}: its feature extractor is a {type(extractor).__name__}; a "
            f"{config.model_type!r} model takes a {expected.__name__}"
        )
    if extractor.sampling_rate != SAMPLE_RATE:
        raise Wav2Vec2ModelError(
            f"{model}: its feature extractor expects {extractor.sampling_rate} Hz audio; seqsim "
            f"gives every encoder {SAMPLE_RATE} Hz"
        )
    return extractor


def _unreadable_extractor(model: str, error: Exception) -> Wav2Vec2ModelError:
    """The error for a feature extractor that transformers cannot read."""
    return Wav2Vec2ModelError(f"{model}: its {PREPROCESSOR_FILE} cannot be read ({error})")


def model_config(model: str | PreTrainedModel) -> PretrainedConfig:
    """The configuration of ``model``, checked to be of the family, without loading weights.

    Parameters
    ----------
    model : str or transformers.PreTrainedModel
        A folder, a hub id, or a model in memory (:func:`is_wav2vec2_model`).

    Returns
    -------
    transformers.PretrainedConfig

    Raises
    ------
    Wav2Vec2ModelError
        When it cannot be read, or its ``model_type`` is not in :data:`MODEL_TYPES`.
    """
    if not isinstance(model, str):
        if not is_wav2vec2_model(model):
            raise Wav2Vec2ModelError(
                f"a {type(model).__name__} in memory is no model of the wav2vec2 family "
                f"(model types {', '.join(MODEL_TYPES)})"
            )
        return model.config
    try:
        config = from_pretrained(AutoConfig, model)
    except (OSError, ValueError) as error:
        raise Wav2Vec2ModelError(f"cannot load model {model!r}: {error}") from None
    if config.model_type not in MODEL_TYPES:
        raise Wav2Vec2ModelError(
            f"{model}: model_type {config.model_type!r} is not of the wav2vec2 family "
            f"(it takes {', '.join(MODEL_TYPES)})"
        )
    return config


def wav2vec2_encoder_info(model: str | PreTrainedModel) -> EncoderInfo:
    """The :class:`~seqsim.encoders.EncoderInfo` of a model of the family, read from its
    configuration (and feature extractor) without loading its weights.

    Parameters
    ----------
    model : str or transformers.PreTrainedModel
        What :class:`Wav2Vec2Encoder` takes.

    Returns
    -------
    EncoderInfo
        Family ``"wav2vec2"``, the model as settings name it (as given, or
        :func:`in_memory_name`), ``num_hidden_layers`` blocks, and :func:`frame_seconds`.

    Raises
    ------
    Wav2Vec2ModelError
        As :func:`model_config` and :func:`feature_extractor` raise it.

    Examples
    --------
    >>> import tempfile
    >>> from transformers import HubertConfig
    >>> from seqsim.encoders.wav2vec2 import wav2vec2_encoder_info
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     HubertConfig(num_hidden_layers=12).save_pretrained(folder)
    ...     info = wav2vec2_encoder_info(folder)
    >>> info.family, info.num_layers, info.frame_seconds, info.options
    ('wav2vec2', 12, 0.02, {})
    """
    config = model_config(model)
    name = model if isinstance(model, str) else in_memory_name(model)
    seconds = frame_seconds(config, feature_extractor(model, config))
    return EncoderInfo("wav2vec2", name, int(config.num_hidden_layers), seconds)


class _Enough(Exception):
    """Raised by the hook that captures the highest hidden state asked for: the blocks above
    it are not run."""


@dataclass(frozen=True)
class _Pass:
    """One forward pass: the indices in the batch of its utterances and the model's inputs
    (``input_values`` or ``input_features``, and ``attention_mask`` where it takes one)."""

    utterances: list[int]
    inputs: dict[str, torch.Tensor]


@dataclass(frozen=True)
class _Prepared:
    """A batch prepared for the model: the frames each utterance keeps, and the passes."""

    kept: list[int]
    passes: list[_Pass]


class Wav2Vec2Encoder(SpeechEncoder):
    """Frames of a model of the wav2vec2 family, padding stripped, for any layers.

    The family: transformers' ``Wav2Vec2Model`` (wav2vec2, XLS-R, MMS),
    ``Wav2Vec2ConformerModel``, ``HubertModel`` (HuBERT, mHuBERT-147), ``WavLMModel``,
    ``Data2VecAudioModel`` and ``Wav2Vec2BertModel`` (w2v-BERT 2.0, with its
    ``SeamlessM4TFeatureExtractor``). A ``*ForCTC`` or ``*ForPreTraining`` checkpoint loads as
    its base model. Every option is checked before the model loads.

    **Features.** The model's own feature extractor makes its inputs from each utterance,
    honouring its settings (``do_normalize``: zero mean and unit variance over the utterance's
    own samples, never its padding; w2v-BERT's per-mel-bin normalisation). A folder without
    one gets :func:`default_feature_extractor`.

    **Padding** (:func:`batches_with_mask`). w2v-BERT and the wav2vec2, HuBERT and WavLM
    models with a layer-normed feature encoder batch: up to ``batch_size`` utterances padded to
    the longest (and to the extractor's ``pad_to_multiple_of``, 2 for w2v-BERT) with the
    attention mask; their frames equal one-at-a-time frames to float rounding. The others run
    one utterance at a time, unpadded, so batching changes nothing, exactly.

    **Frames kept** (:meth:`kept_frames`). The model's own output-length formula
    (``_get_feat_extract_output_lengths``, without an adapter): for the released models one
    frame every 320 samples (20 ms), the first once 400 samples are in; for w2v-BERT the
    frames its extractor's attention mask keeps (:func:`fbank_frames`). An utterance too
    short for one frame is bad audio, named.

    **Layers.** Hidden state ``k < L`` is the input of block ``k``
    (0: the projected features with their positional embedding, as the first block takes
    them), and ``L = num_hidden_layers`` is the encoder's output, with the
    final layer norm of the models that have one (``do_stable_layer_norm``). Those are
    ``output_hidden_states``'s indices as transformers 4 and Whisper number them; transformers
    5 leaves that final layer norm out of its last hidden state, so seqsim reads the states
    itself, the same under both. An adapter (``add_adapter``) or w2v-BERT's intermediate
    feed-forward acts only on the model's last output, after the encoder, and is in no layer.
    Blocks above the highest layer asked for are not run.

    Parameters
    ----------
    model : str or a transformers model
        A local folder or a Hugging Face id (from the cache, or downloaded where the Hub can
        be reached), or a model of the family in memory (:func:`is_wav2vec2_model`), such as
        one you fine-tuned: its base model is used itself, not a copy, so it is moved to
        ``device`` and ``dtype`` and put in eval mode; settings name it by
        :func:`in_memory_name`, and it gets :func:`default_feature_extractor`.
    layers : int, sequence of int, or "all", default -1
        A hidden-state index (negative counts from the end: -1 is the encoder's output), a list
        of them, or ``"all"``. One forward pass serves all of them.
    device : str or torch.device, default "auto"
        ``"auto"`` (or None) is CUDA when present, else the CPU.
    dtype : str or torch.dtype, default "auto"
        The model's dtype: ``"auto"`` is float16 on CUDA, float32 on the CPU. Frames are
        returned as float32 whatever it is.
    batch_size : int, optional
        Utterances read together, and, where the model batches (:func:`batches_with_mask`),
        per forward pass. None is 16 on CUDA and 1 on the CPU.
    progress : bool, default True
        Say on stderr that the model is loading and show a bar while embedding.

    Attributes
    ----------
    model : transformers.PreTrainedModel
        The base model, in eval mode.
    feature_extractor : Wav2Vec2FeatureExtractor or SeamlessM4TFeatureExtractor
    model_name, layers, num_layers, frame_seconds, device, dtype, batch_size, progress
        As :class:`~seqsim.encoders.SpeechEncoder` has them.

    Raises
    ------
    ValueError
        For a bad option (before the model loads) and a layer the model does not have.
    Wav2Vec2ModelError
        For a model that cannot be loaded or is not of the family, naming it and why.

    Examples
    --------
    An untrained 2-block wav2vec2 with a layer-normed feature encoder, saved to a folder:
    1 s of audio keeps 49 frames of every hidden state, 0.02 s apart.

    >>> import tempfile
    >>> import numpy as np
    >>> from transformers import Wav2Vec2Config, Wav2Vec2Model
    >>> from seqsim.encoders import load_encoder
    >>> tiny = Wav2Vec2Config(hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
    ...                       intermediate_size=16, conv_dim=(8, 8), conv_stride=(5, 64),
    ...                       conv_kernel=(10, 79), num_feat_extract_layers=2,
    ...                       feat_extract_norm="layer", do_stable_layer_norm=True,
    ...                       num_conv_pos_embedding_groups=2)
    >>> folder = tempfile.TemporaryDirectory()
    >>> Wav2Vec2Model(tiny).save_pretrained(folder.name)
    >>> encoder = load_encoder(folder.name, layers="all", progress=False)
    >>> type(encoder).__name__, encoder.num_layers, encoder.frame_seconds
    ('Wav2Vec2Encoder', 2, 0.02)
    >>> noise = np.random.default_rng(0).normal(0.0, 0.1, 16_000).astype(np.float32)
    >>> {k: tuple(f.shape) for k, f in encoder.embed((noise, 16_000)).layers.items()}
    {0: (49, 8), 1: (49, 8), 2: (49, 8)}
    >>> encoder.embed((noise[:399], 16_000))  # its first frame needs 10 + 78 x 5 = 400 samples
    Traceback (most recent call last):
        ...
    seqsim.audio.AudioError: in-memory audio: 399 samples (24.9 ms) are too short for one \
frame of ...
    >>> folder.cleanup()
    """

    family = "wav2vec2"

    def __init__(
        self,
        model: str | PreTrainedModel,
        layers: LayerSelection = DEFAULT_LAYER,
        device: str | torch.device | None = DEFAULT_DEVICE,
        dtype: str | torch.dtype = "auto",
        batch_size: int | None = None,
        progress: bool = True,
    ) -> None:
        super().__init__(
            layers=layers, device=device, dtype=dtype, batch_size=batch_size, progress=progress
        )
        config = model_config(model)
        shown = model if isinstance(model, str) else f"an in-memory {type(model).__name__}"
        with self._loading(shown):
            loaded: Any = self._load(model, config)
            self.model = loaded.to(self.device, self.dtype).eval()
        self.feature_extractor = feature_extractor(model, config)
        self.batches_with_mask = batches_with_mask(config)
        self._describe(
            model if isinstance(model, str) else in_memory_name(model),
            int(config.num_hidden_layers),
            frame_seconds(config, self.feature_extractor),
        )

    @staticmethod
    def _load(model: str | PreTrainedModel, config: PretrainedConfig) -> Any:
        """The base model: of a model in memory, or loaded with its type's base class."""
        if not isinstance(model, str):
            return model.base_model
        try:
            return from_pretrained(MODEL_CLASSES[config.model_type], model)
        except (OSError, ValueError) as error:
            raise Wav2Vec2ModelError(f"cannot load model {model!r}: {error}") from None

    def kept_frames(self, num_samples: int) -> int:
        """The frames an utterance of ``num_samples`` keeps: the model's own output-length
        formula without an adapter, or w2v-BERT's :func:`fbank_frames`.

        Parameters
        ----------
        num_samples : int
            Samples at 16 kHz.

        Returns
        -------
        int
            0 where the utterance is too short for one frame.

        Examples
        --------
        An untrained HuBERT with wav2vec2's feature encoder (7 convolutions, strides
        5 x 2**6 = 320, first frame after 400 samples):

        >>> from transformers import HubertConfig, HubertModel
        >>> from seqsim.encoders.wav2vec2 import Wav2Vec2Encoder
        >>> tiny = HubertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        ...                     intermediate_size=16, conv_dim=(8,) * 7,
        ...                     num_conv_pos_embedding_groups=2)
        >>> encoder = Wav2Vec2Encoder(HubertModel(tiny), progress=False)
        >>> [encoder.kept_frames(n) for n in (399, 400, 719, 720, 16_000)]
        [0, 1, 1, 2, 49]
        """
        if isinstance(self.feature_extractor, SeamlessM4TFeatureExtractor):
            return fbank_frames(num_samples, self.feature_extractor.stride)
        lengths: Any = self.model._get_feat_extract_output_lengths
        options = (
            {"add_adapter": False} if "add_adapter" in inspect.signature(lengths).parameters else {}
        )
        return max(int(lengths(torch.tensor(num_samples), **options)), 0)

    def check_samples(self, source: AudioInput, samples: np.ndarray) -> None:
        """Refuse an utterance too short for one frame of the model."""
        if self.kept_frames(len(samples)) < 1:
            raise AudioError(
                f"{audio_io.describe(source)}: {len(samples)} samples "
                f"({len(samples) / SAMPLE_RATE * 1000:.1f} ms) are too short for one frame of "
                f"{self.model_name}"
            )

    def prepare(self, batch: list[np.ndarray]) -> _Prepared:
        """The frames each utterance keeps, and the model's inputs: the batch padded with its
        mask where the model batches (:func:`batches_with_mask`), else one pass an utterance.
        A batch holds at most ``batch_size`` utterances (the base class reads that many)."""
        kept = [self.kept_frames(len(samples)) for samples in batch]
        if self.batches_with_mask:
            return _Prepared(kept, [_Pass(list(range(len(batch))), self._features(batch))])
        passes = [_Pass([index], self._features([samples])) for index, samples in enumerate(batch)]
        return _Prepared(kept, passes)

    def _features(self, batch: list[np.ndarray]) -> dict[str, torch.Tensor]:
        """The extractor's inputs for ``batch``, padded to the longest, with the attention
        mask where the model batches; the extractor's own ``pad_to_multiple_of``."""
        features = self.feature_extractor(
            batch,
            sampling_rate=SAMPLE_RATE,
            padding="longest",
            return_attention_mask=self.batches_with_mask,
            return_tensors="pt",
        )
        return dict(features)

    def encode(self, prepared: _Prepared, batch_size: int) -> list[LayerFrames]:
        """Every utterance's frames, pass by pass, the first :meth:`kept_frames` of each."""
        frames: list[LayerFrames] = [{} for _ in prepared.kept]
        for forward in prepared.passes:
            states = self._hidden_states(forward.inputs)
            for row, index in enumerate(forward.utterances):
                frames[index] = {
                    layer: states[layer][row, : prepared.kept[index]].to(
                        "cpu", torch.float32, copy=True
                    )
                    for layer in self.layers
                }
        return frames

    def _hidden_states(self, inputs: dict[str, torch.Tensor]) -> dict[int, torch.Tensor]:
        """The selected hidden states of one forward pass, read by hooks: state ``k`` is the
        input of block ``k``, and state ``L`` the encoder's output (see the class docstring).

        Parameters
        ----------
        inputs : dict of str to torch.Tensor
            The feature extractor's output (any device and dtype).

        Returns
        -------
        dict of int to torch.Tensor
            (batch, frames, d) for every layer in :attr:`layers`, padding included.
        """
        moved = {
            name: value.to(self.device, self.dtype if value.is_floating_point() else None)
            for name, value in inputs.items()
        }
        encoder: Any = self.model.encoder
        states: dict[int, torch.Tensor] = {}
        highest = max(self.layers)

        def block_input(index: int) -> Callable[..., None]:
            def hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
                states[index] = args[0] if args else kwargs["hidden_states"]
                if index == highest:
                    raise _Enough

            return hook

        def encoder_output(module: torch.nn.Module, args: tuple, output: Any) -> None:
            states[self.num_layers] = output[0]

        hooks = [
            encoder.layers[index].register_forward_pre_hook(block_input(index), with_kwargs=True)
            for index in self.layers
            if index < self.num_layers
        ]
        if self.num_layers in self.layers:
            hooks.append(encoder.register_forward_hook(encoder_output))
        try:
            self.model(**moved)
        except _Enough:
            pass
        finally:
            for hook in hooks:
                hook.remove()
        return states

    def _move(self, device: torch.device) -> None:
        self.model.to(device)
