"""The layout's rules, read from the source: no import cycle between seqsim's modules and
subpackages (function-local imports included: they hide cycles, they do not remove them),
nothing outside ``seqsim.distributed`` takes a cluster (a cluster wraps a metric, an index or
an embedding run instead), and the store imports nothing of audio, encoders or the runs that
fill it (docs/architecture.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import seqsim

SOURCE = Path(seqsim.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """The seqsim modules ``path`` imports anywhere in its code (relative imports resolved)."""
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = (
                package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            )
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            if not node.module:  # from .. import audio: seqsim.audio
                names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("seqsim.")}


def unit(module: str) -> str:
    """What the rule is about: a subpackage (``seqsim.search``) or a top-level module."""
    return ".".join(module.split(".")[:2])


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SOURCE.rglob("*.py"):
        source = unit(module_name(path))
        if source == "seqsim":
            continue  # the package's lazy __init__ names everything
        targets = {unit(name) for name in imported(path)} - {source, "seqsim"}
        graph.setdefault(source, set()).update(targets)
    return graph


def a_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (depth-first search), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], path[len(path) :] = "open", [node]
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    assert a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert a_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_seqsim_has_no_import_cycle():
    graph = import_graph()
    assert "seqsim.distributed" in graph["seqsim.cli"]  # the graph sees function-local imports
    assert a_cycle(graph) is None, " -> ".join(a_cycle(graph) or [])


def test_only_seqsim_distributed_takes_a_cluster():
    takers = []
    for path in SOURCE.rglob("*.py"):
        if unit(module_name(path)) == "seqsim.distributed":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                arguments = node.args.args + node.args.kwonlyargs + node.args.posonlyargs
                if any(argument.arg == "cluster" for argument in arguments):
                    takers.append(f"{module_name(path)}.{node.name}")
    assert takers == []


STORE_MUST_NOT_IMPORT = (
    "seqsim.audio",
    "seqsim.provenance",
    "seqsim.encoders",
    "seqsim.embed_runs",
)
"""What the store must not know (issue 23: the store apart from the runs that fill it): audio,
what audio a key stands for, encoders, and the embed runs."""


def store_imports_it_must_not_have() -> list[str]:
    """``module -> imported`` for every import under ``seqsim/store/`` (function-local ones
    included) of a module of :data:`STORE_MUST_NOT_IMPORT` or one inside it."""
    return sorted(
        f"{module_name(path)} -> {name}"
        for path in (SOURCE / "store").rglob("*.py")
        for name in imported(path)
        if any(name == banned or name.startswith(f"{banned}.") for banned in STORE_MUST_NOT_IMPORT)
    )


def test_the_store_imports_no_audio_provenance_encoders_or_embed_runs():
    assert "seqsim.store.store" in {module_name(p) for p in (SOURCE / "store").rglob("*.py")}
    assert store_imports_it_must_not_have() == []


def test_the_store_rule_fails_on_the_store_that_ran_embed_runs(tmp_path, monkeypatch):
    """store.py's imports when it ran embed runs itself (before issue 23), and the ways around
    the rule (a function-local import, ``from .. import``, a submodule), are each caught."""
    package = tmp_path / "seqsim"
    (package / "store").mkdir(parents=True)
    (package / "store" / "__init__.py").write_text("from .store import EmbeddingStore\n")
    (package / "store" / "store.py").write_text(
        "from ..audio import SAMPLE_RATE, SAMPLES_PER_FRAME, AudioError, describe\n"
        "from ..checks import check_choice\n"
        "from ..provenance import describe_record, identify, same_audio\n"
        "from . import locks\n"
        "\n"
        "def embed(store):\n"
        "    from .. import embed_runs\n"
        "    from seqsim.encoders.base import SpeechEncoder\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "SOURCE", package)
    assert store_imports_it_must_not_have() == [
        "seqsim.store.store -> seqsim.audio",
        "seqsim.store.store -> seqsim.embed_runs",
        "seqsim.store.store -> seqsim.encoders.base",
        "seqsim.store.store -> seqsim.provenance",
    ]
