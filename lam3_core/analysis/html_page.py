"""Self-contained HTML pages (report.html, comparison.html): Jinja2 with autoescaping, nothing fetched.

Every value from a run (responses, prompts, ids, categories, judge output) reaches the page
through Jinja2's autoescaping, never by hand. The page's own CSS and script are inlined and
allowed by their SHA-256 in a Content-Security-Policy that also forbids every fetch, so even
markup that slipped through could neither run a script nor load anything. Images and plots
are ``data:`` URIs. jinja2 is imported inside functions (``lam3 --help`` must not pay for it).
"""

from __future__ import annotations

import base64
import hashlib
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"
TEXT_LIMIT = 4000
CELL_LIMIT = 1000
GENERIC_DEPTH = 4


def fmt(value: Any) -> str:
    """A number for people: floats to 3 decimals, None as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def is_rate(value: Any) -> bool:
    return isinstance(value, dict) and "value" in value and "ci_low" in value and "ci_high" in value


def rate_text(rate: dict | None) -> str:
    """``0.250 [0.120, 0.430] n=40`` (``, 20 samples`` when clustered); ``n/a (n=0)`` without records."""
    if not rate or rate.get("value") is None:
        reason = (rate or {}).get("reason")
        return f"n/a ({reason})" if reason else f"n/a (n={(rate or {}).get('n', 0)})"
    text = f"{rate['value']:.3f} [{fmt(rate['ci_low'])}, {fmt(rate['ci_high'])}]"
    if rate.get("n") is not None:
        text += f" n={rate['n']}"
    if rate.get("n_clusters"):
        text += f", {rate['n_clusters']} samples"
    return text


def clip(text: Any, limit: int = TEXT_LIMIT) -> str:
    """``text`` cut at ``limit`` characters, saying how many were left out."""
    text = "" if text is None else str(text)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _cell(value: Any) -> str:
    if is_rate(value):
        return rate_text(value)
    if _scalar(value):
        return clip(fmt(value), CELL_LIMIT)
    if isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        return " ".join(f"({fmt(x)}, {fmt(y)})" for x, y in value)
    if isinstance(value, list) and all(_scalar(v) for v in value):
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, dict) and all(_scalar(v) for v in value.values()):
        return clip(", ".join(f"{k}: {fmt(v)}" for k, v in value.items()), CELL_LIMIT)
    return clip(repr(value), CELL_LIMIT)


def _flat(value: Any) -> bool:
    """A value shown as text on its own."""
    return is_rate(value) or _scalar(value) or (isinstance(value, list) and all(
        _scalar(v) or (isinstance(v, list) and all(_scalar(x) for x in v)) for v in value))


def _fits_cell(value: Any) -> bool:
    """A value that fits in a table cell: flat, or a small mapping of scalars (a metric's arguments)."""
    return _flat(value) or (isinstance(value, dict) and all(_scalar(v) for v in value.values()))


def _table_cell(row: dict, column: str) -> dict:
    """A generic table's cell: its text, and whether it is a number (right-aligned)."""
    value = row.get(column)
    number = value is None or is_rate(value) or (isinstance(value, (int, float)) and not isinstance(value, bool))
    return {"text": _cell(value) if column in row else "", "num": number}


def generic(value: Any, depth: int = 0) -> dict:
    """Any JSON value as a node the page can show: ``text``, ``table`` (a mapping of flat mappings: one row
    each), ``fields`` (label, node) or ``list``. For sections whose exact shape this code does not know."""
    if _flat(value) or depth >= GENERIC_DEPTH:
        return {"type": "text", "text": _cell(value)}
    if isinstance(value, dict):
        if value and all(isinstance(v, dict) and v and all(_fits_cell(x) for x in v.values()) and not is_rate(v)
                         for v in value.values()):
            columns = list(dict.fromkeys(k for v in value.values() for k in v))
            rows = [[str(name), *(_table_cell(v, c) for c in columns)] for name, v in value.items()]
            return {"type": "table", "columns": columns, "rows": rows}
        return {"type": "fields", "items": [(str(k), generic(v, depth + 1)) for k, v in value.items()]}
    return {"type": "list", "items": [generic(v, depth + 1) for v in value]}


@lru_cache(maxsize=1)
def _assets() -> dict[str, str]:
    """The page's own CSS and script, and their CSP hashes."""
    assets = {}
    for name, suffix in (("style", "css"), ("script", "js")):
        text = (TEMPLATES / f"page.{suffix}").read_text(encoding="utf-8")
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
        assets[name] = text
        assets[f"{name}_hash"] = f"'sha256-{digest}'"
    return assets


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import ChainableUndefined, Environment, FileSystemLoader

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=ChainableUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(fmt=fmt, rate=rate_text, clip=clip)
    return env


def render_page(template: str, **context: Any) -> str:
    """``template`` rendered with ``context`` (autoescaped), the page's CSS and script inlined and allowed by hash."""
    from markupsafe import Markup

    assets = _assets()
    page = {"style": Markup(assets["style"]), "script": Markup(assets["script"]),
            "csp": f"default-src 'none'; img-src data:; style-src {assets['style_hash']}; "
                   f"script-src {assets['script_hash']}; base-uri 'none'; form-action 'none'"}
    return _environment().get_template(template).render(page=page, **context)
