"""Manifests are read strictly: one row per non-blank line, and every fault a one-line
``CorpusError`` naming ``file:line``, both from the API and from ``seqsim embed``."""

import codecs
import csv
import json

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from seqsim.cli import main
from seqsim.corpus import Corpus, CorpusError, Utterance, read_manifest

TSV_HEADER = "id\tlang\tpath\ttext"
CSV_HEADER = "id,lang,path,text"
TSV_COLUMNS = "4 (id, lang, path, text)"
LONG = "x" * 200_000
ROW = '"lang": "en", "path": "a.wav"'
"""The rest of a JSONL object after its id."""


@pytest.fixture
def folder(tmp_path):
    """A folder with (empty) audio files a.wav ... e.wav, which is all a manifest checks."""
    for name in "abcde":
        (tmp_path / f"{name}.wav").touch()
    return tmp_path


def write(folder, name, lines, *, newline="\n", bom=False):
    """A manifest of exactly ``lines`` (UTF-8), each ended by ``newline``."""
    path = folder / name
    text = "".join(line + newline for line in lines)
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8"))
    return path


def embed(path):
    """``seqsim embed`` on ``path``: it reads the manifest before looking for the model."""
    store = path.parent / "store"
    args = ["embed", str(path), "--model", "nonexistent", "--out", str(store)]
    return CliRunner().invoke(main, args)


def refused(path, line, message):
    """The API and the CLI both refuse ``path`` with the one line ``path:line: message``."""
    expected = f"{path}:{line}: {message}"
    with pytest.raises(CorpusError) as caught:
        read_manifest(path)
    assert str(caught.value) == expected
    result = embed(path)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.splitlines() == [f"Error: {expected}"]


def texts(corpus):
    return [(u.id, u.text) for u in corpus.utterances]


# 1. Quoting: TSV has none; CSV quotes end on their line; every row has the header's fields.


@pytest.mark.parametrize("text", ['"Hello', 'Hello"', '"Hello, world"', '"a "b" c', '""', '"'])
def test_tsv_quotes_are_plain_characters(folder, text):
    lines = [
        TSV_HEADER,
        f"1\ten\ta.wav\t{text}",
        "2\ten\tb.wav\ttwo",
        f"3\ten\tc.wav\t{text}",
        "4\ten\td.wav\tfour",
        "5\ten\te.wav\tfive",
    ]
    corpus = read_manifest(write(folder, "c.tsv", lines))
    assert texts(corpus) == [("1", text), ("2", "two"), ("3", text), ("4", "four"), ("5", "five")]


def test_tsv_quote_in_an_id(folder):
    corpus = read_manifest(write(folder, "c.tsv", [TSV_HEADER, '"1\ten\ta.wav\t"one"']))
    assert texts(corpus) == [('"1', '"one"')]


def test_a_field_count_other_than_the_header_s(folder):
    path = write(folder, "corpus.tsv", ["id\tlang\tpath", "1\ten\ta.wav", "", "2\ten\tb.wav\tx"])
    refused(path, 4, "4 fields, but the header has 3 (id, lang, path)")


@pytest.mark.parametrize(
    ("row", "count"),
    [
        ("1\ten\ta.wav\tone\textra", 5),
        ("1\ten\ta.wav\tone\t", 5),
        ("1\ten\ta.wav", 3),
        ("1 en a.wav one", 1),
        ('"1\ten\ta.wav', 3),
    ],
)
def test_tsv_rows_must_have_the_header_s_fields(folder, row, count):
    path = write(folder, "c.tsv", [TSV_HEADER, "2\ten\tb.wav\ttwo", row, "3\ten\tc.wav\tx"])
    refused(path, 3, f"{count} fields, but the header has {TSV_COLUMNS}")


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        ('"Hello, world"', "Hello, world"),
        ('"say ""hi"""', 'say "hi"'),
        ('Hello "world"', 'Hello "world"'),
        ('"tab\tinside"', "tab\tinside"),
        ('"a,b,c,d"', "a,b,c,d"),
    ],
)
def test_csv_quoting_within_a_line(folder, cell, text):
    lines = [CSV_HEADER, f"1,en,a.wav,{cell}", "2,en,b.wav,two", f"3,en,c.wav,{cell}"]
    corpus = read_manifest(write(folder, "c.csv", lines))
    assert texts(corpus) == [("1", text), ("2", "two"), ("3", text)]


