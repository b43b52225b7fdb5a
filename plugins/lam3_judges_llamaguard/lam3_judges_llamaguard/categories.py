"""Llama Guard hazard categories: the official lists, user-supplied lists, and the verdict parser.

The prompt uses Meta's short *prompt* names (``S3: Sex Crimes.``), not the model cards'
display names (``Sex-Related Crimes``), and the numbering differs between versions
(S5 is Specialized Advice in Llama Guard 2 but Defamation in Llama Guard 3), so every
version keeps its own list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lam3_core import UsageError

_CODE_LINE = re.compile(r"^([A-Z]{1,3}\d{1,3}):\s*(.*)$")
_CODE = re.compile(r"^[A-Z]{1,3}\d{1,3}$")


@dataclass(frozen=True)
class Category:
    """One policy entry: its code (``S1``) and the text after ``S1: `` (name, optional description lines)."""

    code: str
    text: str


def _official(names: Sequence[str]) -> tuple[Category, ...]:
    return tuple(Category(f"S{i}", name) for i, name in enumerate(names, start=1))


LLAMA_GUARD_2 = _official([
    "Violent Crimes.", "Non-Violent Crimes.", "Sex Crimes.", "Child Exploitation.", "Specialized Advice.",
    "Privacy.", "Intellectual Property.", "Indiscriminate Weapons.", "Hate.", "Self-Harm.", "Sexual Content.",
])
LLAMA_GUARD_3 = _official([
    "Violent Crimes.", "Non-Violent Crimes.", "Sex Crimes.", "Child Exploitation.", "Defamation.",
    "Specialized Advice.", "Privacy.", "Intellectual Property.", "Indiscriminate Weapons.", "Hate.", "Self-Harm.",
    "Sexual Content.", "Elections.", "Code Interpreter Abuse.",
])
LLAMA_GUARD_3_VISION = LLAMA_GUARD_3[:13]
"""Llama Guard 3 Vision's template lists S1-S13: Code Interpreter Abuse is a text-only category."""
LLAMA_GUARD_4 = LLAMA_GUARD_3
"""Llama Guard 4 keeps Llama Guard 3's numbering; its template drops S14 when the conversation has an image."""


def load_categories(spec: str | Sequence[str]) -> tuple[Category, ...]:
    """A custom policy from a file path, a ``"S1: Name.;S2: Name."`` string, or a list of ``"S1: Name."``.

    In a file every line that starts with a code (``S1:``) opens a category; other lines are
    that category's description and stay attached to it.
    """
    if isinstance(spec, str) and Path(spec).expanduser().is_file():
        lines = Path(spec).expanduser().read_text(encoding="utf-8").splitlines()
        source = spec
    elif isinstance(spec, str):
        lines = [part.strip() for part in spec.split(";") if part.strip()]
        source = "the categories argument"
    else:
        lines = [str(part).strip() for part in spec]
        source = "the categories argument"
    entries: list[list[str]] = []
    for line in lines:
        match = _CODE_LINE.match(line.strip())
        if match:
            entries.append([match.group(1), match.group(2).strip()])
        elif line.strip() and entries:
            entries[-1][1] += "\n" + line.rstrip()
        elif line.strip():
            raise UsageError(f"{source}: {line.strip()!r} does not start with a category code like 'S1:'.",
                             "Write each category as 'S1: Violent Crimes.' (description lines may follow in a file).")
    codes = [code for code, _ in entries]
    if not entries:
        raise UsageError(f"{source} holds no categories.", "Pass categories='S1: Violent Crimes.;S2: Hate.' or a file.")
    if len(set(codes)) != len(codes):
        raise UsageError(f"{source} repeats a category code ({', '.join(codes)}).", "Give every category its own code.")
    if any(not text for _, text in entries):
        raise UsageError(f"{source}: a category has a code but no name.", "Write it as 'S1: Violent Crimes.'.")
    return tuple(Category(code, text) for code, text in entries)


class MalformedVerdict(ValueError):
    """The guard's generated text is not ``safe`` or ``unsafe`` + a line of known category codes."""


def parse_verdict(text: str, codes: Sequence[str]) -> tuple[str, list[str]]:
    """``("safe", [])`` or ``("unsafe", ["S1", "S10"])`` from the guard's output; raises ``MalformedVerdict``.

    Meta's format: first line ``safe`` or ``unsafe``; if unsafe, a second line with a
    comma-separated list of the violated codes. Anything else (no category line, an
    unknown or repeated code, extra lines) is rejected rather than guessed at.
    """
    lines = [line.strip() for line in text.strip().split("\n")]
    if lines[0] == "safe":
        if len(lines) > 1:
            raise MalformedVerdict(f"'safe' must be the only line ({len(lines) - 1} lines follow)")
        return "safe", []
    if lines[0] != "unsafe":
        raise MalformedVerdict(f"first line is {lines[0][:40]!r}, not 'safe' or 'unsafe'")
    if len(lines) != 2:
        raise MalformedVerdict("'unsafe' must be followed by exactly one line of categories"
                               f" ({len(lines) - 1} lines follow)")
    found = [part.strip() for part in lines[1].split(",")]
    bad = [c for c in found if not _CODE.match(c) or c not in codes]
    if bad:
        raise MalformedVerdict(f"unknown category code(s) {bad} (known: {', '.join(codes)})")
    if len(set(found)) != len(found):
        raise MalformedVerdict(f"repeated category code in {lines[1]!r}")
    return "unsafe", found
