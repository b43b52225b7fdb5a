"""Checks of ``--attack-arg`` values that lam3_core.kit.arguments does not cover: flags and choices."""

from __future__ import annotations

from collections.abc import Sequence

from lam3_core import UsageError


def check_flag(owner: str, name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise UsageError(f"Bad {owner}.{name}: {value!r}.", "Give true or false.")


def check_choice(owner: str, name: str, value: object, choices: Sequence[str]) -> None:
    if value not in choices:
        raise UsageError(f"Bad {owner}.{name}: {value!r}.", f"Use one of: {', '.join(choices)}.")
