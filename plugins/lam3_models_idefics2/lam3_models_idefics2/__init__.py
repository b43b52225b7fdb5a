"""lam3 model plugin for Idefics2 (``idefics2``)."""

__version__ = "0.1.0"
