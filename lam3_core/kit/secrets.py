"""Keeping secrets out of everything lam3 writes: arguments, command lines, error texts.

An argument one of whose name parts (split at ``_``, ``-`` and ``.``) is key, token, secret,
password or apikey is a secret (``api_key``, ``hf_token``, ``x-api-key``; not ``max_new_tokens``
or ``keywords``): meta.json,
summaries and logs record '***' instead of its value, and the judge cache leaves it out of
its keys. API plugins ``scrub`` the key from any text (error messages echo URLs with
``?key=...``) before it can reach a record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import quote, quote_plus

SECRET_WORDS = frozenset({"key", "token", "secret", "password", "apikey", "passwd"})


def is_secret(name: str) -> bool:
    """Whether an argument called ``name`` holds a secret."""
    return any(part in SECRET_WORDS for part in re.split(r"[_\-.]+", name.lower()))


def redact(config: Mapping) -> dict:
    """A copy of ``config`` with every set value whose key looks like a secret replaced by '***'."""
    return {k: ("***" if is_secret(k) and v else v) for k, v in config.items()}


def redact_argv(argv: Sequence[str]) -> list[str]:
    """The command line with the value of any secret-looking ``k=v`` argument hidden."""
    out = []
    for arg in argv:
        key, sep, _ = arg.partition("=")
        out.append(f"{key}=***" if sep and is_secret(key) else arg)
    return out


def scrub(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` replaced by '***', also where it appears URL-encoded (``?key=...``). Only whole
    occurrences (not inside a longer run of letters and digits) count: a short test key such as ``x`` must not
    turn "detoxify" into "deto***ify"."""
    if not secret:
        return text
    forms = sorted({secret, quote(secret, safe=""), quote_plus(secret)}, key=len, reverse=True)
    pattern = "|".join(re.escape(form) for form in forms)
    return re.sub(rf"(?<![A-Za-z0-9])(?:{pattern})(?![A-Za-z0-9])", "***", text)
