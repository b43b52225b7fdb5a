"""lam3 uncertainty metrics from K sampled answers and their token log-probabilities."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-uncertainty")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
