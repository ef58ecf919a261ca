"""The installed version of seqsim."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("seqsim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
