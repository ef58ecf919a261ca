import json

import numpy as np
import pytest
import soundfile

from seqsim.corpus import (
    Corpus,
    CorpusError,
    Utterance,
    demo_corpus,
    read_manifest,
    write_manifest,
)


def audio(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.full(800, 0.1, np.float32), 16_000)
    return path


@pytest.fixture
def files(tmp_path):
    for name in ("en1", "fr1", "en2", "fr2", "de1"):
        audio(tmp_path / "wav" / f"{name}.wav")
    return tmp_path


ROWS = [
    ("1", "en", "wav/en1.wav", "one"),
    ("1", "fr", "wav/fr1.wav", "un"),
    ("2", "en", "wav/en2.wav", "two"),
    ("2", "fr", "wav/fr2.wav", "deux"),
    ("1", "de", "wav/de1.wav", "eins"),
]


def write(folder, name, rows, columns=("id", "lang", "path", "text")):
    path = folder / name
    if name.endswith(".jsonl"):
        path.write_text(
            "".join(json.dumps(dict(zip(columns, r, strict=True))) + "\n" for r in rows)
        )
    else:
        sep = "\t" if name.endswith(".tsv") else ","
        path.write_text("\n".join(sep.join(r) for r in [columns, *rows]) + "\n")
    return path


@pytest.mark.parametrize("name", ["corpus.tsv", "corpus.csv", "corpus.jsonl"])
def test_manifests_in_every_format(files, name):
    corpus = read_manifest(write(files, name, ROWS))
    assert corpus.languages == ["de", "en", "fr"]
    english = corpus.by_language("en")
    assert [u.id for u in english] == ["1", "2"] and english[0].text == "one"
    assert english[0].path == files / "wav" / "en1.wav" and english[0].key == "en/1"


def test_parallel_drops_and_lists_missing_sentences(files):
    corpus = read_manifest(write(files, "c.tsv", ROWS)).parallel(["en", "fr", "de"])
    assert sorted(u.key for u in corpus.utterances) == ["de/1", "en/1", "fr/1"]
    assert corpus.missing == {"de": ["2"]}
    with pytest.raises(
        CorpusError, match="language\\(s\\) it not in the corpus; it has de, en, fr"
    ):
        read_manifest(write(files, "c.tsv", ROWS)).parallel(["en", "it"])


def test_bad_manifests_name_the_file_and_row(files):
    with pytest.raises(CorpusError, match=r"bad.tsv:1: missing column\(s\) lang; found id, path$"):
        read_manifest(write(files, "bad.tsv", [("1", "wav/en1.wav")], columns=("id", "path")))
    duplicated = [*ROWS, ("1", "en", "wav/en2.wav", "again")]
    with pytest.raises(
        CorpusError, match=r"duplicate \(id, lang\) = \(1, en\) at .*dup.tsv:2, .*dup.tsv:7"
    ):
        read_manifest(write(files, "dup.tsv", duplicated))
    with pytest.raises(CorpusError, match=r"gone.tsv:2: audio file .*nowhere.wav does not exist"):
        read_manifest(write(files, "gone.tsv", [("1", "en", "nowhere.wav", "x")]))
    with pytest.raises(CorpusError, match=r"empty.csv:2: empty lang"):
        read_manifest(write(files, "empty.csv", [("1", "", "wav/en1.wav", "x")]))
    with pytest.raises(CorpusError, match="must be .tsv, .csv or .jsonl"):
        read_manifest(write(files, "c.txt", ROWS))


def test_keep_one_recording_is_seeded_and_counted(files):
    duplicated = [*ROWS, ("1", "en", "wav/en2.wav", "again"), ("1", "en", "wav/fr2.wav", "third")]
    path = write(files, "dup.tsv", duplicated)
    first = read_manifest(path, duplicates="keep_one", seed=7)
    again = read_manifest(path, duplicates="keep_one", seed=7)
    assert first.dropped_recordings == 2
    assert first.by_language("en")[0].path == again.by_language("en")[0].path
    kept = {
        read_manifest(path, duplicates="keep_one", seed=s).by_language("en")[0].text
        for s in range(20)
    }
    assert kept == {"one", "again", "third"}