@pytest.mark.parametrize(
    ("cell", "error"),
    [
        ('"Hello', "unexpected end of data"),
        ('"Hello, world', "unexpected end of data"),
        ('"Hello" world', "',' expected after '\"'"),
        ('"a""', "unexpected end of data"),
    ],
)
def test_csv_unbalanced_quotes_are_refused(folder, cell, error):
    path = write(
        folder, "c.csv", [CSV_HEADER, "2,en,b.wav,two", f"1,en,a.wav,{cell}", "3,en,c.wav"]
    )
    refused(path, 3, f"bad CSV quoting ({error}); a quoted field must end on its line")


def test_csv_quoted_field_may_not_span_lines(folder):
    lines = [CSV_HEADER, '1,en,a.wav,"Hello', 'world"', "2,en,b.wav,two", "3,en,c.wav,three"]
    path = write(folder, "c.csv", lines)
    refused(
        path, 2, "bad CSV quoting (unexpected end of data); a quoted field must end on its line"
    )


@pytest.mark.parametrize(("row", "count"), [("1,en,a.wav,Hello, world", 5), ("1,en,a.wav", 3)])
def test_csv_rows_must_have_the_header_s_fields(folder, row, count):
    path = write(folder, "c.csv", [CSV_HEADER, row])
    refused(path, 2, f"{count} fields, but the header has {TSV_COLUMNS}")


# 2. Encoding and header: BOM accepted, odd column names visible, repeats refused, UTF-8 only.


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        ("c.tsv", [TSV_HEADER, "1\ten\ta.wav\tone"]),
        ("c.csv", [CSV_HEADER, "1,en,a.wav,one"]),
        ("c.jsonl", ['{"id": "1", "lang": "en", "path": "a.wav", "text": "one"}']),
    ],
)
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_byte_order_mark_is_accepted(folder, name, lines, newline):
    corpus = read_manifest(write(folder, name, lines, newline=newline, bom=True))
    assert [(u.id, u.lang, u.text) for u in corpus.utterances] == [("1", "en", "one")]


@pytest.mark.parametrize(
    ("header", "missing", "found"),
    [
        ("id\u200b\tlang\tpath", "id", "'id\\u200b', lang, path"),
        ("id\tlang \tpath", "lang", "id, 'lang ', path"),
        ("id\t lang\tpath", "lang", "id, ' lang', path"),
        ("id\tlang\xa0\tpath", "lang", "id, 'lang\\xa0', path"),
        ("\ufeff\ufeffid\tlang\tpath", "id", "'\\ufeffid', lang, path"),
        ("ID\tLang\tpath", "id, lang", "ID, Lang, path"),
    ],
)
def test_missing_columns_show_odd_names(folder, header, missing, found):
    path = write(folder, "c.tsv", [header, "1\ten\ta.wav"])
    refused(path, 1, f"missing column(s) {missing}; found {found}")


@pytest.mark.parametrize(
    ("name", "header", "separator"),
    [("c.tsv", "id,lang,path", "tab"), ("c.csv", "id;lang;path", "comma")],
)
def test_a_header_of_one_column_hints_at_the_separator(folder, name, header, separator):
    path = write(folder, name, ["", header, "1"])
    message = f"missing column(s) id, lang, path; found '{header}' (a .{name[2:]} manifest is "
    refused(path, 2, message + f"{separator}-separated)")


@pytest.mark.parametrize(
    ("header", "repeated"),
    [
        ("id\tlang\tpath\tid", "id"),
        ("id\tlang\tpath\ttext\ttext\tlang", "lang, text"),
        ("id\tlang\tpath\t\t", "''"),
    ],
)
def test_repeated_columns_are_refused(folder, header, repeated):
    path = write(folder, "c.tsv", [header, "\t".join(["1"] * len(header.split("\t")))])
    refused(path, 1, f"column(s) {repeated} repeated in the header")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("c.tsv", b"id\tlang\tpath\n\n1\ten\ta.wav\ncaf\xe9\ten\tb.wav\n"),
        ("c.csv", b"id,lang,path\r\n\r\n1,en,a.wav\r\n2,en,caf\xe9.wav\r\n"),
        ("c.jsonl", b'{"id": "1", "lang": "en", "path": "a.wav"}\n\n\n{"id": "caf\xe9"}\n'),
        ("c.tsv", codecs.BOM_UTF8 + b"id\tlang\tpath\n\n\n\xe9\ten\ta.wav\n"),
    ],
)
def test_invalid_utf8_names_the_line(folder, name, content):
    path = folder / name
    path.write_bytes(content)
    refused(path, 4, "not valid UTF-8 (byte 0xe9); save the manifest as UTF-8")


