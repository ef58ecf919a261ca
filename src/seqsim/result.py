"""The result of a retrieval evaluation and its JSON form: :class:`RetrievalResult`, what
:func:`~seqsim.evaluation.evaluate` and its siblings return, and the layout of the
``results.json`` that :meth:`RetrievalResult.to_dict` writes and :meth:`RetrievalResult.load`
reads back (checked by :mod:`seqsim.result_file`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .corpus import Utterance
from .ranking import MEASURES

# the schema of the report's files is their reader's (result_file); importable from here too
from .result_file import LABELS, RESULTS_SCHEMA, read_ranks_csv, read_results_json
from .result_file import MEDIA_FIELDS as MEDIA_FIELDS
from .result_file import RANK_SCORE_COLUMNS as RANK_SCORE_COLUMNS
from .result_file import RANK_TEXT_COLUMNS as RANK_TEXT_COLUMNS
from .run_folder import RANKS_FILE, RESULTS_FILE, RUN_RECORD, read_run_record
from .search.retrieval import POOLED

COUNTS = ("n", "candidates", "agreement_queries")
"""The columns of :attr:`RetrievalResult.summary` that are counts, never percentages."""


@dataclass(eq=False)
class RetrievalResult:
    """Per-pair measures, per-query ranks and the settings that produced them.

    What :func:`~seqsim.evaluation.evaluate`, :func:`~seqsim.evaluation.evaluate_grid` and
    :func:`~seqsim.evaluation.evaluate_embeddings` return;
    :func:`seqsim.report.write_report` writes it out and :meth:`load` reads it back. Measures
    are fractions in [0, 1] (:meth:`matrix` shows them in percent). Two results are equal when
    their languages, settings, failures, diagnostics, embedding, utterances and tables
    (:attr:`summary`, :attr:`ranks`, with their dtypes) are.

    Parameters
    ----------
    languages : list of str
        The languages, in the order of the matrices' rows and columns.
    summary : pandas.DataFrame
        One row per ordered pair: query_lang, candidate_lang, n (queries), chance (the R@1 of a
        random ranking), r@1, r@5, r@10, mrr, (ci_low, ci_high with bootstrap), and the same
        measures without normalisation (raw_*); with sentences given, candidates (their
        number). With ``search="index"``, also rows whose candidate_lang is ``"pooled"`` (all
        other languages at once) and agreement columns.
    ranks : pandas.DataFrame
        One row per query: query_lang, candidate_lang, id, rank, retrieved (the top
        candidate), score (the correct candidate's score), wrong and wrong_score (the
        best-scoring wrong candidate and its score); with sentences given, sentence,
        retrieved_sentence and correct (the best-scoring recording of the query's sentence)
        too. The scores are those ranked (after normalisation); a result of
        ``search="index"`` lacks them.
    settings : dict, default {}
        The settings that produced the result (model, layer, metric and its options,
        normalization, ...), as written to ``results.json``.
    failures : list of dict, default []
        Utterances left out because their audio failed: key, source, reason. Their sentences
        are left out in every language (listed in ``settings["missing_sentences"]``).
    diagnostics : dict of str to int, default {}
        What the metric's solver reported over the run (:meth:`Metric.diagnostics`), e.g.
        ``{"sinkhorn_unconverged_pairs": n, "pairs": m}`` for Sinkhorn OT; empty for the
        others.
    embedding : dict, default {}
        What the run's embedding did, where it embedded a corpus: ``embedded`` and
        ``already_stored`` (counts), ``changed`` (utterances stored from other audio, embedded
        again: key, stored, given), ``unchecked`` (keys reused without a check of their
        audio) and ``short`` (implausibly short audio: key, source, reason); see
        :class:`~seqsim.embed_runs.EmbedReport`.
    utterances : dict of str to dict of str to str, default {}
        Per utterance key (``lang/id``, :attr:`Utterance.key <seqsim.corpus.Utterance.key>`),
        what a report shows of it: ``path`` (its audio file) and ``text`` (its transcript),
        where known (:func:`utterance_media`). Outside the settings: moving the audio changes
        no number, so not the settings hash either.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.result import RetrievalResult
    >>> summary = pd.DataFrame({"query_lang": ["en", "fr"], "candidate_lang": ["fr", "en"],
    ...                         "r@1": [1.0, 0.5], "r@5": [1.0, 1.0], "r@10": [1.0, 1.0],
    ...                         "mrr": [1.0, 0.75]})
    >>> result = RetrievalResult(["en", "fr"], summary, pd.DataFrame())
    >>> result.matrix("r@1")
    candidate     en     fr
    query
    en           NaN  100.0
    fr          50.0    NaN
    >>> result.mean("mrr")
    0.875
    """

    languages: list[str]
    summary: pd.DataFrame
    ranks: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    diagnostics: dict[str, int] = field(default_factory=dict)
    embedding: dict[str, Any] = field(default_factory=dict)
    utterances: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def settings_hash(self) -> str:
        """A short hash of the settings, printed with results for reproducibility.

        The first 12 hex digits of the SHA-256 of the settings as JSON (keys sorted): equal
        settings give equal hashes. The settings of
        :func:`~seqsim.evaluation.evaluate_embeddings` cover what changes the numbers: the metric
        and its options, the backend and its device kind, the scoring options, the bootstrap
        samples and seed, a fingerprint of the frames (``data_fingerprint``), the audio behind
        each key of a store (``audio_fingerprint``: :func:`seqsim.provenance.audio_fingerprint`),
        the encoder and storage dtypes of a store, and the versions of seqsim, torch and
        transformers.

        Examples
        --------
        >>> import pandas as pd
        >>> from seqsim.result import RetrievalResult
        >>> def result(settings):
        ...     return RetrievalResult(["en", "fr"], pd.DataFrame(), pd.DataFrame(), settings)
        >>> first = result({"metric": "seqsim", "layer": 6}).settings_hash
        >>> same = result({"layer": 6, "metric": "seqsim"}).settings_hash
        >>> other = result({"metric": "seqsim", "layer": 5}).settings_hash
        >>> len(first), first == same, first == other
        (12, True, False)
        """
        text = json.dumps(self.settings, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def matrix(self, measure: str = "r@1", percent: bool = True) -> pd.DataFrame:
        """One measure as a matrix: query languages as rows, candidate languages as columns.

        The diagonal (a language against itself) is NaN; so is a pair without a row.

        Parameters
        ----------
        measure : str, default "r@1"
            A column of :attr:`summary`: ``"r@1"``, ``"r@5"``, ``"r@10"``, ``"mrr"``,
            ``"chance"``, ``"raw_r@1"``, ..., or ``"n"``.
        percent : bool, default True
            Multiply by 100 (except the counts ``"n"`` and ``"candidates"``).

        Returns
        -------
        pandas.DataFrame
            Rows and columns in the order of :attr:`languages`, named ``query`` and
            ``candidate``.

        Raises
        ------
        KeyError
            When :attr:`summary` has no column ``measure``.

        Examples
        --------
        >>> import pandas as pd
        >>> from seqsim.result import RetrievalResult
        >>> summary = pd.DataFrame({"query_lang": ["en", "fr"], "candidate_lang": ["fr", "en"],
        ...                         "n": [2, 2], "r@1": [1.0, 0.5]})
        >>> result = RetrievalResult(["en", "fr"], summary, pd.DataFrame())
        >>> result.matrix("r@1", percent=False)
        candidate   en   fr
        query
        en         NaN  1.0
        fr         0.5  NaN
        >>> result.matrix("n")
        candidate   en   fr
        query
        en         NaN  2.0
        fr         2.0  NaN
        """
        table = self.summary.pivot(index="query_lang", columns="candidate_lang", values=measure)
        table = table.reindex(index=self.languages, columns=self.languages)
        table.index.name, table.columns.name = "query", "candidate"
        return table * 100 if percent and measure not in COUNTS else table

    def mean(self, measure: str = "r@1") -> float:
        """Average of ``measure`` over all ordered language pairs, as a fraction.

        The pooled rows of an index search (``candidate_lang == "pooled"``) are not counted.

        Parameters
        ----------
        measure : str, default "r@1"
            A column of :attr:`summary`.

        Returns
        -------
        float
            The mean over pairs (not in percent).

        Raises
        ------
        KeyError
            When :attr:`summary` has no column ``measure``.

        Examples
        --------
        >>> import pandas as pd
        >>> from seqsim.result import RetrievalResult
        >>> summary = pd.DataFrame({"query_lang": ["en", "fr"], "candidate_lang": ["fr", "en"],
        ...                         "r@1": [1.0, 0.5]})
        >>> RetrievalResult(["en", "fr"], summary, pd.DataFrame()).mean("r@1")
        0.75
        """
        pairs = self.summary[self.summary["candidate_lang"] != POOLED]
        return float(pairs[measure].mean())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RetrievalResult):
            return NotImplemented
        return (
            self.languages == other.languages
            and self.settings == other.settings
            and self.failures == other.failures
            and self.diagnostics == other.diagnostics
            and self.embedding == other.embedding
            and self.utterances == other.utterances
            and self.summary.equals(other.summary)
            and list(self.summary.columns) == list(other.summary.columns)
            and self.ranks.equals(other.ranks)
            and list(self.ranks.columns) == list(other.ranks.columns)
        )

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data, as ``results.json`` holds it.

        Returns
        -------
        dict
            ``schema`` (:data:`RESULTS_SCHEMA`), ``units`` (per column of ``pairs`` and
            ``mean``: ``"fraction"``, in [0, 1], or ``"count"``), ``settings``,
            ``settings_hash``, ``languages``, ``pairs`` (the rows of :attr:`summary`),
            ``mean`` (of r@1, r@5, r@10 and mrr over pairs), ``failures``, ``diagnostics``,
            ``embedding`` and ``utterances``. The per-query ranks are not included.

        Raises
        ------
        KeyError
            When :attr:`summary` lacks one of the columns r@1, r@5, r@10 and mrr.

        Examples
        --------
        >>> import pandas as pd
        >>> from seqsim.result import RetrievalResult
        >>> summary = pd.DataFrame({"query_lang": ["en", "fr"], "candidate_lang": ["fr", "en"],
        ...                         "r@1": [1.0, 0.5], "r@5": [1.0, 1.0], "r@10": [1.0, 1.0],
        ...                         "mrr": [1.0, 0.75]})
        >>> data = RetrievalResult(["en", "fr"], summary, pd.DataFrame()).to_dict()
        >>> sorted(data)  # doctest: +NORMALIZE_WHITESPACE
        ['diagnostics', 'embedding', 'failures', 'languages', 'mean', 'pairs', 'schema',
         'settings', 'settings_hash', 'units', 'utterances']
        >>> data["mean"], data["units"]["mrr"]
        ({'r@1': 0.75, 'r@5': 1.0, 'r@10': 1.0, 'mrr': 0.875}, 'fraction')
        """
        units = {
            column: "count" if column in COUNTS else "fraction"
            for column in self.summary.columns
            if column not in LABELS
        }
        return {
            "schema": RESULTS_SCHEMA,
            "units": units,
            "settings": self.settings,
            "settings_hash": self.settings_hash,
            "languages": self.languages,
            "pairs": self.summary.to_dict(orient="records"),
            "mean": {m: self.mean(m) for m in MEASURES},
            "failures": self.failures,
            "diagnostics": self.diagnostics,
            "embedding": self.embedding,
            "utterances": self.utterances,
        }

    @classmethod
    def load(cls, path: str | Path) -> RetrievalResult:
        """Read a result back from ``results.json``, or from the report folder holding it.

        The ranks come from ``ranks.csv`` beside it (empty where it is absent and the report's
        run did not list it), so a result written by :func:`seqsim.report.write_report` loads
        back equal to the original. Both files are checked first (:mod:`seqsim.result_file`):
        a damaged one is refused, naming the file and the field, rather than loaded with
        impossible values.

        Parameters
        ----------
        path : str or Path
            A ``results.json`` (:meth:`to_dict` as JSON) or the folder that holds one.

        Returns
        -------
        RetrievalResult
            The languages, summary, ranks, settings, failures, diagnostics, embedding and
            utterances.

        Raises
        ------
        FileNotFoundError
            When there is no ``results.json`` at ``path`` (for the folder of several results,
            the message names the folder of each).
        ~seqsim.result_file.ResultFileError
            A ``ValueError``: when ``results.json`` is not JSON, has a schema newer than this
            seqsim reads (:data:`RESULTS_SCHEMA`), lacks a part or field of a result or holds
            an impossible value (a fraction outside [0, 1], a count that is not a whole number
            >= 0, a pair twice, a mean that is not the mean of the pairs, ...), or when
            ``ranks.csv`` is missing though the run listed it, unreadable, has other columns,
            or holds ranks outside [1, candidates] or that give other measures than
            ``results.json``; the message names the file and the field.
        ValueError
            When the folder's run never finished writing its report
            (:mod:`seqsim.run_folder`).

        Examples
        --------
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> import pandas as pd
        >>> from seqsim.result import RetrievalResult
        >>> summary = pd.DataFrame({"query_lang": ["en", "fr"], "candidate_lang": ["fr", "en"],
        ...                         "n": [2, 2], "r@1": [1.0, 0.5], "r@5": [1.0, 1.0],
        ...                         "r@10": [1.0, 1.0], "mrr": [1.0, 0.75]})
        >>> result = RetrievalResult(["en", "fr"], summary, pd.DataFrame(), {"metric": "seqsim"})
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = Path(folder) / "results.json"
        ...     _ = path.write_text(json.dumps(result.to_dict()))
        ...     loaded = RetrievalResult.load(folder)
        >>> loaded == result, loaded.matrix("r@1").loc["fr", "en"]
        (True, 50.0)
        """
        path = Path(path)
        folder = path if path.is_dir() else path.parent
        if (folder / RUN_RECORD).exists():
            record = read_run_record(folder)
            if not record.get("complete"):
                raise ValueError(
                    f"{folder} holds a report that was never finished (its run stopped while "
                    "writing it); run the evaluation again"
                )
            if path.is_dir() and RESULTS_FILE not in record["files"]:
                inner = [
                    name[: -len(f"/{RESULTS_FILE}")]
                    for name in record["files"]
                    if name.endswith(f"/{RESULTS_FILE}")
                ]
                raise FileNotFoundError(
                    f"{path} holds the reports of {len(inner)} results, one per folder: load "
                    f"one of {', '.join(str(path / name) for name in inner)}"
                )
        if path.is_dir():
            path = path / RESULTS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no results.json there")
        data = read_results_json(path, cls)
        return cls(
            data["languages"],
            pd.DataFrame(data["pairs"]),
            read_ranks_csv(path.parent / RANKS_FILE, data),
            data["settings"],
            failures=data["failures"],
            diagnostics=data["diagnostics"],
            embedding=data["embedding"],
            utterances=data["utterances"],
        )


def utterance_media(
    utterances: Iterable[Utterance], sources: Mapping[str, Mapping[str, Any] | None] | None = None
) -> dict[str, dict[str, str]]:
    """What a report shows of each utterance (:attr:`RetrievalResult.utterances`): its audio
    file and its text, where known.

    Parameters
    ----------
    utterances : iterable of Utterance
        The evaluated utterances (a corpus's, or :func:`~seqsim.evaluation.corpus_from_keys`'
        for a store evaluated alone).
    sources : mapping of str to dict, optional
        A store's record of each key's audio (:meth:`EmbeddingStore.sources
        <seqsim.store.EmbeddingStore.sources>`): its ``path`` stands in for an utterance
        without one.

    Returns
    -------
    dict of str to dict of str to str
        Per key, ``path`` (absolute) and ``text``, each where known; keys with neither are
        left out.

    Examples
    --------
    >>> from pathlib import Path
    >>> from seqsim.corpus import Utterance
    >>> from seqsim.result import utterance_media
    >>> said = Utterance("s1", "en", Path("/corpus/en/s1.wav"), text="Hello.")
    >>> stored = Utterance("s1", "fr", None)
    >>> media = utterance_media([said, stored], {"fr/s1": {"path": "/store/fr/s1.wav"}})
    >>> media["en/s1"], media["fr/s1"]
    ({'path': '/corpus/en/s1.wav', 'text': 'Hello.'}, {'path': '/store/fr/s1.wav'})
    """
    sources = sources or {}
    media: dict[str, dict[str, str]] = {}
    for utterance in utterances:
        source = sources.get(utterance.key) or {}
        path = utterance.path.absolute() if utterance.path is not None else source.get("path")
        known = {"path": str(path) if path else None, "text": utterance.text}
        if any(known.values()):
            media[utterance.key] = {name: value for name, value in known.items() if value}
    return media
