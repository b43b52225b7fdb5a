"""Example third-party lam3 plugin: the `wordlist` judge."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-example-wordlist")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
