"""docs/plugin-hooks.md has one section per hook, headed by its exact signature, with the version that added it."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import lam3_core
from lam3_core.contract import hookspecs

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugin-hooks.md"


def _hooks() -> dict:
    return {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("lam3_")}


def _signature(name: str, fn) -> str:
    signature = inspect.signature(fn)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"{name}({params}) -> {signature.return_annotation}"


def test_every_hook_has_a_section_headed_by_its_exact_signature():
    headings = re.findall(r"^### `(.+)`$", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert sorted(headings) == sorted(_signature(name, fn) for name, fn in _hooks().items())


def test_every_section_says_which_version_added_the_hook_and_has_an_example():
    text = DOC.read_text(encoding="utf-8")
    for name in _hooks():
        section = text.split(f"### `{name}(")[1].split("\n### ")[0]
        assert re.search(r"Added in hookspec version \d+\.\d+", section), name
        assert f"def {name}(" in section, f"{name} has no example"


def test_the_page_names_the_current_version_and_every_type_it_uses_is_exported():
    text = DOC.read_text(encoding="utf-8")
    assert f"({hookspecs.HOOKSPEC_VERSION})" in text
    for type_name in ("Registrar", "RunInfo", "Model", "Judge", "Attack", "UncertaintyMetric", "Measure", "Dataset",
                      "Sample", "RunFailed"):
        assert hasattr(lam3_core, type_name), type_name
