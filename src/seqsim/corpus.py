"""N-way parallel speech corpora: utterances with the sentence they say (``id``), their
language, and their audio; manifests in TSV, CSV or JSONL; loaders for FLEURS and MaSS layouts.
"""

from __future__ import annotations

import codecs
import csv
import json
import random
import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

REQUIRED_COLUMNS = ("id", "lang", "path")
OPTIONAL_COLUMNS = ("text", "speaker")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ESCAPED_LANG = re.compile(r"(?:[^%]|%25|%2F)+")
_ODD_IN_IDENTIFIERS = ("Cc", "Cf", "Zl", "Zp")
"""Unicode categories refused in an id or lang: controls (tab, newline, ...), invisible
format characters (zero-width space, BOM, ...), line and paragraph separators."""


class CorpusError(ValueError):
    """A manifest or corpus that cannot be used; the message names the file, row or item."""


@dataclass(frozen=True)
class Utterance:
    """One recording of sentence ``id`` in language ``lang``."""

    id: str
    lang: str
    path: Path | None
    text: str | None = None
    speaker: str | None = None

    @property
    def key(self) -> str:
        """``lang/id``: the utterance's name in an embedding store. ``%`` and ``/`` in the
        language are percent-encoded (``pt/BR`` -> ``pt%2FBR/s01``), so that :meth:`from_key`
        inverts it exactly; the id is written as is (it may contain ``/``)."""
        return f"{self.lang.replace('%', '%25').replace('/', '%2F')}/{self.id}"

    @classmethod
    def from_key(cls, key: str) -> Utterance:
        """The utterance (without audio) named by ``key``: the exact inverse of :attr:`key`."""
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
    """Utterances plus what was set aside while building it (reported, never silent)."""

    utterances: list[Utterance]
    dropped_recordings: int = 0
    """Extra recordings of an (id, lang) already present, left out (one kept per pair)."""
    missing: dict[str, list[str]] = field(default_factory=dict)
    """Per language, the sentence ids dropped because that language lacks them."""

    def audio_items(self) -> list[tuple[str, Path]]:
        """``(key, audio path)`` of every utterance, for embedding; all need a path."""
        missing = [u.key for u in self.utterances if u.path is None]
        if missing:
            raise CorpusError(f"utterance(s) without an audio path: {', '.join(missing[:5])}")
        return [(u.key, u.path) for u in self.utterances if u.path is not None]

    @property
    def languages(self) -> list[str]:
        return sorted({u.lang for u in self.utterances})

    def by_language(self, lang: str) -> list[Utterance]:
        """The utterances of ``lang``, ordered by sentence id."""
        return sorted((u for u in self.utterances if u.lang == lang), key=lambda u: u.id)

    def parallel(self, langs: Sequence[str] | None = None) -> Corpus:
        """Only ``langs`` (all by default), only sentences present in every one of them.

        Raises for a language the corpus lacks; sentences missing somewhere are dropped and
        listed in ``missing`` (per language that lacks them), added to those this corpus lists.
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
        ids = {lang: {u.id for u in self.utterances if u.lang == lang} for lang in langs}
        shared, everywhere = set.intersection(*ids.values()), set.union(*ids.values())
        missing = {lang: sorted(everywhere - ids[lang]) for lang in langs if everywhere - ids[lang]}
        kept = [u for u in self.utterances if u.lang in langs and u.id in shared]
        if not kept:
            raise CorpusError(f"no sentence is present in every language of {langs}")
        return Corpus(kept, self.dropped_recordings, _merged(self.missing, missing))

    def without(self, keys: Collection[str]) -> Corpus:
        """The corpus less the utterances whose :attr:`~Utterance.key` is in ``keys`` (e.g.
        those whose audio failed); :meth:`parallel` then drops their sentences elsewhere."""
        excluded = set(keys)
        kept = [u for u in self.utterances if u.key not in excluded]
        missing = {lang: list(ids) for lang, ids in self.missing.items()}
        return Corpus(kept, self.dropped_recordings, missing)


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
    """One utterance per (id, lang): raise on repeats, or keep one chosen by ``seed``."""
    groups: dict[tuple[str, str], list[tuple[str, Utterance]]] = defaultdict(list)
    for where, utterance in utterances:
        groups[(utterance.id, utterance.lang)].append((where, utterance))
    repeated = {pair: rows for pair, rows in groups.items() if len(rows) > 1}
    if repeated and duplicates == "error":
        (sentence, lang), rows = next(iter(repeated.items()))
        raise CorpusError(
            f"duplicate (id, lang) = ({sentence}, {lang}) at {', '.join(w for w, _ in rows)}; "
            "each sentence may appear once per language"
        )
    rng = random.Random(seed)
    kept = [
        rng.choice(rows)[1] if len(rows) > 1 else rows[0][1] for _, rows in sorted(groups.items())
    ]
    return Corpus(kept, dropped_recordings=sum(len(rows) - 1 for rows in repeated.values()))


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
    sentence, lang = (_identifier(where, c, row[c]) for c in ("id", "lang"))
    audio = Path(row["path"])
    audio = audio if audio.is_absolute() else folder / audio
    if check_files and not audio.is_file():
        raise CorpusError(f"{where}: audio file {_shown(str(audio))} does not exist")
    extra = {c: row.get(c) or None for c in OPTIONAL_COLUMNS}
    return Utterance(sentence, lang, audio, **extra)


def read_manifest(
    path: str | Path, *, duplicates: str = "error", seed: int = 0, check_files: bool = True
) -> Corpus:
    """Read a manifest with columns ``id``, ``lang``, ``path`` (and optional ``text``,
    ``speaker``). Relative audio paths are resolved against the manifest's folder.

    One row per non-blank line: TSV is split at tabs only (quotes are plain characters), CSV
    quoting must close on its line, JSONL holds one object per line. Every fault raises
    :class:`CorpusError` naming ``file:line``.

    ``duplicates="error"`` rejects a repeated (id, lang); ``"keep_one"`` keeps one recording per
    pair, chosen reproducibly from ``seed``, and counts the rest in ``dropped_recordings``.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: manifest not found")
    rows = _rows(path)
    if not rows:
        raise CorpusError(f"{path}: no utterances")
    utterances = []
    for number, row in rows:
        where = f"{path}:{number}"
        utterances.append((where, _utterance(where, row, path.parent, check_files)))
    return _check_unique(utterances, duplicates, seed)


