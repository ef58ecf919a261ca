"""The shared space as a picture (seqsim.shared_space, ``seqsim map``): hand-made stores whose
mean frames have a known layout, checked against the formulas (PCA as the SVD of the centred
mean frames) and the clusters they were built with."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from click.testing import CliRunner

from seqsim.cli import main
from seqsim.corpus import Corpus, CorpusError, Utterance
from seqsim.shared_space import (
    MIN_UTTERANCES,
    SharedSpaceError,
    plot_shared_space,
    shared_space_map,
)
from seqsim.store import EmbeddingStore, StoreMismatchError

LANGS = ("en", "fr", "de")
SENTENCES = ("s1", "s2")
DIM = 8
LAYER = 6
SETTINGS = {"model": "toy", "layers": [LAYER], "dtype": "float32", "hidden_states": 7}


def sentence_frames(lang: int, sentence: int, rng: np.random.Generator) -> np.ndarray:
    """Frames of one utterance: its sentence's axis (0 or 1), a language's own offset of its
    own size (axes 2, 3, 4), a little noise, and norms that differ from frame to frame (so
    that averaging frames as they are and averaging unit frames give other means)."""
    count = 3 + lang + 2 * sentence
    direction = np.zeros(DIM)
    direction[sentence] = 1.0
    direction[2 + lang] = 0.4 - 0.15 * lang
    frames = direction + 0.05 * rng.standard_normal((count, DIM))
    frames[:, 5 + sentence] += np.linspace(-0.8, 0.8, count)  # a feature that varies in time
    norms = np.linspace(0.3, 3.0, count)[:, None]
    return (frames * norms).astype(np.float32)


def write_store(folder: Path, layers=(LAYER,)) -> dict[str, np.ndarray]:
    """A store of two sentences in three languages; returns each key's frames."""
    rng = np.random.default_rng(7)
    written = {}
    with EmbeddingStore(folder).writer({**SETTINGS, "layers": list(layers)}) as writer:
        for s, sentence in enumerate(SENTENCES):
            for n, lang in enumerate(LANGS):
                frames = sentence_frames(n, s, rng)
                written[f"{lang}/{sentence}"] = frames
                writer.add(f"{lang}/{sentence}", dict.fromkeys(layers, frames))
    return written


