"""Read a CTranslate2 (faster-whisper) Whisper checkpoint and convert it, in memory, to a
transformers ``WhisperModel``.

The ``model.bin`` format (version 6), all little-endian: uint32 version; the spec name as a
string (uint16 byte count including a trailing NUL, then the bytes); uint32 revision; uint32
variable count; per variable its name (string), uint8 rank, rank x uint32 dims, uint8 dtype
(0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16), uint32 byte count and the raw
bytes; then uint32 alias count and (alias, target) string pairs. A large ``model.bin`` may be
split into ``model.bin.part1``, ``model.bin.part2``, ... that are read as one stream, in order.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from transformers import WhisperConfig, WhisperModel

SUPPORTED_VERSION = 6
_DTYPES: dict[int, np.dtype[Any]] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
    5: np.dtype("<u2"),  # bfloat16 bits, widened below
}


class CheckpointError(ValueError):
    """A CTranslate2 checkpoint that cannot be read; the message names the file.

    A ``ValueError``: a wrong format version, a model other than Whisper, a truncated file or
    a missing part, an unknown dtype, int8-quantized weights, or variables that do not make a
    Whisper model.

    Examples
    --------
    >>> import struct, tempfile
    >>> from pathlib import Path
    >>> from seqsim.whisper.ctranslate2_checkpoint import read_variables
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "model.bin"
    ...     _ = path.write_bytes(struct.pack("<I", 5))
    ...     read_variables([path])  # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
        ...
    seqsim.whisper.ctranslate2_checkpoint.CheckpointError: /.../model.bin: format version 5;
    seqsim reads version 6
    """


class _ChainedReader(io.RawIOBase):
    """Reads several files as one stream, in order (``model.bin.part1``, ``part2``, ...)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._paths = list(paths)
        self._handles: list[BinaryIO] = []
        self._index = 0

    def read_exact(self, size: int) -> bytes:
        chunks = []
        while size > 0 and self._index < len(self._paths):
            if len(self._handles) <= self._index:
                self._handles.append(open(self._paths[self._index], "rb"))  # noqa: SIM115
            chunk = self._handles[self._index].read(size)
            if not chunk:
                self._index += 1
                continue
            chunks.append(chunk)
            size -= len(chunk)
        if size > 0:
            raise EOFError
        return b"".join(chunks)

    def at_end(self) -> bool:
        try:
            self.read_exact(1)
        except EOFError:
            return True
        return False

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        super().close()


def checkpoint_files(directory: Path) -> list[Path]:
    """The checkpoint files in ``directory``: ``model.bin``, or its parts in numeric order.

    Parameters
    ----------
    directory : pathlib.Path
        A CTranslate2 checkpoint folder.

    Returns
    -------
    list of pathlib.Path
        ``[model.bin]`` where it exists, else ``model.bin.part1``, ``model.bin.part2``, ...
        ordered by their numbers (``part10`` after ``part9``).

    Raises
    ------
    CheckpointError
        When the folder has neither ``model.bin`` nor any ``model.bin.part*``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.whisper.ctranslate2_checkpoint import checkpoint_files
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for part in ("part10", "part2", "part1"):
    ...         _ = (Path(folder) / f"model.bin.{part}").write_bytes(b"")
    ...     print([path.name for path in checkpoint_files(Path(folder))])
    ['model.bin.part1', 'model.bin.part2', 'model.bin.part10']
    """
    whole = directory / "model.bin"
    if whole.is_file():
        return [whole]
    parts = sorted(
        directory.glob("model.bin.part*"),
        key=lambda p: int(re.sub(r"\D", "", p.name.rsplit("part", 1)[1]) or 0),
    )
    if not parts:
        raise CheckpointError(f"{directory}: no model.bin or model.bin.part1 found")
    return parts


