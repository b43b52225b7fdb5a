"""The installed version of lam3, from the distribution's metadata (pyproject.toml is the one source)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
