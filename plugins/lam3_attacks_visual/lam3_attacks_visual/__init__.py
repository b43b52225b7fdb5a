"""lam3 attack plugin: typographic image attacks (``figstep``, ``query_relevant``) and white-box ``pgd``."""

from importlib.metadata import version

__version__ = version("lam3-attacks-visual")