def load_fleurs(
    root: str | Path,
    langs: Sequence[str],
    *,
    splits: Sequence[str] = ("dev", "test"),
    seed: int = 0,
) -> Corpus:
    """FLEURS as laid out on disk: ``ROOT/LANG/SPLIT.tsv`` (columns without a header: sentence
    id, file name, raw transcription, ...) and ``ROOT/LANG/audio/SPLIT/FILE``. The splits are
    combined (dev and test, as in the study); one recording is kept per sentence and language."""
    root = Path(root)
    utterances = []
    for lang in langs:
        for split in splits:
            table = root / lang / f"{split}.tsv"
            if not table.is_file():
                raise CorpusError(f"{table}: FLEURS split file not found")
            with open(table, newline="", encoding="utf-8") as handle:
                for number, row in enumerate(
                    csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), 1
                ):
                    if len(row) < 3:
                        raise CorpusError(
                            f"{table}:{number}: expected at least 3 tab-separated fields"
                        )
                    audio = root / lang / "audio" / split / row[1]
                    utterance = Utterance(row[0], lang, audio, text=row[2])
                    utterances.append((f"{table}:{number}", utterance))
    return _check_unique(utterances, "keep_one", seed).parallel(langs)


def load_verse_folders(root: str | Path, langs: Sequence[str] | None = None) -> Corpus:
    """MaSS-style verse-aligned folders: ``ROOT/LANG/VERSE.wav`` (or .flac, .ogg, .mp3), the
    file stem naming the verse; a ``VERSE.txt`` beside it, if present, is its transcript."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: corpus folder not found")
    langs = list(langs) if langs else sorted(p.name for p in root.iterdir() if p.is_dir())
    utterances = []
    for lang in langs:
        folder = root / lang
        if not folder.is_dir():
            raise CorpusError(f"{folder}: no folder for language {lang}")
        for audio in sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
            transcript = audio.with_suffix(".txt")
            text = transcript.read_text(encoding="utf-8").strip() if transcript.is_file() else None
            utterances.append((str(audio), Utterance(audio.stem, lang, audio, text=text)))
    return _check_unique(utterances, "error", 0).parallel(langs)


def demo_corpus() -> Corpus:
    """The bundled demo: 40 sentences in en, fr, de, es and it, spoken by espeak-ng."""
    from importlib import resources

    return read_manifest(Path(str(resources.files("seqsim") / "data" / "demo" / "manifest.tsv")))
