"""lam3 judge plugin: WildGuard as an attack-success judge that also reports refusal."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-judges-wildguard")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
