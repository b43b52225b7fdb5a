"""lam3 uncertainty metrics from K sampled answers and their token log-probabilities."""

from importlib.metadata import version

__version__ = version("lam3-uncertainty")
