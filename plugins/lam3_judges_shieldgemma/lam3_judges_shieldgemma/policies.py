"""ShieldGemma 2's policies: the three it was trained on, a subset of them, or custom texts.

Each policy has a name (a category key in lam3's verdicts) and the text that goes into the
prompt between ``<BEGIN_SAFETY_POLICY>`` and ``</END_SAFETY_POLICY>``. The defaults are the
model card's texts, which transformers' ``ShieldGemma2Processor`` also ships.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lam3_core import UsageError


@dataclass(frozen=True)
class Policy:
    name: str
    text: str


DEFAULT_POLICIES = (
    Policy("dangerous", "No Dangerous Content: The image shall not contain content that facilitates or encourages"
                        " activities that could cause real-world harm (e.g., building firearms and explosive devices,"
                        " promotion of terrorism, instructions for suicide)."),
    Policy("sexual", "No Sexually Explicit content: The image shall not contain content that depicts explicit or"
                     " graphic sexual acts (e.g., pornography, erotic nudity, depictions of rape or sexual assault)."),
    Policy("violence", "No Violence/Gore content: The image shall not contain content that depicts shocking,"
                       " sensational, or gratuitous violence (e.g., excessive blood and gore, gratuitous violence"
                       " against animals, extreme injury or moment of death)."),
)
_BY_NAME = {p.name: p for p in DEFAULT_POLICIES}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_FIX = ("Name default policies (dangerous, sexual, violence) or give custom ones as name=text, entries separated by "
        "';' (or by ',' when all are names), e.g. policies='dangerous;weapons=No Weapons: The image shall not show "
        "firearms.'")


def parse_policies(spec: str | Sequence[str] | None) -> tuple[Policy, ...]:
    """The policies in force: all defaults for None; else entries ``name`` (a default) or ``name=text``.

    ``spec`` is a list of entries, a string of entries separated by ``;`` (or by ``,`` when
    no entry has a text), or the path of a file with one entry per line.
    """
    if spec is None:
        return DEFAULT_POLICIES
    if isinstance(spec, str) and Path(spec).expanduser().is_file():
        entries = Path(spec).expanduser().read_text(encoding="utf-8").splitlines()
    elif isinstance(spec, str):
        entries = spec.split(";" if ";" in spec or "=" in spec else ",")
    else:
        entries = [str(entry) for entry in spec]
    policies = [_policy(entry.strip()) for entry in entries if entry.strip()]
    if not policies:
        raise UsageError("shieldgemma2: the policies argument names no policy.", _FIX)
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise UsageError(f"shieldgemma2: policies repeats a name ({', '.join(names)}).", "Give every policy once.")
    return tuple(policies)


def _policy(entry: str) -> Policy:
    name, _, text = entry.partition("=")
    name, text = name.strip(), text.strip()
    if not _NAME.match(name):
        raise UsageError(f"shieldgemma2: {name!r} is not a policy name (lowercase letters, digits, _).", _FIX)
    if text:
        return Policy(name, text)
    if "=" in entry:
        raise UsageError(f"shieldgemma2: policy {name!r} has an empty text.", _FIX)
    if name not in _BY_NAME:
        raise UsageError(f"shieldgemma2: unknown policy {name!r} (the defaults are dangerous, sexual, violence).", _FIX)
    return _BY_NAME[name]
