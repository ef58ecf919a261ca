"""The check of a report's ``results.json`` and ``ranks.csv``, against what
:func:`seqsim.report.write_report` writes, for :meth:`RetrievalResult.load
<seqsim.result.RetrievalResult.load>`.

What a ``results.json`` must hold is asked of its writer, :meth:`RetrievalResult.to_dict
<seqsim.result.RetrievalResult.to_dict>`: its parts and their kinds, the unit of every
column of ``pairs`` (``"fraction"``: a number in [0, 1]; ``"count"``: a whole number >= 0),
the measures averaged in ``mean`` and the hash of the settings. Besides, every pair names a
language of ``languages`` and another one (or ``"pooled"``), once; holds r@1, r@5, r@10 and
mrr; has a chance in (0, 1] and, unless a sentence has several recordings (multi-positive),
no more queries (``n``) than candidates. Each ``mean`` is the mean of the pairs (pooled rows
left out). Columns that the writer does not know are allowed where ``units`` declares them,
as it does for any column of a result's summary.

The ranks in ``ranks.csv`` are whole numbers from 1 to the number of candidates of their pair
(or ``inf``, a query that a search through an index missed), ``n`` of them per pair, and they
give the pair's r@1, r@5, r@10 and mrr again: the measures are recomputed from them.

Where ``ranks.csv`` holds scores (``score``, ``wrong``, ``wrong_score``), they are finite
numbers that agree with the ranks: a query at rank 1 has no wrong candidate above its correct
one, a query at a lower rank has one at least as good. (A search through an index: a query
it missed, rank ``inf``, may score its correct candidate above the best wrong hit; a query
whose hits are all correct, in the pooled rows, has no ``wrong`` and an empty
``wrong_score``.) ``utterances`` in ``results.json``
holds texts only. Reports of an older seqsim, without ``utterances`` or scores, load all the
same (``utterances`` empty).

A file that breaks any of this is refused with a :class:`ResultFileError` that names the file
and the field: ``<path>: pairs[3]["r@1"] is 1.7; a fraction must lie in [0, 1]``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .ranking import MEASURES, retrieval_measures
from .run_folder import RESULTS_FILE, RUN_RECORD, read_run_record
from .search.retrieval import POOLED

LABELS = ("query_lang", "candidate_lang")
"""The columns of :attr:`RetrievalResult.summary <seqsim.result.RetrievalResult.summary>`
that name the language pair."""
RESULTS_SCHEMA = 1
"""The version of the layout of ``results.json`` (:meth:`RetrievalResult.to_dict
<seqsim.result.RetrievalResult.to_dict>`)."""
RANK_TEXT_COLUMNS = (
    "query_lang",
    "candidate_lang",
    "id",
    "retrieved",
    "wrong",
    "sentence",
    "retrieved_sentence",
    "correct",
)
"""The columns of ``ranks.csv`` that hold text (read as text, never as numbers)."""
RANK_SCORE_COLUMNS = ("score", "wrong_score")
"""The columns of ``ranks.csv`` that hold scores: the correct candidate's (the best-scoring one
of the query's sentence) and the best-scoring wrong candidate's (``wrong``). Reports written
before seqsim recorded them, and results of ``search="index"``, lack them."""
MEDIA_FIELDS = ("path", "text")
"""What :attr:`RetrievalResult.utterances <seqsim.result.RetrievalResult.utterances>` may
tell of an utterance: its audio file and its text (transcript)."""


ResultType = Callable[..., Any]
"""The result class whose ``to_dict`` writes ``results.json``: ``result_type(languages,
summary, ranks, settings).to_dict()``."""

PAIR_FIELDS = (*LABELS, *MEASURES)
"""What every pair of ``results.json`` holds (what
:meth:`RetrievalResult.to_dict <seqsim.result.RetrievalResult.to_dict>` needs of a summary)."""
RANK_COLUMNS = (*LABELS, "id", "rank", "retrieved")
"""The columns of a ``ranks.csv`` with ranks; the scores (``score``, ``wrong``,
``wrong_score``) follow where the run recorded them, and ``sentence``, ``retrieved_sentence``
and ``correct`` in a result with sentences."""
OPTIONAL_PARTS: dict[str, Any] = {"utterances": {}}
"""Parts of ``results.json`` that reports written by older seqsim lack, with the value such a
report reads as."""
_EMPTY_TABLES = ("\n", "\r\n")
"""What :meth:`pandas.DataFrame.to_csv` writes for a result without ranks."""
_KINDS = {dict: "an object", list: "a list", str: "a text", int: "a whole number"}
"""How messages name the JSON kind of each part of ``results.json``."""


class ResultFileError(ValueError):
    """A ``results.json`` or ``ranks.csv`` that no report holds; the message names the file
    and the field, and says what is wrong.

    Examples
    --------
    >>> from seqsim.result_file import ResultFileError
    >>> issubclass(ResultFileError, ValueError)
    True
    """


def read_results_json(path: str | Path, result_type: ResultType) -> dict[str, Any]:
    """``results.json``, read and checked against what its writer writes.

    Parameters
    ----------
    path : str or Path
        A ``results.json`` (:meth:`RetrievalResult.to_dict
        <seqsim.result.RetrievalResult.to_dict>` as JSON).
    result_type : type
        The writer: :class:`~seqsim.result.RetrievalResult` (given, not imported here, so that
        the result type imports its file format and not the other way round).

    Returns
    -------
    dict
        Its content, every part of it checked (see the module's description).

    Raises
    ------
    ResultFileError
        For a file that cannot be read, is not JSON, has a schema newer than this seqsim
        reads (:data:`~seqsim.result.RESULTS_SCHEMA`), lacks a part or field, or holds an
        impossible value; the message names the file and the field.

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from seqsim.result import RetrievalResult
    >>> from seqsim.result_file import ResultFileError, read_results_json
    >>> summary = pd.DataFrame({"query_lang": ["en", "fr"], "candidate_lang": ["fr", "en"],
    ...                         "n": [2, 2], "r@1": [1.0, 0.5], "r@5": [1.0, 1.0],
    ...                         "r@10": [1.0, 1.0], "mrr": [1.0, 0.75]})
    >>> data = RetrievalResult(["en", "fr"], summary, pd.DataFrame()).to_dict()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "results.json"
    ...     _ = path.write_text(json.dumps(data))
    ...     print(read_results_json(path, RetrievalResult)["mean"]["r@1"])
    ...     data["pairs"][1]["r@1"] = 1.7
    ...     _ = path.write_text(json.dumps(data))
    ...     try:
    ...         read_results_json(path, RetrievalResult)
    ...     except ResultFileError as error:
    ...         print(error)  # doctest: +ELLIPSIS
    0.75
    /.../results.json: pairs[1]["r@1"] is 1.7; a fraction must lie in [0, 1]
    """
    path = Path(path)
    data = _parse_json(path)
    _check_schema(path, data)
    data = {**OPTIONAL_PARTS, **data}
    _check_parts(path, data, _as_written(result_type, PAIR_FIELDS, {}))
    _check_languages(path, data["languages"])
    written = _as_written(result_type, _pair_columns(path, data["pairs"]), data["settings"])
    _check_units(path, data["units"], written["units"])
    _check_pairs(path, data, written["units"])
    _check_means(path, data["mean"], data["pairs"], list(written["mean"]))
    for number, failure in enumerate(data["failures"]):
        _check_kind(path, _field("failures", number), failure, {})
    for name, count in data["diagnostics"].items():
        _check_count(path, _field("diagnostics", name), count)
    _check_utterances(path, data["utterances"])
    if data["settings_hash"] != written["settings_hash"]:
        raise ResultFileError(
            f"{path}: settings_hash is {_shown(data['settings_hash'])}, but the settings hash "
            f"to {_shown(written['settings_hash'])} (were they changed after writing?)"
        )
    return data


def read_ranks_csv(path: str | Path, results: Mapping[str, Any]) -> pd.DataFrame:
    """``ranks.csv``, read and checked against the ``results.json`` beside it.

    Parameters
    ----------
    path : str or Path
        The ``ranks.csv`` of a report.
    results : mapping
        The ``results.json`` beside it, as :func:`read_results_json` returns it.

    Returns
    -------
    pandas.DataFrame
        One row per query: query_lang, candidate_lang, id, rank, retrieved (sentence,
        retrieved_sentence); the ids and sentences as text. Empty for a result without ranks,
        and where the file is absent and the run that wrote the report did not list it (a
        ``results.json`` written by hand).

    Raises
    ------
    ResultFileError
        For a file that the run listed and is missing, cannot be read, lacks a column or has
        an unknown one; a rank that is not a whole number from 1 to the number of candidates
        of its pair, or of a pair that ``results.json`` does not hold; a pair whose number of
        ranks is not its ``n``, or whose ranks give other measures than ``results.json``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.result_file import ResultFileError, read_ranks_csv
    >>> results = {"languages": ["en", "fr"], "settings": {}, "pairs": [
    ...     {"query_lang": "en", "candidate_lang": "fr", "n": 2,
    ...      "r@1": 0.5, "r@5": 1.0, "r@10": 1.0, "mrr": 0.75}]}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "ranks.csv"
    ...     _ = path.write_text("query_lang,candidate_lang,id,rank,retrieved\\n"
    ...                         "en,fr,s1,1,s1\\nen,fr,s2,2,s1\\n")
    ...     print(read_ranks_csv(path, results)["rank"].tolist())
    ...     _ = path.write_text("query_lang,candidate_lang,id,rank,retrieved\\n"
    ...                         "en,fr,s1,1,s1\\nen,fr,s2,3,s1\\n")
    ...     try:
    ...         read_ranks_csv(path, results)
    ...     except ResultFileError as error:
    ...         print(error)  # doctest: +ELLIPSIS
    [1, 2]
    /.../ranks.csv: line 3 "rank" is 3; a rank is a whole number from 1 to the 2 candidates of \
("en", "fr")
    """
    path = Path(path)
    if not path.exists():
        if _listed_by_its_run(path):
            raise ResultFileError(
                f"{path}: missing, though the run that wrote the report listed it"
            )
        return pd.DataFrame()
    ranks = _parse_ranks(path)
    if not ranks.columns.empty:
        _check_rank_columns(path, ranks)
        _check_rank_values(path, ranks, results)
        _check_rank_pairs(path, ranks, results)
        _check_rank_scores(path, ranks)
    return ranks


def _field(*keys: str | int) -> str:
    """A field of a JSON document as messages name it: ``pairs[3]["r@1"]``."""
    first, *rest = keys
    return str(first) + "".join(
        f"[{key}]" if isinstance(key, int) else f"[{json.dumps(key)}]" for key in rest
    )


def _shown(value: Any) -> str:
    """A value of ``results.json`` as JSON spells it (``true``, ``NaN``, ``"en"``), cut short."""
    text = json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def _cell(value: Any) -> str:
    """A cell of ``ranks.csv`` as messages show it: text quoted, numbers as they read."""
    value = value.item() if isinstance(value, np.generic) else value
    return json.dumps(value) if isinstance(value, str) else str(value)


def _pair_name(key: tuple[str, str]) -> str:
    """A (query language, candidate language) pair as messages name it: ``("en", "fr")``."""
    return f"({json.dumps(key[0])}, {json.dumps(key[1])})"


def _as_written(
    result_type: ResultType, columns: list[str] | tuple[str, ...], settings: dict[str, Any]
) -> dict[str, Any]:
    """What :meth:`RetrievalResult.to_dict` writes for a result with these summary columns
    and settings (and no rows): the writer is the one place that decides the parts of
    ``results.json``, the unit of each column, the measures averaged and the settings hash."""
    return result_type([], pd.DataFrame(columns=list(columns)), pd.DataFrame(), settings).to_dict()


def _parse_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ResultFileError(f"{path}: not JSON ({error})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ResultFileError(f"{path}: unreadable ({error})") from None
    if not isinstance(data, dict):
        raise ResultFileError(f"{path}: not a results.json (a JSON object was expected)")
    return data


def _check_schema(path: Path, data: Mapping[str, Any]) -> None:
    """A schema version this seqsim reads: a whole number (not a boolean) from 1."""
    if "schema" not in data:
        raise ResultFileError(f"{path}: not a results.json, it lacks schema")
    schema = data["schema"]
    if type(schema) is not int or schema < 1:
        raise ResultFileError(
            f"{path}: schema is {_shown(schema)}; a schema version is a whole number >= 1"
        )
    if schema > RESULTS_SCHEMA:
        raise ResultFileError(
            f"{path}: results schema {schema}; this seqsim reads schema {RESULTS_SCHEMA} or "
            "older (upgrade seqsim)"
        )


def _check_kind(path: Path, name: str, value: Any, specimen: Any) -> None:
    """``value`` is of the JSON kind of ``specimen`` (a boolean is no whole number here)."""
    if type(value) is not type(specimen):
        raise ResultFileError(
            f"{path}: {name} is {_shown(value)}; a results.json holds "
            f"{_KINDS[type(specimen)]} there"
        )


def _check_parts(path: Path, data: Mapping[str, Any], written: Mapping[str, Any]) -> None:
    """Every part the writer writes is there, of the kind it writes."""
    absent = [part for part in written if part not in data]
    if absent:
        raise ResultFileError(f"{path}: not a results.json, it lacks {', '.join(absent)}")
    for part, specimen in written.items():
        _check_kind(path, part, data[part], specimen)


def _check_languages(path: Path, languages: list[Any]) -> None:
    """Languages are texts, each once."""
    for number, language in enumerate(languages):
        _check_kind(path, _field("languages", number), language, "")
        if language in languages[:number]:
            raise ResultFileError(
                f"{path}: {_field('languages', number)} repeats {_shown(language)}"
            )


def _pair_columns(path: Path, pairs: list[Any]) -> list[str]:
    """The columns of the pairs: those of the first, which holds :data:`PAIR_FIELDS`."""
    if not pairs:
        raise ResultFileError(f"{path}: pairs is empty; a result has a pair of languages")
    _check_pair_fields(path, 0, pairs[0], list(PAIR_FIELDS))
    return list(pairs[0])


def _check_pair_fields(path: Path, number: int, pair: Any, columns: list[str]) -> None:
    """The pair is an object with every column, and no other."""
    _check_kind(path, _field("pairs", number), pair, {})
    absent = [column for column in columns if column not in pair]
    if absent:
        raise ResultFileError(f"{path}: {_field('pairs', number)} lacks {_shown(absent[0])}")
    if number:
        extra = [column for column in pair if column not in columns]
        if extra:
            raise ResultFileError(
                f"{path}: {_field('pairs', number)} holds {_shown(extra[0])}, which pairs[0] lacks"
            )


def _check_units(path: Path, units: Mapping[str, Any], expected: Mapping[str, str]) -> None:
    """The units name every column of the pairs (but the labels) as the writer does."""
    for column, unit in expected.items():
        if column not in units:
            raise ResultFileError(f"{path}: units lacks {_shown(column)}")
        if units[column] != unit:
            raise ResultFileError(
                f"{path}: {_field('units', column)} is {_shown(units[column])}; {column} is a "
                f"{unit}"
            )
    extra = [column for column in units if column not in expected]
    if extra:
        raise ResultFileError(f"{path}: {_field('units', extra[0])} names no column of pairs")


def _check_fraction(path: Path, name: str, value: Any) -> None:
    """A number in [0, 1] (NaN and infinities are not)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not 0 <= value <= 1:
        raise ResultFileError(f"{path}: {name} is {_shown(value)}; a fraction must lie in [0, 1]")


def _check_count(path: Path, name: str, value: Any) -> None:
    """A whole number >= 0 (a boolean or 2.0 is not)."""
    if type(value) is not int or value < 0:
        raise ResultFileError(
            f"{path}: {name} is {_shown(value)}; a count must be a whole number >= 0"
        )


_UNIT_CHECKS: dict[str, Callable[[Path, str, Any], None]] = {
    "fraction": _check_fraction,
    "count": _check_count,
}
"""The check of a value of each unit that :meth:`RetrievalResult.to_dict
<seqsim.result.RetrievalResult.to_dict>` writes."""


def _check_pairs(path: Path, data: Mapping[str, Any], units: Mapping[str, str]) -> None:
    """Every pair: its fields, its languages (each pair once) and its values."""
    pairs = data["pairs"]
    columns = list(pairs[0])
    multi_positive = bool(data["settings"].get("multi_positive"))
    seen: dict[tuple[str, str], int] = {}
    for number, pair in enumerate(pairs):
        _check_pair_fields(path, number, pair, columns)
        key = _check_pair_languages(path, number, pair, data["languages"])
        if key in seen:
            raise ResultFileError(
                f"{path}: {_field('pairs', number)} repeats the pair {_pair_name(key)} of "
                f"{_field('pairs', seen[key])}"
            )
        seen[key] = number
        for column, unit in units.items():
            _UNIT_CHECKS[unit](path, _field("pairs", number, column), pair[column])
        _check_pair_counts(path, number, pair, multi_positive)


def _check_pair_languages(
    path: Path, number: int, pair: Mapping[str, Any], languages: list[str]
) -> tuple[str, str]:
    """The pair's query language is one of ``languages``, its candidate language another one
    (or ``"pooled"``); returns the two."""
    query_lang, candidate_lang = (pair[label] for label in LABELS)
    for label, allowed in zip(LABELS, (languages, [*languages, POOLED]), strict=True):
        if pair[label] not in allowed or type(pair[label]) is not str:
            raise ResultFileError(
                f"{path}: {_field('pairs', number, label)} is {_shown(pair[label])}, not one "
                f"of {_shown(allowed)}"
            )
    if query_lang == candidate_lang:
        raise ResultFileError(
            f"{path}: {_field('pairs', number)} pairs {_shown(query_lang)} with itself; a "
            "query's candidates are in another language"
        )
    return query_lang, candidate_lang


def _check_pair_counts(
    path: Path, number: int, pair: Mapping[str, Any], multi_positive: bool
) -> None:
    """A chance above 0 and, with one recording per sentence, no more queries than
    candidates (every language then holds each sentence once)."""
    if "chance" in pair and pair["chance"] == 0:
        raise ResultFileError(
            f"{path}: {_field('pairs', number, 'chance')} is 0; every query has a correct "
            "candidate, so chance must lie in (0, 1]"
        )
    if not multi_positive and "n" in pair and "candidates" in pair:
        if pair["n"] > pair["candidates"]:
            raise ResultFileError(
                f"{path}: {_field('pairs', number, 'n')} is {pair['n']}, more than its "
                f"{pair['candidates']} candidates; only several recordings of a sentence "
                "(settings multi_positive) give a pair more queries than candidates"
            )


def _check_means(
    path: Path, means: Mapping[str, Any], pairs: list[Mapping[str, Any]], measures: list[str]
) -> None:
    """``mean`` holds each measure's mean over the pairs of two languages."""
    language_pairs = [pair for pair in pairs if pair[LABELS[1]] != POOLED]
    if not language_pairs:
        raise ResultFileError(
            f"{path}: pairs holds pooled rows only; a result has a pair of two languages"
        )
    extra = [name for name in means if name not in measures]
    if extra:
        raise ResultFileError(
            f"{path}: mean holds {_shown(extra[0])}, which is not one of {', '.join(measures)}"
        )
    for measure in measures:
        if measure not in means:
            raise ResultFileError(f"{path}: mean lacks {_shown(measure)}")
        name = _field("mean", measure)
        _check_fraction(path, name, means[measure])
        expected = math.fsum(pair[measure] for pair in language_pairs) / len(language_pairs)
        if not math.isclose(means[measure], expected, rel_tol=1e-9, abs_tol=1e-12):
            raise ResultFileError(
                f"{path}: {name} is {_shown(means[measure])}, but the mean of the pairs' "
                f"{measure} (pooled rows left out) is {expected!r}"
            )


def _check_utterances(path: Path, utterances: Mapping[str, Any]) -> None:
    """Each utterance's media is an object of texts, of the fields a report shows."""
    for key, media in utterances.items():
        _check_kind(path, _field("utterances", key), media, {})
        for name, value in media.items():
            if name not in MEDIA_FIELDS:
                raise ResultFileError(
                    f"{path}: {_field('utterances', key, name)} is not one of "
                    f"{', '.join(MEDIA_FIELDS)}"
                )
            _check_kind(path, _field("utterances", key, name), value, "")


def _listed_by_its_run(path: Path) -> bool:
    """Whether the run record of the report that holds ``path`` lists it: the record of its
    folder, or of the folder above (a report of several results)."""
    path = path.absolute()
    for folder, name in (
        (path.parent, path.name),
        (path.parent.parent, f"{path.parent.name}/{path.name}"),
    ):
        if (folder / RUN_RECORD).exists():
            return name in read_run_record(folder)["files"]
    return False


def _parse_ranks(path: Path) -> pd.DataFrame:
    """The table in ``ranks.csv``, ids and sentences as text (``NA`` and ``007`` stay)."""
    try:
        if path.is_file() and path.stat().st_size <= 2 and path.read_text() in _EMPTY_TABLES:
            return pd.DataFrame()
        return pd.read_csv(path, dtype=dict.fromkeys(RANK_TEXT_COLUMNS, str), keep_default_na=False)
    except (OSError, ValueError) as error:  # pandas' parser errors are ValueErrors
        raise ResultFileError(f"{path}: unreadable ({error})") from None


def _check_rank_columns(path: Path, ranks: pd.DataFrame) -> None:
    """Every column of :data:`RANK_COLUMNS`, and no column a ranks.csv does not have."""
    known = tuple(dict.fromkeys((*RANK_COLUMNS, *RANK_SCORE_COLUMNS, *RANK_TEXT_COLUMNS)))
    absent = [column for column in RANK_COLUMNS if column not in ranks.columns]
    if absent:
        raise ResultFileError(
            f"{path}: lacks the column {absent[0]!r}; a ranks.csv has {', '.join(known)}"
        )
    extra = [column for column in ranks.columns if column not in known]
    if extra:
        raise ResultFileError(
            f"{path}: has the column {extra[0]!r}; a ranks.csv has {', '.join(known)}"
        )


def _rank_groups(ranks: pd.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    """The row positions of each (query language, candidate language) pair's ranks."""
    groups = ranks.groupby(list(LABELS), sort=False, dropna=False).indices
    return {(str(q), str(c)): rows for (q, c), rows in groups.items()}


def _pairs_by_key(results: Mapping[str, Any]) -> dict[tuple[str, str], tuple[int, Any]]:
    """Each pair of ``results.json`` and its number, by (query language, candidate language)."""
    return {
        (pair[LABELS[0]], pair[LABELS[1]]): (number, pair)
        for number, pair in enumerate(results["pairs"])
    }


def _candidate_count(pair: Mapping[str, Any], languages: list[str]) -> float:
    """The candidates of a pair: its ``candidates``; without sentences, the ``n`` sentences
    of a language, or of every other language for a pooled row; unknown (inf) without n."""
    if "candidates" in pair:
        return pair["candidates"]
    if "n" not in pair:
        return math.inf
    return pair["n"] * (len(languages) - 1 if pair[LABELS[1]] == POOLED else 1)


def _check_rank_values(path: Path, ranks: pd.DataFrame, results: Mapping[str, Any]) -> None:
    """Every rank is of a pair of ``results.json`` and a whole number from 1 to its number of
    candidates, or inf (a miss) for a search through an index."""
    pairs = _pairs_by_key(results)
    values = pd.to_numeric(ranks["rank"], errors="coerce").to_numpy(dtype=float)
    misses = results["settings"].get("search") == "index"
    for key, rows in _rank_groups(ranks).items():
        if key not in pairs:
            raise ResultFileError(
                f"{path}: line {rows[0] + 2} ranks the pair {_pair_name(key)}, which "
                f"{RESULTS_FILE} beside it does not hold"
            )
        bound = _candidate_count(pairs[key][1], results["languages"])
        rank = values[rows]
        whole = np.isfinite(rank) & (rank == np.round(rank)) & (rank >= 1) & (rank <= bound)
        bad = ~whole & ~(misses & np.isposinf(rank))
        if bad.any():
            row = rows[np.argmax(bad)]
            allowed = " (or inf, a miss of the index)" if misses else ""
            raise ResultFileError(
                f'{path}: line {row + 2} "rank" is {_cell(ranks["rank"].iloc[row])}; a rank '
                f"is a whole number from 1 to the {_cell(bound)} candidates of "
                f"{_pair_name(key)}{allowed}"
            )


def _check_rank_pairs(path: Path, ranks: pd.DataFrame, results: Mapping[str, Any]) -> None:
    """Each pair has ``n`` ranks, and they give its measures again."""
    groups = _rank_groups(ranks)
    values = ranks["rank"].to_numpy(dtype=float)
    for key, (number, pair) in _pairs_by_key(results).items():
        rows = groups.get(key, np.array([], dtype=int))
        if "n" in pair and len(rows) != pair["n"]:
            raise ResultFileError(
                f"{path}: holds {len(rows)} ranks of {_pair_name(key)}, but "
                f"{_field('pairs', number, 'n')} in {RESULTS_FILE} beside it is {pair['n']}"
            )
        if not len(rows):
            continue
        given = retrieval_measures(values[rows])
        for measure in MEASURES:
            if not math.isclose(given[measure], pair[measure], rel_tol=1e-9, abs_tol=1e-12):
                raise ResultFileError(
                    f"{path}: the ranks of {_pair_name(key)} give {measure} "
                    f"{given[measure]!r}, but {_field('pairs', number, measure)} in "
                    f"{RESULTS_FILE} beside it is {pair[measure]!r}"
                )


def _check_rank_scores(path: Path, ranks: pd.DataFrame) -> None:
    """Scores, where the file has them, are finite numbers that agree with the ranks: a query
    at rank 1 has no wrong candidate above its correct one, any other has one at least as
    good."""
    present = [column for column in RANK_SCORE_COLUMNS if column in ranks.columns]
    if not present:
        return
    if len(present) < len(RANK_SCORE_COLUMNS) or "wrong" not in ranks.columns:
        absent = [c for c in (*RANK_SCORE_COLUMNS, "wrong") if c not in ranks.columns]
        raise ResultFileError(
            f"{path}: has {present[0]!r} but lacks the column {absent[0]!r}; the scores come "
            "together"
        )
    scores = {
        column: pd.to_numeric(ranks[column], errors="coerce").to_numpy(dtype=float)
        for column in RANK_SCORE_COLUMNS
    }
    unnamed = ranks["wrong"].isna() | (ranks["wrong"].astype(str) == "")  # read back: ""
    no_wrong = unnamed.to_numpy() & np.isnan(scores["wrong_score"])
    for column, values in scores.items():
        bad = ~np.isfinite(values) & ~(no_wrong if column == "wrong_score" else False)
        if bad.any():
            row = int(np.argmax(bad))
            raise ResultFileError(
                f'{path}: line {row + 2} "{column}" is {_cell(ranks[column].iloc[row])}; a '
                "score is a finite number"
            )
    score, wrong_score = scores["score"], scores["wrong_score"]
    rank = pd.to_numeric(ranks["rank"], errors="coerce").to_numpy(dtype=float)
    first, later = rank == 1, (rank > 1) & np.isfinite(rank) & ~no_wrong
    disagree = (first & (wrong_score > score)) | (later & (wrong_score < score))
    if disagree.any():
        row = int(np.argmax(disagree))
        raise ResultFileError(
            f'{path}: line {row + 2} "rank" is {_cell(ranks["rank"].iloc[row])}, but its '
            f"correct candidate scores {_cell(score[row])} and its best wrong one "
            f"{_cell(wrong_score[row])} (rank 1 exactly when no wrong candidate scores higher)"
        )
