"""Several models on one corpus, one report (issue 22, Table 6 of the study): the table holds
each model's own R@1, the command writes the comparison and a report per model, an
interrupted run resumes every model, one model writes what it always wrote, and models that
cannot be compared are refused before any work."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import soundfile
from click.testing import CliRunner
from helpers import LANGS, SENTENCES, tone

from seqsim.cli import main
from seqsim.corpus import read_manifest
from seqsim.encoders import EncoderInfo
from seqsim.evaluation import evaluate
from seqsim.model_comparison import (
    ModelComparison,
    ModelComparisonError,
    compare_models,
    compared_models,
    model_labels,
    model_slug,
)
from seqsim.result import RetrievalResult
from seqsim.run_folder import RUN_RECORD, read_run_record
from seqsim.store import EmbeddingStore

UTTERANCES = len(LANGS) * SENTENCES
PAIRS = [f"{q}→{c}" for q in LANGS for c in LANGS if q != c]
REPORT_FILES = {"r_at_1.csv", "results.json", "ranks.csv", "report.md", "report.html"}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def save_tiny_whisper(folder, seed, blocks):
    """A randomly initialised Whisper of ``blocks`` encoder blocks (as conftest's), saved."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    torch.manual_seed(seed)
    config = WhisperConfig(
        vocab_size=64,
        num_mel_bins=80,
        d_model=32,
        encoder_layers=blocks,
        decoder_layers=1,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=1500,
        max_target_positions=32,
        pad_token_id=1,
        bos_token_id=2,
        eos_token_id=2,
        decoder_start_token_id=3,
    )
    WhisperModel(config).eval().save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two tiny random Whispers in folders of the same name: 2 blocks (seed 0), 3 (seed 1)."""
    root = tmp_path_factory.mktemp("models")
    return [
        str(save_tiny_whisper(root / "a" / "tiny-whisper", seed=0, blocks=2)),
        str(save_tiny_whisper(root / "b" / "tiny-whisper", seed=1, blocks=3)),
    ]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """Each utterance 0.6 s of a tone: a pitch drawn for its sentence, moved by about 10 % in
    each language. Hard enough that R@1 varies by pair and that two random models differ."""
    folder = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    pitches = rng.uniform(200.0, 1200.0, SENTENCES)
    rows = ["id\tlang\tpath"]
    for lang in LANGS:
        for k in range(SENTENCES):
            path = folder / lang / f"{k}.wav"
            path.parent.mkdir(exist_ok=True)
            pitch = pitches[k] * (1 + 0.1 * rng.standard_normal())
            soundfile.write(path, tone(0.6, frequency=pitch), 16_000)
            rows.append(f"s{k}\t{lang}\t{lang}/{k}.wav")
    (manifest := folder / "corpus.tsv").write_text("\n".join(rows) + "\n")
    return manifest


@pytest.fixture(scope="module")
def comparison(models, manifest):
    return compare_models(read_manifest(manifest), models, progress=False)


def pair_values(result):
    """A result's R@1 in percent by ``q→c``, read from its summary rows."""
    summary = result.summary
    return {
        f"{q}→{c}": 100 * value
        for q, c, value in zip(
            summary["query_lang"], summary["candidate_lang"], summary["r@1"], strict=True
        )
    }


def slugs_of(models):
    return [model.slug for model in compared_models(models, [-1])]


def test_the_table_holds_each_models_own_r_at_1(models, manifest, comparison):
    table = comparison.table()
    labels = ["a/tiny-whisper", "b/tiny-whisper"]
    assert list(table.columns) == labels
    assert list(table.index) == [*PAIRS, "mean"]
    for model, label in zip(models, labels, strict=True):
        alone = evaluate(read_manifest(manifest), model=model, progress=False)
        for pair, value in pair_values(alone).items():
            assert table.loc[pair, label] == pytest.approx(value)
        assert table.loc["mean", label] == pytest.approx(100 * alone.mean("r@1"))
    assert not table[labels[0]].equals(table[labels[1]])  # other weights, other numbers
    states = [result.settings["layer"] for result in comparison.compared().values()]
    assert states == [2, 3]  # layer -1 is each model's own last


def test_the_picture_has_a_bar_per_model_and_pair(comparison):
    figure = comparison.plot()
    axes = figure.axes[0]
    assert [tick.get_text() for tick in axes.get_yticklabels()] == [*PAIRS, "mean"]
    table = comparison.table()
    bars = {container.get_label(): container for container in axes.containers}
    assert list(bars) == list(table.columns)
    for label, result in comparison.compared().items():  # each model's bars its own R@1
        widths = [bar.get_width() for bar in bars[label]]
        assert widths == pytest.approx([*pair_values(result).values(), 100 * result.mean()])
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["chance", "a/tiny-whisper", "b/tiny-whisper"]


def test_the_command_writes_the_comparison_and_a_report_per_model(tmp_path, models, manifest):
    out = tmp_path / "report"
    result = run(
        "evaluate", "--manifest", manifest, "--model", ",".join(models), "--out", out,
        "--figure-format", "svg",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    slug_a, slug_b = slugs_of(models)
    assert slug_a != slug_b and slug_a.startswith("tiny-whisper-")
    assert "| pair | a/tiny-whisper | b/tiny-whisper |" in result.output
    assert "hidden state 2 of a/tiny-whisper, 3 of b/tiny-whisper" in result.output
    for slug in (slug_a, slug_b):
        folder = out / slug
        assert REPORT_FILES | {"heatmap.svg"} <= {p.name for p in folder.iterdir()}
        assert len(EmbeddingStore(folder / "store").keys()) == UTTERANCES
    table = pd.read_csv(out / "model_comparison.csv", index_col="pair")
    for slug, label in ((slug_a, "a/tiny-whisper"), (slug_b, "b/tiny-whisper")):
        own = RetrievalResult.load(out / slug)  # the model's own report, read back
        for pair, value in pair_values(own).items():
            assert table.loc[pair, label] == pytest.approx(value, abs=0.005)
    assert (out / "model_comparison.svg").read_text().startswith("<?xml")
    markdown = (out / "model_comparison.md").read_text()
    assert f"`{slug_a}/`" in markdown and "seqsim, layer -1" in markdown
    listed = read_run_record(out)["files"]
    assert {"model_comparison.csv", "model_comparison.md", "model_comparison.svg"} <= set(listed)
    assert f"{slug_a}/results.json" in listed and f"{slug_b}/heatmap.svg" in listed
    assert not any("/store" in name for name in listed)  # the stores are not the report's


def test_store_holds_a_store_per_model_and_is_evaluated_alone(tmp_path, models, manifest):
    stores, out = tmp_path / "stores", tmp_path / "report"
    result = run(
        "evaluate", "--manifest", manifest, "--model", ",".join(models), "--store", stores,
        "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in stores.iterdir()) == sorted(slugs_of(models))
    assert not any((out / slug / "store").exists() for slug in slugs_of(models))
    stored_only = run(
        "evaluate", "--store", stores, "--model", ",".join(models), "--out", tmp_path / "again"
    )
    assert stored_only.exit_code == 0, stored_only.output
    table = pd.read_csv(tmp_path / "again" / "model_comparison.csv", index_col="pair")
    assert table.equals(pd.read_csv(out / "model_comparison.csv", index_col="pair"))


def test_an_interrupted_run_resumes_every_model(tmp_path, models, manifest, monkeypatch):
    from seqsim.encoders.whisper import WhisperEmbedder

    embed_iter = WhisperEmbedder.embed_iter
    seen = 0

    def interrupted_in_the_second_model(self, sources, **options):
        nonlocal seen
        for item in embed_iter(self, sources, **options):
            if seen == UTTERANCES + 7:
                raise KeyboardInterrupt
            seen += 1
            yield item

    monkeypatch.setattr(WhisperEmbedder, "embed_iter", interrupted_in_the_second_model)
    out = tmp_path / "report"
    arguments = ["evaluate", "--manifest", manifest, "--model", ",".join(models), "--out", out]
    first = run(*arguments)
    assert first.exit_code == 130, first.output
    store_a, store_b = (out / slug / "store" for slug in slugs_of(models))
    kept = len(EmbeddingStore(store_b).keys())
    assert f"{UTTERANCES} of {UTTERANCES} utterances are stored in {store_a}" in first.output
    assert f"{kept} of {UTTERANCES} utterances are stored in {store_b}" in first.output
    assert not (out / RUN_RECORD).exists()  # nothing reported yet: the rerun is not refused

    monkeypatch.undo()
    again = run(*arguments)
    assert again.exit_code == 0, again.output
    assert f"a/tiny-whisper: embedded 0, already stored {UTTERANCES}" in again.output
    assert f"b/tiny-whisper: embedded {UTTERANCES - kept}, already stored {kept}" in again.output
    refused = run(*arguments)  # the report folder holds one run, as always
    assert refused.exit_code == 1 and "holds the report of another run" in refused.output

    def refuse(*args, **kwargs):
        raise AssertionError("a full store embedded again")

    monkeypatch.setattr(WhisperEmbedder, "embed_iter", refuse)
    third = run(*arguments, "--overwrite")  # both stores full: no model loaded
    assert third.exit_code == 0, third.output
    assert third.output.count(f"embedded 0, already stored {UTTERANCES}") == 2


def test_one_model_writes_what_it_always_wrote(tmp_path, models, manifest):
    out = tmp_path / "report"
    result = run("evaluate", "--manifest", manifest, "--model", models[0], "--out", out)
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == REPORT_FILES | {"heatmap.png", RUN_RECORD, "store"}
    assert sorted(read_run_record(out)["files"]) == sorted(REPORT_FILES | {"heatmap.png"})
    assert "R@1 (%) seqsim" in result.output and "model_comparison" not in result.output


def test_a_model_given_twice_is_refused_before_any_work(tmp_path, models, manifest):
    out = tmp_path / "report"
    result = run("evaluate", "--manifest", manifest, "--model", f"{models[0]},{models[0]}",
                 "--out", out)  # fmt: skip
    assert result.exit_code == 1
    assert f"model '{models[0]}' is given twice" in result.output
    assert not out.exists()
    no_model = run("evaluate", "--manifest", manifest, "--model", ",", "--out", out)
    assert no_model.exit_code == 2 and "--manifest needs --model" in no_model.output
    with pytest.raises(ModelComparisonError, match="given twice"):
        compare_models(None, [models[1], models[1]])
    with pytest.raises(ModelComparisonError, match="at least one model"):
        compare_models(None, [])


def test_a_layer_one_model_lacks_is_refused_naming_it(tmp_path, models, manifest):
    out = tmp_path / "report"
    result = run("evaluate", "--manifest", manifest, "--model", ",".join(models), "--layer",
                 "3", "--out", out)  # fmt: skip
    assert result.exit_code == 1
    assert f"layer 3 does not exist: {models[0]} has hidden states 0..2" in result.output
    assert not out.exists()  # refused before anything was embedded


def test_model_and_store_are_per_model_options(models):
    with pytest.raises(TypeError, match=r"compare_models\(\).*'model'.*models=\["):
        compare_models(None, models, model=models[0])
    with pytest.raises(TypeError, match=r"'stor'.*did you mean 'store"):
        compare_models(None, models, stor="x")


@pytest.mark.parametrize(
    "name", ["..", "....", "a b/c:d@e", "/x/y/", "in-memory:@sha256:00ff", "é/ü", "-" * 80]
)
def test_a_slug_is_one_safe_folder_name_whatever_the_model_is_called(name):
    slug = model_slug(EncoderInfo("whisper", name, 2, 0.02))
    assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,39}-[0-9a-f]{8}", slug), slug
    other = model_slug(EncoderInfo("whisper", name + "x", 2, 0.02))
    assert slug != other
    assert slug == model_slug(EncoderInfo("whisper", name, 2, 0.02))  # the same in every run


def test_labels_tell_apart_models_of_the_same_name():
    infos = [
        EncoderInfo("whisper", "/data/one/model", 2, 0.02),
        EncoderInfo("whisper", "/data/two/model", 2, 0.02),
        EncoderInfo("wav2vec2", "org/xls-r", 2, 0.02),
    ]
    assert model_labels(infos) == ["one/model", "two/model", "org/xls-r"]
    one_name_two_families = [EncoderInfo(f, "m", 2, 0.02) for f in ("whisper", "mine")]
    assert model_labels(one_name_two_families) == ["whisper:m", "mine:m"]


def test_a_whisper_and_a_wav2vec2_folder_compare(tmp_path, models, manifest):
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(2)
    folder = tmp_path / "w2v"
    config = Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_stride=(5, 64),
        conv_kernel=(10, 79),
        num_feat_extract_layers=2,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    Wav2Vec2Model(config).eval().save_pretrained(folder)
    Wav2Vec2FeatureExtractor(return_attention_mask=False).save_pretrained(folder)
    corpus = read_manifest(manifest)
    mixed = compare_models(corpus, [models[0], str(folder)], progress=False)
    families = [model.info.family for model in mixed.models]
    assert families == ["whisper", "wav2vec2"]
    settings = [result.settings for result in mixed.compared().values()]
    assert [s["layer"] for s in settings] == [2, 4]  # each model's own last
    alone = evaluate(corpus, model=str(folder), progress=False)
    for pair, value in pair_values(alone).items():
        assert mixed.table().loc[pair, "w2v"] == pytest.approx(value)


def hits_by_query(result):
    """Whether each query's correct candidate ranked first, by (query_lang, candidate_lang, id)."""
    ranks = result.ranks
    return {
        (q, c, i): r == 1
        for q, c, i, r in zip(
            ranks["query_lang"], ranks["candidate_lang"], ranks["id"], ranks["rank"], strict=True
        )
    }


def test_models_are_compared_with_paired_tests_on_the_same_queries(comparison):
    from scipy.stats import binomtest

    (label_a, result_a), (label_b, result_b) = comparison.compared().items()
    tests = comparison.significance(samples=200)
    test = tests[label_a].comparisons[label_b]
    hits_a, hits_b = hits_by_query(result_a), hits_by_query(result_b)
    assert hits_a.keys() == hits_b.keys() and test.queries == len(hits_a)
    only_a = sum(hits_a[q] and not hits_b[q] for q in hits_a)
    only_b = sum(hits_b[q] and not hits_a[q] for q in hits_a)
    assert (test.only_first, test.only_second) == (only_a, only_b)
    assert test.p_mcnemar == pytest.approx(binomtest(only_a, only_a + only_b, 0.5).pvalue)
    assert test.difference == pytest.approx(result_a.mean() - result_b.mean())
    assert test.low <= test.difference <= test.high
    mirrored = tests[label_b].comparisons[label_a]
    assert mirrored.difference == pytest.approx(-test.difference)
    assert (mirrored.only_first, mirrored.only_second) == (only_b, only_a)
    assert tests[label_a].mean_r1.value == pytest.approx(result_a.mean())


def test_models_that_rank_other_queries_are_not_paired(comparison):
    (label_a, result_a), (label_b, result_b) = comparison.compared().items()
    fewer = RetrievalResult(
        result_b.languages, result_b.summary, result_b.ranks.iloc[1:], result_b.settings
    )
    results = {label_a: {("seqsim", -1): result_a}, label_b: {("seqsim", -1): fewer}}
    with pytest.warns(UserWarning, match=f"models '{label_a}' and '{label_b}' rank different"):
        tests = ModelComparison(comparison.models, results).significance(samples=50)
    assert tests[label_a].comparisons == {} and tests[label_b].comparisons == {}
    per_pair = (fewer.ranks["rank"] == 1).groupby(
        [fewer.ranks["query_lang"], fewer.ranks["candidate_lang"]]
    )
    assert tests[label_b].mean_r1.value == pytest.approx(per_pair.mean().mean())


def test_the_comparison_report_holds_the_tests_and_a_page_of_every_model(tmp_path, comparison):
    out = tmp_path / "report"
    report = comparison.write(out, "svg")
    (label_a, result_a), (label_b, _) = comparison.compared().items()
    record = json.loads((out / "model_comparison.json").read_text())
    assert record["models"] == [label_a, label_b] and record["layer"] == -1
    tests = comparison.significance()
    saved = record["significance"][label_a]
    assert saved == json.loads(json.dumps(tests[label_a].to_dict()))
    assert [c["name"] for c in saved["comparisons"]] == [label_b]
    markdown = (out / "model_comparison.md").read_text()
    assert "## Significance" in markdown and f"### {label_a}" in markdown
    assert f"| {label_b} | {tests[label_a].comparisons[label_b].queries} |" in markdown
    page = (out / "report.html").read_text()
    assert page.count('<section class="view"') == 2
    assert f'<option value="0">{label_a}</option>' in page
    assert f"<td>{label_a}</td><td>{label_b}</td>" in page  # the paired test, once
    assert f"<td>{label_b}</td><td>{label_a}</td>" not in page
    cells = re.findall(
        r'data-query-lang="(\w+)" data-candidate-lang="(\w+)" data-value="([\d.]+)"', page
    )
    first_view = dict(((q, c), float(v)) for q, c, v in cells[: len(PAIRS)])
    for pair, value in pair_values(result_a).items():
        assert first_view[tuple(pair.split("→"))] == pytest.approx(value, abs=0.05)
    assert {"model_comparison.json", "report.html"} <= set(read_run_record(out)["files"])
    assert out / "report.html" in report.files