# 3. Line numbers are physical lines, blank lines skipped.


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize(
    ("name", "lines", "line"),
    [
        (
            "c.tsv",
            ["", "", TSV_HEADER, "1\ten\ta.wav\tone", "  ", "\t", "2\ten\tnowhere.wav\tx"],
            7,
        ),
        ("c.csv", [CSV_HEADER, "", "1,en,a.wav,one", "", "", "2,en,nowhere.wav,x"], 6),
        ("c.jsonl", ["", '{"id": "1", "lang": "en", "path": "nowhere.wav"}'], 2),
    ],
)
def test_row_numbers_are_physical_lines(folder, name, lines, line, newline):
    """(The CLI records a missing audio file as one failed item instead; see test_faults.py.)"""
    path = write(folder, name, lines, newline=newline)
    with pytest.raises(CorpusError) as caught:
        read_manifest(path)
    assert str(caught.value) == f"{path}:{line}: audio file {folder / 'nowhere.wav'} does not exist"


@pytest.mark.parametrize(
    ("name", "lines", "line"),
    [
        ("c.tsv", [TSV_HEADER, "", "1\ten\ta.wav\tone", " ", "2\t \tb.wav\tx"], 5),
        ("c.csv", ["", CSV_HEADER, "", "2,,b.wav,x"], 4),
        ("c.jsonl", [f'{{"id": "1", {ROW}}}', "", '{"id": "2", "lang": "", "path": "b.wav"}'], 3),
    ],
)
def test_empty_field_after_blank_lines(folder, name, lines, line):
    refused(write(folder, name, lines), line, "empty lang")


def test_duplicates_name_physical_lines(folder):
    path = write(folder, "c.tsv", [TSV_HEADER, "", "1\ten\ta.wav\tx", "", "", "1\ten\tb.wav\ty"])
    with pytest.raises(CorpusError) as caught:
        read_manifest(path)
    assert str(caught.value) == (
        f"duplicate (id, lang) = (1, en) at {path}:3, {path}:6; "
        "each sentence may appear once per language"
    )


# 4. Long fields: no csv field size limit, and the limit is left as it was.


@pytest.mark.parametrize(
    ("name", "row", "text"),
    [
        ("c.tsv", f"1\ten\ta.wav\t{LONG}", LONG),
        ("c.csv", f"1,en,a.wav,{LONG}", LONG),
        ("c.csv", f'1,en,a.wav,"{LONG}, {LONG}"', f"{LONG}, {LONG}"),
        ("c.jsonl", f'{{"id": "1", "lang": "en", "path": "a.wav", "text": "{LONG}"}}', LONG),
    ],
)
def test_long_fields_are_read(folder, name, row, text):
    limit = csv.field_size_limit()
    assert limit < len(text)
    header = {"c.tsv": [TSV_HEADER], "c.csv": [CSV_HEADER], "c.jsonl": []}[name]
    corpus = read_manifest(write(folder, name, [*header, row]))
    assert texts(corpus) == [("1", text)]
    assert csv.field_size_limit() == limit


def test_long_field_then_a_fault_leaves_the_csv_limit(folder):
    limit = csv.field_size_limit()
    path = write(folder, "c.csv", [CSV_HEADER, f"1,en,a.wav,{LONG}", '2,en,b.wav,"open'])
    refused(
        path, 3, "bad CSV quoting (unexpected end of data); a quoted field must end on its line"
    )
    assert csv.field_size_limit() == limit


def test_long_id_in_tsv(folder):
    corpus = read_manifest(write(folder, "c.tsv", ["id\tlang\tpath", f"{LONG}\ten\ta.wav"]))
    assert [u.id for u in corpus.utterances] == [LONG]


# 5. JSONL: an object per line; strings and numbers as values, null absent.


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("[1, 2]", "an array"),
        ("null", "null"),
        ("3", "a number"),
        ("-2.5e3", "a number"),
        ('"x"', "a string"),
        ("true", "a boolean"),
        ('[{"id": "2", "lang": "en", "path": "b.wav"}]', "an array"),
    ],
)
def test_jsonl_line_must_be_an_object(folder, line, kind):
    path = write(folder, "c.jsonl", [f'{{"id": "1", {ROW}}}', line])
    refused(path, 2, f"expected a JSON object {{...}}, found {kind}")


