"""N-way parallel speech corpora: utterances with their id, the sentence they say (shared
across languages; the id unless a sentence has several recordings), their language, and their
audio; manifests in TSV, CSV or JSONL, read and written. Recipes for public corpora (FLEURS,
MaSS) are in :mod:`seqsim.recipes`.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import random
import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from .audio import AudioInput, LazyAudio, dataset_audio
from .checks import check_choice, check_count

REQUIRED_COLUMNS = ("id", "lang", "path")
OPTIONAL_COLUMNS = ("sentence", "text", "speaker")
DUPLICATES = ("error", "keep_one")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ESCAPED_LANG = re.compile(r"(?:[^%]|%25|%2F)+")
_ODD_IN_IDENTIFIERS = ("Cc", "Cf", "Zl", "Zp")
"""Unicode categories refused in an id or lang: controls (tab, newline, ...), invisible
format characters (zero-width space, BOM, ...), line and paragraph separators."""


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

    def keep_one(self, seed: int = 0) -> Corpus:
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


_Row = tuple[int, dict[str, str]]
"""A manifest row: its physical line number (from 1) and its values by column."""


class _JSONNumber(str):
    """A JSON number, kept as the text it is written as."""


def _names(names: Iterable[str]) -> str:
    """Column names for a message, quoted where they hold anything but word characters, ``.``
    and ``-`` (so that spaces, separators and invisible characters show)."""
    return ", ".join(n if re.fullmatch(r"[\w.-]+", n) else repr(n) for n in names)


def _shown(text: str) -> str:
    """``text`` for a one-line message: as is if it prints plainly, else its ``repr``."""
    return text if text.isprintable() and text == text.strip() else repr(text)


def _lines(path: Path) -> list[tuple[int, str]]:
    """The non-blank lines of ``path`` with their physical numbers (from 1), read as UTF-8
    (a byte-order mark is dropped); LF, CRLF and CR end a line."""
    data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = len(_LINE_BREAK.split(data[: error.start].decode("utf-8")))
        raise CorpusError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[error.start]:02x}); "
            "save the manifest as UTF-8"
        ) from None
    numbered = enumerate(_LINE_BREAK.split(text), start=1)
    return [(number, line) for number, line in numbered if line.strip()]


@contextmanager
def _csv_field_size_limit(limit: int) -> Iterator[None]:
    """Let the csv module read fields of up to ``limit`` characters meanwhile."""
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, limit))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _fields(path: Path, number: int, line: str) -> list[str]:
    """The fields of one line: split at tabs in a TSV (quotes are plain characters), parsed
    on its own in a CSV (a quoted field may hold commas and ``""``, but ends on its line)."""
    if path.suffix.lower() == ".tsv":
        return line.split("\t")
    try:
        return next(csv.reader([line], strict=True))
    except csv.Error as error:
        raise CorpusError(
            f"{path}:{number}: bad CSV quoting ({error}); a quoted field must end on its line"
        ) from None


def _require(where: str, names: Collection[str], what: str, hint: str = "") -> None:
    """Refuse ``names`` (a header's columns, an object's keys) that lack a required column."""
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise CorpusError(
            f"{where}: missing {what}(s) {_names(missing)}; found {_names(names) or 'none'}{hint}"
        )


def _table(path: Path) -> list[_Row]:
    """The rows of a TSV or CSV manifest: a header, then one row per non-blank line, each with
    as many fields as the header."""
    lines = _lines(path)
    with _csv_field_size_limit(max((len(line) for _, line in lines), default=0)):
        table = [(number, _fields(path, number, line)) for number, line in lines]
    if not table:
        return []
    (first, header), *body = table
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise CorpusError(f"{path}:{first}: column(s) {_names(repeated)} repeated in the header")
    separator = "tab" if path.suffix.lower() == ".tsv" else "comma"
    hint = f" (a {path.suffix} manifest is {separator}-separated)" if len(header) == 1 else ""
    _require(f"{path}:{first}", header, "column", hint)
    for number, fields in body:
        if len(fields) != len(header):
            raise CorpusError(
                f"{path}:{number}: {len(fields)} fields, but the header has {len(header)} "
                f"({_names(header)})"
            )
    return [(number, dict(zip(header, fields, strict=True))) for number, fields in body]


def _json_kind(value: object) -> str:
    """JSON's name for the type of a parsed value."""
    if isinstance(value, _JSONNumber):
        return "a number"
    kinds = {dict: "an object", list: "an array", bool: "a boolean", str: "a string"}
    return kinds.get(type(value), "null")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused if a key repeats (``json`` would keep the last one silently)."""
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise CorpusError(f"key(s) {_names(repeated)} repeated in one object")
    return dict(pairs)


def _not_json(constant: str) -> NoReturn:
    """Refuse ``NaN`` and ``Infinity``, which ``json`` would accept."""
    raise CorpusError(f"{constant} is not valid JSON")


def _json_object(where: str, line: str) -> dict[str, Any]:
    """One JSONL line, which must be an object (numbers kept as written)."""
    try:
        record = json.loads(
            line,
            object_pairs_hook=_unique_keys,
            parse_int=_JSONNumber,
            parse_float=_JSONNumber,
            parse_constant=_not_json,
        )
    except json.JSONDecodeError as error:
        raise CorpusError(f"{where}: not valid JSON ({error.msg})") from None
    except CorpusError as error:
        raise CorpusError(f"{where}: {error}") from None
    if not isinstance(record, dict):
        raise CorpusError(f"{where}: expected a JSON object {{...}}, found {_json_kind(record)}")
    return record


def _json_row(where: str, record: dict[str, Any]) -> dict[str, str]:
    """The known columns of a JSONL object: strings, and numbers as written; null is absent;
    other keys are ignored."""
    row = {}
    for column in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
        value = record.get(column)
        if value is not None and not isinstance(value, str):
            raise CorpusError(
                f"{where}: {column!r} is {_json_kind(value)}; give a string or a number"
            )
        if value is not None:
            row[column] = str(value)
    _require(where, [key for key, value in record.items() if value is not None], "key")
    return row


def _jsonl(path: Path) -> list[_Row]:
    """The rows of a JSONL manifest: one object per non-blank line."""
    rows = []
    for number, line in _lines(path):
        where = f"{path}:{number}"
        rows.append((number, _json_row(where, _json_object(where, line))))
    return rows


def _rows(path: Path) -> list[_Row]:
    """The rows of a TSV, CSV or JSONL manifest."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _jsonl(path)
    if suffix in (".tsv", ".csv"):
        return _table(path)
    raise CorpusError(f"{path}: manifest must be .tsv, .csv or .jsonl")


