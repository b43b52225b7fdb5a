"""lam3 dataset plugin: loaders for the standard safety benchmarks (files are read where the user keeps them)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-datasets-safety")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