@pytest.mark.parametrize("column", ["id", "lang", "path", "text", "speaker"])
@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ('{"a": 1}', "an object"),
        ("{}", "an object"),
        ('["1"]', "an array"),
        ("true", "a boolean"),
        ("false", "a boolean"),
    ],
)
def test_jsonl_value_must_be_a_string_or_a_number(folder, column, value, kind):
    record = {"id": '"1"', "lang": '"en"', "path": '"a.wav"', column: value}
    line = "{" + ", ".join(f'"{key}": {text}' for key, text in record.items()) + "}"
    path = write(folder, "c.jsonl", ["", line])
    refused(path, 2, f"'{column}' is {kind}; give a string or a number")


def test_jsonl_numbers_as_written_null_absent_extra_keys_ignored(folder):
    lines = [
        '{"id": 1, "lang": "en", "path": "a.wav", "text": 2.50, "speaker": null}',
        '{"id": -0, "lang": "en", "path": "b.wav", "extra": {"x": [1, {"y": null}]}}',
        '{"id": 1e3, "lang": "en", "path": "c.wav", "text": null, "flag": true, "n": [1]}',
        '{"id": "4", "lang": "en", "path": "d.wav", "speaker": 7, "other": {}}',
    ]
    corpus = read_manifest(write(folder, "c.jsonl", lines))
    assert [(u.id, u.text, u.speaker) for u in corpus.utterances] == [
        ("-0", None, None),
        ("1", "2.50", None),
        ("1e3", None, None),
        ("4", None, "7"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f'{{"id": "1", {ROW}', "not valid JSON (Expecting ',' delimiter)"),
        ('{"id": "1",', "not valid JSON (Expecting property name enclosed in double quotes)"),
        (
            f"{{'id': '1', {ROW}}}",
            "not valid JSON (Expecting property name enclosed in double quotes)",
        ),
        (f'{{"id": "1", "id": "2", {ROW}}}', "key(s) id repeated in one object"),
        (f'{{"id": NaN, {ROW}}}', "NaN is not valid JSON"),
        (f'{{"id": "1", {ROW}, "x": -Infinity}}', "-Infinity is not valid JSON"),
        (
            '{"language": "en", "id": "1", "path": "a.wav"}',
            "missing key(s) lang; found language, id, path",
        ),
        (f'{{"id": null, {ROW}}}', "missing key(s) id; found lang, path"),
        ("{}", "missing key(s) id, lang, path; found none"),
    ],
)
def test_bad_jsonl_lines(folder, line, message):
    path = write(folder, "c.jsonl", [f'{{"id": "0", {ROW}}}', "", line])
    refused(path, 3, message)


# 6. Keys round-trip: ``%`` and ``/`` in the language are percent-encoded.


@pytest.mark.parametrize(
    ("lang", "sentence", "key"),
    [
        ("en", "s01", "en/s01"),
        ("en_us", "1", "en_us/1"),
        ("pt/BR", "s01", "pt%2FBR/s01"),
        ("100%", "x", "100%25/x"),
        ("%2F", "x", "%252F/x"),
        ("a/%/b", "x/y/", "a%2F%25%2Fb/x/y/"),
        ("en", "a/b", "en/a/b"),
    ],
)
def test_keys(lang, sentence, key):
    assert Utterance(sentence, lang, None).key == key
    assert Utterance.from_key(key) == Utterance(sentence, lang, None)


@given(st.text(min_size=1), st.text(min_size=1))
def test_keys_round_trip(lang, sentence):
    back = Utterance.from_key(Utterance(sentence, lang, None).key)
    assert (back.lang, back.id, back.path) == (lang, sentence, None)


@given(st.text(min_size=1), st.text(min_size=1), st.text(min_size=1), st.text(min_size=1))
def test_distinct_utterances_have_distinct_keys(lang, sentence, other_lang, other_sentence):
    same = (lang, sentence) == (other_lang, other_sentence)
    first, second = Utterance(sentence, lang, None), Utterance(other_sentence, other_lang, None)
    assert (first.key == second.key) == same


@pytest.mark.parametrize(
    "key", ["en", "", "/1", "en/", "/", "pt%2fBR/1", "100%/1", "a%2/1", "%/x", "a%2Fb"]
)
def test_malformed_keys(key):
    with pytest.raises(CorpusError) as caught:
        Utterance.from_key(key)
    assert str(caught.value) == (
        f"store key {key!r} is not of the form lang/id (both non-empty; in lang, % written %25 "
        "and / written %2F)"
    )


