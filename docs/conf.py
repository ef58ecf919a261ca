"""Sphinx configuration of the seqsim documentation.

Build it with ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (after
``pip install -e ".[docs]"``); CI builds it the same way, so a warning fails the build.

Theme: furo. It is actively maintained, needs nothing besides Sphinx (pydata-sphinx-theme
brings a Bootstrap stack and more packages), and its single sidebar of pages and per-page table
of contents suits a handful of narrative pages next to a long API reference; it has a dark mode.

Pages are Markdown (MyST-Parser); the API reference is generated from the docstrings
(autodoc, NumPy style through napoleon, autosummary tables). No intersphinx: the build must not
need the network. Optional packages that may be absent (Ray, Triton) are mocked, so the build
needs neither them nor a GPU.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import seqsim  # noqa: E402

project = "seqsim"
author = "seqsim developers"
copyright = "seqsim developers"
version = release = seqsim.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
# No page may be called search.md: Sphinx writes its own search page to search.html.
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

html_theme = "furo"
html_title = f"seqsim {release}"

# MyST: $...$ and $$...$$ math, anchors for headings (pages link to sections by slug, as on
# GitHub), and ``{eval-rst}`` blocks for the autodoc directives.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc: members in source order, type hints in the descriptions (signatures stay readable).
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autoclass_content = "class"
autosummary_generate = False  # tables only; the pages under api/ hold the automodule directives

napoleon_google_docstring = False
napoleon_numpy_docstring = True
# An "Attributes" section becomes fields of the class's description, not attribute entries of
# their own, so it never collides with an attribute's doc-comment (``self.x = ...`` followed
# by a string), which autodoc documents too.
napoleon_use_ivar = True

# Docstrings give parameter types in words ("list of (frames, dim) arrays"); Sphinx links each
# word it can, and a word such as ``dim`` that names attributes of several classes is
# ambiguous. Such prose types are not references: do not warn about them.
suppress_warnings = ["ref.python"]

# Optional extras: a build without them documents the same API.
autodoc_mock_imports = [
    name for name in ("ray", "triton") if importlib.util.find_spec(name) is None
]

PUBLIC_MODULES = (
    "seqsim",
    "seqsim.metrics",
    "seqsim.functional",
    "seqsim.store",
    "seqsim.embed_runs",
    "seqsim.search",
    "seqsim.distributed",
    "seqsim.recipes",
)
"""Packages whose ``__all__`` is the public API: every name in it must be documented."""

logger = logging.getLogger(__name__)


def _documented(env: BuildEnvironment) -> tuple[set[int], set[str]]:
    """The Python objects the pages document, whatever name they are documented under: their
    ids, and the last parts of their names (for constants, whose ids are not their own)."""
    ids, names = set(), set()
    for full_name in env.get_domain("py").objects:
        owner_name, _, attribute = full_name.rpartition(".")
        names.add(attribute)
        try:
            owner: Any = importlib.import_module(owner_name) if owner_name else None
        except ImportError:
            continue  # a method or attribute: documented with its class
        if owner is not None and hasattr(owner, attribute):
            ids.add(id(inspect.unwrap(getattr(owner, attribute))))
    return ids, names


def check_public_api_documented(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn (an error under ``-W``) for every name of a public ``__all__`` no page documents."""
    ids, names = _documented(env)
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = inspect.unwrap(getattr(module, name))
            constant = isinstance(value, (str, int, float))
            if not (name in names if constant else id(value) in ids):
                logger.warning(f"{module_name}.{name} is in __all__ but no API page documents it")


def setup(app: Sphinx) -> None:
    app.connect("env-check-consistency", check_public_api_documented)
