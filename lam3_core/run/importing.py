"""Generations made by other tools, brought into a run directory so lam3 can judge them.

One JSON object (or CSV row) per answer with ``response`` and ``sample_id`` (or ``id``), and
optionally ``prompt``, ``request``, ``harmful``, ``category``, ``label``, ``attack``, ``variant``.
The file is read and checked before anything is written.
"""

from __future__ import annotations

from pathlib import Path

from lam3_core.interfaces.errors import UsageError
from lam3_core.interfaces.records import Generation
from lam3_core.kit.tabular import read_rows
from lam3_core.run.rundir import RunDir
from lam3_core.run.store import JsonlAppender


def read_foreign_generations(source: Path) -> list[dict]:
    """The file's answers as generation records; a row without a response or an id names its line."""
    records = []
    for lineno, row in read_rows(source):
        sample_id = row.get("sample_id", row.get("id"))
        if "response" not in row or sample_id is None:
            raise UsageError(
                f"{source}:{lineno}: a generation needs 'response' and 'sample_id' (or 'id').",
                "Produce the file with `lam3 generate`, or add those fields.",
            )
        attack = row.get("attack", "none")
        row = {
            "sample_id": str(sample_id),
            "attack": attack,
            "model": row.get("model", "unknown"),
            "request": row.get("request", row.get("prompt", "")),
            "prompt": row.get("prompt", ""),
            **row,
        }
        row.setdefault("record_id", Generation.make_id(row["sample_id"], attack, row.get("variant", 0)))
        records.append(Generation.from_dict(row).to_dict())
    return records


def import_generations(records: list[dict], rundir: RunDir) -> None:
    """Append the records the run directory does not hold yet."""
    JsonlAppender(rundir.file("generations"), key=lambda r: r["record_id"]).append(records)
