"""The layout's rules, read from the source: no import cycle between seqsim's modules and
subpackages (function-local imports included: they hide cycles, they do not remove them), and
nothing outside ``seqsim.distributed`` takes a cluster (a cluster wraps a metric, an index or
an embedding run instead: docs/architecture.md)."""

from __future__ import annotations

import ast
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
            names.add(".".join([*base, *([node.module] if node.module else [])]))
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
