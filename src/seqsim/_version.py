"""The version of seqsim: that of the installed distribution ``seqsim-speech``, else (a source
tree that was not installed) the one pyproject.toml declares."""

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DISTRIBUTION = "seqsim-speech"
"""The name seqsim is installed under (``pip install seqsim-speech``); it imports as ``seqsim``.
The PyPI project ``seqsim`` is an unrelated package."""


def _source_version() -> str:
    """The ``version`` of the pyproject.toml two folders above the package (a source tree)."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        found = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.MULTILINE)
    except OSError:
        found = None
    return found.group(1) if found else "0+unknown"


try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = _source_version()
