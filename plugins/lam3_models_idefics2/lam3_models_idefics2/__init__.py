"""lam3 model plugin for Idefics2 (``idefics2``)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-models-idefics2")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
