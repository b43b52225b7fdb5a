"""lam3 judge plugin: Meta's Llama Guard 2 and 3 as policy-risk judges."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-judges-llamaguard")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
