"""lam3 judge plugin: Detoxify (original, unbiased, multilingual) social-toxicity classifiers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-judges-detoxify")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
