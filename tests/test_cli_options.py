"""The CLI's options are declared once and read the library's choices and defaults: every
choice list is the library's list (never a copy written by hand), an option means one default
wherever it appears, and a generator registered by a plugin is usable from `seqsim index
build`."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from helpers import write_manifest

import seqsim.cli
from seqsim import (
    backends,
    corpus,
    encoders,
    evaluation,
    evaluation_options,
    pair,
    ranking,
    report,
    shared_space,
)
from seqsim.backends import resolve_device
from seqsim.cli import main
from seqsim.encoders.whisper import WhisperEmbedder
from seqsim.evaluation_options import ScoringOptions, SearchOptions
from seqsim.mining import defaults as mining_defaults
from seqsim.recipes import fleurs
from seqsim.search import SequenceIndex
from seqsim.search.candidates import GENERATORS
from seqsim.store import store

CLI_FOLDER = Path(seqsim.cli.__file__).parent


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _commands(command: click.Command, path: str = "") -> Iterator[tuple[str, click.Command]]:
    """Every command under ``command`` with its path (``"index build"``)."""
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, f"{path} {name}".strip())
    else:
        yield path, command


def _options() -> Iterator[tuple[str, click.Option]]:
    for path, command in _commands(main):
        for param in command.params:
            if isinstance(param, click.Option):
                yield path, param


def _default_of(option: click.Option) -> object:
    """The default ``option`` declares (None: none)."""
    return option.to_info_dict()["default"]


# What each choice option must offer: the library's own list, where the library checks it.
LIBRARY_CHOICES = {
    "backend": lambda: ("auto", *backends.BACKENDS),
    "normalization": lambda: ranking.NORMALIZATIONS,
    "search": lambda: evaluation_options.SEARCH_MODES,
    "recordings": lambda: evaluation.RECORDINGS,
    "dtype": lambda: store.STORAGE_DTYPES,
    "duplicates": lambda: corpus.DUPLICATES,
    "figure_format": lambda: pair.PICTURE_FORMATS,
    "generator": lambda: tuple(GENERATORS),
    "family": lambda: tuple(encoders.available_encoders()),
    "method": lambda: shared_space.MAP_METHODS,
    "margin": lambda: ranking.MARGINS,
    "direction": lambda: mining_defaults.DIRECTIONS,
    "mining_search": lambda: mining_defaults.SEARCHES,
}


def test_every_choice_list_is_the_library_list():
    seen = set()
    for path, option in _options():
        if isinstance(option.type, click.Choice):
            assert option.name in LIBRARY_CHOICES, (
                f"seqsim {path} {option.opts[0]}: say which library list it offers"
            )
            assert tuple(option.type.choices) == tuple(LIBRARY_CHOICES[option.name]()), path
            seen.add(option.name)
    assert seen == set(LIBRARY_CHOICES)
    # one list of recordings, which the evaluator and the FLEURS recipe both check against
    assert evaluation.RECORDINGS is fleurs.RECORDINGS
    assert report.PICTURE_FORMATS is pair.PICTURE_FORMATS


def _literal_choices(source: str) -> list[int]:
    """Lines where ``click.Choice`` (or ``Choice``) is given a list written out."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) == "Choice"
        and node.args
        and isinstance(node.args[0], ast.List | ast.Tuple | ast.Set)
    ]


def test_no_choice_list_is_written_out_in_the_cli():
    assert _literal_choices('click.Choice(["png", "svg"])\nChoice(("a",))') == [1, 2]
    assert _literal_choices("click.Choice(PICTURE_FORMATS)") == []
    written_out = {
        module.name: lines
        for module in sorted(CLI_FOLDER.glob("*.py"))
        if (lines := _literal_choices(module.read_text()))
    }
    assert written_out == {}


# Options that mean a different default on purpose, and why.
DIFFERENT_ON_PURPOSE = {
    "--recordings": "prepare fleurs keeps the paper's protocol (one); evaluate takes all the "
    "manifest holds",
    "--layers": "the demo shows whisper-base's final layer by its index (6)",
    "--layer": "the same option as --layers",
    "--k": "mine averages LASER's 4 neighbours; search lists 10 hits, evaluate's CSLS 10",
    "--search": "mine switches between exhaustive and the index by size (auto)",
}