def _identifier(where: str, column: str, value: str) -> str:
    """An ``id`` or ``lang`` without surrounding whitespace; refused if it holds a control
    or invisible character."""
    value = value.strip()
    odd = [c for c in value if unicodedata.category(c) in _ODD_IN_IDENTIFIERS]
    if odd:
        raise CorpusError(
            f"{where}: {column} {value!r} contains {odd[0]!r}, a control or invisible character"
        )
    return value


def _utterance(where: str, row: dict[str, str], folder: Path, check_files: bool) -> Utterance:
    """The utterance of one manifest row; relative audio paths are taken from ``folder``."""
    empty = [c for c in REQUIRED_COLUMNS if not row.get(c, "").strip()]
    if empty:
        raise CorpusError(f"{where}: empty {', '.join(empty)}")
    name, lang = (_identifier(where, c, row[c]) for c in ("id", "lang"))
    sentence = _identifier(where, "sentence", row.get("sentence", ""))
    audio = Path(row["path"])
    audio = audio if audio.is_absolute() else folder / audio
    if check_files and not audio.is_file():
        raise CorpusError(f"{where}: audio file {_shown(str(audio))} does not exist")
    text, speaker = (row.get(c) or None for c in ("text", "speaker"))
    return Utterance(name, lang, audio, text=text, speaker=speaker, sentence=sentence)


