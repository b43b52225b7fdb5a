"""lam3 model plugin for LLaVA-1.5 (``llava15``)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-models-llava")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
