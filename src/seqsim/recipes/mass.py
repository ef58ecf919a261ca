"""MaSS (Multilingual corpus of Sentence-aligned Spoken utterances) as verse-aligned folders:
``ROOT/LANG/VERSE.wav``, one file per Bible verse, the same verse names in every language."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..corpus import AUDIO_SUFFIXES, Corpus, CorpusError, Utterance, _check_unique


def prepare_mass(root: str | Path, langs: Sequence[str] | None = None) -> Corpus:
    """The verses of ``langs`` present in all of them, from verse-aligned folders.

    ``ROOT/LANG/VERSE.wav`` (or .flac, .ogg, .mp3): the file stem names the verse (the
    sentence, shared across languages); a ``VERSE.txt`` beside it, if present, is its
    transcript. Verses missing in some language are left out and listed in ``missing``.

    Parameters
    ----------
    root : str or pathlib.Path
        The folder that holds one folder per language.
    langs : sequence of str, optional
        The languages (folder names); by default every folder in ``root``.

    Returns
    -------
    Corpus
        One utterance per verse and language, its id the verse.

    Raises
    ------
    CorpusError
        When ``root`` or a language's folder does not exist, ``root`` holds no folder, a
        language's folder holds no audio, a verse has two audio files (``GEN_1_1.wav`` and
        ``GEN_1_1.flac``), a language is listed twice, or no verse is present in every
        language.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim import prepare_mass
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     root = Path(folder)
    ...     for lang, verses in {"eng": ["GEN_1_1", "GEN_1_2"], "fra": ["GEN_1_1"]}.items():
    ...         (root / lang).mkdir()
    ...         for verse in verses:
    ...             _ = (root / lang / f"{verse}.wav").write_bytes(b"")
    ...     _ = (root / "eng" / "GEN_1_1.txt").write_text("In the beginning ...\\n")
    ...     corpus = prepare_mass(root)
    >>> sorted(u.key for u in corpus.utterances), corpus.missing
    (['eng/GEN_1_1', 'fra/GEN_1_1'], {'fra': ['GEN_1_2']})
    >>> [(u.key, u.text) for u in corpus.utterances]
    [('eng/GEN_1_1', 'In the beginning ...'), ('fra/GEN_1_1', None)]
    """
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: corpus folder not found")
    langs = list(langs) if langs else sorted(p.name for p in root.iterdir() if p.is_dir())
    if not langs:
        raise CorpusError(f"{root}: no language folders (ROOT/LANG/VERSE.wav)")
    utterances = []
    for lang in langs:
        folder = root / lang
        if not folder.is_dir():
            raise CorpusError(f"{folder}: no folder for language {lang}")
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
        if not found:
            raise CorpusError(f"{folder}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
        for audio in found:
            transcript = audio.with_suffix(".txt")
            text = transcript.read_text(encoding="utf-8").strip() if transcript.is_file() else None
            utterances.append((str(audio), Utterance(audio.stem, lang, audio, text=text)))
    return _check_unique(utterances, "error", 0).parallel(langs)