def read_manifest(
    path: str | Path, *, duplicates: str = "error", seed: int = 0, check_files: bool = True
) -> Corpus:
    """Read a manifest with columns ``id``, ``lang``, ``path`` (and optional ``sentence``,
    ``text``, ``speaker``).

    Relative audio paths are resolved against the manifest's folder. Without a ``sentence``
    (column or value), an utterance's sentence is its id. One row per non-blank line: TSV is
    split at tabs only (quotes are plain characters), CSV quoting must close on its line,
    JSONL holds one object per line (other keys are ignored; numbers are kept as written).
    The file is read as UTF-8 (a byte-order mark is dropped). ``id`` and ``lang`` lose
    surrounding whitespace.

    Parameters
    ----------
    path : str or pathlib.Path
        The manifest: ``.tsv``, ``.csv`` or ``.jsonl``; or a lhotse manifest ``.jsonl.gz``
        (cuts or recordings), read by :func:`corpus_from_lhotse`.
    duplicates : {"error", "keep_one"}, default "error"
        ``"error"`` rejects a repeated (id, lang); ``"keep_one"`` keeps one recording per
        (sentence, lang), chosen reproducibly from ``seed``, and counts the rest in
        ``dropped_recordings`` (a repeated (id, lang) is then an error only if the two rows
        name different sentences).
    seed : int, default 0
        Seed of the choice with ``duplicates="keep_one"``.
    check_files : bool, default True
        Check that every audio file exists.

    Returns
    -------
    Corpus
        The utterances, ordered by sentence, language and id.

    Raises
    ------
    CorpusError
        For every fault, naming ``file:line``: a missing manifest, another suffix, no rows, a
        missing or repeated column, a row with the wrong number of fields, bad CSV quoting or
        JSON, text that is not UTF-8, an empty required value, a control or invisible
        character in an id or language, a missing audio file (with ``check_files``), or a
        repeated (id, lang).
    ValueError
        For another ``duplicates``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.corpus import read_manifest
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     manifest = Path(folder) / "corpus.tsv"
    ...     _ = manifest.write_text("id\\tlang\\tpath\\n"
    ...                             "s1\\ten\\taudio/en/s1.wav\\n"
    ...                             "s1\\tfr\\taudio/fr/s1.wav\\n")
    ...     corpus = read_manifest(manifest, check_files=False)
    ...     relative = [u.path.relative_to(folder).as_posix() for u in corpus.utterances]
    ...     read_manifest(manifest)
    Traceback (most recent call last):
        ...
    seqsim.corpus.CorpusError: /...corpus.tsv:2: audio file /...s1.wav does not exist
    >>> [u.key for u in corpus.utterances], relative
    (['en/s1', 'fr/s1'], ['audio/en/s1.wav', 'audio/fr/s1.wav'])
    """
    check_choice("duplicates", duplicates, DUPLICATES)
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: manifest not found")
    if path.name.lower().endswith(".jsonl.gz"):
        return corpus_from_lhotse(path, duplicates=duplicates, seed=seed)
    rows = _rows(path)
    if not rows:
        raise CorpusError(f"{path}: no utterances")
    utterances = []
    for number, row in rows:
        where = f"{path}:{number}"
        utterances.append((where, _utterance(where, row, path.parent, check_files)))
    return _check_unique(utterances, duplicates, seed)


_WRITTEN = ("sentence", "text", "speaker")
_BREAKS_A_LINE = {".tsv": "\t\r\n", ".csv": "\r\n"}


def _manifest_values(utterance: Utterance, folder: Path) -> dict[str, str | None]:
    """The columns of one utterance, its audio path relative to ``folder`` where it lies
    there, else absolute."""
    if utterance.path is None:
        raise CorpusError(f"utterance {utterance.key} has no audio path to write")
    audio = utterance.path.absolute()
    try:
        written = audio.relative_to(folder).as_posix()
    except ValueError:
        written = str(audio)
    return {
        "id": utterance.id,
        "lang": utterance.lang,
        "path": written,
        "sentence": utterance.sentence if utterance.sentence != utterance.id else None,
        "text": utterance.text,
        "speaker": utterance.speaker,
    }


