"""The ``file`` dataset: samples from a JSONL or CSV file with configurable column names."""

from __future__ import annotations

import json
from pathlib import Path

from lam3_core.interfaces.errors import UsageError
from lam3_core.interfaces.records import Sample
from lam3_core.kit.tabular import read_rows, require_column

_TRUE = {"1", "true", "yes", "y", "harmful", "unsafe"}
_FALSE = {"0", "false", "no", "n", "benign", "safe", ""}


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


def load_file(
    path: str | None = None,
    prompt: str = "prompt",
    id: str = "id",
    image: str = "image",
    category: str = "category",
    harmful: str = "harmful",
    label: str = "label",
    image_root: str | None = None,
) -> list[Sample]:
    """Each row becomes a Sample; missing optional columns are simply absent. Image paths are
    relative to ``image_root`` (default: the file's directory)."""
    if not path:
        raise UsageError("The file dataset needs a path.", "Pass --dataset FILE.jsonl (or --dataset-arg path=FILE).")
    rows = read_rows(path)
    require_column(path, rows, prompt, "--dataset-arg prompt=COLUMN")
    base = Path(image_root).expanduser() if image_root else Path(path).expanduser().resolve().parent
    samples = []
    for lineno, row in rows:
        where = f"{path}:{lineno}"
        text = row.get(prompt)
        if text is None:
            raise UsageError(f"{where}: the prompt column {prompt!r} is empty.")
        samples.append(
            Sample(
                id=str(row[id]) if row.get(id) not in (None, "") else f"row-{lineno}",
                prompt=str(text),
                images=_image_list(row.get(image), base),
                category=str(row[category]) if row.get(category) not in (None, "") else None,
                label=str(row[label]) if row.get(label) not in (None, "") else None,
                harmful=_as_bool(row.get(harmful), where),
                meta={"source": str(path), "line": lineno},
            )
        )
    return samples