def test_manifest_languages_with_a_slash_round_trip(folder):
    lines = ["id\tlang\tpath", "s01\tpt/BR\ta.wav", "s01\tpt\tb.wav", "s/2\tpt/BR\tc.wav"]
    corpus = read_manifest(write(folder, "c.tsv", lines))
    keys = [key for key, _ in corpus.audio_items()]
    assert sorted(keys) == ["pt%2FBR/s/2", "pt%2FBR/s01", "pt/s01"]
    back = sorted((u.lang, u.id) for u in map(Utterance.from_key, keys))
    assert back == [("pt", "s01"), ("pt/BR", "s/2"), ("pt/BR", "s01")]


# 7. ``parallel`` keeps the report of what it dropped; ``without`` removes utterances.


def corpus_of(sentences, **report):
    """A corpus (no audio) of ``{lang: sentence ids}``."""
    utterances = [Utterance(s, lang, None) for lang, ids in sentences.items() for s in ids]
    return Corpus(utterances, **report)


def keys_of(corpus):
    return sorted(u.key for u in corpus.utterances)


def test_parallel_twice_keeps_the_missing_report():
    corpus = corpus_of({"en": "123", "fr": "12", "de": "13"}, dropped_recordings=2)
    once = corpus.parallel()
    assert keys_of(once) == ["de/1", "en/1", "fr/1"]
    assert once.missing == {"de": ["2"], "fr": ["3"]}
    twice = once.parallel()
    assert keys_of(twice) == ["de/1", "en/1", "fr/1"]
    assert twice.missing == {"de": ["2"], "fr": ["3"]} and twice.dropped_recordings == 2
    subset = once.parallel(["en", "fr"])
    assert keys_of(subset) == ["en/1", "fr/1"] and subset.missing == {"de": ["2"], "fr": ["3"]}


def test_parallel_merges_the_reports_sorted_and_once():
    corpus = corpus_of({"en": "1234", "fr": "12"}, missing={"fr": ["9", "3"], "es": ["5"]})
    assert corpus.parallel().missing == {"fr": ["3", "4", "9"], "es": ["5"]}


def test_without_then_parallel_reports_the_sentences_removed():
    corpus = corpus_of({"en": "123", "fr": "123", "de": "1234"}, dropped_recordings=1).parallel()
    assert corpus.missing == {"en": ["4"], "fr": ["4"]}
    smaller = corpus.without(["fr/2", "de/3", "it/1"])
    assert keys_of(smaller) == ["de/1", "de/2", "en/1", "en/2", "en/3", "fr/1", "fr/3"]
    assert smaller.missing == {"en": ["4"], "fr": ["4"]} and smaller.dropped_recordings == 1
    again = smaller.parallel()
    assert keys_of(again) == ["de/1", "en/1", "fr/1"]
    assert again.missing == {"en": ["4"], "fr": ["2", "4"], "de": ["3"]}
    assert again.dropped_recordings == 1
    assert corpus.without(set()).utterances == corpus.utterances


def test_without_takes_escaped_keys():
    corpus = corpus_of({"pt/BR": "12", "pt": "12"})
    assert keys_of(corpus.without({"pt%2FBR/1"})) == ["pt%2FBR/2", "pt/1", "pt/2"]
    assert corpus.without({"pt%2FBR/1"}).parallel().missing == {"pt/BR": ["1"]}


# 8. Identifiers: surrounding whitespace stripped; control and invisible characters refused.