def write_manifest(corpus: Corpus, path: str | Path) -> Path:
    """Write ``corpus`` as a manifest that :func:`read_manifest` reads back to the same
    utterances (``seqsim embed`` and ``seqsim evaluate --manifest`` take it as it is).

    The format follows the suffix (``.tsv``, ``.csv`` or ``.jsonl``). Columns ``id``, ``lang``,
    ``path``, then ``sentence``, ``text`` and ``speaker`` where some utterance has one (a
    sentence only where it differs from the id). Audio paths under the manifest's folder are
    written relative to it, others absolute. Rows are ordered by language, sentence and id; the
    file is replaced at once (written beside it first), its folder created if needed.

    Parameters
    ----------
    corpus : Corpus
        The utterances to write; every one needs an audio path.
    path : str or pathlib.Path
        The manifest file.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    CorpusError
        For another suffix, an utterance without audio path, or a value that cannot be written
        on one line of that format (a tab in a TSV field, a line break in TSV or CSV: use
        ``.jsonl``); the message names the utterance.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.corpus import Corpus, Utterance, read_manifest, write_manifest
    >>> with tempfile.TemporaryDirectory() as name:
    ...     folder = Path(name)
    ...     audio = folder / "audio" / "r1.wav"
    ...     corpus = Corpus([Utterance("r1", "en", audio, sentence="s1")])
    ...     manifest = write_manifest(corpus, folder / "manifest.tsv")
    ...     lines = manifest.read_text().splitlines()
    ...     same = read_manifest(manifest, check_files=False).utterances == corpus.utterances
    >>> lines, same
    (['id\\tlang\\tpath\\tsentence', 'r1\\ten\\taudio/r1.wav\\ts1'], True)
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".tsv", ".csv", ".jsonl"):
        raise CorpusError(f"{path}: manifest must be .tsv, .csv or .jsonl")
    folder = path.parent.absolute()
    utterances = sorted(corpus.utterances, key=lambda u: (u.lang, u.sentence, u.id))
    rows = [_manifest_values(u, folder) for u in utterances]
    columns = [*REQUIRED_COLUMNS, *(c for c in _WRITTEN if any(row[c] for row in rows))]
    breaking = _BREAKS_A_LINE.get(suffix, "")
    for utterance, row in zip(utterances, rows, strict=True):
        for column in columns:
            value = row[column] or ""
            if any(char in value for char in breaking):
                raise CorpusError(
                    f"{path}: the {column} of {utterance.key} ({value!r}) holds a tab or line "
                    f"break, which a {suffix} manifest cannot hold on one line; write .jsonl"
                )
    table = [[row[c] or "" for c in columns] for row in rows]
    if suffix == ".jsonl":
        objects = [{c: row[c] for c in columns if row[c] is not None} for row in rows]
        text = "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)
    elif suffix == ".tsv":
        text = "".join("\t".join(fields) + "\n" for fields in [columns, *table])
    else:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([columns, *table])
        text = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return path


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


def _value(where: str, column: str, value: object) -> str:
    """A dataset or lhotse value as text: a string, or a number as written."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise CorpusError(
            f"{where}: {column} is a {type(value).__name__}; give a string or a number"
        )
    return str(value)


