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
    """A CTranslate2 checkpoint that cannot be read; the message names the file."""


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
    """``model.bin``, or its parts in numeric order, in ``directory``."""
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
    """All variables of a checkpoint (aliases resolved), float16/bfloat16 widened to float32."""
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
    if code == 4:
        return array.astype(np.float32)
    if code == 5:
        return (array.astype(np.uint32) << 16).view(np.float32)
    return array


def _scalar(variables: dict[str, np.ndarray], name: str, default: int) -> int:
    return int(variables[name]) if name in variables else default


def whisper_config(variables: dict[str, np.ndarray]) -> WhisperConfig:
    """The transformers configuration implied by the checkpoint's shapes and scalars."""
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
    pattern = re.compile(rf"{side}/layer_(\d+)/")
    indices = {int(m.group(1)) for name in variables if (m := pattern.match(name))}
    return max(indices) + 1


def _linear(state: dict, target: str, variables: dict, source: str, bias: bool = True) -> None:
    state[f"{target}.weight"] = variables[f"{source}/weight"]
    if bias:
        state[f"{target}.bias"] = variables[f"{source}/bias"]


def _layer_norm(state: dict, target: str, variables: dict, source: str) -> None:
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
    """The checkpoint's weights under transformers ``WhisperModel`` names."""
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
    """The number of encoder blocks in a checkpoint's ``files`` (its parts, in order)."""
    return _count_layers(read_variables(files), "encoder")


def load_ctranslate2_whisper(source: str | Path | Sequence[Path]) -> WhisperModel:
    """A float32 transformers ``WhisperModel`` from a CTranslate2 checkpoint: a directory, or
    the ``model.bin`` part files in order."""
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
