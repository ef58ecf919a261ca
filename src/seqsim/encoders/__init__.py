"""Speech encoders behind one seam: audio in, frames out.

Every family is a :class:`SpeechEncoder`, registered by name (:func:`register_encoder`), and
built by one constructor, :func:`load_encoder`, which reads the family from the model. The
built-in families are Whisper (:class:`~seqsim.encoders.whisper.WhisperEmbedder`) and the
wav2vec2 family (wav2vec2, XLS-R, MMS, wav2vec2-conformer, HuBERT, mHuBERT-147, WavLM,
data2vec-audio, w2v-BERT 2.0; :class:`~seqsim.encoders.wav2vec2.Wav2Vec2Encoder`).
docs/encoders.md has the table.
"""

from .base import (
    DEFAULT_BATCH_SIZES,
    ENCODER_DTYPES,
    OUTPUTS,
    Embedding,
    EncoderInfo,
    LayerFrames,
    LayerSelection,
    NumpyEmbedding,
    SpeechEncoder,
    requested_layers,
    resolve_dtype,
    resolve_layers,
)
from .registry import (
    EncoderSpec,
    available_encoders,
    encoder_info,
    encoder_spec,
    family_of,
    load_encoder,
    register_encoder,
)
from .wav2vec2 import MODEL_TYPES, Wav2Vec2Encoder, is_wav2vec2_model, wav2vec2_encoder_info
from .whisper import WhisperEmbedder, is_whisper_model, whisper_encoder_info

register_encoder(
    "whisper",
    WhisperEmbedder,
    info=whisper_encoder_info,
    recognises=is_whisper_model,
    model_types=("whisper",),
)
register_encoder(
    "wav2vec2",
    Wav2Vec2Encoder,
    info=wav2vec2_encoder_info,
    recognises=is_wav2vec2_model,
    model_types=MODEL_TYPES,
)

__all__ = [
    "DEFAULT_BATCH_SIZES",
    "ENCODER_DTYPES",
    "OUTPUTS",
    "Embedding",
    "EncoderInfo",
    "EncoderSpec",
    "LayerFrames",
    "LayerSelection",
    "NumpyEmbedding",
    "SpeechEncoder",
    "Wav2Vec2Encoder",
    "WhisperEmbedder",
    "available_encoders",
    "encoder_info",
    "encoder_spec",
    "family_of",
    "load_encoder",
    "register_encoder",
    "requested_layers",
    "resolve_dtype",
    "resolve_layers",
]