def corpus_from_dataset(
    dataset: Any,
    *,
    id_column: str = "id",
    lang_column: str = "lang",
    audio_column: str | None = None,
    sentence_column: str | None = None,
    text_column: str | None = None,
    speaker_column: str | None = None,
    duplicates: str = "error",
    seed: int = 0,
) -> Corpus:
    """A corpus of a Hugging Face ``datasets.Dataset``: one utterance per row.

    The utterances carry their audio as :class:`~seqsim.audio.LazyAudio` (read from the
    dataset when embedded, not before), so they go through :func:`seqsim.evaluate` and an
    embedding store like those of a manifest; their store keys are ``lang/id`` as ever, and
    their ``path`` is None. ``datasets`` need not be installed to import seqsim.

    Parameters
    ----------
    dataset : datasets.Dataset
        The rows.
    id_column, lang_column : str, default "id", "lang"
        The columns of the recording's id (unique within its language) and its language.
    audio_column : str, optional
        The audio column; by default the dataset's only ``Audio`` feature.
    sentence_column, text_column, speaker_column : str, optional
        Columns of the sentence (shared across languages; by default the id), the transcript
        and the speaker.
    duplicates : {"error", "keep_one"}, default "error"
        As :func:`read_manifest` takes it.
    seed : int, default 0
        Seed of the choice with ``duplicates="keep_one"``.

    Returns
    -------
    Corpus
        The utterances, ordered by sentence, language and id.

    Raises
    ------
    CorpusError
        Naming the row, for a missing column, an empty or odd id or language, a value that is
        neither text nor a number, or a repeated (id, lang).
    ValueError
        For a bad ``audio_column`` (see :func:`seqsim.audio.dataset_audio`).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile
    >>> import datasets
    >>> from seqsim.corpus import corpus_from_dataset
    >>> folder = tempfile.TemporaryDirectory()
    >>> paths = [os.path.join(folder.name, f"{n}.wav") for n in range(2)]
    >>> for path in paths:
    ...     soundfile.write(path, np.full(1600, 0.1), 16_000)
    >>> table = datasets.Dataset.from_dict(
    ...     {"id": ["s1", "s1"], "lang": ["en", "fr"], "audio": paths}
    ... ).cast_column("audio", datasets.Audio(sampling_rate=16_000))
    >>> corpus = corpus_from_dataset(table)
    >>> [key for key, _ in corpus.audio_items()], corpus.utterances[0].path
    (['en/s1', 'fr/s1'], None)
    >>> folder.cleanup()
    """
    check_choice("duplicates", duplicates, DUPLICATES)
    optional = {"sentence": sentence_column, "text": text_column, "speaker": speaker_column}
    wanted = [id_column, lang_column, *(c for c in optional.values() if c is not None)]
    absent = [c for c in wanted if c not in dataset.column_names]
    if absent:
        raise CorpusError(
            f"the dataset has no column(s) {_names(absent)}; it has {_names(dataset.column_names)}"
        )
    audio = dataset_audio(dataset, audio_column)
    table = dataset.select_columns(wanted).to_dict()
    utterances = []
    for row, source in enumerate(audio):
        where = f"dataset row {row}"
        values = {c: table[c][row] for c in wanted}
        texts = {c: _value(where, c, v) for c, v in values.items() if v is not None}
        empty = [c for c in (id_column, lang_column) if not texts.get(c, "").strip()]
        if empty:
            raise CorpusError(f"{where}: empty {', '.join(empty)}")
        name, lang = (_identifier(where, c, texts[c]) for c in (id_column, lang_column))
        extra = {key: texts.get(c) if c else None for key, c in optional.items()}
        sentence = _identifier(where, "sentence", extra["sentence"] or "")
        utterance = Utterance(
            name, lang, None, extra["text"], extra["speaker"], sentence, audio=source
        )
        utterances.append((where, utterance))
    if not utterances:
        raise CorpusError("the dataset has no rows")
    return _check_unique(utterances, duplicates, seed)


def _lhotse_items(manifest: Any) -> list[Any]:
    """The cuts or recordings of a lhotse manifest object or file."""
    if not isinstance(manifest, (str, Path)):
        return list(manifest)
    path = Path(manifest)
    if not path.is_file():
        raise CorpusError(f"{path}: manifest not found")
    try:
        import lhotse
    except ImportError:
        raise CorpusError(
            f"{path}: reading a lhotse manifest needs lhotse (`pip install lhotse`)"
        ) from None
    try:
        return list(lhotse.load_manifest(path))
    except Exception as error:  # lhotse raises several types for what it cannot read
        raise CorpusError(f"{path}: not a lhotse manifest lhotse can read ({error})") from None


def _cut_utterance(where: str, cut: Any, lang_field: str, sentence_field: str) -> Utterance:
    """The utterance of one lhotse cut (language from its supervisions or a custom field)."""
    supervisions = list(cut.supervisions)
    custom = dict(cut.custom or {})
    languages = sorted({s.language for s in supervisions if s.language})
    if len(languages) > 1:
        raise CorpusError(f"{where}: its supervisions disagree on the language ({languages})")
    if languages:
        lang = languages[0]
    elif custom.get(lang_field) is not None:
        lang = _value(where, lang_field, custom[lang_field])
    else:
        raise CorpusError(
            f"{where}: no language: give its supervisions a language or the cut a custom "
            f"{lang_field!r} field"
        )
    first = dict((supervisions[0].custom or {}) if supervisions else {})
    sentence = custom.get(sentence_field, first.get(sentence_field))
    text = " ".join(s.text for s in supervisions if s.text) or None
    speaker = next((s.speaker for s in supervisions if s.speaker), None)
    audio = LazyAudio(lambda: (cut.load_audio().T, cut.sampling_rate), f"lhotse cut {cut.id}")
    sentence = "" if sentence is None else _value(where, sentence_field, sentence)
    return Utterance(
        _identifier(where, "id", _value(where, "id", cut.id)),
        _identifier(where, "lang", lang),
        None,
        text,
        speaker,
        _identifier(where, "sentence", sentence),
        audio=audio,
    )


