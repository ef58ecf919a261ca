"""Manifests in TSV, CSV or JSONL: :func:`read_manifest` checks and reads one,
:func:`write_manifest` writes one that reads back to the same utterances."""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from .._defaults import DEFAULT_SEED
from ..checks import check_choice
from .adapters import corpus_from_lhotse
from .model import DUPLICATES, Corpus, CorpusError, Utterance, _check_unique
from .values import _identifier, _names

REQUIRED_COLUMNS = ("id", "lang", "path")
OPTIONAL_COLUMNS = ("sentence", "text", "speaker")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

_Row = tuple[int, dict[str, str]]
"""A manifest row: its physical line number (from 1) and its values by column."""


class _JSONNumber(str):
    """A JSON number, kept as the text it is written as."""


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
    path: str | Path,
    *,
    duplicates: str = DUPLICATES[0],
    seed: int = DEFAULT_SEED,
    check_files: bool = True,
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