def test_a_sentence_column_gives_several_recordings_of_a_sentence(files):
    rows = [
        ("en-a", "en", "wav/en1.wav", "1"),
        ("en-b", "en", "wav/en2.wav", "1"),
        ("fr-a", "fr", "wav/fr1.wav", "1"),
        ("fr-b", "fr", "wav/fr2.wav", "2"),
    ]
    corpus = read_manifest(write(files, "c.tsv", rows, columns=("id", "lang", "path", "sentence")))
    assert [(u.key, u.sentence) for u in corpus.by_language("en")] == [
        ("en/en-a", "1"),
        ("en/en-b", "1"),
    ]
    assert corpus.multi_recording
    parallel = corpus.parallel()
    assert sorted(u.key for u in parallel.utterances) == ["en/en-a", "en/en-b", "fr/fr-a"]
    assert parallel.missing == {"en": ["2"]}
    one = parallel.keep_one(seed=3)
    assert [u.sentence for u in one.by_language("en")] == ["1"] and one.dropped_recordings == 1
    assert not one.multi_recording
    chosen = {parallel.keep_one(seed=s).by_language("en")[0].id for s in range(20)}
    assert chosen == {"en-a", "en-b"}
    # ids stay unique per language: the store keys
    repeated = [*rows, ("en-a", "en", "wav/de1.wav", "2")]
    with pytest.raises(CorpusError, match=r"duplicate \(id, lang\) = \(en-a, en\) at .*:2, .*:6"):
        read_manifest(write(files, "d.tsv", repeated, columns=("id", "lang", "path", "sentence")))


def test_keep_one_in_a_manifest_picks_among_the_recordings_of_a_sentence(files):
    rows = [("a", "en", "wav/en1.wav", "1"), ("b", "en", "wav/en2.wav", "1")]
    path = write(files, "c.tsv", rows, columns=("id", "lang", "path", "sentence"))
    corpus = read_manifest(path, duplicates="keep_one", seed=1)
    assert len(corpus.utterances) == 1 and corpus.dropped_recordings == 1
    with pytest.raises(ValueError, match="duplicates"):
        read_manifest(path, duplicates="keep_all")


def test_utterance_sentence_defaults_to_its_id():
    assert Utterance("s1", "en", None).sentence == "s1"
    assert Utterance("r7", "en", None, sentence="s1").sentence == "s1"
    assert Utterance.from_key("en/s1") == Utterance("s1", "en", None)


@pytest.mark.parametrize("name", ["out.tsv", "out.csv", "out.jsonl"])
def test_write_manifest_round_trips(files, name):
    outside = audio(files.parent / f"{files.name}-outside" / "x.wav")
    corpus = Corpus(
        [
            Utterance("r1", "en", files / "wav" / "en1.wav", text='say "one", twice', sentence="1"),
            Utterance("r2", "en", files / "wav" / "en2.wav", speaker="spk 9", sentence="1"),
            Utterance("1", "fr", outside),
        ]
    )
    path = write_manifest(corpus, files / "sub" / name)
    back = read_manifest(path)
    assert sorted(back.utterances, key=lambda u: u.key) == sorted(
        corpus.utterances, key=lambda u: u.key
    )
    text = path.read_text()
    assert "../wav/en1.wav" not in text and str(outside) in text  # outside the folder: absolute
    if name.endswith(".tsv"):
        lines = text.splitlines()
        assert lines[0] == "id\tlang\tpath\tsentence\ttext\tspeaker"
        assert lines[3] == f"1\tfr\t{outside}\t\t\t"


def test_write_manifest_relative_paths_and_refusals(files):
    corpus = Corpus([Utterance("1", "en", files / "wav" / "en1.wav")])
    path = write_manifest(corpus, files / "plain.tsv")
    assert path.read_text() == "id\tlang\tpath\n1\ten\twav/en1.wav\n"
    tabbed = Corpus([Utterance("1", "en", files / "wav" / "en1.wav", text="a\tb")])
    with pytest.raises(CorpusError, match=r"the text of en/1 \('a\\tb'\) holds a tab"):
        write_manifest(tabbed, files / "t.tsv")
    assert read_manifest(write_manifest(tabbed, files / "t.jsonl")).utterances[0].text == "a\tb"
    with pytest.raises(CorpusError, match="en/1 has no audio path"):
        write_manifest(Corpus([Utterance("1", "en", None)]), files / "n.tsv")
    with pytest.raises(CorpusError, match="must be .tsv, .csv or .jsonl"):
        write_manifest(corpus, files / "m.txt")


def test_bundled_demo_corpus_is_parallel():
    corpus = demo_corpus()
    assert corpus.languages == ["de", "en", "es", "fr", "it"]
    assert len(corpus.utterances) == 200 and corpus.parallel().missing == {}
    assert all(u.path.is_file() for u in corpus.utterances)


def test_demo_corpus_subset_and_first_sentences_checks():
    from seqsim.corpus import demo_corpus

    subset = demo_corpus(["it", "en"], sentences=3)
    assert sorted(u.key for u in subset.utterances) == [
        f"{lang}/s0{i}" for lang in ("en", "it") for i in (1, 2, 3)
    ]
    with pytest.raises(ValueError, match="count"):
        subset.first_sentences(0)
    with pytest.raises(CorpusError, match="xx"):
        demo_corpus(["xx"])
