"""Reading POPE's two file formats, with errors that name the file and line.

* POPE's label files (``output/coco/coco_pope_<split>.json`` in RUCAIBox/POPE): JSON **lines**
  despite the extension, each ``{"question_id", "image", "text", "label"}``, label ``yes``/``no``.
* LLaVA's question file (``llava_pope_test.jsonl`` from LLaVA's ``eval.zip``): JSON lines
  ``{"question_id", "image", "text", "category"}``, the category naming the POPE split, no label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lam3_core import UsageError
from lam3_core.kit.tabular import json_lines

SPLITS = ("adversarial", "popular", "random")
"""POPE's COCO splits (the order label files are read in from a folder)."""
LABEL_FILE = "coco_pope_{split}.json"
LABELS = ("yes", "no")
POPE_REPO = "https://github.com/RUCAIBox/POPE"
ALIGNED_COMMIT = "e3e39262c85a6a83f26cf5094022a782cb0df58d"
"""The POPE commit (2023-08-10) whose label files match LLaVA's llava_pope_test.jsonl line by line."""
GET_LABELS = (f"Get output/coco/coco_pope_<split>.json from {POPE_REPO} (for LLaVA's questions, the files of "
              f"2023-08-10: commit {ALIGNED_COMMIT[:8]}), then --dataset-arg labels=DIR.")
_SPLIT_IN_NAME = re.compile(r"_pope_([A-Za-z0-9]+)\.jsonl?$")


@dataclass(frozen=True)
class Question:
    """One line of either file: ``label`` is None in LLaVA's question file, ``category`` in POPE's label files."""

    line: int
    question_id: int
    image: str
    text: str
    category: str | None = None
    label: str | None = None


def split_of(path: Path) -> str | None:
    """The split a label file's name gives (``coco_pope_random.json`` -> ``random``), or None."""
    match = _SPLIT_IN_NAME.search(path.name)
    return match.group(1) if match else None


def _rows(path: Path, expected: str) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise UsageError(f"pope: {path} is not a file; expected {expected}.", "Check the path.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"pope: {path} cannot be read ({exc}); expected {expected}.") from None
    rows = json_lines(path, text.splitlines(), f"Each line of {expected} is one JSON object.")
    if not rows:
        raise UsageError(f"pope: {path} is empty; expected {expected}.", GET_LABELS)
    return rows


def _field(row: dict, key: str, path: Path, line: int, kind: type, hint: str) -> object:
    value = row.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
        got = "nothing" if key not in row else repr(value)
        raise UsageError(f"{path}:{line}: '{key}' should be {'an integer' if kind is int else 'a string'}, got {got}.",
                         hint)
    return value


def _question(row: dict, path: Path, line: int, hint: str, **extra: str) -> Question:
    return Question(line, int(_field(row, "question_id", path, line, int, hint)),
                    str(_field(row, "image", path, line, str, hint)), str(_field(row, "text", path, line, str, hint)),
                    **extra)


def read_label_file(path: Path) -> list[Question]:
    """A POPE label file's questions with their ``yes``/``no`` labels, in file order."""
    expected = "a POPE label file (coco_pope_<split>.json: question_id, image, text, label)"
    rows = _rows(path, expected)
    if "label" not in rows[0][1] and "category" in rows[0][1]:
        raise UsageError(f"pope: {path} has no labels: it looks like LLaVA's question file.",
                         f"Pass it as --dataset-arg questions={path}, and POPE's label files as labels=DIR.")
    questions = []
    for line, row in rows:
        label = row.get("label")
        if label not in LABELS:
            raise UsageError(f"{path}:{line}: 'label' should be \"yes\" or \"no\", got {label!r}.",
                             f"Pass POPE's own label files. {GET_LABELS}")
        questions.append(_question(row, path, line, GET_LABELS, label=label))
    return questions


def read_question_file(path: Path) -> list[Question]:
    """LLaVA's POPE questions (``llava_pope_test.jsonl``), each with the split it belongs to, in file order."""
    expected = "LLaVA's POPE question file (llava_pope_test.jsonl: question_id, image, text, category)"
    hint = "Pass LLaVA's playground/data/eval/pope/llava_pope_test.jsonl (from LLaVA's eval.zip)."
    rows = _rows(path, expected)
    if "category" not in rows[0][1] and "label" in rows[0][1]:
        raise UsageError(f"pope: {path} has labels but no category: it looks like a POPE label file.",
                         "Pass it (or its folder) as --dataset-arg labels=..., and LLaVA's questions as questions=.")
    return [_question(row, path, line, hint, category=str(_field(row, "category", path, line, str, hint)))
            for line, row in rows]
