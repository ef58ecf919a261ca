"""Corpus recipes: `seqsim prepare fleurs|mass` on small layouts written here, checked against
what the layouts hold, and the prepared manifests evaluated with the tiny Whisper."""

import csv
import json

import pytest
import soundfile
from click.testing import CliRunner
from helpers import tone

from seqsim.cli import main
from seqsim.corpus import CorpusError, read_manifest
from seqsim.recipes import prepare_fleurs, prepare_mass

# FLEURS: per language and split, its (sentence id, file name) lines. Sentence 103 has no French
# recording; 100 has 2 recordings in en_us, 101 has 2 in fr_fr, 102 has 3 in en_us.
FLEURS = {
    "en_us": {
        "dev": [("100", "e1.wav"), ("100", "e2.wav"), ("101", "e3.wav")],
        "test": [("102", "e4.wav"), ("102", "e5.wav"), ("102", "e6.wav"), ("103", "e7.wav")],
    },
    "fr_fr": {
        "dev": [("100", "f1.wav"), ("101", "f2.wav"), ("101", "f3.wav")],
        "test": [("102", "f4.wav")],
    },
}
# one recording per (sentence, language): en_us drops 1 (100) + 2 (102), fr_fr 1 (101)
DROPPED = 4
PITCH = {"100": 220.0, "101": 330.0, "102": 440.0, "103": 550.0}


def recordings_of(lang, sentence):
    return {name for lines in FLEURS[lang].values() for s, name in lines if s == sentence}


@pytest.fixture
def fleurs(tmp_path):
    """The layout of google/fleurs: data/LANG/SPLIT.tsv and data/LANG/audio/SPLIT/*.wav."""
    data = tmp_path / "fleurs" / "data"
    for lang, splits in FLEURS.items():
        for split, lines in splits.items():
            folder = data / lang / "audio" / split
            folder.mkdir(parents=True)
            for number, (sentence, name) in enumerate(lines):
                pitch = PITCH[sentence] + 7 * number + (5 if lang == "fr_fr" else 0)
                soundfile.write(folder / name, tone(0.4, frequency=pitch), 16_000)
            rows = [
                f"{s}\t{name}\tSentence {s}.\tsentence {s}\ts e n t e n c e |\t6400\tFEMALE\n"
                for s, name in lines
            ]
            (data / lang / f"{split}.tsv").write_text("".join(rows), encoding="utf-8")
    return data


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def prepare_both(root, out, *options):
    """`seqsim prepare fleurs` of en_us and fr_fr."""
    return run("prepare", "fleurs", root, "--langs", "en_us,fr_fr", "--out", out, *options)


def manifest_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_prepare_fleurs_one_recording_per_sentence(fleurs, tmp_path):
    out = tmp_path / "fleurs.tsv"
    result = prepare_both(fleurs, out)
    assert result.exit_code == 0, result.output
    for line in (
        f"wrote 6 utterances -> {out}",
        "  en_us: 3 utterances",
        "  fr_fr: 3 utterances",
        "sentences kept (in every language): 3",
        f"recordings dropped: {DROPPED} (one kept per sentence and language)",
        "sentences missing in some language (left out): 1",
        "  missing in fr_fr: 1 (103)",
    ):
        assert line in result.output.splitlines()
    rows = manifest_rows(out)
    assert list(rows[0]) == ["id", "lang", "path", "text"]  # ids are the sentences
    assert sorted((r["lang"], r["id"]) for r in rows) == [
        (lang, s) for lang in ("en_us", "fr_fr") for s in ("100", "101", "102")
    ]
    for row in rows:
        split = "dev" if row["id"] in ("100", "101") else "test"
        folder = f"fleurs/data/{row['lang']}/audio/{split}/"
        assert row["path"].startswith(folder)  # relative to the manifest's folder
        assert row["path"].removeprefix(folder) in recordings_of(row["lang"], row["id"])
        assert row["text"] == f"Sentence {row['id']}."
    corpus = read_manifest(out)
    assert len(corpus.utterances) == 6 and not corpus.multi_recording


