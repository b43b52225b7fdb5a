"""lam3 judge plugin: the StrongREJECT fine-tuned judge as an attack-success judge."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-judges-strongreject")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
