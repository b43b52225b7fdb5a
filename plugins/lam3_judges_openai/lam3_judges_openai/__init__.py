"""lam3 judge plugin for the OpenAI Moderation API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-judges-openai")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
