"""lam3 model plugin for LLaVA-1.5 (``llava15``)."""

__version__ = "0.1.0"
