"""RetrievalResult.load checks what it reads (issue 20, defect 3): a real report written by
write_report, damaged one field at a time, is refused with a ResultFileError that names the
file and the field; an undamaged one still loads equal to the result written."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from helpers import random_sequences

from seqsim import PackedSequences
from seqsim.evaluation import RetrievalResult, evaluate_embeddings
from seqsim.evaluation_options import ScoringOptions, SearchOptions
from seqsim.report import write_report, write_reports
from seqsim.result_file import ResultFileError

LANGUAGES = ("en", "fr", "de")
SENTENCES = ("s1", "s2", "s3", "s4")


def packed(sequences):
    return PackedSequences.from_lengths(np.concatenate(sequences), [len(s) for s in sequences])


def sentence_result(**options):
    """Three languages, four sentences with their utterance ids: the summary has candidates (4)
    and chance (1/4), the ranks sentence columns; noisy frames, so that some ranks are above 1."""
    rng = np.random.default_rng(5)
    source = random_sequences(rng, len(SENTENCES), 6, min_len=2, max_len=5)
    embeddings, sentences = {}, {}
    for lang in LANGUAGES:
        noisy = [s + 1.2 * rng.standard_normal(s.shape).astype(np.float32) for s in source]
        embeddings[lang] = ([f"{lang}-{s}" for s in SENTENCES], packed(noisy))
        sentences[lang] = list(SENTENCES)
    return evaluate_embeddings(embeddings, "seqsim", sentences=sentences, **options)


def multi_positive_result():
    """en holds three recordings of s1: en→fr has 4 queries and 2 candidates."""
    rng = np.random.default_rng(6)
    s1, s2 = random_sequences(rng, 2, 5, min_len=2, max_len=4)
    embeddings = {
        "en": (["a", "b", "c", "d"], packed([s1, s1 + 0.1, s1 - 0.1, s2])),
        "fr": (["e", "f"], packed([s1, s2])),
    }
    sentences = {"en": ["s1", "s1", "s1", "s2"], "fr": ["s1", "s2"]}
    return evaluate_embeddings(embeddings, "seqsim", sentences=sentences)


def index_result():
    """A search through an index with a shortlist of 1 over unrelated frames: some queries are
    missed (rank inf) and the rows pooled over the other languages are there too."""
    rng = np.random.default_rng(7)
    ids = [f"s{i}" for i in range(6)]
    embeddings = {
        lang: (ids, packed(random_sequences(rng, len(ids), 4, min_len=2, max_len=4)))
        for lang in ("en", "fr", "de")
    }
    return evaluate_embeddings(embeddings, "seqsim", search=SearchOptions("index", 1))


@pytest.fixture(scope="module")
def result():
    made = sentence_result(scoring=ScoringOptions(bootstrap=10, seed=1), settings={"layer": 0})
    ranks = made.ranks[(made.ranks.query_lang == "en") & (made.ranks.candidate_lang == "fr")]
    assert 1 in set(ranks["rank"]) and max(ranks["rank"]) > 1  # what the damages below need
    assert list(made.summary["candidates"]) == [4] * 6
    return made


@pytest.mark.parametrize(
    "written",
    [
        pytest.param(
            lambda: sentence_result(scoring=ScoringOptions(bootstrap=10, seed=1)),
            id="sentences-bootstrap",
        ),
        pytest.param(lambda: sentence_result(scoring=ScoringOptions("csls", k=2)), id="csls"),
        pytest.param(multi_positive_result, id="multi-positive-more-queries-than-candidates"),
        pytest.param(index_result, id="index-with-misses-and-pooled-rows"),
    ],
)
def test_an_undamaged_report_loads_equal(tmp_path, written):
    result = written()
    write_report(result, tmp_path / "report")
    assert RetrievalResult.load(tmp_path / "report") == result


def test_the_fixture_results_have_what_the_checks_are_about():
    multi = multi_positive_result().summary.set_index(["query_lang", "candidate_lang"])
    assert multi.loc[("en", "fr"), "n"] == 4 and multi.loc[("en", "fr"), "candidates"] == 2
    ranks = index_result().ranks["rank"]
    assert math.inf in set(ranks) and 1.0 in set(ranks)


def test_a_result_without_ranks_and_a_results_json_alone_load(tmp_path, result):
    without_ranks = RetrievalResult(
        result.languages, result.summary, pd.DataFrame(), result.settings
    )
    write_report(without_ranks, tmp_path / "report")
    assert (tmp_path / "report" / "ranks.csv").read_text() == "\n"
    assert RetrievalResult.load(tmp_path / "report") == without_ranks
    alone = tmp_path / "alone" / "results.json"  # written by hand: no run record, no ranks.csv
    alone.parent.mkdir()
    alone.write_text(json.dumps(result.to_dict()))
    loaded = RetrievalResult.load(alone)
    assert loaded.ranks.empty and loaded.summary.equals(result.summary)


# damages of results.json: (change to the parsed JSON, what the message says after "<path>: ")


def put(*keys_and_value):
    *keys, value = keys_and_value

    def damage(data):
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value

    return damage


def drop(*keys):
    def damage(data):
        for key in keys[:-1]:
            data = data[key]
        del data[keys[-1]]

    return damage


def append_copy_of_first_pair(data):
    data["pairs"].append(dict(data["pairs"][0]))


JSON_DAMAGES = {
    "schema-true": (put("schema", True), "schema is true; a schema version is a whole number"),
    "schema-text": (put("schema", "1"), 'schema is "1"; a schema version is a whole number'),
    "schema-zero": (put("schema", 0), "schema is 0; a schema version is a whole number >= 1"),
    "schema-newer": (put("schema", 2), "results schema 2; this seqsim reads schema 1 or older"),
    "r@1-above-1": (
        put("pairs", 3, "r@1", 1.7),
        'pairs[3]["r@1"] is 1.7; a fraction must lie in [0, 1]',
    ),
    "r@5-negative": (
        put("pairs", 1, "r@5", -0.25),
        'pairs[1]["r@5"] is -0.25; a fraction must lie in [0, 1]',
    ),
    "mrr-nan": (put("pairs", 2, "mrr", math.nan), 'pairs[2]["mrr"] is NaN; a fraction'),
    "r@10-inf": (put("pairs", 0, "r@10", math.inf), 'pairs[0]["r@10"] is Infinity; a fraction'),
    "r@1-null": (put("pairs", 4, "r@1", None), 'pairs[4]["r@1"] is null; a fraction'),
    "r@1-text": (put("pairs", 4, "r@1", "0.5"), 'pairs[4]["r@1"] is "0.5"; a fraction'),
    "ci-above-1": (put("pairs", 5, "ci_high", 1.25), 'pairs[5]["ci_high"] is 1.25; a fraction'),
    "chance-above-1": (put("pairs", 0, "chance", 4.0), 'pairs[0]["chance"] is 4.0; a fraction'),
    "chance-zero": (put("pairs", 0, "chance", 0.0), 'pairs[0]["chance"] is 0; every query has'),
    "n-negative": (
        put("pairs", 1, "n", -4),
        'pairs[1]["n"] is -4; a count must be a whole number >= 0',
    ),
    "n-float": (put("pairs", 1, "n", 4.0), 'pairs[1]["n"] is 4.0; a count must be a whole'),
    "candidates-bool": (
        put("pairs", 1, "candidates", True),
        'pairs[1]["candidates"] is true; a count must be a whole number',
    ),
    "n-above-candidates": (
        put("pairs", 2, "n", 5),
        'pairs[2]["n"] is 5, more than its 4 candidates',
    ),
    "r@1-missing-in-a-pair": (drop("pairs", 3, "r@1"), 'pairs[3] lacks "r@1"'),
    "r@1-missing-everywhere": (
        lambda data: [pair.pop("r@1") for pair in data["pairs"]],
        'pairs[0] lacks "r@1"',
    ),
    "field-of-one-pair-only": (
        put("pairs", 3, "r@20", 0.5),
        'pairs[3] holds "r@20", which pairs[0] lacks',
    ),
    "field-without-unit": (put("pairs", 0, "r@20", 0.5), 'units lacks "r@20"'),
    "unit-wrong": (put("units", "r@1", "count"), 'units["r@1"] is "count"; r@1 is a fraction'),
    "unit-missing": (drop("units", "n"), 'units lacks "n"'),
    "unit-of-no-column": (put("units", "r@20", "fraction"), 'units["r@20"] names no column'),
    "languages-missing": (drop("languages"), "not a results.json, it lacks languages"),
    "mean-missing": (drop("mean"), "not a results.json, it lacks mean"),
    "pairs-an-object": (put("pairs", {}), "pairs is {}; a results.json holds a list there"),
    "pairs-empty": (put("pairs", []), "pairs is empty; a result has a pair of languages"),
    "pair-a-list": (put("pairs", 2, [1, 2]), "pairs[2] is [1, 2]; a results.json holds an object"),
    "pair-twice": (
        append_copy_of_first_pair,
        'pairs[6] repeats the pair ("en", "fr") of pairs[0]',
    ),
    "unknown-language": (
        put("pairs", 1, "candidate_lang", "xx"),
        'pairs[1]["candidate_lang"] is "xx", not one of ["en", "fr", "de", "pooled"]',
    ),
    "language-with-itself": (
        put("pairs", 0, "candidate_lang", "en"),
        'pairs[0] pairs "en" with itself',
    ),
    "language-twice": (put("languages", 2, "en"), 'languages[2] repeats "en"'),
    "mean-not-of-pairs": (
        put("mean", "r@1", 0.0123),
        'mean["r@1"] is 0.0123, but the mean of the pairs\' r@1',
    ),
    "mean-above-1": (put("mean", "mrr", 1.5), 'mean["mrr"] is 1.5; a fraction must lie in'),
    "mean-unknown-measure": (put("mean", "r@20", 0.5), 'mean holds "r@20", which is not one of'),
    "settings-a-list": (put("settings", []), "settings is []; a results.json holds an object"),
    "settings-edited": (
        put("settings", "metric", "dtw"),
        "but the settings hash to",
    ),
    "diagnostics-negative": (
        put("diagnostics", {"pairs": -1}),
        'diagnostics["pairs"] is -1; a count must be a whole number >= 0',
    ),
    "failure-a-text": (put("failures", ["en/s9"]), 'failures[0] is "en/s9"; a results.json holds'),
}


def refusal(path):
    """The message of the ResultFileError that loading ``path`` raises."""
    with pytest.raises(ResultFileError) as caught:
        RetrievalResult.load(path)
    return str(caught.value)


@pytest.mark.parametrize(("damage", "expected"), JSON_DAMAGES.values(), ids=list(JSON_DAMAGES))
def test_a_damaged_results_json_is_refused_naming_file_and_field(
    tmp_path, result, damage, expected
):
    files = write_report(result, tmp_path / "report")
    data = json.loads(files["results.json"].read_text())
    damage(data)
    files["results.json"].write_text(json.dumps(data))
    message = refusal(tmp_path / "report")
    assert message.startswith(f"{files['results.json']}: "), message
    assert expected in message, message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("{'schema': 1}", "not JSON", id="not-json"),
        pytest.param("[1, 2]", "not a results.json (a JSON object was expected)", id="a-list"),
        pytest.param('{"schema": 1, "pairs": []}', "it lacks units, settings", id="parts-missing"),
    ],
)
def test_a_results_json_that_is_no_result_is_refused(tmp_path, result, text, expected):
    files = write_report(result, tmp_path / "report")
    files["results.json"].write_text(text)
    message = refusal(files["results.json"])
    assert message.startswith(f"{files['results.json']}: ") and expected in message, message


# damages of ranks.csv: (change to its lines, what the message says after "<path>: "); a change
# returns the number of the line it changed, which the message names


def first_line(lines, rank):
    """The index in ``lines`` of the first en→fr rank equal to ``rank`` (line 1 is the header)."""
    return next(
        i
        for i, line in enumerate(lines)
        if line.startswith("en,fr,") and line.split(",")[3] == rank
    )


def with_rank(value, instead_of="1"):
    def damage(lines):
        index = first_line(lines, instead_of)
        cells = lines[index].split(",")
        cells[3] = value
        lines[index] = ",".join(cells)
        return index + 1

    return damage


def with_pair(candidate_lang):
    def damage(lines):
        index = first_line(lines, "1")
        lines[index] = lines[index].replace("en,fr,", f"en,{candidate_lang},", 1)
        return index + 1

    return damage


def without_a_line(lines):
    del lines[first_line(lines, "1")]


def with_header(header):
    def damage(lines):
        lines[0] = header

    return damage


RANK_BOUND = 'a rank is a whole number from 1 to the 4 candidates of ("en", "fr")'
RANK_DAMAGES = {
    "rank-zero": (with_rank("0"), f'line {{line}} "rank" is 0; {RANK_BOUND}'),
    "rank-negative": (with_rank("-2"), f'line {{line}} "rank" is -2; {RANK_BOUND}'),
    "rank-above-candidates": (with_rank("5"), f'line {{line}} "rank" is 5; {RANK_BOUND}'),
    "rank-fractional": (with_rank("1.5"), f'line {{line}} "rank" is 1.5; {RANK_BOUND}'),
    "rank-text": (with_rank("first"), f'line {{line}} "rank" is "first"; {RANK_BOUND}'),
    "rank-empty": (with_rank(""), f'line {{line}} "rank" is ""; {RANK_BOUND}'),
    "rank-inf-without-index": (with_rank("inf"), f'line {{line}} "rank" is inf; {RANK_BOUND}'),
    "pair-not-in-results": (
        with_pair("xx"),
        'line {line} ranks the pair ("en", "xx"), which results.json beside it does not hold',
    ),
    "a-rank-missing": (
        without_a_line,
        'holds 3 ranks of ("en", "fr"), but pairs[0]["n"] in results.json beside it is 4',
    ),
    "rank-column-renamed": (
        with_header("query_lang,candidate_lang,id,position,retrieved,sentence,retrieved_sentence"),
        "lacks the column 'rank'",
    ),
    "unknown-column": (
        with_header(
            "query_lang,candidate_lang,id,rank,retrieved,score,wrong,wrong_score,sentence,"
            "retrieved_sentence,weight"
        ),
        "has the column 'weight'",
    ),
}


@pytest.mark.parametrize(("damage", "expected"), RANK_DAMAGES.values(), ids=list(RANK_DAMAGES))
def test_a_damaged_ranks_csv_is_refused_naming_file_and_line(tmp_path, result, damage, expected):
    files = write_report(result, tmp_path / "report")
    lines = files["ranks.csv"].read_text().splitlines()
    line = damage(lines)
    files["ranks.csv"].write_text("\n".join(lines) + "\n")
    message = refusal(tmp_path / "report")
    assert message.startswith(f"{files['ranks.csv']}: "), message
    assert expected.format(line=line) in message, message


def test_ranks_that_disagree_with_the_r_at_1_of_their_pair_are_refused(tmp_path, result):
    files = write_report(result, tmp_path / "report")
    lines = files["ranks.csv"].read_text().splitlines()
    ones = sum(line.startswith("en,fr,") and line.split(",")[3] == "1" for line in lines)
    with_rank("2")(lines)  # one hit of en→fr becomes a second place: R@1 falls by 1/4
    files["ranks.csv"].write_text("\n".join(lines) + "\n")
    message = refusal(tmp_path / "report")
    written = json.loads(files["results.json"].read_text())["pairs"][0]["r@1"]
    assert written == ones / 4
    assert message == (
        f'{files["ranks.csv"]}: the ranks of ("en", "fr") give r@1 {(ones - 1) / 4!r}, but '
        f'pairs[0]["r@1"] in results.json beside it is {written!r}'
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"", "unreadable", id="empty-file"),
        pytest.param(b"\xff\xfe\x00\x81garbage\n\x00", "unreadable", id="binary"),
        pytest.param(b'query_lang,"candidate\n', "unreadable", id="unclosed-quote"),
        pytest.param(b"just some words\nand more\n", "lacks the column 'query_lang'", id="text"),
    ],
)
def test_an_unreadable_or_garbage_ranks_csv_is_refused(tmp_path, result, content, expected):
    files = write_report(result, tmp_path / "report")
    files["ranks.csv"].write_bytes(content)
    message = refusal(tmp_path / "report")
    assert message.startswith(f"{files['ranks.csv']}: ") and expected in message, message


def test_a_missing_ranks_csv_is_refused_where_the_run_listed_it(tmp_path, result):
    files = write_report(result, tmp_path / "report")
    files["ranks.csv"].unlink()
    assert refusal(tmp_path / "report") == (
        f"{files['ranks.csv']}: missing, though the run that wrote the report listed it"
    )
    grid = write_reports({("seqsim", 0): result, ("avgsim", 0): result}, tmp_path / "grid")
    inner = grid.folders[("avgsim", 0)]
    assert RetrievalResult.load(inner) == result
    (inner / "ranks.csv").unlink()  # listed in the record of the folder above
    assert refusal(inner) == (
        f"{inner / 'ranks.csv'}: missing, though the run that wrote the report listed it"
    )


def test_a_miss_is_a_rank_only_for_a_search_through_an_index(tmp_path):
    result = index_result()
    files = write_report(result, tmp_path / "report")
    lines = files["ranks.csv"].read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.split(",")[3] == "inf")
    query_lang, candidate_lang = lines[index].split(",")[:2]
    lines[index] = lines[index].replace(",inf,", ",0.0,")
    files["ranks.csv"].write_text("\n".join(lines) + "\n")
    candidates = 6 * (2 if candidate_lang == "pooled" else 1)
    assert f'line {index + 1} "rank" is 0.0; a rank is a whole number from 1 to the ' in (
        message := refusal(tmp_path / "report")
    )
    assert (
        f'{candidates} candidates of ("{query_lang}", "{candidate_lang}") (or inf, a miss of '
        "the index)" in message
    )
