"""Tallying the errors of a stage so that thousands of per-record errors read as a few lines.

Messages that differ only in quoted names or numbers (``no answer for sample id 'q17'``) are
one kind of error; each kind is shown by its first message and its count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_VARIABLE = re.compile(r"'[^']*'|\"[^\"]*\"|\d+(?:\.\d+)?")


def error_kind(message: str) -> str:
    """``message`` with quoted parts and numbers blanked: the key errors are grouped by."""
    return _VARIABLE.sub("…", message)


def tally(messages: Iterable[str], top: int = 5) -> dict:
    """``{"count": total, "kinds": [{"message": first example, "count": n}, ...]}``, most frequent first."""
    kinds: dict[str, list] = {}
    total = 0
    for message in messages:
        total += 1
        entry = kinds.setdefault(error_kind(message), [message, 0])
        entry[1] += 1
    ranked = sorted(kinds.values(), key=lambda e: -e[1])[:top]
    return {"count": total, "kinds": [{"message": m, "count": n} for m, n in ranked]}


def describe(stage: str, tallied: dict, total: int) -> str:
    """One paragraph for stderr and the report: how many records of ``stage`` failed, and how."""
    lines = [f"{stage}: {tallied['count']} of {total} records failed"]
    lines += [f"  {kind['count']}x {kind['message']}" for kind in tallied["kinds"]]
    hidden = tallied["count"] - sum(kind["count"] for kind in tallied["kinds"])
    if hidden:
        lines.append(f"  ... and {hidden} more (see the error field of the records)")
    return "\n".join(lines)