def _recording_utterance(where: str, recording: Any) -> Utterance:
    """The utterance of one lhotse recording, whose id is a store key ``lang/id``."""
    try:
        named = Utterance.from_key(recording.id)
    except CorpusError:
        raise CorpusError(
            f"{where}: a recording carries no language, so its id must be lang/id "
            "(or make a CutSet with supervisions that have one)"
        ) from None
    audio = LazyAudio(
        lambda: (recording.load_audio().T, recording.sampling_rate),
        f"lhotse recording {recording.id}",
    )
    lang = _identifier(where, "lang", named.lang)
    return Utterance(_identifier(where, "id", named.id), lang, None, audio=audio)


def corpus_from_lhotse(
    manifest: Any,
    *,
    lang_field: str = "lang",
    sentence_field: str = "sentence",
    duplicates: str = "error",
    seed: int = 0,
) -> Corpus:
    """A corpus of a lhotse ``CutSet`` or ``RecordingSet``, or of their manifest file.

    lhotse is needed only to read a file; a set is read through its cuts' or recordings'
    attributes. For a **cut**: the id is the cut's id; the language is its supervisions'
    ``language`` (they must agree), else the cut's custom field ``lang_field``; the sentence
    (shared across languages) is the custom field ``sentence_field`` of the cut, else of its
    first supervision, else the id; the text joins its supervisions' texts; the speaker is the
    first supervision's. A **recording** carries no language, so its id must be a store key
    ``lang/id`` (:meth:`Utterance.from_key`). Audio is read by lhotse (``load_audio``) when it
    is embedded, so a cut of part of a recording embeds that part only.

    Parameters
    ----------
    manifest : lhotse.CutSet, lhotse.RecordingSet, str or pathlib.Path
        A set, or a lhotse manifest file (``cuts.jsonl.gz``, ``recordings.jsonl.gz``).
    lang_field, sentence_field : str, default "lang", "sentence"
        The custom fields read for the language and the sentence.
    duplicates : {"error", "keep_one"}, default "error"
        As :func:`read_manifest` takes it.
    seed : int, default 0
        Seed of the choice with ``duplicates="keep_one"``.

    Returns
    -------
    Corpus
        The utterances (``path`` None, audio as :class:`~seqsim.audio.LazyAudio`), ordered by
        sentence, language and id.

    Raises
    ------
    CorpusError
        Naming the file or the cut, for a missing or unreadable manifest (or lhotse not
        installed for a file), no items, a cut without a language, supervisions that disagree,
        a recording id that is not ``lang/id``, or a repeated (id, lang).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile
    >>> import lhotse
    >>> from seqsim.corpus import corpus_from_lhotse
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "en_s1.wav")
    >>> soundfile.write(path, np.full(1600, 0.1), 16_000)
    >>> recording = lhotse.Recording.from_file(path, recording_id="en_s1")
    >>> cut = recording.to_cut()
    >>> cut.supervisions = [lhotse.SupervisionSegment("en_s1", "en_s1", 0.0, 0.1,
    ...     language="en", text="Hello.", custom={"sentence": "s1"})]
    >>> utterance = corpus_from_lhotse(lhotse.CutSet.from_cuts([cut])).utterances[0]
    >>> utterance.key, utterance.sentence, utterance.text
    ('en/en_s1', 's1', 'Hello.')
    >>> folder.cleanup()
    """
    check_choice("duplicates", duplicates, DUPLICATES)
    items = _lhotse_items(manifest)
    origin = str(manifest) if isinstance(manifest, (str, Path)) else "lhotse manifest"
    if not items:
        raise CorpusError(f"{origin}: no cuts or recordings")
    utterances = []
    for number, item in enumerate(items, start=1):
        where = f"{origin}: item {number} ({item.id})"
        if hasattr(item, "supervisions"):
            utterance = _cut_utterance(where, item, lang_field, sentence_field)
        elif hasattr(item, "sources"):
            utterance = _recording_utterance(where, item)
        else:
            raise CorpusError(f"{where}: a {type(item).__name__}, not a cut or a recording")
        utterances.append((where, utterance))
    return _check_unique(utterances, duplicates, seed)
