"""The data model: :class:`Utterance`, :class:`Corpus` and :class:`CorpusError`."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._defaults import DEFAULT_SEED
from ..audio import AudioInput
from ..checks import check_count

DUPLICATES = ("error", "keep_one")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
_ESCAPED_LANG = re.compile(r"(?:[^%]|%25|%2F)+")


class CorpusError(ValueError):
    """A manifest or corpus that cannot be used; the message names the file, row or item.

    Also a ``ValueError``; the command line prints it as a one-line error.

    Examples
    --------
    >>> from seqsim.corpus import Corpus, Utterance
    >>> Corpus([Utterance("s1", "en", None)]).parallel(["de"])
    Traceback (most recent call last):
        ...
    seqsim.corpus.CorpusError: language(s) de not in the corpus; it has en
    """


@dataclass(frozen=True)
class Utterance:
    """One recording ``id`` in language ``lang`` of sentence ``sentence`` (by default the id:
    one recording per sentence and language, the id shared across languages).

    Parameters
    ----------
    id : str
        The recording's name, unique within its language.
    lang : str
        Its language (any code: ``en``, ``en_us``, ``pt/BR``, ...).
    path : pathlib.Path or None
        Its audio file; None for an utterance known only by its store key.
    text : str, optional
        Its transcript.
    speaker : str, optional
        Who speaks.
    sentence : str, default ""
        The sentence it says, shared across languages; empty means the id. Several recordings
        of one sentence in one language have their own ids and the same sentence.
    audio : AudioInput, optional
        Its audio when it is not a file at ``path``: a dataset row or a lhotse cut
        (:func:`corpus_from_dataset`, :func:`corpus_from_lhotse`), or in-memory samples.
        Embedding uses it before ``path``; it takes no part in comparisons.

    Examples
    --------
    >>> from pathlib import Path
    >>> from seqsim.corpus import Utterance
    >>> utterance = Utterance("s01", "pt/BR", Path("s01.wav"))
    >>> utterance.sentence, utterance.key
    ('s01', 'pt%2FBR/s01')
    >>> Utterance("s01_take2", "en", None, sentence="s01").sentence
    's01'
    """

    id: str
    lang: str
    path: Path | None
    text: str | None = None
    speaker: str | None = None
    sentence: str = ""
    audio: AudioInput | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.sentence:
            object.__setattr__(self, "sentence", self.id)

    @property
    def key(self) -> str:
        """``lang/id``: the utterance's name in an embedding store.

        ``%`` and ``/`` in the language are percent-encoded (``pt/BR`` -> ``pt%2FBR/s01``), so
        that :meth:`from_key` inverts it exactly; the id is written as is (it may contain
        ``/``).

        Examples
        --------
        >>> from seqsim.corpus import Utterance
        >>> Utterance("a/b", "pt/BR", None).key
        'pt%2FBR/a/b'
        """
        return f"{self.lang.replace('%', '%25').replace('/', '%2F')}/{self.id}"

    @classmethod
    def from_key(cls, key: str) -> Utterance:
        """The utterance (without audio) named by ``key``: the exact inverse of :attr:`key`.

        Parameters
        ----------
        key : str
            ``lang/id``; the language up to the first ``/``, with ``%`` written ``%25`` and
            ``/`` written ``%2F``.

        Returns
        -------
        Utterance
            Its id and language, without path; its sentence is its id.

        Raises
        ------
        CorpusError
            When ``key`` has no ``/``, an empty language or id, or a ``%`` not part of ``%25``
            or ``%2F`` in the language.

        Examples
        --------
        >>> from seqsim.corpus import Utterance
        >>> Utterance.from_key("pt%2FBR/a/b")
        Utterance(id='a/b', lang='pt/BR', path=None, text=None, speaker=None, sentence='a/b')
        >>> Utterance.from_key("en")
        Traceback (most recent call last):
            ...
        seqsim.corpus.CorpusError: store key 'en' is not of the form lang/id (both non-empty; \
in lang, % written %25 and / written %2F)
        """
        lang, _, sentence = key.partition("/")
        if not sentence or not _ESCAPED_LANG.fullmatch(lang):
            raise CorpusError(
                f"store key {key!r} is not of the form lang/id (both non-empty; in lang, "
                "% written %25 and / written %2F)"
            )
        unescaped = re.sub("%25|%2F", lambda match: "%" if match[0] == "%25" else "/", lang)
        return cls(sentence, unescaped, path=None)


@dataclass
class Corpus:
    """Utterances plus what was set aside while building it (reported, never silent).

    Parameters
    ----------
    utterances : list of Utterance
        The utterances, in any language.
    dropped_recordings : int, default 0
        Extra recordings of a (sentence, lang) already present, left out (one kept per pair).
    missing : dict of str to list of str, default {}
        Per language, the sentences dropped because that language lacks them.

    Examples
    --------
    >>> from seqsim.corpus import Corpus, Utterance
    >>> corpus = Corpus([Utterance("s1", "en", None), Utterance("s2", "en", None),
    ...                  Utterance("s1", "fr", None)])
    >>> corpus.languages, [u.id for u in corpus.by_language("en")]
    (['en', 'fr'], ['s1', 's2'])
    >>> corpus.parallel().missing
    {'fr': ['s2']}
    """

    utterances: list[Utterance]
    dropped_recordings: int = 0
    missing: dict[str, list[str]] = field(default_factory=dict)

    def audio_items(self) -> list[tuple[str, AudioInput]]:
        """``(key, audio)`` of every utterance, for embedding; all need audio or a path.

        Returns
        -------
        list of (str, AudioInput)
            The store key (:attr:`Utterance.key`) and audio of every utterance, in order: its
            :attr:`~Utterance.audio` where it has one, else its audio file.

        Raises
        ------
        CorpusError
            When an utterance has neither; the message names up to five.

        Examples
        --------
        >>> from pathlib import Path
        >>> from seqsim.corpus import Corpus, Utterance
        >>> corpus = Corpus([Utterance("s1", "en", Path("audio/s1.wav"))])
        >>> [(key, path.as_posix()) for key, path in corpus.audio_items()]
        [('en/s1', 'audio/s1.wav')]
        >>> Corpus([Utterance("s1", "fr", None)]).audio_items()
        Traceback (most recent call last):
            ...
        seqsim.corpus.CorpusError: utterance(s) without an audio path: fr/s1
        """
        missing = [u.key for u in self.utterances if u.path is None and u.audio is None]
        if missing:
            raise CorpusError(f"utterance(s) without an audio path: {', '.join(missing[:5])}")
        return [
            (u.key, u.audio if u.audio is not None else u.path)  # type: ignore[misc]
            for u in self.utterances
        ]

    @property
    def languages(self) -> list[str]:
        """The languages of the utterances, sorted, each once.

        Examples
        --------
        >>> from seqsim.corpus import Corpus, Utterance
        >>> Corpus([Utterance("s1", "fr", None), Utterance("s1", "en", None)]).languages
        ['en', 'fr']
        """
        return sorted({u.lang for u in self.utterances})

    def by_language(self, lang: str) -> list[Utterance]:
        """The utterances of ``lang``, ordered by sentence, then id.

        Parameters
        ----------
        lang : str
            A language; one the corpus lacks gives an empty list.

        Returns
        -------
        list of Utterance
            Its utterances, ordered by sentence, then id.

        Examples
        --------
        >>> from seqsim.corpus import Corpus, Utterance
        >>> corpus = Corpus([Utterance("b", "en", None, sentence="s1"),
        ...                  Utterance("c", "en", None, sentence="s0"),
        ...                  Utterance("a", "en", None, sentence="s1")])
        >>> [u.id for u in corpus.by_language("en")]
        ['c', 'a', 'b']
        """
        return sorted(
            (u for u in self.utterances if u.lang == lang), key=lambda u: (u.sentence, u.id)
        )

    def parallel(self, langs: Sequence[str] | None = None) -> Corpus:
        """Only ``langs`` (all by default), only sentences present in every one of them (each
        with all its recordings).

        Sentences missing somewhere are dropped and listed in ``missing`` (per language that
        lacks them), added to those this corpus lists.

        Parameters
        ----------
        langs : sequence of str, optional
            The languages to keep; all of the corpus by default.

        Returns
        -------
        Corpus
            The kept utterances, with ``dropped_recordings`` carried over.

        Raises
        ------
        CorpusError
            For a language the corpus lacks, a language listed twice, or no sentence present
            in every language.

        Examples
        --------
        >>> from seqsim.corpus import Corpus, Utterance
        >>> corpus = Corpus([Utterance("s1", "en", None), Utterance("s2", "en", None),
        ...                  Utterance("s1", "fr", None), Utterance("s2", "de", None)])
        >>> parallel = corpus.parallel(["en", "fr"])
        >>> [u.key for u in parallel.utterances], parallel.missing
        (['en/s1', 'fr/s1'], {'fr': ['s2']})
        >>> corpus.parallel()
        Traceback (most recent call last):
            ...
        seqsim.corpus.CorpusError: no sentence is present in every language of ['de', 'en', 'fr']
        """
        available = self.languages
        langs = list(langs) if langs else available
        unknown = [lang for lang in langs if lang not in available]
        if unknown:
            raise CorpusError(
                f"language(s) {', '.join(unknown)} not in the corpus; it has {', '.join(available)}"
            )
        if len(set(langs)) != len(langs):
            raise CorpusError(f"a language is listed twice in {langs}")
        ids = {lang: {u.sentence for u in self.utterances if u.lang == lang} for lang in langs}
        shared, everywhere = set.intersection(*ids.values()), set.union(*ids.values())
        missing = {lang: sorted(everywhere - ids[lang]) for lang in langs if everywhere - ids[lang]}
        kept = [u for u in self.utterances if u.lang in langs and u.sentence in shared]
        if not kept:
            raise CorpusError(f"no sentence is present in every language of {langs}")
        return Corpus(kept, self.dropped_recordings, _merged(self.missing, missing))

    def first_sentences(self, count: int) -> Corpus:
        """Only the first ``count`` sentences (in sentence order), with all their recordings:
        a quick subset to try something on.

        Parameters
        ----------
        count : int
            Sentences to keep, at least 1 (all of them where the corpus has fewer).

        Returns
        -------
        Corpus
            The subset, with what this corpus lists as dropped or missing.

        Raises
        ------
        ValueError
            When ``count`` is not a positive integer.

        Examples
        --------
        >>> from seqsim.corpus import Corpus, Utterance
        >>> corpus = Corpus([Utterance(i, lang, None) for i in ("s2", "s1", "s3")
        ...                  for lang in ("en", "fr")])
        >>> sorted(u.key for u in corpus.first_sentences(2).utterances)
        ['en/s1', 'en/s2', 'fr/s1', 'fr/s2']
        """
        check_count("count", count, 1)
        kept = set(sorted({u.sentence for u in self.utterances})[:count])
        missing = {lang: list(ids) for lang, ids in self.missing.items()}
        utterances = [u for u in self.utterances if u.sentence in kept]
        return Corpus(utterances, self.dropped_recordings, missing)

    def without(self, keys: Collection[str]) -> Corpus:
        """The corpus less the utterances whose :attr:`~Utterance.key` is in ``keys`` (e.g.
        those whose audio failed); :meth:`parallel` then drops their sentences elsewhere.

        Parameters
        ----------
        keys : collection of str
            Store keys (``lang/id``) to leave out; keys the corpus lacks are ignored.

        Returns
        -------
        Corpus
            The other utterances, with ``dropped_recordings`` and ``missing`` carried over.

        Examples
        --------
        >>> from seqsim.corpus import Corpus, Utterance
        >>> corpus = Corpus([Utterance(s, lang, None)
        ...                  for s in ("s1", "s2") for lang in ("en", "fr")])
        >>> kept = corpus.without(["fr/s2"]).parallel()
        >>> [u.key for u in kept.utterances], kept.missing
        (['en/s1', 'fr/s1'], {'fr': ['s2']})
        """
        excluded = set(keys)
        kept = [u for u in self.utterances if u.key not in excluded]
        missing = {lang: list(ids) for lang, ids in self.missing.items()}
        return Corpus(kept, self.dropped_recordings, missing)

    def keep_one(self, seed: int = DEFAULT_SEED) -> Corpus:
        """One recording per (sentence, language), chosen reproducibly from ``seed``.

        Parameters
        ----------
        seed : int, default 0
            Seed of the choice among the recordings of a sentence in a language.

        Returns
        -------
        Corpus
            The chosen utterances; the others are added to ``dropped_recordings``.

        Examples
        --------
        >>> from seqsim.corpus import Corpus, Utterance
        >>> corpus = Corpus([Utterance("a1", "en", None, sentence="a"),
        ...                  Utterance("a2", "en", None, sentence="a"),
        ...                  Utterance("a", "fr", None)])
        >>> kept = corpus.keep_one(seed=0)
        >>> len(kept.by_language("en")), kept.dropped_recordings
        (1, 1)
        >>> kept.by_language("en") == corpus.keep_one(seed=0).by_language("en")
        True
        """
        chosen = _check_unique(((u.key, u) for u in self.utterances), "keep_one", seed)
        missing = {lang: list(ids) for lang, ids in self.missing.items()}
        return Corpus(
            chosen.utterances, self.dropped_recordings + chosen.dropped_recordings, missing
        )

    @property
    def multi_recording(self) -> bool:
        """Whether some sentence has several recordings in one language.

        Examples
        --------
        >>> from seqsim.corpus import Corpus, Utterance
        >>> one = Corpus([Utterance("s1", "en", None), Utterance("s1", "fr", None)])
        >>> two = Corpus([*one.utterances, Utterance("r2", "en", None, sentence="s1")])
        >>> one.multi_recording, two.multi_recording
        (False, True)
        """
        pairs = [(u.sentence, u.lang) for u in self.utterances]
        return len(set(pairs)) < len(pairs)


def _merged(*reports: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per language, every sentence id some report lists as missing there, sorted, once."""
    merged: dict[str, set[str]] = defaultdict(set)
    for report in reports:
        for lang, ids in report.items():
            merged[lang].update(ids)
    return {lang: sorted(ids) for lang, ids in merged.items()}