def read_variables(paths: Sequence[Path]) -> dict[str, np.ndarray]:
    """All variables of a checkpoint, aliases resolved, float16 and bfloat16 widened to float32.

    The files are read as one stream, in order (see the module documentation for the format).

    Parameters
    ----------
    paths : sequence of pathlib.Path
        ``model.bin``, or its parts in order (as :func:`checkpoint_files` gives them).

    Returns
    -------
    dict of str to numpy.ndarray
        Every variable and every alias by name; an alias is the same array as its target.
        Integer variables keep their dtype.

    Raises
    ------
    CheckpointError
        Naming the files, for a format version other than :data:`SUPPORTED_VERSION`, a spec
        other than ``WhisperSpec``, an unknown dtype code, files that end early (truncated, or
        a part missing), and bytes after the last alias.

    Examples
    --------
    A checkpoint of one float16 variable and one alias, written by hand:

    >>> import struct, tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from seqsim.whisper.ctranslate2_checkpoint import read_variables
    >>> def string(text):
    ...     data = text.encode() + bytes(1)  # NUL-terminated
    ...     return struct.pack("<H", len(data)) + data
    >>> scale = np.array([1.0, 2.5], "<f2")  # dtype code 4
    >>> data = (struct.pack("<I", 6) + string("WhisperSpec") + struct.pack("<II", 1, 1)
    ...         + string("encoder/scale") + struct.pack("<BIBI", 1, 2, 4, scale.nbytes)
    ...         + scale.tobytes() + struct.pack("<I", 1)  # one alias
    ...         + string("alias") + string("encoder/scale"))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     part1, part2 = Path(folder) / "model.bin.part1", Path(folder) / "model.bin.part2"
    ...     _ = part1.write_bytes(data[:20]), part2.write_bytes(data[20:])
    ...     variables = read_variables([part1, part2])
    ...     read_variables([part1])  # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
        ...
    seqsim.whisper.ctranslate2_checkpoint.CheckpointError: /.../model.bin.part1: file ends early
    (truncated or a part is missing)
    >>> variables
    {'encoder/scale': array([1. , 2.5], dtype=float32), 'alias': array([1. , 2.5], dtype=float32)}
    """
    name = " + ".join(str(p) for p in paths)
    reader = _ChainedReader(paths)

    def unpack(fmt: str) -> tuple:
        return struct.unpack("<" + fmt, reader.read_exact(struct.calcsize("<" + fmt)))

    def string() -> str:
        (length,) = unpack("H")
        return reader.read_exact(length).rstrip(b"\0").decode("utf-8")

    try:
        (version,) = unpack("I")
        if version != SUPPORTED_VERSION:
            raise CheckpointError(
                f"{name}: format version {version}; seqsim reads version {SUPPORTED_VERSION}"
            )
        spec = string()
        if spec != "WhisperSpec":
            raise CheckpointError(f"{name}: holds a {spec!r}, not a Whisper model")
        unpack("I")  # spec revision
        (count,) = unpack("I")
        variables: dict[str, np.ndarray] = {}
        for _ in range(count):
            variable = string()
            (rank,) = unpack("B")
            shape = unpack("I" * rank)
            (code,) = unpack("B")
            (size,) = unpack("I")
            if code not in _DTYPES:
                raise CheckpointError(f"{name}: variable {variable} has unknown dtype code {code}")
            array = np.frombuffer(reader.read_exact(size), dtype=_DTYPES[code]).reshape(shape)
            variables[variable] = _widen(array, code)
        (aliases,) = unpack("I")
        for _ in range(aliases):
            alias, target = string(), string()
            variables[alias] = variables[target]
        if not reader.at_end():
            raise CheckpointError(f"{name}: unexpected bytes after the last alias")
    except EOFError:
        raise CheckpointError(f"{name}: file ends early (truncated or a part is missing)") from None
    finally:
        reader.close()
    return variables


def _widen(array: np.ndarray, code: int) -> np.ndarray:
    """float16 (code 4) and bfloat16 bits (code 5) as float32; other arrays unchanged."""
    if code == 4:
        return array.astype(np.float32)
    if code == 5:
        return (array.astype(np.uint32) << 16).view(np.float32)
    return array


def _scalar(variables: dict[str, np.ndarray], name: str, default: int) -> int:
    """The scalar variable ``name`` as an int, or ``default`` where the checkpoint lacks it."""
    return int(variables[name]) if name in variables else default


