"""lam3 judge plugin: Hugging Face text classifiers and zero-shot NLI as judges."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-judges-hf")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
