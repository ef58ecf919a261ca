"""N-way parallel speech corpora: utterances with their id, the sentence they say (shared
across languages; the id unless a sentence has several recordings), their language, and their
audio; manifests in TSV, CSV or JSONL, read and written. Recipes for public corpora (FLEURS,
MaSS) are in :mod:`seqsim.recipes`.

One job per module, every public name imported from here:

- ``model``: :class:`Utterance`, :class:`Corpus` and :class:`CorpusError`.
- ``manifests``: :func:`read_manifest` and :func:`write_manifest`.
- ``demo``: :func:`demo_corpus`.
- ``adapters``: :func:`corpus_from_dataset` and :func:`corpus_from_lhotse`.
- ``values``: the checks of an id, a language and a sentence that every reader shares.
"""

from .adapters import corpus_from_dataset, corpus_from_lhotse
from .demo import demo_corpus
from .manifests import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, read_manifest, write_manifest
from .model import AUDIO_SUFFIXES, DUPLICATES, Corpus, CorpusError, Utterance
from .model import _check_unique as _check_unique  # seqsim.recipes builds corpora with it

__all__ = [
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "DUPLICATES",
    "AUDIO_SUFFIXES",
    "CorpusError",
    "Utterance",
    "Corpus",
    "read_manifest",
    "write_manifest",
    "demo_corpus",
    "corpus_from_dataset",
    "corpus_from_lhotse",
]

# Tracebacks print an exception's module: CorpusError keeps the path it always had there (the
# examples across seqsim show it), whichever module now defines it.
CorpusError.__module__ = __name__
