"""lam3 judge plugin for the Perspective API (Google/Jigsaw), which shuts down on 2026-12-31."""

__version__ = "0.1.0"
