"""What observers receive: frozen, read-only copies owned by the core.

Lifecycle hooks get copies, never the records lam3 writes and judges: a mapping is a
read-only view of a deep copy and a list is a tuple, so an observer that tries to change
what it receives gets an error (logged as a warning) and the run goes on unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any


def frozen(value: Any) -> Any:
    """A deep, read-only copy: dicts become ``MappingProxyType``, lists and tuples become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: frozen(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(frozen(v) for v in value)
    if isinstance(value, set):
        return frozenset(frozen(v) for v in value)
    return value


@dataclass(frozen=True)
class RunInfo:
    """The run a lifecycle hook is about.

    ``out_dir``: the run directory. ``command``: eval, generate, judge or report.
    ``config``: the resolved configuration (secrets redacted), read-only. ``meta``: meta.json
    as it was when the command started, read-only.
    """

    out_dir: Path
    command: str
    config: Mapping[str, Any]
    meta: Mapping[str, Any]