def _check_unique(
    utterances: Iterable[tuple[str, Utterance]], duplicates: str, seed: int
) -> Corpus:
    """One utterance per (id, lang), raising on repeats; with ``keep_one``, first one recording
    per (sentence, lang), chosen by ``seed`` (the others counted in ``dropped_recordings``)."""
    rows = list(utterances)
    dropped = 0
    if duplicates == "keep_one":
        groups: dict[tuple[str, str], list[tuple[str, Utterance]]] = defaultdict(list)
        for where, utterance in rows:
            groups[(utterance.sentence, utterance.lang)].append((where, utterance))
        rng = random.Random(seed)
        dropped = len(rows) - len(groups)
        rows = [
            rng.choice(group) if len(group) > 1 else group[0] for _, group in sorted(groups.items())
        ]
    places: dict[tuple[str, str], list[str]] = defaultdict(list)
    for where, utterance in rows:
        places[(utterance.id, utterance.lang)].append(where)
    for (name, lang), wheres in places.items():
        if len(wheres) > 1:
            raise CorpusError(
                f"duplicate (id, lang) = ({name}, {lang}) at {', '.join(wheres)}; "
                "each sentence may appear once per language"
            )
    kept = sorted((u for _, u in rows), key=lambda u: (u.sentence, u.lang, u.id))
    return Corpus(kept, dropped_recordings=dropped)