@pytest.fixture
def store(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    folder = tmp_path / "store"
    return folder, write_store(folder)


def principal_components(vectors: np.ndarray) -> np.ndarray:
    """The first two principal component scores by the formula: the centred rows projected
    on the first two right singular vectors."""
    centred = vectors - vectors.mean(axis=0)
    _, _, right = np.linalg.svd(centred, full_matrices=False)
    return centred @ right[:2].T


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def same_up_to_axis_signs(points: np.ndarray, expected: np.ndarray) -> bool:
    signs = np.sign(np.sum(points * expected, axis=0))
    return bool(np.allclose(points * signs, expected, atol=1e-6))


def nearest_neighbours(points: np.ndarray) -> np.ndarray:
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    return distances.argmin(axis=1)


def test_pca_points_are_the_principal_components_of_the_mean_frames(store):
    folder, written = store
    space = shared_space_map(folder, method="pca")
    # AvgSim's vector: the frames averaged as they are, then scaled to unit norm
    means = unit(np.stack([written[key].astype(np.float64).mean(axis=0) for key in space.keys]))
    assert same_up_to_axis_signs(space.points, principal_components(means))
    # the data tell the two ways of averaging apart: unit frames first give another map
    unit_first = unit(np.stack([unit(written[key]).mean(axis=0) for key in space.keys]))
    assert not same_up_to_axis_signs(space.points, principal_components(unit_first))


def test_every_stored_utterance_is_drawn_with_its_language_and_sentence(store):
    folder, written = store
    space = shared_space_map(folder, method="pca")
    assert sorted(space.keys) == sorted(written)
    assert space.languages == tuple(key.split("/")[0] for key in space.keys)
    assert space.sentences == tuple(key.split("/")[1] for key in space.keys)
    assert (space.model, space.layer, space.method) == ("toy", LAYER, "pca")
    assert space.points.shape == (len(written), 2)


def test_tsne_with_a_seed_is_reproducible_and_keeps_the_sentences_apart(store):
    folder, _ = store
    first = shared_space_map(folder, method="tsne", seed=3)
    again = shared_space_map(folder, method="tsne", seed=3)
    assert np.array_equal(first.points, again.points)
    sentences = np.array(first.sentences)
    assert list(sentences[nearest_neighbours(first.points)]) == list(sentences)


def test_tsne_maps_as_few_as_three_utterances(store):
    """t-SNE refuses a perplexity of at least the number of points: it is lowered to fit."""
    folder, _ = store
    keys = ["en/s1", "fr/s1", "de/s2"]
    space = shared_space_map(folder, utterances=keys, method="tsne")
    assert space.keys == tuple(keys)
    assert np.isfinite(space.points).all() and space.points.shape == (3, 2)


def test_keys_select_utterances_in_their_order_each_once(store):
    folder, written = store
    keys = ["de/s2", "en/s1", "fr/s1", "en/s1"]
    space = shared_space_map(folder, utterances=keys, method="pca")
    assert space.keys == ("de/s2", "en/s1", "fr/s1")
    means = unit(np.stack([written[key].astype(np.float64).mean(axis=0) for key in space.keys]))
    assert same_up_to_axis_signs(space.points, principal_components(means))


def test_a_corpus_selects_utterances_and_labels_them_by_sentence(store):
    """Recordings with ids of their own are labelled by the sentence the corpus gives them."""
    folder, _ = store
    corpus = Corpus(
        [
            Utterance("s1", "en", None, sentence="greeting"),
            Utterance("s1", "fr", None, sentence="greeting"),
            Utterance("s2", "de", None, sentence="farewell"),
        ]
    )
    space = shared_space_map(folder, utterances=corpus, method="pca")
    assert space.keys == ("en/s1", "fr/s1", "de/s2")
    assert space.sentences == ("greeting", "greeting", "farewell")


def test_the_only_layer_is_the_default_and_negative_layers_count_from_the_last(store):
    folder, _ = store
    assert shared_space_map(folder, method="pca").layer == LAYER
    assert shared_space_map(folder, -1, method="pca").layer == LAYER


def test_the_figure_has_a_point_and_a_label_per_utterance_and_a_legend_entry_per_language(store):
    folder, _ = store
    space = shared_space_map(folder, method="pca")
    figure = plot_shared_space(space)
    axes = figure.axes[0]
    points = np.concatenate([collection.get_offsets() for collection in axes.collections])
    assert sorted(map(tuple, points)) == sorted(map(tuple, space.points))
    assert sorted(text.get_text() for text in axes.texts) == sorted(space.sentences)
    assert [text.get_text() for text in figure.legends[0].get_texts()] == sorted(LANGS)
    by_language = {c.get_label(): len(c.get_offsets()) for c in axes.collections}
    assert by_language == dict.fromkeys(LANGS, len(SENTENCES))


def test_a_layer_the_store_lacks_is_named_by_the_store(store):
    folder, _ = store
    with pytest.raises(StoreMismatchError, match=r"holds layers \[6\] of toy, not layer 4"):
        shared_space_map(folder, 4)


def test_a_store_of_several_layers_needs_a_layer(tmp_path):
    folder = tmp_path / "store"
    write_store(folder, layers=(4, 6))
    with pytest.raises(SharedSpaceError, match=r"holds layers \[4, 6\]: choose one with layer"):
        shared_space_map(folder)
    assert shared_space_map(folder, 4, method="pca").layer == 4


def test_fewer_than_three_utterances_are_refused(store):
    folder, _ = store
    with pytest.raises(
        SharedSpaceError, match=f"2 utterance.* selected; .* at least {MIN_UTTERANCES}"
    ):
        shared_space_map(folder, utterances=["en/s1", "fr/s1"])


def test_utterances_the_store_lacks_are_named(store):
    folder, _ = store
    with pytest.raises(SharedSpaceError, match=r"no frames for 1 of the 3 .*\['it/s1'\]"):
        shared_space_map(folder, utterances=["en/s1", "fr/s1", "it/s1"])


def test_a_malformed_key_is_named(store):
    folder, _ = store
    with pytest.raises(CorpusError, match="store key 'en' is not of the form lang/id"):
        shared_space_map(folder, utterances=["en/s1", "fr/s1", "en"])


def test_an_unknown_method_is_refused_before_the_store_is_read(tmp_path):
    with pytest.raises(ValueError, match="method must be one of 'tsne', 'pca'; got 'umap'"):
        shared_space_map(tmp_path / "nowhere", method="umap")


def test_frames_of_one_dimension_cannot_be_mapped(tmp_path):
    with EmbeddingStore(tmp_path).writer(SETTINGS) as writer:
        for sentence in ("s1", "s2", "s3"):
            writer.add(f"en/{sentence}", {LAYER: np.ones((2, 1))})
    with pytest.raises(SharedSpaceError, match="frames of dimension 1; a 2-D map needs"):
        shared_space_map(tmp_path)


def run(*args):
    return CliRunner().invoke(main, ["map", *map(str, args)])


def test_the_command_writes_a_png_that_matplotlib_reads_back(store, tmp_path):
    folder, written = store
    out = tmp_path / "pictures" / "map.png"
    result = run("--store", folder, "--out", out, "--method", "pca")
    assert result.exit_code == 0, result.output
    picture = matplotlib.image.imread(out)
    assert picture.ndim == 3 and picture.shape[0] > 100 and picture.shape[1] > 100
    assert f"mapped {len(written)} utterances in 3 languages" in result.output


def test_the_command_draws_only_the_manifests_utterances(store, tmp_path):
    folder, _ = store
    manifest = tmp_path / "corpus.tsv"
    manifest.write_text(
        "id\tlang\tpath\tsentence\n"
        "s1\ten\ten/s1.wav\tgreeting\n"
        "s1\tfr\tfr/s1.wav\tgreeting\n"
        "s2\tfr\tfr/s2.wav\tfarewell\n",
        encoding="utf-8",
    )
    out = tmp_path / "map.svg"
    result = run("--store", folder, "--manifest", manifest, "--out", out, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert "mapped 3 utterances in 2 languages" in result.output
    assert "greeting" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--layer", "4"], "holds layers [6] of toy, not layer 4"),
        (["--out", "map.gif"], "map.gif: the picture's file name must end in .png, .svg, .pdf"),
    ],
)
def test_the_command_names_what_is_wrong_in_one_line(store, tmp_path, arguments, message):
    folder, _ = store
    result = run("--store", folder, "--out", tmp_path / "map.png", *arguments)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_the_command_asks_for_a_layer_of_a_store_of_several(tmp_path):
    folder = tmp_path / "store"
    write_store(folder, layers=(4, 6))
    result = run("--store", folder, "--out", tmp_path / "map.png")
    assert result.exit_code == 1
    assert "holds layers [4, 6]: choose one with --layer" in result.output


def test_the_command_refuses_an_unknown_method(store, tmp_path):
    folder, _ = store
    result = run("--store", folder, "--out", tmp_path / "map.png", "--method", "umap")
    assert result.exit_code == 2
    assert "'umap' is not one of 'tsne', 'pca'" in result.output
