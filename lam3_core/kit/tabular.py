"""Reading user-supplied JSONL and CSV files, with errors that name the file and line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from lam3_core.interfaces.errors import UsageError

SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")


def read_rows(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, row) pairs from a .jsonl/.json (JSON lines) or .csv/.tsv file (quoted CSV fields keep
    their line breaks)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UsageError(f"File not found: {p}.", "Check the path (relative paths are from the current directory).")
    if p.suffix.lower() not in SUFFIXES:
        raise UsageError(f"{p}: unsupported file type {p.suffix!r}.", f"Use one of: {', '.join(SUFFIXES)}.")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{p} cannot be read: {exc}.") from None
    if p.suffix.lower() in (".csv", ".tsv"):
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if p.suffix.lower() == ".tsv" else ",")
        rows = []
        start = 2
        for row in reader:  # quoted fields may span lines: a row is numbered by the line it starts on
            rows.append((start, dict(row)))
            start = reader.line_num + 1
        return rows
    return json_lines(p, text.splitlines(), "Fix that line; each line must be one JSON object.")


def json_lines(path: Path, lines: list[str] | list[bytes], fix: str) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a line that is not a JSON object is a usage
    error naming ``path`` and the line, with ``fix``."""
    rows = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{lineno}: malformed JSON line ({exc.msg} at column {exc.colno}).", fix) from None
        if not isinstance(row, dict):
            raise UsageError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}.", fix)
        rows.append((lineno, row))
    return rows


def require_column(path: str | Path, rows: list[tuple[int, dict]], column: str, option: str) -> None:
    """Usage error if ``column`` is absent from the first row, listing the columns there are."""
    if rows and column not in rows[0][1]:
        raise UsageError(
            f"{path}: no column {column!r}.",
            f"Columns: {', '.join(rows[0][1])}. Choose one with {option}.",
        )
