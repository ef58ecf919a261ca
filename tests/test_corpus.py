import json

import numpy as np
import pytest
import soundfile

from seqsim.corpus import CorpusError, demo_corpus, load_fleurs, load_verse_folders, read_manifest


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


def fleurs_split(root, lang, split, rows):
    for _, filename in rows:
        audio(root / lang / "audio" / split / filename)
    lines = [
        f"{sentence}\t{filename}\tText {sentence}.\ttext {sentence}\tt e x t\t800\tMALE"
        for sentence, filename in rows
    ]
    (root / lang / f"{split}.tsv").write_text("\n".join(lines) + "\n")


def test_fleurs_layout_combines_dev_and_test_and_keeps_one_recording(tmp_path):
    fleurs_split(tmp_path, "en_us", "dev", [("100", "a.wav"), ("100", "b.wav"), ("101", "c.wav")])
    fleurs_split(tmp_path, "en_us", "test", [("102", "d.wav"), ("103", "e.wav")])
    fleurs_split(tmp_path, "fr_fr", "dev", [("100", "f.wav"), ("101", "g.wav")])
    fleurs_split(tmp_path, "fr_fr", "test", [("102", "h.wav")])
    corpus = load_fleurs(tmp_path, ["en_us", "fr_fr"])
    assert [u.id for u in corpus.by_language("en_us")] == ["100", "101", "102"]
    assert corpus.dropped_recordings == 1
    assert corpus.missing == {"fr_fr": ["103"]}
    assert corpus.by_language("fr_fr")[2].path == tmp_path / "fr_fr" / "audio" / "test" / "h.wav"
    assert corpus.by_language("fr_fr")[0].text == "Text 100."
    with pytest.raises(CorpusError, match=r"de_de/dev.tsv: FLEURS split file not found"):
        load_fleurs(tmp_path, ["en_us", "de_de"])


def test_verse_aligned_folders(tmp_path):
    for lang, verses in {
        "eng": ["GEN_1_1", "GEN_1_2"],
        "fra": ["GEN_1_1", "GEN_1_2", "GEN_1_3"],
    }.items():
        for verse in verses:
            audio(tmp_path / lang / f"{verse}.wav")
    (tmp_path / "eng" / "GEN_1_1.txt").write_text("In the beginning\n")
    corpus = load_verse_folders(tmp_path)
    assert corpus.languages == ["eng", "fra"]
    assert [u.id for u in corpus.by_language("fra")] == ["GEN_1_1", "GEN_1_2"]
    assert corpus.missing == {"eng": ["GEN_1_3"]}
    assert corpus.by_language("eng")[0].text == "In the beginning"


def test_bundled_demo_corpus_is_parallel():
    corpus = demo_corpus()
    assert corpus.languages == ["de", "en", "es", "fr", "it"]
    assert len(corpus.utterances) == 200 and corpus.parallel().missing == {}
    assert all(u.path.is_file() for u in corpus.utterances)
