"""The bundled demo corpus."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .manifests import read_manifest
from .model import Corpus


def demo_corpus(langs: Sequence[str] | None = None, sentences: int | None = None) -> Corpus:
    """The bundled demo: 40 sentences in en, fr, de, es and it, spoken by espeak-ng.

    Its audio ships with the package (Ogg Vorbis, 16 kHz); ``seqsim demo`` evaluates it.

    Parameters
    ----------
    langs : sequence of str, optional
        Only these languages (all five by default).
    sentences : int, optional
        Only the first this many sentences (all 40 by default), for a quick try.

    Returns
    -------
    Corpus
        200 utterances (by default), one per sentence and language, ids ``s01`` to ``s40``,
        with their transcripts and the espeak-ng voice as speaker.

    Raises
    ------
    CorpusError
        For a language the demo does not have.
    ValueError
        When ``sentences`` is not a positive integer.

    Examples
    --------
    >>> from seqsim.corpus import demo_corpus
    >>> corpus = demo_corpus()
    >>> corpus.languages, len(corpus.utterances)
    (['de', 'en', 'es', 'fr', 'it'], 200)
    >>> first = corpus.by_language("en")[0]
    >>> first.key, first.text, first.path.is_file()
    ('en/s01', 'The cat sleeps on the warm kitchen floor.', True)
    >>> sorted(u.key for u in demo_corpus(["en", "fr"], sentences=2).utterances)
    ['en/s01', 'en/s02', 'fr/s01', 'fr/s02']
    """
    from importlib import resources

    manifest = Path(str(resources.files("seqsim") / "data" / "demo" / "manifest.tsv"))
    corpus = read_manifest(manifest)
    if langs is not None:
        corpus = corpus.parallel(langs)
    return corpus if sentences is None else corpus.first_sentences(sentences)
