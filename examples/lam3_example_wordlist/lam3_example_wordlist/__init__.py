"""Example third-party lam3 plugin: the `wordlist` judge."""

__version__ = "0.1.0"
