"""Corpora of other toolkits' data: a Hugging Face ``datasets.Dataset``
(:func:`corpus_from_dataset`) and a lhotse ``CutSet`` or ``RecordingSet``
(:func:`corpus_from_lhotse`); neither package is needed to import seqsim."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._defaults import DEFAULT_SEED
from ..audio import LazyAudio, dataset_audio
from ..checks import check_choice
from .model import DUPLICATES, Corpus, CorpusError, Utterance, _check_unique
from .values import _identifier, _names


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
    seed: int = DEFAULT_SEED,
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
    seed: int = DEFAULT_SEED,
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