def test_the_seeded_choice_is_reproducible_and_covers_every_recording(fleurs, tmp_path):
    def chosen(seed):
        corpus = prepare_fleurs(fleurs, ["en_us", "fr_fr"], seed=seed)
        assert corpus.dropped_recordings == DROPPED
        return {u.key: u.path.name for u in corpus.utterances}

    assert chosen(5) == chosen(5)
    first = prepare_both(fleurs, tmp_path / "a.tsv", "--seed", 5)
    again = prepare_both(fleurs, tmp_path / "b.tsv", "--seed", 5)
    assert first.exit_code == again.exit_code == 0
    assert (tmp_path / "a.tsv").read_bytes() == (tmp_path / "b.tsv").read_bytes()
    picks = [chosen(seed) for seed in range(20)]
    assert {p["en_us/102"] for p in picks} == recordings_of("en_us", "102")
    assert {p["fr_fr/101"] for p in picks} == recordings_of("fr_fr", "101")
    assert {p["en_us/101"] for p in picks} == {"e3.wav"}  # one recording: no choice


def test_prepare_fleurs_all_recordings(fleurs, tmp_path):
    out = tmp_path / "all.tsv"
    result = prepare_both(fleurs.parent, out, "--recordings", "all")  # the folder above data/
    assert result.exit_code == 0, result.output
    assert "  en_us: 6 utterances" in result.output and "  fr_fr: 4 utterances" in result.output
    assert "recordings dropped: 0\n" in result.output
    rows = manifest_rows(out)
    assert list(rows[0]) == ["id", "lang", "path", "sentence", "text"]
    for lang in FLEURS:
        for sentence in ("100", "101", "102"):
            ids = {r["id"] for r in rows if r["lang"] == lang and r["sentence"] == sentence}
            assert ids == {name.removesuffix(".wav") for name in recordings_of(lang, sentence)}
    assert not any(r["sentence"] == "103" for r in rows)
    assert read_manifest(out).multi_recording


def test_prepared_manifests_evaluate_with_both_protocols(fleurs, tiny_whisper_dir, tmp_path):
    manifest = tmp_path / "all.tsv"
    assert prepare_both(fleurs, manifest, "--recordings", "all").exit_code == 0
    store = tmp_path / "store"
    common = ["--manifest", manifest, "--model", tiny_whisper_dir, "--store", store]
    result = run("evaluate", *common, "--out", tmp_path / "all")
    assert result.exit_code == 0, result.output
    assert "3 sentences, 10 recordings (multi-positive" in result.output
    results = json.loads((tmp_path / "all" / "results.json").read_text())
    assert results["settings"]["multi_positive"] is True
    assert results["settings"]["recordings_per_language"] == {"en_us": 6, "fr_fr": 4}
    pairs = {(p["query_lang"], p["candidate_lang"]): p for p in results["pairs"]}
    english = pairs[("en_us", "fr_fr")]
    # en_us queries: 100 twice, 101 once, 102 three times; their recordings among fr_fr's 4
    assert (english["n"], english["candidates"]) == (6, 4)
    assert english["chance"] == pytest.approx((2 * 1 + 1 * 2 + 3 * 1) / 6 / 4)
    french = pairs[("fr_fr", "en_us")]  # 100 once (2 in en_us), 101 twice (1), 102 once (3)
    assert french["chance"] == pytest.approx((1 * 2 + 2 * 1 + 1 * 3) / 4 / 6)
    assert "chance 29.2 %" in result.output  # 7/24 both ways
    one = run("evaluate", *common, "--recordings", "one", "--out", tmp_path / "one")
    assert one.exit_code == 0, one.output
    assert "3 sentences (chance 33.3 %)" in one.output
    settings = json.loads((tmp_path / "one" / "results.json").read_text())["settings"]
    assert settings["dropped_recordings"] == DROPPED and settings["multi_positive"] is False
    index = run("evaluate", *common, "--search", "index", "--out", tmp_path / "index")
    assert index.exit_code == 1 and "--search index needs one recording" in index.output


def test_fleurs_layout_errors_name_the_file(fleurs, tmp_path):
    out = tmp_path / "m.tsv"
    result = run("prepare", "fleurs", fleurs, "--langs", "en_us,de_de", "--out", out)
    assert result.exit_code == 1 and f"{fleurs / 'de_de'}: no folder for language de_de" in (
        result.output
    )
    assert not out.exists()
    with pytest.raises(CorpusError, match=r"en_us/train.tsv: FLEURS split file not found"):
        prepare_fleurs(fleurs, ["en_us"], splits=["train"])
    (fleurs / "fr_fr" / "audio" / "test" / "f4.wav").unlink()
    (fleurs / "en_us" / "audio" / "test" / "e5.wav").unlink()
    (fleurs / "en_us" / "audio" / "test" / "e6.wav").unlink()
    with pytest.raises(
        CorpusError,
        match=r"en_us/audio/test: 2 audio file\(s\) that .*en_us/test.tsv lists are missing: "
        r"e5.wav, e6.wav$",
    ):
        prepare_fleurs(fleurs, ["en_us", "fr_fr"])
    table = fleurs / "fr_fr" / "dev.tsv"
    table.write_text(table.read_text() + "104\tf9.wav\n")
    with pytest.raises(CorpusError, match=r"fr_fr/dev.tsv:4: 2 field\(s\); a FLEURS line"):
        prepare_fleurs(fleurs, ["fr_fr"])


