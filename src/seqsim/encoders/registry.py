"""Encoder families by name, and the one constructor that chooses among them.

A family is registered once (:func:`register_encoder`) with how to build its encoder, how to
recognise its models, and how to read a model's :class:`~seqsim.encoders.EncoderInfo` without
running it. :func:`load_encoder` and :func:`encoder_info` pick the family of a model in this
order: ``family=`` where given; a model named as a registered family; the first family that
recognises it (Whisper: its offline names, CTranslate2 checkpoint folders, models in memory);
the ``model_type`` of its transformers configuration.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import torch

from .base import (
    EncoderInfo,
    LayerSelection,
    SpeechEncoder,
    requested_layers,
    resolve_dtype,
    resolve_layers,
)

EncoderT = TypeVar("EncoderT", bound=Callable[..., SpeechEncoder])


@dataclass(frozen=True)
class EncoderFamily:
    """A registered encoder family.

    Parameters
    ----------
    name : str
        The family's name (``family=``, ``--family``, and the store's ``family`` setting).
    load : callable
        ``load(model, **options)`` builds the encoder (a :class:`SpeechEncoder`).
    info : callable, optional
        ``info(model, **options)`` gives the model's :class:`EncoderInfo` without running it;
        None builds the encoder on the CPU and asks it.
    recognises : callable, optional
        ``recognises(model)`` says whether a model is of this family, before any
        configuration is read.
    model_types : tuple of str
        The transformers ``model_type`` values of the family's models.
    """

    name: str
    load: Callable[..., SpeechEncoder]
    info: Callable[..., EncoderInfo] | None = None
    recognises: Callable[[Any], bool] | None = None
    model_types: tuple[str, ...] = ()


_FAMILIES: dict[str, EncoderFamily] = {}


def register_encoder(
    name: str,
    load: EncoderT | None = None,
    *,
    info: Callable[..., EncoderInfo] | None = None,
    recognises: Callable[[Any], bool] | None = None,
    model_types: tuple[str, ...] = (),
    replace: bool = False,
) -> Any:
    """Register an encoder family under ``name``; usable as a class decorator.

    Parameters
    ----------
    name : str
        The family's name.
    load : callable, optional
        ``load(model, **options)`` returning a :class:`SpeechEncoder`: usually the class.
        Left out, ``register_encoder`` returns a decorator.
    info : callable, optional
        ``info(model, **options)`` returning the model's :class:`EncoderInfo` without running
        it (a process that plans work for others, such as a Ray driver, then never loads the
        model); without it, the encoder is built on the CPU to ask it.
    recognises : callable, optional
        ``recognises(model) -> bool`` for models of the family that no configuration names.
    model_types : tuple of str, default ()
        The transformers ``model_type`` values of the family.
    replace : bool, default False
        Allow replacing a family registered under the same name.

    Returns
    -------
    callable
        ``load`` (or the decorator).

    Raises
    ------
    ValueError
        For a name already registered (without ``replace``) or an empty name.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from seqsim.encoders import SpeechEncoder, load_encoder, register_encoder
    >>> @register_encoder("energy")
    ... class Energy(SpeechEncoder):
    ...     family = "energy"
    ...     def __init__(self, model="energy", **options):
    ...         super().__init__(**options)
    ...         self._describe(model, num_layers=0, frame_seconds=0.02)
    ...     def encode(self, batch, batch_size):
    ...         frames = [s[: len(s) // 320 * 320].reshape(-1, 320) for s in batch]
    ...         return [{0: torch.tensor((f**2).mean(1, keepdims=True))} for f in frames]
    >>> encoder = load_encoder("energy", progress=False)
    >>> encoder.family, encoder.embed((np.ones(16_000, np.float32), 16_000)).frames.shape
    ('energy', torch.Size([50, 1]))
    >>> from seqsim.encoders.registry import unregister_encoder
    >>> unregister_encoder("energy")
    """
    if load is None:
        return lambda cls: register_encoder(
            name, cls, info=info, recognises=recognises, model_types=model_types, replace=replace
        )
    if not isinstance(name, str) or not name:
        raise ValueError(f"an encoder family needs a name, got {name!r}")
    if name in _FAMILIES and not replace:
        raise ValueError(
            f"encoder family {name!r} is registered already; pass replace=True to replace it"
        )
    _FAMILIES[name] = EncoderFamily(name, load, info, recognises, tuple(model_types))
    return load


def unregister_encoder(name: str) -> None:
    """Remove the family ``name`` (a test's or a plugin's clean-up).

    Parameters
    ----------
    name : str
        A registered family.

    Raises
    ------
    ValueError
        For a name not registered.
    """
    family_named(name)
    del _FAMILIES[name]


def available_encoders() -> list[str]:
    """The registered encoder families, in registration order.

    Returns
    -------
    list of str

    Examples
    --------
    >>> from seqsim.encoders import available_encoders
    >>> available_encoders()[:2]
    ['whisper', 'wav2vec2']
    """
    return list(_FAMILIES)


def family_named(name: str) -> EncoderFamily:
    """The family registered as ``name``.

    Raises
    ------
    ValueError
        Listing the registered families.

    Examples
    --------
    >>> from seqsim.encoders.registry import family_named
    >>> family_named("whisper").name
    'whisper'
    >>> family_named("wav2letter")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: unknown encoder family 'wav2letter'; registered: 'whisper', 'wav2vec2'...
    """
    if name not in _FAMILIES:
        known = ", ".join(repr(known) for known in _FAMILIES)
        raise ValueError(f"unknown encoder family {name!r}; registered: {known}")
    return _FAMILIES[name]


def config_model_type(model: str) -> str | None:
    """The ``model_type`` of a transformers model's configuration, without building it.

    Parameters
    ----------
    model : str
        A local folder or a Hugging Face id (read from the cache, or downloaded where the
        Hub can be reached).

    Returns
    -------
    str or None
        None for a folder without a ``config.json`` or a configuration without a type.

    Raises
    ------
    ValueError
        When the configuration cannot be found or read, saying why.

    Examples
    --------
    >>> import tempfile
    >>> from transformers import HubertConfig
    >>> from seqsim.encoders.registry import config_model_type
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     HubertConfig().save_pretrained(folder)
    ...     print(config_model_type(folder))
    hubert
    """
    folder = Path(model)
    if folder.is_dir():
        config = folder / "config.json"
        if not config.is_file():
            return None
        try:
            content = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"{config}: cannot be read as JSON ({error})") from None
        kind = content.get("model_type") if isinstance(content, dict) else None
        return kind if isinstance(kind, str) else None
    from transformers import AutoConfig

    from ..hub import from_pretrained

    try:
        return str(from_pretrained(AutoConfig, model).model_type)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"cannot load model {model!r}: not a folder here, not a registered encoder "
            f"family, and its transformers configuration could not be read ({error})"
        ) from None


def family_of(model: Any, family: str | EncoderFamily | None = None) -> EncoderFamily:
    """The family that takes ``model``.

    Parameters
    ----------
    model : str or a model in memory
        A local folder, a hub id, a registered name, or a model object a family recognises.
    family : str or EncoderFamily, optional
        The family to use, whatever the model looks like.

    Returns
    -------
    EncoderFamily

    Raises
    ------
    ValueError
        For an unknown ``family``, and a model no family takes (naming its ``model_type``).

    Examples
    --------
    >>> import tempfile
    >>> from transformers import WavLMConfig
    >>> from seqsim.encoders.registry import family_of
    >>> family_of("whisper-base-offline").name
    'whisper'
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     WavLMConfig().save_pretrained(folder)
    ...     print(family_of(folder).name)
    wav2vec2
    """
    if isinstance(family, EncoderFamily):
        return family
    if family is not None:
        return family_named(family)
    if isinstance(model, str) and model in _FAMILIES:
        return _FAMILIES[model]
    for candidate in _FAMILIES.values():
        if candidate.recognises is not None and candidate.recognises(model):
            return candidate
    if not isinstance(model, (str, Path)):
        raise ValueError(
            f"no encoder family takes a {type(model).__name__} in memory; registered: "
            + ", ".join(repr(name) for name in _FAMILIES)
        )
    kind = config_model_type(str(model))
    for candidate in _FAMILIES.values():
        if kind in candidate.model_types:
            return candidate
    takes = sorted(kind for candidate in _FAMILIES.values() for kind in candidate.model_types)
    raise ValueError(
        f"no encoder family takes model {str(model)!r} (model_type {kind!r}); the families "
        f"take model types {', '.join(takes)}, or register your own (register_encoder) or "
        "pass family="
    )


def load_encoder(
    model: Any, *, family: str | EncoderFamily | None = None, **options: Any
) -> SpeechEncoder:
    """Build the encoder of ``model``, whatever its family.

    Parameters
    ----------
    model : str or a model in memory
        A local folder (transformers or CTranslate2), a Hugging Face id, a registered name
        (``"whisper-base-offline"``, a family of your own), or a transformers model object.
    family : str, optional
        The family (:func:`available_encoders`); by default read from the model.
    **options
        The family's options: ``layers``, ``device``, ``dtype``, ``batch_size``,
        ``progress`` for every family, and the family's own (Whisper's ``strict``).

    Returns
    -------
    SpeechEncoder
        Its ``embed(paths)`` gives :class:`~seqsim.encoders.Embedding` objects.

    Raises
    ------
    ValueError
        For a model no family takes, an unknown family, or a bad option.

    Examples
    --------
    >>> import seqsim
    >>> encoder = seqsim.load_encoder("whisper-base-offline", progress=False)
    >>> type(encoder).__name__, encoder.layers, encoder.frame_seconds
    ('WhisperEmbedder', [6], 0.02)
    """
    return family_of(model, family).load(model, **options)


def encoder_info(
    model: Any, *, family: str | EncoderFamily | None = None, **options: Any
) -> EncoderInfo:
    """What a store records of ``model``, without running it where its family can tell.

    Parameters
    ----------
    model : str or a model in memory
        As :func:`load_encoder` takes it.
    family : str, optional
        As :func:`load_encoder` takes it.
    **options
        The family's options; those its ``info`` function names as keywords (the ones that
        change the frames) are passed to it.

    Returns
    -------
    EncoderInfo

    Examples
    --------
    >>> from seqsim.encoders import encoder_info
    >>> info = encoder_info("whisper-base-offline", strict=True)
    >>> info.family, info.num_layers, info.frame_seconds
    ('whisper', 6, 0.02)
    """
    chosen = family_of(model, family)
    if chosen.info is None:
        return chosen.load(model, device="cpu", progress=False, **options).info()
    takes = inspect.signature(chosen.info).parameters
    return chosen.info(model, **{name: value for name, value in options.items() if name in takes})


@dataclass(frozen=True)
class EncoderSpec:
    """Which encoder: a model, its family where it must be named, and the family's options.

    What a run is told to embed with, made once (from ``model=`` or the CLI's ``--model``,
    ``--family`` and ``--encoder-option``) and handed on whole: to the store's planning
    (:meth:`planned_settings`), to this process's encoder (:meth:`load`) and to Ray's actors.

    Parameters
    ----------
    model : str or a model in memory
        As :func:`load_encoder` takes it.
    family : str or EncoderFamily, optional
        The family, by name or itself (:meth:`bound`); by default read from the model.
    options : mapping, optional
        The family's own options (such as Whisper's ``strict``); the common ones (layers,
        device, dtype, batch size, progress) are the run's, given to :meth:`load`.

    Examples
    --------
    >>> import torch
    >>> from seqsim.encoders import EncoderSpec
    >>> spec = EncoderSpec("whisper-base-offline", options={"strict": True})
    >>> settings = spec.planned_settings(-1, "float16", "auto", torch.device("cpu"))
    >>> settings["family"], settings["layers"], settings["hidden_states"], settings["dtype"]
    ('whisper', [6], 7, 'float16')
    >>> encoder = spec.load(layers=-1, progress=False)
    >>> {**encoder.settings(), "dtype": "float16"} == settings
    True
    """

    model: Any
    family: str | EncoderFamily | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def bound(self) -> EncoderSpec:
        """This spec with its family found here and carried along, so that a process where
        the family is not registered (a Ray worker) builds the encoder all the same.

        Returns
        -------
        EncoderSpec
            ``family`` the :class:`EncoderFamily` itself.

        Examples
        --------
        >>> from seqsim.encoders import EncoderSpec
        >>> EncoderSpec("whisper-base-offline").bound().family.name
        'whisper'
        """
        return replace(self, family=family_of(self.model, self.family))

    def load(self, **run_options: Any) -> SpeechEncoder:
        """Build the encoder (:func:`load_encoder`) with the run's options.

        Parameters
        ----------
        **run_options
            ``layers``, ``device``, ``dtype``, ``batch_size``, ``progress``.

        Returns
        -------
        SpeechEncoder
        """
        return load_encoder(self.model, family=self.family, **self.options, **run_options)

    def info(self) -> EncoderInfo:
        """The model's :class:`EncoderInfo` (:func:`encoder_info`)."""
        return encoder_info(self.model, family=self.family, **self.options)

    def planned_settings(
        self,
        layers: LayerSelection,
        storage_dtype: str,
        encoder_dtype: str | torch.dtype,
        device: torch.device,
    ) -> dict[str, Any]:
        """The store settings of this encoder's frames, worked out without running the model
        where its family can tell (:func:`encoder_info`).

        A run checks them against a store before it loads anything, and a process that plans
        work for others (a Ray driver) need not load the model at all. They equal the
        encoder's own :meth:`~SpeechEncoder.settings` with ``dtype``.

        Parameters
        ----------
        layers : int, sequence of int or "all"
            As the encoder takes them.
        storage_dtype : {"float16", "float32"}
            The store's dtype.
        encoder_dtype : str or torch.dtype
            As the encoder takes it (``"auto"``: float16 on CUDA, else float32).
        device : torch.device
            Where the encoder will run (only its type matters).

        Returns
        -------
        dict
            :meth:`EncoderInfo.settings` and ``dtype``.

        Raises
        ------
        ValueError
            If the model cannot be found, ``layers`` are not layers of it, or
            ``encoder_dtype`` is unknown.
        """
        info = self.info()
        kept = resolve_layers(requested_layers(layers), info.num_layers, info.model)
        return {
            **info.settings(kept, resolve_dtype(encoder_dtype, device)),
            "dtype": storage_dtype,
        }


def encoder_spec(model: Any) -> EncoderSpec:
    """``model`` as an :class:`EncoderSpec`: itself where it is one.

    Parameters
    ----------
    model : EncoderSpec, str or a model in memory

    Returns
    -------
    EncoderSpec

    Examples
    --------
    >>> from seqsim.encoders.registry import encoder_spec
    >>> encoder_spec("whisper-base-offline")
    EncoderSpec(model='whisper-base-offline', family=None, options={})
    """
    return model if isinstance(model, EncoderSpec) else EncoderSpec(model)
