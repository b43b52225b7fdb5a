"""Jailbreak templates as data: the set bundled with lam3 (``templates.yaml``) and the user's own files.

A template is a text with ``{prompt}`` where the request goes. Only ``{prompt}`` is replaced;
every other character, braces included, is sent as written, so a template may show the model a
JSON shape. A file holds either a list of entries or a mapping with that list under
``templates`` (the bundled file's layout); each entry has a ``name`` (the attack variant the
results are reported under), a ``text`` and optionally a ``family`` (default ``custom``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lam3_core.interfaces.errors import UsageError

PLACEHOLDER = "{prompt}"
BUNDLED_FILE = "templates.yaml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Template:
    name: str
    family: str
    text: str

    def apply(self, prompt: str) -> str:
        return self.text.replace(PLACEHOLDER, prompt)


def bundled_templates() -> list[Template]:
    """The templates that ship with lam3, in file order."""
    text = resources.files("lam3_core.builtin").joinpath(BUNDLED_FILE).read_text(encoding="utf-8")
    return parse_templates(_parse_yaml(text, "lam3's bundled templates"), "lam3's bundled templates")


def read_templates(path: str | Path) -> list[Template]:
    """The templates of a user's YAML or JSON file; any problem is a usage error naming the file."""
    file = Path(path).expanduser()
    where = f"template file {file}"
    fix = "Pass template.file=PATH to a readable YAML or JSON file of entries with a name and a text."
    if not file.is_file():
        raise UsageError(f"The {where} does not exist.", fix)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"The {where} cannot be read ({exc}).", fix) from exc
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"The {where} is not valid JSON ({exc}).", fix) from exc
    else:
        data = _parse_yaml(text, where)
    return parse_templates(data, where)


def _parse_yaml(text: str, where: str):
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"The {where} is not valid YAML ({exc}).", "Fix the file's syntax.") from exc


def parse_templates(data, where: str) -> list[Template]:
    """Checked templates from parsed YAML/JSON: every entry named, unique, and holding ``{prompt}``."""
    entries = data.get("templates") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"The {where} holds no list of templates.",
                         "Write a list of entries (or put it under 'templates:'), each with a name and a text.")
    templates: list[Template] = []
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise UsageError(f"In the {where}, entry {index} is not a mapping.", "Give each entry a name and a text.")
        name, text, family = entry.get("name"), entry.get("text"), entry.get("family", "custom")
        if not isinstance(name, str) or not _NAME.match(name):
            raise UsageError(f"In the {where}, entry {index} has no valid name ({name!r}).",
                             "Use up to 64 letters, digits, '_', '.' or '-': the name labels the results.")
        if not isinstance(text, str) or PLACEHOLDER not in text:
            raise UsageError(f"In the {where}, the template {name!r} has no {PLACEHOLDER} in its text.",
                             f"Put {PLACEHOLDER} where the request goes.")
        if not isinstance(family, str) or not _NAME.match(family):
            raise UsageError(f"In the {where}, the template {name!r} has no valid family ({family!r}).",
                             "Use up to 64 letters, digits, '_', '.' or '-'.")
        if any(t.name == name for t in templates):
            raise UsageError(f"In the {where}, two templates are named {name!r}.", "Give every template its own name.")
        templates.append(Template(name, family, text))
    return templates


def select(templates: Sequence[Template], names: Sequence[str], families: Sequence[str], where: str) -> list[Template]:
    """The templates named in ``names`` plus those of ``families`` (all when both are empty), in file order."""
    known_names = [t.name for t in templates]
    known_families = list(dict.fromkeys(t.family for t in templates))
    for name in names:
        if name not in known_names:
            raise UsageError(f"There is no template {name!r} in {where}.",
                             f"Available templates: {', '.join(known_names)}.")
    for family in families:
        if family not in known_families:
            raise UsageError(f"There is no template family {family!r} in {where}.",
                             f"Available families: {', '.join(known_families)}.")
    if not names and not families:
        return list(templates)
    return [t for t in templates if t.name in names or t.family in families]