def test_fleurs_audio_not_extracted_says_so(fleurs):
    audio = fleurs / "en_us" / "audio"
    for wav in (audio / "dev").iterdir():
        wav.unlink()
    (audio / "dev").rmdir()
    (audio / "dev.tar.gz").write_bytes(b"")
    with pytest.raises(
        CorpusError, match=r"audio/dev: audio folder not found \(extract .*dev.tar.gz"
    ):
        prepare_fleurs(fleurs, ["en_us", "fr_fr"])


@pytest.mark.parametrize("recordings", ["all", "one"])
def test_fleurs_recording_listed_twice_is_refused_in_both_protocols(fleurs, recordings):
    table = fleurs / "en_us" / "dev.tsv"
    table.write_text(table.read_text() + "101\te1.wav\tagain\n")
    with pytest.raises(
        CorpusError, match=r"duplicate \(id, lang\) = \(e1, en_us\) at .*dev.tsv:1, .*dev.tsv:4"
    ):
        prepare_fleurs(fleurs, ["en_us", "fr_fr"], recordings=recordings)


def mass_tree(root):
    verses = {"eng": ["GEN_1_1", "GEN_1_2", "GEN_1_3"], "fra": ["GEN_1_1", "GEN_1_2"]}
    verses["deu"] = ["GEN_1_1", "GEN_1_2", "GEN_1_3"]
    for number, (lang, names) in enumerate(verses.items()):
        (root / lang).mkdir(parents=True)
        for k, verse in enumerate(names):
            pitch = 200.0 + 150 * k + 4 * number
            soundfile.write(root / lang / f"{verse}.wav", tone(0.4, frequency=pitch), 16_000)
    (root / "eng" / "GEN_1_1.txt").write_text("In the beginning\n", encoding="utf-8")
    return root


def test_prepare_mass(tmp_path):
    root = mass_tree(tmp_path / "mass")
    out = tmp_path / "out" / "mass.tsv"
    result = run("prepare", "mass", root, "--out", out)
    assert result.exit_code == 0, result.output
    assert "sentences kept (in every language): 2" in result.output
    assert "  missing in fra: 1 (GEN_1_3)" in result.output
    rows = manifest_rows(out)
    assert list(rows[0]) == ["id", "lang", "path", "text"]
    assert sorted((r["lang"], r["id"]) for r in rows) == [
        (lang, verse) for lang in ("deu", "eng", "fra") for verse in ("GEN_1_1", "GEN_1_2")
    ]
    assert {r["path"] for r in rows if r["lang"] == "eng"} == {
        str(root / "eng" / "GEN_1_1.wav"),
        str(root / "eng" / "GEN_1_2.wav"),
    }  # outside the manifest's folder: absolute
    assert [r["text"] for r in rows if r["lang"] == "eng"] == ["In the beginning", ""]
    two = run("prepare", "mass", root, "--langs", "eng,deu", "--out", out)
    assert "sentences kept (in every language): 3" in two.output
    assert "sentences missing in some language (left out): 0" in two.output


def test_mass_layout_errors(tmp_path):
    root = mass_tree(tmp_path / "mass")
    with pytest.raises(CorpusError, match=r"mass/ita: no folder for language ita"):
        prepare_mass(root, ["eng", "ita"])
    (root / "empty").mkdir()
    with pytest.raises(CorpusError, match=r"mass/empty: no audio files"):
        prepare_mass(root)
    with pytest.raises(CorpusError, match="corpus folder not found"):
        prepare_mass(tmp_path / "nowhere")


def test_recipes_are_exported_lazily():
    import subprocess
    import sys

    code = (
        "import sys, seqsim; assert 'seqsim.recipes' not in sys.modules; "
        "from seqsim import prepare_fleurs, prepare_mass, write_manifest; "
        "print(prepare_fleurs.__module__, prepare_mass.__module__, write_manifest.__module__)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.split() == [
        "seqsim.recipes.fleurs",
        "seqsim.recipes.mass",
        "seqsim.corpus.manifests",
    ]
