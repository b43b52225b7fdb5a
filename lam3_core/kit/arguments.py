"""Checking the ``--judge-arg`` / ``--model-arg`` values a plugin receives, with one message style."""

from __future__ import annotations

import math
from collections.abc import Sequence

from lam3_core.interfaces.errors import UsageError


def check_number(owner: str, arg: str, value: object, positive: bool = False, integer: bool = False,
                 at_most: float = math.inf) -> None:
    """A usage error naming ``owner.arg`` unless ``value`` is a finite number (an int if ``integer``) in range."""
    kind = int if integer else (int, float)
    if (
        isinstance(value, kind)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 if positive else value >= 0)
        and value <= at_most
    ):
        return
    bound = "greater than 0" if positive else "at least 0"
    if at_most < math.inf:
        bound += f" and at most {at_most:g}"
    raise UsageError(f"Bad {owner}.{arg}: {value!r}.", f"Give {'an integer' if integer else 'a number'} {bound}.")


def check_flag(owner: str, arg: str, value: object) -> None:
    """A usage error naming ``owner.arg`` unless ``value`` is a bool (a YAML or CLI ``true``/``false``)."""
    if not isinstance(value, bool):
        raise UsageError(f"Bad {owner}.{arg}: {value!r}.", "Give true or false.")


def check_choice(owner: str, arg: str, value: object, choices: Sequence[str]) -> None:
    """A usage error naming ``owner.arg`` and the valid choices unless ``value`` is one of them."""
    if value not in choices:
        raise UsageError(f"Bad {owner}.{arg}: {value!r}.", f"Use one of: {', '.join(choices)}.")


def as_names(value: str | Sequence[str] | None) -> list[str]:
    """An argument given as 'A,B' (command line) or as a list (config file or Python)."""
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else value
    return [str(p).strip() for p in parts if str(p).strip()]