@pytest.mark.parametrize(
    ("name", "line", "column", "shown", "char"),
    [
        ("c.tsv", "1\x072\ten\ta.wav", "id", "'1\\x072'", "'\\x07'"),
        ("c.tsv", "1\u200b\ten\ta.wav", "id", "'1\\u200b'", "'\\u200b'"),
        ("c.tsv", "\ufeff1\ten\ta.wav", "id", "'\\ufeff1'", "'\\ufeff'"),
        ("c.tsv", "1\te\x85n\ta.wav", "lang", "'e\\x85n'", "'\\x85'"),
        ("c.tsv", "1\te\x00n\ta.wav", "lang", "'e\\x00n'", "'\\x00'"),
        ("c.csv", '"1\t2",en,a.wav', "id", "'1\\t2'", "'\\t'"),
        ("c.csv", '1,"e\x0bn",a.wav', "lang", "'e\\x0bn'", "'\\x0b'"),
        ("c.jsonl", f'{{"id": "a\\nb", {ROW}}}', "id", "'a\\nb'", "'\\n'"),
        ("c.jsonl", f'{{"id": "a\\u2028b", {ROW}}}', "id", "'a\\u2028b'", "'\\u2028'"),
        ("c.jsonl", '{"id": "1", "lang": "e\\tn", "path": "a.wav"}', "lang", "'e\\tn'", "'\\t'"),
    ],
)
def test_identifiers_with_control_characters_are_refused(folder, name, line, column, shown, char):
    header = {"c.tsv": ["id\tlang\tpath"], "c.csv": ["id,lang,path"], "c.jsonl": []}[name]
    path = write(folder, name, [*header, line])
    message = f"{column} {shown} contains {char}, a control or invisible character"
    refused(path, len(header) + 1, message)


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        ("c.tsv", ["id\tlang\tpath", " 1 \t en \ta.wav"]),
        ("c.csv", ["id,lang,path", '" 1\t", en ,a.wav']),
        ("c.jsonl", ['{"id": "\\n1\\t", "lang": "\\u2028en ", "path": "a.wav"}']),
    ],
)
def test_identifiers_are_stripped(folder, name, lines):
    corpus = read_manifest(write(folder, name, lines))
    assert [(u.id, u.lang) for u in corpus.utterances] == [("1", "en")]


# No row lost: N awkward rows give exactly N utterances with exactly those ids.

AWKWARD_IDS = ['"1', '2"', "a/b", "x,y", "ü-ñ", "5 6", "'7'", "#8", "%9"]


def test_no_row_lost_in_tsv(folder):
    lines = [
        TSV_HEADER,
        '"1\ten\ta.wav\t"open quote',
        '2"\ten\ta.wav\tclose quote"',
        "",
        'a/b\ten\ta.wav\t"both"',
        "x,y\ten\ta.wav\tcomma, inside",
        "ü-ñ\ten\ta.wav\tvertical\x0btab, form\x0cfeed, \x1c, next\x85line",
        "5 6\ten\ta.wav\tline\u2028separator",
        "'7'\ten\ta.wav\t'single'",
        "#8\ten\ta.wav\t# not a comment",
        f"%9\ten\ta.wav\t{LONG}",
    ]
    corpus = read_manifest(write(folder, "c.tsv", lines))
    assert len(corpus.utterances) == len(AWKWARD_IDS)
    assert sorted(u.id for u in corpus.utterances) == sorted(AWKWARD_IDS)
    assert corpus.by_language("en")[0].text == '"open quote'


def test_no_row_lost_in_csv(folder):
    lines = [
        CSV_HEADER,
        '"""1",en,a.wav,"""open quote"',
        '2",en,a.wav,close quote"',
        'a/b,en,a.wav,"""both"""',
        '"x,y",en,a.wav,"comma, inside"',
        "",
        "ü-ñ,en,a.wav,vertical\x0btab and next\x85line",
        "5 6,en,a.wav,line\u2028separator",
        "'7',en,a.wav,'single'",
        '#8,en,a.wav,"# not a comment"',
        f"%9,en,a.wav,{LONG}",
    ]
    corpus = read_manifest(write(folder, "c.csv", lines))
    assert len(corpus.utterances) == len(AWKWARD_IDS)
    assert sorted(u.id for u in corpus.utterances) == sorted(AWKWARD_IDS)
    assert corpus.by_language("en")[0].text == '"open quote'


def test_no_row_lost_in_jsonl(folder):
    texts_ = [
        '"open',
        "[1, 2]",
        "{}",
        "line\u2028separator",
        "next\x85line",
        "\\",
        "",
        "null",
        LONG,
    ]
    records = [
        {"id": sentence, "lang": "en", "path": "a.wav", "text": text}
        for sentence, text in zip(AWKWARD_IDS, texts_, strict=True)
    ]
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    corpus = read_manifest(write(folder, "c.jsonl", [lines[0], "", *lines[1:]]))
    assert len(corpus.utterances) == len(AWKWARD_IDS)
    assert sorted(u.id for u in corpus.utterances) == sorted(AWKWARD_IDS)
    assert {u.id: u.text for u in corpus.utterances}["ü-ñ"] == "next\x85line"
