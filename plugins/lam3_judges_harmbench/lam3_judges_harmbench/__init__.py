"""lam3 judge plugin: the HarmBench classifiers as attack-success judges."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-judges-harmbench")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
