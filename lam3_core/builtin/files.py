"""The ``file`` dataset: samples from a JSONL or CSV file with configurable column names.

A column named explicitly (``--dataset-arg image=picture``) must exist: a typo is an error
listing the columns, never a silently text-only or unlabelled run. Without one, the default
column names are used when present (``id``, ``image``, ``category``, ``harmful``, ``label``).
``harmful=true`` (or ``false``) marks every row instead of naming a column. ``image=none``
runs text-only on purpose, even when the file has an image column.
"""

from __future__ import annotations

import json
from pathlib import Path

from lam3_core.interfaces.errors import UsageError
from lam3_core.interfaces.records import Sample
from lam3_core.kit.tabular import read_rows, require_column

_TRUE = {"1", "true", "yes", "y", "harmful", "unsafe"}
_FALSE = {"0", "false", "no", "n", "benign", "safe", ""}
DEFAULTS = {"id": "id", "image": "image", "category": "category", "harmful": "harmful", "label": "label"}


def _as_bool(value, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"{where}: cannot read {value!r} as harmful yes/no.", "Use true/false, 1/0 or yes/no.")


def _image_list(value, base: Path) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str) and value.strip().startswith("["):
        value = json.loads(value)
    items = value if isinstance(value, list) else [value]
    return [str(p if Path(p).is_absolute() else base / p) for p in (str(i) for i in items)]


def _columns(path: str, rows: list[tuple[int, dict]], given: dict) -> dict[str, str | None]:
    """The column used for each field: the one named (which must exist), else the default when present."""
    present = set(rows[0][1]) if rows else set()
    columns: dict[str, str | None] = {}
    for field, default in DEFAULTS.items():
        named = given.get(field)
        if named is None:
            columns[field] = default if default in present else None
        elif field == "image" and str(named).lower() == "none":
            columns[field] = None
        elif field == "harmful" and isinstance(named, bool):
            columns[field] = None
        else:
            require_column(path, rows, str(named), f"--dataset-arg {field}=COLUMN")
            columns[field] = str(named)
    return columns


def load_file(
    path: str | None = None,
    prompt: str = "prompt",
    id: str | None = None,
    image: str | None = None,
    category: str | None = None,
    harmful: str | bool | None = None,
    label: str | None = None,
    image_root: str | None = None,
) -> list[Sample]:
    """Each row becomes a Sample. Image paths are relative to ``image_root`` (default: the file's directory)."""
    if not path:
        raise UsageError("The file dataset needs a path.", "Pass --dataset FILE.jsonl (or --dataset-arg path=FILE).")
    rows = read_rows(path)
    require_column(path, rows, prompt, "--dataset-arg prompt=COLUMN")
    columns = _columns(path, rows, {"id": id, "image": image, "category": category, "harmful": harmful,
                                    "label": label})
    base = Path(image_root).expanduser() if image_root else Path(path).expanduser().resolve().parent
    samples = []
    for lineno, row in rows:
        where = f"{path}:{lineno}"
        text = row.get(prompt)
        if text is None:
            raise UsageError(f"{where}: the prompt column {prompt!r} is empty.")
        value = {field: row.get(column) if column else None for field, column in columns.items()}.get
        samples.append(
            Sample(
                id=str(value("id")) if value("id") not in (None, "") else f"row-{lineno}",
                prompt=str(text),
                images=_image_list(value("image"), base),
                category=str(value("category")) if value("category") not in (None, "") else None,
                label=str(value("label")) if value("label") not in (None, "") else None,
                harmful=harmful if isinstance(harmful, bool) else _as_bool(value("harmful"), where),
                meta={"source": str(path), "line": lineno},
            )
        )
    return samples
