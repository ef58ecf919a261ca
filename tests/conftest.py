"""Shared fixtures: every metric test runs once per available backend (as POT's tests do).

Without a GPU, Triton kernels run in Triton's CPU interpreter (``triton-cpu``): the root
conftest.py sets TRITON_INTERPRET=1 before any kernel is defined.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

BACKENDS = [("numba", None), ("torch", "cpu")]
if torch.cuda.is_available():
    BACKENDS.append(("torch", "cuda"))
if importlib.util.find_spec("triton") is not None:
    if torch.cuda.is_available():
        BACKENDS.append(("triton", "cuda"))
    else:
        BACKENDS.append(("triton", "cpu"))


def _backend_id(param: tuple[str, str | None]) -> str:
    backend, device = param
    return backend if device is None else f"{backend}-{device}"


@pytest.fixture(params=BACKENDS, ids=_backend_id)
def backend_options(request: pytest.FixtureRequest) -> dict:
    """Keyword arguments selecting one backend, for metric constructors."""
    return dict(zip(("backend", "device"), request.param, strict=True))


@pytest.fixture(params=[p for p in BACKENDS if p[0] != "numba"], ids=_backend_id)
def device_backend_options(request: pytest.FixtureRequest) -> dict:
    """Like ``backend_options``, for the backends that numba (the CPU reference) checks."""
    return dict(zip(("backend", "device"), request.param, strict=True))


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory: pytest.TempPathFactory):
    """A randomly initialised 2-block Whisper saved as a local transformers folder."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    torch.manual_seed(0)
    config = WhisperConfig(
        vocab_size=64,
        num_mel_bins=80,
        d_model=32,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=1500,
        max_target_positions=32,
        pad_token_id=1,
        bos_token_id=2,
        eos_token_id=2,
        decoder_start_token_id=3,
    )
    folder = tmp_path_factory.mktemp("tiny-whisper")
    WhisperModel(config).eval().save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    return folder


@pytest.fixture
def restore_metric_registry():
    """The metric registry as it was before the test: what the test registers is removed."""
    from seqsim.metrics.base import _REGISTRY

    saved = dict(_REGISTRY)
    yield
    _REGISTRY.clear()
    _REGISTRY.update(saved)