def whisper_config(variables: dict[str, np.ndarray]) -> WhisperConfig:
    """The transformers configuration implied by the checkpoint's shapes and scalars.

    Model width, mel bins, feed-forward widths, positions, vocabulary and block counts come
    from the variables' shapes and names; attention heads from ``encoder/num_heads`` and
    ``decoder/num_heads`` (8, whisper-base's, where the checkpoint lacks them).

    Parameters
    ----------
    variables : dict of str to numpy.ndarray
        As :func:`read_variables` returns them.

    Returns
    -------
    transformers.WhisperConfig
        The configuration of a model these weights fit.

    Raises
    ------
    KeyError
        When a variable the shapes are read from is missing (not a Whisper checkpoint).

    Examples
    --------
    Only the shapes matter:

    >>> import numpy as np
    >>> from seqsim.whisper.ctranslate2_checkpoint import whisper_config
    >>> shapes = {
    ...     "encoder/conv1/weight": (8, 4, 3),  # d_model 8, 4 mel bins
    ...     "encoder/position_encodings/encodings": (10, 8),
    ...     "encoder/layer_0/ffn/linear_0/weight": (16, 8),
    ...     "encoder/layer_1/ffn/linear_0/weight": (16, 8),
    ...     "decoder/embeddings/weight": (50, 8),
    ...     "decoder/position_encodings/encodings": (6, 8),
    ...     "decoder/layer_0/ffn/linear_0/weight": (32, 8),
    ... }
    >>> variables = {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}
    >>> variables["encoder/num_heads"] = np.array(2, np.int32)
    >>> config = whisper_config(variables)
    >>> config.d_model, config.num_mel_bins, config.encoder_layers, config.decoder_layers
    (8, 4, 2, 1)
    >>> config.encoder_attention_heads, config.decoder_attention_heads, config.vocab_size
    (2, 8, 50)
    """
    conv1 = variables["encoder/conv1/weight"]
    encoder_layers = _count_layers(variables, "encoder")
    decoder_layers = _count_layers(variables, "decoder")
    vocab_size = variables["decoder/embeddings/weight"].shape[0]
    return WhisperConfig(
        vocab_size=vocab_size,
        # <|endoftext|> of the multilingual vocabulary; only the embedding's padding_idx uses it
        pad_token_id=min(50257, vocab_size - 1),
        num_mel_bins=conv1.shape[1],
        d_model=conv1.shape[0],
        encoder_layers=encoder_layers,
        decoder_layers=decoder_layers,
        encoder_attention_heads=_scalar(variables, "encoder/num_heads", 8),
        decoder_attention_heads=_scalar(variables, "decoder/num_heads", 8),
        encoder_ffn_dim=variables["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=variables["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=variables["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=variables["decoder/position_encodings/encodings"].shape[0],
    )


def _count_layers(variables: dict[str, np.ndarray], side: str) -> int:
    """Blocks of ``side`` (``"encoder"`` or ``"decoder"``): the highest layer number plus one."""
    pattern = re.compile(rf"{side}/layer_(\d+)/")
    indices = {int(m.group(1)) for name in variables if (m := pattern.match(name))}
    return max(indices) + 1


def _linear(state: dict, target: str, variables: dict, source: str, bias: bool = True) -> None:
    """Copy a linear (or convolution) layer's weight and bias under transformers names."""
    state[f"{target}.weight"] = variables[f"{source}/weight"]
    if bias:
        state[f"{target}.bias"] = variables[f"{source}/bias"]


def _layer_norm(state: dict, target: str, variables: dict, source: str) -> None:
    """Copy a layer norm's gamma and beta as transformers' weight and bias."""
    state[f"{target}.weight"] = variables[f"{source}/gamma"]
    state[f"{target}.bias"] = variables[f"{source}/beta"]


def _attention(
    state: dict, target: str, variables: dict, projections: list[tuple[str, str]]
) -> None:
    """Split stacked CTranslate2 projections into q/k/v/out; the key has no bias in Whisper."""
    for names, source in projections:
        weight = variables[f"{source}/weight"]
        bias = variables[f"{source}/bias"]
        parts = names.split("+")
        rows = weight.shape[0] // len(parts)
        for k, part in enumerate(parts):
            state[f"{target}.{part}.weight"] = weight[k * rows : (k + 1) * rows]
            if part != "k_proj":
                state[f"{target}.{part}.bias"] = bias[k * rows : (k + 1) * rows]


def transformers_state_dict(variables: dict[str, np.ndarray], config: WhisperConfig) -> dict:
    """The checkpoint's weights under transformers ``WhisperModel`` names.

    CTranslate2 stacks the attention projections (query, key and value in one matrix for
    self-attention; key and value for cross-attention); they are split, and the key
    projection gets no bias, as in Whisper.

    Parameters
    ----------
    variables : dict of str to numpy.ndarray
        As :func:`read_variables` returns them.
    config : transformers.WhisperConfig
        As :func:`whisper_config` returns it (for the numbers of blocks).

    Returns
    -------
    dict of str to numpy.ndarray
        A state dict for ``WhisperModel.load_state_dict`` (numpy arrays, views of
        ``variables``).

    Raises
    ------
    KeyError
        When a weight of a Whisper model is missing from ``variables``.

    Examples
    --------
    The offline whisper-base: every block's stacked self-attention is split in three.

    >>> from seqsim.whisper.ctranslate2_checkpoint import (
    ...     read_variables, transformers_state_dict, whisper_config)
    >>> from seqsim.whisper.loading import offline_checkpoint_files
    >>> files = offline_checkpoint_files("whisper-base-offline")
    >>> variables = read_variables(files)
    >>> state = transformers_state_dict(variables, whisper_config(variables))
    >>> variables["encoder/layer_0/self_attention/linear_0/weight"].shape
    (1536, 512)
    >>> state["encoder.layers.0.self_attn.k_proj.weight"].shape
    (512, 512)
    >>> "encoder.layers.0.self_attn.k_proj.bias" in state
    False
    """
    state: dict[str, np.ndarray] = {}
    for side in ("encoder", "decoder"):
        state[f"{side}.embed_positions.weight"] = variables[f"{side}/position_encodings/encodings"]
        _layer_norm(state, f"{side}.layer_norm", variables, f"{side}/layer_norm")
    for conv in ("conv1", "conv2"):
        _linear(state, f"encoder.{conv}", variables, f"encoder/{conv}")
    state["decoder.embed_tokens.weight"] = variables["decoder/embeddings/weight"]
    for side, count in (("encoder", config.encoder_layers), ("decoder", config.decoder_layers)):
        for i in range(count):
            source, target = f"{side}/layer_{i}", f"{side}.layers.{i}"
            _attention(
                state,
                f"{target}.self_attn",
                variables,
                [
                    ("q_proj+k_proj+v_proj", f"{source}/self_attention/linear_0"),
                    ("out_proj", f"{source}/self_attention/linear_1"),
                ],
            )
            _layer_norm(
                state,
                f"{target}.self_attn_layer_norm",
                variables,
                f"{source}/self_attention/layer_norm",
            )
            _linear(state, f"{target}.fc1", variables, f"{source}/ffn/linear_0")
            _linear(state, f"{target}.fc2", variables, f"{source}/ffn/linear_1")
            _layer_norm(state, f"{target}.final_layer_norm", variables, f"{source}/ffn/layer_norm")
            if side == "decoder":
                _attention(
                    state,
                    f"{target}.encoder_attn",
                    variables,
                    [
                        ("q_proj", f"{source}/attention/linear_0"),
                        ("k_proj+v_proj", f"{source}/attention/linear_1"),
                        ("out_proj", f"{source}/attention/linear_2"),
                    ],
                )
                _layer_norm(
                    state,
                    f"{target}.encoder_attn_layer_norm",
                    variables,
                    f"{source}/attention/layer_norm",
                )
    return state


def encoder_layer_count_of_checkpoint(files: Sequence[Path]) -> int:
    """The number of encoder blocks in a checkpoint's ``files``, without building the model.

    Parameters
    ----------
    files : sequence of pathlib.Path
        ``model.bin`` or its parts, in order (as :func:`checkpoint_files` gives them).

    Returns
    -------
    int
        The highest encoder layer number plus one.

    Raises
    ------
    CheckpointError
        As :func:`read_variables` raises it.

    Examples
    --------
    >>> from seqsim.whisper.ctranslate2_checkpoint import encoder_layer_count_of_checkpoint
    >>> from seqsim.whisper.loading import offline_checkpoint_files
    >>> files = offline_checkpoint_files("whisper-base-offline")
    >>> encoder_layer_count_of_checkpoint(files)  # whisper-base
    6
    """
    return _count_layers(read_variables(files), "encoder")


def load_ctranslate2_whisper(source: str | Path | Sequence[Path]) -> WhisperModel:
    """A float32 transformers ``WhisperModel`` from a CTranslate2 checkpoint, in eval mode.

    Weights stored as float16 or bfloat16 are widened to float32.

    Parameters
    ----------
    source : str, pathlib.Path or sequence of pathlib.Path
        A checkpoint directory, or the ``model.bin`` part files in order.

    Returns
    -------
    transformers.WhisperModel
        The model, float32.

    Raises
    ------
    CheckpointError
        Naming the checkpoint, for everything :func:`checkpoint_files` and
        :func:`read_variables` reject, int8-quantized weights (convert the model with
        ``--quantization float16`` or ``float32``), and variables that do not match a Whisper
        model.

    Examples
    --------
    The offline whisper-base, from the parts of its checkpoint (a few seconds):

    >>> from seqsim.whisper.ctranslate2_checkpoint import load_ctranslate2_whisper
    >>> from seqsim.whisper.loading import offline_checkpoint_files
    >>> files = offline_checkpoint_files("whisper-base-offline")
    >>> model = load_ctranslate2_whisper(files)
    >>> model.config.encoder_layers, model.config.d_model, model.training
    (6, 512, False)
    """
    if isinstance(source, (str, Path)):
        files = checkpoint_files(Path(source))
        directory = str(source)
    else:
        files = list(source)
        directory = " + ".join(map(str, files))
    variables = read_variables(files)
    if any(v.dtype == np.int8 for n, v in variables.items() if n.endswith("/weight")):
        raise CheckpointError(
            f"{directory}: int8-quantized weights are not supported; convert the model with "
            "--quantization float16 (or float32)"
        )
    config = whisper_config(variables)
    model = WhisperModel(config)
    state = {
        k: torch.tensor(v, dtype=torch.float32)  # a copy: the read buffers are read-only
        for k, v in transformers_state_dict(variables, config).items()
    }
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{directory}: checkpoint does not match a Whisper model "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    return model.eval()
