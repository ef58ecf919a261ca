"""Where models come from: a local folder, the Hugging Face cache, or the Hub where it can be
reached (failing at once, with the reason, where it cannot); and how a model passed in memory
is named. Every encoder family loads through here."""

from __future__ import annotations

import hashlib
import os
import socket
import urllib.parse
from pathlib import Path
from typing import Any

import huggingface_hub.constants
import torch

_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the Hugging Face Hub cannot be reached from here, or None where it may be.

    Asked before a download, so that an offline machine fails at once with the reason
    instead of retrying for half a minute: ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``)
    is set, or the Hub's host (``HF_ENDPOINT``) takes no connection within ``timeout``. Behind
    a proxy (``HTTPS_PROXY``, ``ALL_PROXY``) the proxy decides: None.

    Parameters
    ----------
    timeout : float, default 3.0
        Seconds to wait for a connection.

    Returns
    -------
    str or None
        The reason, or None.

    Examples
    --------
    >>> import os
    >>> from seqsim.hub import hub_unreachable
    >>> os.environ["HF_HUB_OFFLINE"] = "1"
    >>> hub_unreachable()
    'HF_HUB_OFFLINE is set'
    >>> del os.environ["HF_HUB_OFFLINE"]
    """
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in {"1", "true", "yes", "on"}:
            return f"{variable} is set"
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return None
    endpoint = huggingface_hub.constants.ENDPOINT
    address = urllib.parse.urlsplit(endpoint)
    port = address.port or (443 if address.scheme == "https" else 80)
    try:
        socket.create_connection((address.hostname, port), timeout=timeout).close()
    except OSError as error:
        return f"the Hugging Face Hub ({endpoint}) cannot be reached ({error.strerror or error})"
    return None


def from_pretrained(kind: Any, model: str) -> Any:
    """``kind.from_pretrained(model)``: from a folder or the local cache, else from the Hub
    where it can be reached (:func:`hub_unreachable`).

    Every family loads its models, configurations and feature extractors through this.

    Parameters
    ----------
    kind : a transformers class
        Anything with ``from_pretrained`` (a model, ``AutoConfig``, a feature extractor).
    model : str
        A local folder or a Hugging Face id.

    Returns
    -------
    object
        What ``kind.from_pretrained`` returns.

    Raises
    ------
    OSError
        Saying why not: transformers' own error for a folder, or that the id is neither a
        folder nor cached and the Hub cannot be reached.

    Examples
    --------
    >>> import tempfile
    >>> from transformers import HubertConfig
    >>> from seqsim.hub import from_pretrained
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     HubertConfig(num_hidden_layers=3).save_pretrained(folder)
    ...     print(from_pretrained(HubertConfig, folder).num_hidden_layers)
    3
    """
    try:
        return kind.from_pretrained(model, local_files_only=True)
    except OSError:
        if Path(model).is_dir():
            raise
    reason = hub_unreachable()
    if reason is not None:
        raise OSError(f"not a folder here, not in the Hugging Face cache, and {reason}")
    return kind.from_pretrained(model)


def weights_name(model: Any, weights: torch.nn.Module) -> str:
    """How settings name a model passed in memory: ``in-memory:<name>@sha256:<digest>``.

    ``<name>`` is the model's ``config._name_or_path`` (where it was loaded from; empty for a
    model built from a config) or else its class, and ``<digest>`` the first 16 hex digits of
    a SHA-256 over the parameters and buffers of ``weights`` (names, dtypes, shapes and
    values): the part of the model whose frames are kept. Two models with other weights
    therefore never share a store, even when fine-tuned from the same checkpoint; the same
    weights passed twice (in any process) do.

    Parameters
    ----------
    model : transformers model
        The model as given (for its name).
    weights : torch.nn.Module
        The part of it that makes the frames (Whisper's encoder, a wav2vec2 base model).

    Returns
    -------
    str

    Examples
    --------
    >>> import torch
    >>> from seqsim.hub import weights_name
    >>> _ = torch.manual_seed(0)
    >>> first, second = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> name = weights_name(first, first)
    >>> name.startswith("in-memory:Linear@sha256:"), name == weights_name(second, second)
    (True, False)
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(weights.state_dict().items()):
        data = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)};".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    config = getattr(model, "config", None)
    label = getattr(config, "_name_or_path", "") or type(model).__name__
    return f"in-memory:{label}@sha256:{digest.hexdigest()[:16]}"
