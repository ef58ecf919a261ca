"""The pair picture (seqsim.pair, `seqsim pair`): its data against hand-derived values and an
independent numpy computation, the figure's axes in seconds, the words file, and the CLI."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import soundfile
import torch
from click.testing import CliRunner
from helpers import tone
from matplotlib.colorbar import Colorbar

from seqsim.cli import main
from seqsim.pair import Word, pair_similarity, picture_format, plot_pair, read_words

# A 2x3 case, frames deliberately not unit-norm:
#   a0 = (1, 0), a1 = (0, 1);  b0 = (3, 0), b1 = (1, 2), b2 = (0, -2)
# cosines (|b1| = sqrt 5, s = 1/sqrt 5):
#   a0: [1,  s, 0]        row max 1  at b0
#   a1: [0, 2s, -1]       row max 2s at b1
# column maxima: b0 -> 1 at a0, b1 -> 2s at a1, b2 -> 0 at a0
# R = (1 + 2s) / 2, P = (1 + 2s + 0) / 3, F1 = 2PR / (P + R) = 2 (1 + 2s) / 5.
A = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
B = np.array([[3.0, 0.0], [1.0, 2.0], [0.0, -2.0]], dtype=np.float32)
S = 1 / math.sqrt(5)
HAND_COSINES = [[1.0, S, 0.0], [0.0, 2 * S, -1.0]]
HAND_RECALL = (1 + 2 * S) / 2
HAND_PRECISION = (1 + 2 * S) / 3
HAND_F1 = 2 * (1 + 2 * S) / 5


def test_two_by_three_by_hand():
    pair = pair_similarity(A, B)
    np.testing.assert_allclose(pair.cosines, HAND_COSINES, atol=1e-6)
    assert pair.best_b_for_a.tolist() == [0, 1]
    assert pair.best_a_for_b.tolist() == [0, 1, 0]
    assert pair.recall == pytest.approx(HAND_RECALL, abs=1e-6)
    assert pair.precision == pytest.approx(HAND_PRECISION, abs=1e-6)
    assert pair.f1 == pytest.approx(HAND_F1, abs=1e-6)


@pytest.mark.parametrize("kind", ["float32", "float16", "tensor"])
def test_matches_an_independent_numpy_computation(kind):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((17, 8)) + 0.5
    b = rng.standard_normal((11, 8)) + 0.5
    ua = a / np.linalg.norm(a, axis=1, keepdims=True)
    ub = b / np.linalg.norm(b, axis=1, keepdims=True)
    cosines = ua @ ub.T
    recall, precision = cosines.max(axis=1).mean(), cosines.max(axis=0).mean()
    inputs = {
        "float32": (a.astype(np.float32), b.astype(np.float32)),
        "float16": (a.astype(np.float16), b.astype(np.float16)),
        "tensor": (torch.from_numpy(a).float(), torch.from_numpy(b).float()),
    }[kind]
    atol = 2e-3 if kind == "float16" else 1e-5
    pair = pair_similarity(*inputs)
    assert pair.cosines.shape == (17, 11)
    np.testing.assert_allclose(pair.cosines, cosines, atol=atol)
    if kind != "float16":  # float16 rounding may swap near-ties
        assert pair.best_b_for_a.tolist() == cosines.argmax(axis=1).tolist()
        assert pair.best_a_for_b.tolist() == cosines.argmax(axis=0).tolist()
    assert pair.recall == pytest.approx(recall, abs=atol)
    assert pair.precision == pytest.approx(precision, abs=atol)
    assert pair.f1 == pytest.approx(2 * precision * recall / (precision + recall), abs=atol)


def test_swapping_the_pair_transposes_it():
    forward, backward = pair_similarity(A, B), pair_similarity(B, A)
    np.testing.assert_allclose(backward.cosines, forward.cosines.T)
    assert backward.best_a_for_b.tolist() == forward.best_b_for_a.tolist()
    assert (backward.precision, backward.recall) == pytest.approx(
        (forward.recall, forward.precision)
    )


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((0, 2), np.float32), B, "a[0] is empty"),
        (A, np.ones(3, np.float32), "b[0] has shape (3,)"),
        (A, np.array([[np.nan, 1.0]], np.float32), "b[0] has a NaN"),
        (A, np.ones((2, 5), np.float32), "same dimension, got 2 and 5"),
    ],
)
def test_bad_frames_are_named(a, b, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        pair_similarity(a, b)


def _secondary_tick_labels(axes):
    return [
        [label.get_text() for label in (*child.get_xticklabels(), *child.get_yticklabels())]
        for child in axes.child_axes
    ]


def test_figure_axes_in_seconds_words_colour_bar_and_title():
    pair = pair_similarity(A, B)  # a: 2 frames (0.04 s) up, b: 3 frames (0.06 s) across
    figure = plot_pair(
        pair,
        label_a="en/a.wav",
        label_b="fr/b.wav",
        words_a=[Word("one", 0.0, 0.02), Word("two", 0.02, 0.04)],
        words_b=[Word("un", 0.0, 0.04)],
        title="model, layer 2",
    )
    axes, colour_bar_axes = figure.axes
    assert axes.get_xlim() == pytest.approx((0.0, 0.06))
    assert axes.get_ylim() == pytest.approx((0.0, 0.04))
    assert axes.get_xlabel() == "fr/b.wav: time (s)"
    assert axes.get_ylabel() == "en/a.wav: time (s)"
    assert isinstance(getattr(colour_bar_axes, "_colorbar", None), Colorbar)
    assert colour_bar_axes.get_ylabel() == "frame cosine"
    title = axes.get_title()
    assert title.startswith("model, layer 2\n")
    for name, value in (("P", HAND_PRECISION), ("R", HAND_RECALL), ("F1", HAND_F1)):
        assert f"{name} = {value:.3f}" in title
    assert sorted(_secondary_tick_labels(axes)) == [["one", "two"], ["un"]]
    # every frame's best match, at frame centres in seconds: a0 -> b0, a1 -> b1 (circles);
    # b0 -> a0, b1 -> a1, b2 -> a0 (crosses)
    circles, crosses = (line for line in axes.get_lines() if line.get_label() != "_nolegend_")
    np.testing.assert_allclose(circles.get_xdata(), [0.01, 0.03])
    np.testing.assert_allclose(circles.get_ydata(), [0.01, 0.03])
    np.testing.assert_allclose(crosses.get_xdata(), [0.01, 0.03, 0.05])
    np.testing.assert_allclose(crosses.get_ydata(), [0.01, 0.03, 0.01])
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == [
        "best fr/b.wav frame for each en/a.wav frame (recall)",
        "best en/a.wav frame for each fr/b.wav frame (precision)",
    ]


def test_figure_refuses_a_word_beyond_the_frames():
    with pytest.raises(ValueError, match=r"B word 0: word 'late' ends at 0.1 s, after the end"):
        plot_pair(pair_similarity(A, B), words_b=[Word("late", 0.0, 0.1)])


def test_figure_leaves_pyplot_alone():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_pair(pair_similarity(A, B))
    assert plt.get_fignums() == before


def test_picture_format():
    assert [picture_format(p) for p in ("x.png", "x.SVG", "d/x.pdf")] == ["png", "svg", "pdf"]
    with pytest.raises(ValueError, match=r"x\.jpg: .* \.png, \.svg, \.pdf"):
        picture_format("x.jpg")


@pytest.mark.parametrize("header", ["word\tstart\tend\n", ""])
def test_read_words_with_or_without_header(tmp_path, header):
    path = tmp_path / "w.tsv"
    path.write_text(header + "le\t0\t0.2\n\n  chat \t0.25\t0.5\n", encoding="utf-8")
    assert read_words(path, duration=0.5) == [Word("le", 0.0, 0.2), Word("chat", 0.25, 0.5)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\t0\t0.1\nb\t0.1\n", r"w\.tsv:2: expected 3 tab-separated fields .*, got 2"),
        ("word\tstart\tend\na\t0\tsoon\n", r"w\.tsv:2: start and end must be numbers .*'soon'"),
        ("a\t0.3\t0.2\n", r"w\.tsv:1: word 'a' must end after it starts"),
        ("a\t-0.1\t0.2\n", r"w\.tsv:1: word 'a' starts before 0 s"),
        ("a\t0\tnan\n", r"w\.tsv:1: start and end must be finite"),
        ("\t0\t0.2\n", r"w\.tsv:1: the word is empty"),
        ("a\t0\t0.3\nb\t0.2\t0.4\n", r"w\.tsv:2: word 'b' starts at 0.2 s, before .* 'a' ends"),
        ("a\t0\t0.5\nb\t0.5\t1.2\n", r"w\.tsv:2: word 'b' ends at 1.2 s, after the end of the"),
        ("word\tstart\tend\n\n", r"w\.tsv: no words"),
    ],
)
def test_read_words_names_the_bad_line(tmp_path, text, message):
    path = tmp_path / "w.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_words(path, duration=1.0)


def test_read_words_bad_files(tmp_path):
    with pytest.raises(ValueError, match=r"missing\.tsv: words file not found"):
        read_words(tmp_path / "missing.tsv")
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("café\t0\t1\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.tsv: not UTF-8"):
        read_words(latin)


@pytest.fixture
def audio_pair(tmp_path):
    """Two tones: 'en' of 0.5 s (25 frames) and 'fr' of 0.7 s (35 frames)."""
    paths = []
    for lang, seconds, frequency in (("en", 0.5, 300.0), ("fr", 0.7, 500.0)):
        path = tmp_path / lang / "s01.wav"
        path.parent.mkdir()
        soundfile.write(path, tone(seconds, frequency=frequency), 16_000)
        paths.append(path)
    return paths


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_writes_png_and_svg(audio_pair, tiny_whisper_dir, tmp_path):
    en, fr = audio_pair
    words = tmp_path / "fr.tsv"
    words.write_text("word\tstart\tend\nbonjour\t0.1\t0.4\nmonde\t0.45\t0.7\n", encoding="utf-8")
    png = tmp_path / "out" / "pair.png"
    result = run(
        "pair", en, fr, "--out", png, "--model", tiny_whisper_dir, "--layer", "2",
        "--words-b", words, "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(25 x 35 frames)" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "pair.svg"
    result = run("pair", en, fr, "--out", svg, "--model", tiny_whisper_dir, "--words-b", words)
    assert result.exit_code == 0, result.output
    text = svg.read_text()
    assert "<svg" in text and "bonjour" in text and "fr/s01.wav: time (s)" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"out": "pair.jpg"}, "pair.jpg: the picture's file name must end in .png"),
        ({"audio_b": "missing.wav"}, "missing.wav: file not found"),
        ({"words_a": "a\t0\t0.2\nb\t0.2\n"}, "words.tsv:2: expected 3 tab-separated fields"),
        ({"words_a": "a\t0\t0.2\nb\t0.2\t0.9\n"}, "words.tsv:2: word 'b' ends at 0.9 s, after"),
    ],
)
def test_cli_errors_before_loading_the_model(audio_pair, tmp_path, change, message):
    en, fr = audio_pair
    args = {"audio_a": en, "audio_b": fr, "out": tmp_path / "pair.png"}
    if "out" in change:
        args["out"] = tmp_path / change["out"]
    if "audio_b" in change:
        args["audio_b"] = tmp_path / change["audio_b"]
    extra = []
    if "words_a" in change:
        words = tmp_path / "words.tsv"
        words.write_text(change["words_a"], encoding="utf-8")
        extra = ["--words-a", words]
    # a model that does not exist: each error must come before any model is loaded
    result = run(
        "pair", args["audio_a"], args["audio_b"], "--out", args["out"],
        "--model", tmp_path / "no-model", *extra,
    )  # fmt: skip
    assert result.exit_code == 1
    assert message in result.output
    assert not (tmp_path / "pair.png").exists()


def test_cli_bad_layer_is_named(audio_pair, tiny_whisper_dir, tmp_path):
    en, fr = audio_pair
    out = tmp_path / "pair.png"
    result = run("pair", en, fr, "--out", out, "--model", tiny_whisper_dir, "--layer", "7")
    assert result.exit_code == 1
    assert "layer 7 does not exist" in result.output
