"""lam3 plugin for POPE (Li et al. 2023): its questions and labels as a dataset, its yes/no rule as a judge."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lam3-datasets-pope")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
