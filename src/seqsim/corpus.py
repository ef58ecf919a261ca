"""N-way parallel speech corpora: utterances with the sentence they say (``id``), their
language, and their audio; manifests in TSV, CSV or JSONL; loaders for FLEURS and MaSS layouts.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REQUIRED_COLUMNS = ("id", "lang", "path")
OPTIONAL_COLUMNS = ("text", "speaker")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


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
        """``lang/id``: the utterance's name in an embedding store."""
        return f"{self.lang}/{self.id}"


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
        listed in ``missing`` (per language that lacks them).
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
        return Corpus(kept, self.dropped_recordings, missing)


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


def _rows(path: Path) -> tuple[list[str], list[tuple[str, dict[str, str]]]]:
    """Column names and (location, row) pairs of a TSV, CSV or JSONL manifest."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise CorpusError(f"{path}:{number}: not valid JSON ({error.msg})") from None
                rows.append(
                    (f"{path}:{number}", {k: str(v) for k, v in record.items() if v is not None})
                )
        columns = sorted({key for _, row in rows for key in row})
        return columns, rows
    if suffix not in (".tsv", ".csv"):
        raise CorpusError(f"{path}: manifest must be .tsv, .csv or .jsonl")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
        columns = list(reader.fieldnames or [])
        rows = [(f"{path}:{number}", row) for number, row in enumerate(reader, start=2)]
    return columns, rows


def read_manifest(
    path: str | Path, *, duplicates: str = "error", seed: int = 0, check_files: bool = True
) -> Corpus:
    """Read a manifest with columns ``id``, ``lang``, ``path`` (and optional ``text``,
    ``speaker``). Relative audio paths are resolved against the manifest's folder.

    ``duplicates="error"`` rejects a repeated (id, lang); ``"keep_one"`` keeps one recording per
    pair, chosen reproducibly from ``seed``, and counts the rest in ``dropped_recordings``.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: manifest not found")
    columns, rows = _rows(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing and rows:
        raise CorpusError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(columns)}"
        )
    if not rows:
        raise CorpusError(f"{path}: no utterances")
    utterances = []
    for where, row in rows:
        empty = [c for c in REQUIRED_COLUMNS if not (row.get(c) or "").strip()]
        if empty:
            raise CorpusError(f"{where}: empty {', '.join(empty)}")
        audio = Path(row["path"])
        audio = audio if audio.is_absolute() else path.parent / audio
        if check_files and not audio.is_file():
            raise CorpusError(f"{where}: audio file {audio} does not exist")
        extra = {c: row.get(c) or None for c in OPTIONAL_COLUMNS}
        utterances.append(
            (where, Utterance(row["id"].strip(), row["lang"].strip(), audio, **extra))
        )
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
