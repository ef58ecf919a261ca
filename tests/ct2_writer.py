"""A CTranslate2 model.bin writer written from the format description (version 6), used to
turn a transformers Whisper model into a checkpoint that seqsim's reader must load back."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

DTYPE_CODES = {
    np.dtype("float32"): 0,
    np.dtype("int8"): 1,
    np.dtype("float16"): 4,
    np.dtype("int16"): 2,
}


def _string(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("<H", len(data)) + data


def encode(variables: dict[str, np.ndarray], aliases: dict[str, str], version: int = 6) -> bytes:
    out = [struct.pack("<I", version), _string("WhisperSpec"), struct.pack("<I", 3)]
    out.append(struct.pack("<I", len(variables)))
    for name, array in variables.items():
        array = np.asarray(array, order="C")  # (ascontiguousarray would make scalars 1-D)
        out += [_string(name), struct.pack("<B", array.ndim)]
        out += [struct.pack("<" + "I" * array.ndim, *array.shape)]
        out += [struct.pack("<B", DTYPE_CODES[array.dtype]), struct.pack("<I", array.nbytes)]
        out.append(array.tobytes())
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in aliases.items():
        out += [_string(alias), _string(target)]
    return b"".join(out)


def ctranslate2_variables(model, dtype=np.float16) -> dict[str, np.ndarray]:
    """A transformers WhisperModel's weights under CTranslate2 names (q, k, v stacked)."""
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    cfg = model.config
    v: dict[str, np.ndarray] = {
        "encoder/num_heads": np.array(cfg.encoder_attention_heads, dtype=np.int16),
        "decoder/num_heads": np.array(cfg.decoder_attention_heads, dtype=np.int16),
    }

    def linear(target, source, bias=True):
        v[f"{target}/weight"] = state[f"{source}.weight"]
        if bias:
            v[f"{target}/bias"] = state[f"{source}.bias"]

    def norm(target, source):
        v[f"{target}/gamma"] = state[f"{source}.weight"]
        v[f"{target}/beta"] = state[f"{source}.bias"]

    def stacked(target, source, parts):
        v[f"{target}/weight"] = np.concatenate([state[f"{source}.{p}.weight"] for p in parts])
        biases = [
            state.get(
                f"{source}.{p}.bias", np.zeros(state[f"{source}.{p}.weight"].shape[0], np.float32)
            )
            for p in parts
        ]
        v[f"{target}/bias"] = np.concatenate(biases)

    for side in ("encoder", "decoder"):
        v[f"{side}/position_encodings/encodings"] = state[f"{side}.embed_positions.weight"]
        norm(f"{side}/layer_norm", f"{side}.layer_norm")
        count = cfg.encoder_layers if side == "encoder" else cfg.decoder_layers
        for i in range(count):
            t, s = f"{side}/layer_{i}", f"{side}.layers.{i}"
            stacked(
                f"{t}/self_attention/linear_0", f"{s}.self_attn", ["q_proj", "k_proj", "v_proj"]
            )
            linear(f"{t}/self_attention/linear_1", f"{s}.self_attn.out_proj")
            norm(f"{t}/self_attention/layer_norm", f"{s}.self_attn_layer_norm")
            linear(f"{t}/ffn/linear_0", f"{s}.fc1")
            linear(f"{t}/ffn/linear_1", f"{s}.fc2")
            norm(f"{t}/ffn/layer_norm", f"{s}.final_layer_norm")
            if side == "decoder":
                linear(f"{t}/attention/linear_0", f"{s}.encoder_attn.q_proj")
                stacked(f"{t}/attention/linear_1", f"{s}.encoder_attn", ["k_proj", "v_proj"])
                linear(f"{t}/attention/linear_2", f"{s}.encoder_attn.out_proj")
                norm(f"{t}/attention/layer_norm", f"{s}.encoder_attn_layer_norm")
    linear("encoder/conv1", "encoder.conv1")
    linear("encoder/conv2", "encoder.conv2")
    v["decoder/embeddings/weight"] = state["decoder.embed_tokens.weight"]
    return {k: (a.astype(dtype) if a.dtype == np.float32 else a) for k, a in v.items()}


def write_checkpoint(model, folder: Path, parts: int = 1, dtype=np.float16) -> Path:
    """Write ``model`` as a CTranslate2 checkpoint into ``folder``, split into ``parts`` files."""
    folder.mkdir(parents=True, exist_ok=True)
    data = encode(
        ctranslate2_variables(model, dtype),
        {"decoder/projection/weight": "decoder/embeddings/weight"},
    )
    if parts == 1:
        (folder / "model.bin").write_bytes(data)
    else:
        cut = np.linspace(0, len(data), parts + 1).astype(int)
        for k in range(parts):
            (folder / f"model.bin.part{k + 1}").write_bytes(data[cut[k] : cut[k + 1]])
    (folder / "config.json").write_text("{}")
    return folder
