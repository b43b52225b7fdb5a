"""lam3 judge plugin for the Perspective API (Google/Jigsaw), which shuts down on 2026-12-31."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-judges-perspective")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
