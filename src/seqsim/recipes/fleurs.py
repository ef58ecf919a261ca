"""FLEURS as distributed (google/fleurs on the Hugging Face hub): per language,
``data/LANG/SPLIT.tsv`` and the audio ``data/LANG/audio/SPLIT.tar.gz``, extracted in place to
``data/LANG/audio/SPLIT/*.wav``.

A split file has no header; each line is one recording, 7 tab-separated fields: sentence id,
file name, raw transcription, normalised transcription, characters, number of samples, gender.
Several speakers recorded most sentences, so a sentence has several lines (recordings).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from .._defaults import DEFAULT_SEED, RECORDINGS
from ..checks import check_choice, check_count
from ..corpus import Corpus, CorpusError, Utterance, _check_unique

Recordings = Literal["one", "all"]
SPLITS = ("dev", "test")
"""The splits combined by default: FLEURS's dev and test sentences, as in the study."""
_NEEDED_FIELDS = 3  # sentence id, file name, raw transcription
_SHOWN = 5


def _language_folder(root: Path, lang: str) -> Path:
    """``ROOT/LANG``, or ``ROOT/data/LANG`` where ROOT is the dataset's own folder."""
    for folder in (root / lang, root / "data" / lang):
        if folder.is_dir():
            return folder
    raise CorpusError(
        f"{root / lang}: no folder for language {lang} (FLEURS holds LANG/SPLIT.tsv and "
        "LANG/audio/SPLIT/ under its data folder)"
    )


def _split_rows(folder: Path, split: str) -> list[tuple[str, Utterance]]:
    """Every recording that ``folder/SPLIT.tsv`` lists, with ``file:line``; each must have
    its audio in ``folder/audio/SPLIT``."""
    table = folder / f"{split}.tsv"
    if not table.is_file():
        raise CorpusError(f"{table}: FLEURS split file not found")
    audio = folder / "audio" / split
    if not audio.is_dir():
        archive = folder / "audio" / f"{split}.tar.gz"
        hint = f" (extract {archive}: tar -xzf {archive} -C {archive.parent})"
        raise CorpusError(f"{audio}: audio folder not found{hint if archive.is_file() else ''}")
    rows = []
    with open(table, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for number, fields in enumerate(reader, 1):
            if not any(field.strip() for field in fields):
                continue
            where = f"{table}:{number}"
            if len(fields) < _NEEDED_FIELDS or not fields[0].strip() or not fields[1].strip():
                raise CorpusError(
                    f"{where}: {len(fields)} field(s); a FLEURS line has 7 tab-separated fields "
                    "and needs the first 3 (sentence id, file name, raw transcription)"
                )
            sentence, name = fields[0].strip(), fields[1].strip()
            utterance = Utterance(
                Path(name).stem, folder.name, audio / name, text=fields[2], sentence=sentence
            )
            rows.append((where, utterance))
    absent = [u.path.name for _, u in rows if u.path is not None and not u.path.is_file()]
    if absent:
        listed = ", ".join(absent[:_SHOWN]) + (", ..." if len(absent) > _SHOWN else "")
        raise CorpusError(
            f"{audio}: {len(absent)} audio file(s) that {table} lists are missing: {listed}"
        )
    return rows


def prepare_fleurs(
    root: str | Path,
    langs: Sequence[str],
    *,
    splits: Sequence[str] = SPLITS,
    recordings: Recordings = "one",
    seed: int = DEFAULT_SEED,
) -> Corpus:
    """FLEURS's sentences present in every language of ``langs``, from the files on disk.

    The splits are combined. ``recordings="one"`` is the paper's protocol: one recording per
    (sentence, language), chosen reproducibly from ``seed``, the others counted in
    ``dropped_recordings``; each utterance's id is then the sentence id. ``"all"`` keeps every
    recording, for multi-positive evaluation (any recording of the right sentence is a hit):
    the id is the recording's (its file name without ``.wav``), the sentence id its
    ``sentence``. Sentences missing in some language are left out and listed in ``missing``.

    Parameters
    ----------
    root : str or pathlib.Path
        FLEURS's ``data`` folder (holding ``LANG/SPLIT.tsv`` and ``LANG/audio/SPLIT/``), or the
        folder above it.
    langs : sequence of str
        FLEURS language codes, e.g. ``["en_us", "fr_fr"]``.
    splits : sequence of str, default ("dev", "test")
        The splits to combine (``dev``, ``test``, ``train``).
    recordings : {"one", "all"}, default "one"
        ``"one"`` recording per sentence and language, or ``"all"``.
    seed : int, default 0
        Seed of the choice with ``recordings="one"``.

    Returns
    -------
    Corpus
        The utterances, with ``dropped_recordings`` and ``missing`` filled in.

    Raises
    ------
    CorpusError
        Naming the file: a FLEURS folder, language folder, split file or extracted audio folder
        that is missing, a line with too few fields, audio files the split file lists but the
        folder lacks, a recording listed twice (in either protocol), a language listed twice,
        or no sentence present in every language.
    ValueError
        For no language or split, or a bad ``recordings`` or ``seed``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim import prepare_fleurs
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     root = Path(folder)
    ...     layout = {"en_us": [("7", "a.wav"), ("7", "b.wav")], "fr_fr": [("7", "c.wav")]}
    ...     for lang, lines in layout.items():
    ...         (root / lang / "audio" / "dev").mkdir(parents=True)
    ...         for sentence, name in lines:
    ...             _ = (root / lang / "audio" / "dev" / name).write_bytes(b"")
    ...         rows = [f"{s}\\t{n}\\tSeven.\\tseven\\t7\\t16000\\tMALE\\n" for s, n in lines]
    ...         _ = (root / lang / "dev.tsv").write_text("".join(rows))
    ...     one = prepare_fleurs(root, ["en_us", "fr_fr"], splits=["dev"])
    ...     every = prepare_fleurs(root, ["en_us", "fr_fr"], splits=["dev"], recordings="all")
    >>> sorted(u.key for u in one.utterances), one.dropped_recordings
    (['en_us/7', 'fr_fr/7'], 1)
    >>> sorted((u.key, u.sentence) for u in every.utterances)
    [('en_us/a', '7'), ('en_us/b', '7'), ('fr_fr/c', '7')]
    """
    check_choice("recordings", recordings, RECORDINGS)
    check_count("seed", seed, 0)
    if not langs or not splits:
        raise ValueError(
            f"give at least one language and one split, got {list(langs)}, {list(splits)}"
        )
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: FLEURS folder not found")
    rows = []
    for lang in langs:
        folder = _language_folder(root, lang)
        for split in splits:
            rows += _split_rows(folder, split)
    corpus = _check_unique(rows, "error", seed)  # every recording listed once
    if recordings == "one":
        chosen = corpus.keep_one(seed)
        by_sentence = [replace(u, id=u.sentence) for u in chosen.utterances]
        corpus = Corpus(by_sentence, chosen.dropped_recordings)
    return corpus.parallel(langs)
