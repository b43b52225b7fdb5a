"""lam3 attack plugin: typographic image attacks (``figstep``, ``query_relevant``) and white-box ``pgd``."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-attacks-visual")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