def test_no_option_means_two_defaults():
    defaults = defaultdict(set)
    for _, option in _options():
        default = _default_of(option)
        if default is not None and not option.is_flag:
            for name in option.opts:
                defaults[name].add(str(default))
    differing = {name: values for name, values in defaults.items() if len(values) > 1}
    assert set(differing) <= set(DIFFERENT_ON_PURPOSE), differing
    # every command that takes a device says so, and means the same one (left out too)
    assert [_default_of(o) for _, o in _options() if o.name == "device"] == ["auto"] * 5


def _default(path: str, name: str):
    command = dict(_commands(main))[path]
    return _default_of(next(p for p in command.params if p.name == name))


def _signature_default(function, name: str):
    return inspect.signature(function).parameters[name].default


def test_the_cli_defaults_are_the_library_defaults():
    assert _default("index build", "metric") == _signature_default(SequenceIndex, "metric")
    assert _default("index build", "generator") == _signature_default(SequenceIndex, "generator")
    assert _default("index build", "layer") == _signature_default(SequenceIndex.from_store, "layer")
    assert _default("search", "k") == _signature_default(SequenceIndex.search, "k")
    scoring, search = ScoringOptions(), SearchOptions()
    assert _default("evaluate", "k") == scoring.k
    assert _default("evaluate", "normalization") == scoring.normalization
    assert _default("evaluate", "bootstrap") == scoring.bootstrap
    assert _default("evaluate", "seed") == scoring.seed
    assert _default("evaluate", "search") == search.mode
    assert _default("evaluate", "candidates") == search.candidates
    assert (
        _default("evaluate", "metrics")
        == _signature_default(evaluation.evaluate_grid, "metrics")[0]
    )
    assert _default("embed", "device") == _signature_default(WhisperEmbedder, "device")
    # evaluate and search hand their device to functions whose default is None: the same
    assert resolve_device(_default("evaluate", "device")) == resolve_device(None)


PLUGIN = """
from seqsim.search import MeanPooled, register_generator


@register_generator("mine")
class Mine(MeanPooled):
    '''The nearest mean vectors, under a name of its own; it takes --per-frame too.'''

    def __init__(self, per_frame=None, factory="Flat"):
        super().__init__(factory)
        self.per_frame = per_frame

    def options(self):
        return {**super().options(), "per_frame": self.per_frame}
"""


@pytest.fixture
def registry_restored():
    """The generator registry as it was, once the test's plugin has added to it."""
    before = dict(GENERATORS)
    yield
    GENERATORS.clear()
    GENERATORS.update(before)


def test_a_generator_registered_by_a_plugin_builds_and_searches(
    tmp_path, tiny_whisper_dir, registry_restored
):
    plugin = tmp_path / "plugin.py"
    plugin.write_text(textwrap.dedent(PLUGIN))
    store_path = tmp_path / "store"
    embedded = run(
        "embed", write_manifest(tmp_path), "--model", tiny_whisper_dir, "--out", store_path
    )
    assert embedded.exit_code == 0, embedded.output
    index_path = tmp_path / "mine.index"
    # without the plugin the name is unknown, and the message lists the registered ones
    unknown = run(
        "index", "build", "--store", store_path, "--out", index_path, "--generator", "mine"
    )
    assert unknown.exit_code == 2
    assert "'mine' is not one of 'mean', 'frames', 'centroids'" in unknown.output
    assert not index_path.exists()

    built = run(
        "--import", plugin, "index", "build", "--store", store_path, "--out", index_path,
        "--generator", "mine", "--per-frame", "3", "--rescore", "7", "--candidates", "15",
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    index = SequenceIndex.load(index_path)
    assert type(index.generator).__name__ == "Mine"
    # the options it names reach it (--per-frame, --factory); --rescore it does not take
    assert index.generator.options() == {"generator": "mine", "factory": "Flat", "per_frame": 3}
    del GENERATORS["mine"]  # each command runs in a process of its own, which knows no plugin

    hits = tmp_path / "hits.tsv"
    searched = run(
        "--import", plugin, "search", index_path, "--store", store_path, "--k", "1",
        "--out", hits,
    )  # fmt: skip
    assert searched.exit_code == 0, searched.output
    rows = [line.split("\t") for line in hits.read_text().splitlines()[1:]]
    # a shortlist of every utterance reranked by SeqSim: each query finds itself first
    assert len(rows) == 15 and all(query == hit for query, _, hit, _ in rows)


# ---------------------------------------------------------------------- metric options


@pytest.fixture
def hand_store(tmp_path):
    """Three languages of six sentences, random frames of varied lengths (no model)."""
    import numpy as np

    from seqsim.store import EmbeddingStore

    rng = np.random.default_rng(7)
    settings = {"model": "hand", "layers": [0], "dtype": "float32", "hidden_states": 1}
    path = tmp_path / "hand-store"
    sentences = [rng.standard_normal((int(rng.integers(3, 9)), 4)) for _ in range(6)]
    with store.EmbeddingStore(path).writer(settings) as writer:
        for number, lang in enumerate(("aa", "bb", "cc")):
            for k, frames in enumerate(sentences):
                noise = rng.standard_normal(frames.shape) * (0.6 + 0.3 * number)
                writer.add(f"{lang}/{k}", {0: (frames + noise).astype(np.float32)})
    return EmbeddingStore(path)


def test_metric_options_reach_the_metrics_that_declare_them(hand_store, tmp_path):
    from seqsim.metrics import DTWSim, OTSim, SeqSim

    out = tmp_path / "report"
    result = run(
        "evaluate", "--store", hand_store.path, "--layer", "0", "--metric", "seqsim,dtw,ot",
        "--metric-option", "window=1", "--metric-option", "ot.solver=sinkhorn",
        "--metric-option", "reg=0.5", "--backend", "numba", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = {
        "seqsim": SeqSim(backend="numba"),
        "dtw": DTWSim(window=1, backend="numba"),
        "ot": OTSim("sinkhorn", reg=0.5, backend="numba"),
    }
    for name, metric in expected.items():
        written = report.RetrievalResult.load(out / f"{name}_layer0")
        alone = evaluation.evaluate(store=hand_store.path, layer=0, metric=metric, progress=False)
        assert written.settings["metric"] == name
        assert written.settings["metric_options"] == {
            k: v for k, v in metric.settings().items() if k != "metric"
        }
        assert written.matrix("r@1").equals(alone.matrix("r@1")), name


@pytest.mark.parametrize(
    ("metrics", "option", "message"),
    [
        ("seqsim", "window=3", "window: no chosen metric takes it (seqsim: output)"),
        ("seqsim,avgsim", "dtw.window=3", "dtw.window: 'dtw' is not among --metric"),
        ("dtw", "window=-2", "window"),
        ("dtw", "window", "'window': give KEY=VALUE"),
    ],
)
def test_a_metric_option_no_chosen_metric_takes_is_a_usage_error(
    hand_store, tmp_path, metrics, option, message
):
    out = tmp_path / "report"
    result = run(
        "evaluate", "--store", hand_store.path, "--layer", "0", "--metric", metrics,
        "--metric-option", option, "--out", out,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--metric-option" in result.output and message in result.output
    assert not out.exists()


def test_a_metrics_own_normalization_is_kept_apart_from_the_scores_and_hashed(hand_store):
    """DTW's ``normalization`` (of the path cost) and the evaluator's (of the scores, CSLS or
    margin) share a name: both are recorded, and two DTW normalizations hash differently."""
    from seqsim.metrics import DTWSim

    results = {
        kind: evaluation.evaluate(
            store=hand_store.path,
            layer=0,
            metric=DTWSim(normalization=kind, backend="numba"),
            scoring=ScoringOptions("csls"),
            progress=False,
        )
        for kind in ("sum", "path")
    }
    for kind, result in results.items():
        assert result.settings["metric_options"]["normalization"] == kind
        assert result.settings["normalization"] == "csls"
    assert results["sum"].settings_hash != results["path"].settings_hash
