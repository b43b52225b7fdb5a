"""What every loader shares: argument checks, locating the benchmark's files, and reading CSV files with errors
that name the file, the line or column, what was expected and how to fix it."""

from __future__ import annotations

import csv
import difflib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from lam3_core import UsageError


@dataclass(frozen=True)
class Origin:
    """Where a benchmark's official files come from, for the messages that tell a user how to get them."""

    benchmark: str
    dataset: str  # the lam3 dataset name
    repo: str  # the repository (or dataset page) holding the files
    files: str  # the files' path(s) inside it
    example: str  # a --dataset-arg line that loads them

    def get_it(self) -> str:
        return f"Get {self.files} from {self.repo}, then: {self.example}."


# Column sets of the files this plugin knows, to say what a wrong file looks like. ``exact``: the header must be
# exactly this set (small sets would match too many files otherwise).
_SIGNATURES: tuple[tuple[frozenset[str], bool, str, str | None], ...] = (
    (
        frozenset({"behavior", "behaviorid", "functionalcategory", "semanticcategory", "imagefilename"}),
        False,
        "HarmBench's multimodal behaviours (harmbench_behaviors_multimodal_all.csv)",
        "harmbench_multimodal",
    ),
    (
        frozenset({"behavior", "functionalcategory", "semanticcategory", "tags", "contextstring", "behaviorid"}),
        False,
        "HarmBench's text behaviours (harmbench_behaviors_text_*.csv)",
        "harmbench",
    ),
    (
        frozenset({"index", "goal", "target", "behavior", "category", "source"}),
        False,
        "JailbreakBench's JBB-Behaviors (harmful-behaviors.csv or benign-behaviors.csv)",
        "jailbreakbench",
    ),
    (
        frozenset({"dataset", "category_id", "task_id", "category_name", "question", "instruction"}),
        False,
        "FigStep's SafeBench (safebench.csv or SafeBench-Tiny.csv)",
        "safebench",
    ),
    (frozenset({"goal", "target"}), True, "AdvBench's harmful_behaviors.csv", "advbench"),
    (
        frozenset({"target"}),
        True,
        "AdvBench's harmful_strings.csv (strings, not requests: no dataset here reads it)",
        None,
    ),
    (
        frozenset({"sentence"}),
        True,
        "FigStep's benign_sentences_without_harmful_phase.csv (prompt templates, not requests)",
        None,
    ),
)


def looks_like(columns) -> str:
    """'It looks like <benchmark>: use --dataset X for it.' for a header this plugin knows, else ''."""
    header = {str(c).strip().casefold() for c in columns if c is not None}
    for signature, exact, what, dataset in _SIGNATURES:
        if (header == signature) if exact else signature <= header:
            return f"It looks like {what}: use --dataset {dataset} for it." if dataset else f"It looks like {what}."
    return ""


def reject_unknown(dataset: str, unknown: dict, accepted: tuple[str, ...]) -> None:
    """A usage error naming arguments the loader does not take, with the ones it does."""
    if not unknown:
        return
    names = sorted(unknown)
    close = {n: difflib.get_close_matches(n, accepted, n=1) for n in names}
    hints = "".join(f" {n!r}: did you mean {c[0]!r}?" for n, c in close.items() if c)
    raise UsageError(
        f"The {dataset} dataset does not take the argument(s) {', '.join(map(repr, names))}.",
        f"It takes: {', '.join(accepted)}.{hints}",
    )


def path_arg(value, dataset: str, arg: str) -> Path | None:
    """``value`` as a Path (``~`` expanded), None when not given; any other type is a usage error."""
    if value is None or value == "":
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise UsageError(
            f"The {dataset} argument {arg}= must be a file or folder path, got {value!r} ({type(value).__name__}).",
            f"Pass a path, e.g. --dataset-arg {arg}=/data/... (quote it if it looks like a number).",
        )
    return Path(value).expanduser()


def need_path(value, origin: Origin, what: str) -> Path:
    """The ``path`` argument, which must be given and exist."""
    path = path_arg(value, origin.dataset, "path")
    if path is None:
        raise UsageError(f"The {origin.dataset} dataset needs path=: {what}.", origin.get_it())
    if not path.exists():
        raise UsageError(f"{origin.dataset}: path {path} does not exist.", f"Check the path. {origin.get_it()}")
    return path


def choice(value, dataset: str, arg: str, valid: tuple[str, ...]) -> str:
    """``value`` (case-insensitive) if it is one of ``valid``, else a usage error listing them."""
    text = str(value).strip().lower()
    if text not in valid:
        raise UsageError(
            f"Unknown {arg} {value!r} for the {dataset} dataset.", f"Valid: {', '.join(valid)} ({arg}={valid[0]})."
        )
    return text


_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off", ""}


def bool_arg(value, dataset: str, arg: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(
        f"The {dataset} argument {arg}={value!r} is not true or false.", f"Pass {arg}=true or {arg}=false."
    )


def list_arg(value, dataset: str, arg: str) -> list[str] | None:
    """``a,b`` or ``[a, b]`` or a single value as a list of non-empty strings; None when not given."""
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    out = [str(v).strip() for v in items if str(v).strip()]
    if not out:
        raise UsageError(f"The {dataset} argument {arg}= is empty.", f"Name at least one, e.g. {arg}=a,b.")
    return out


def source(benchmark: str, file: Path, **where) -> dict:
    """``meta['source']``: the benchmark, the file read (absolute) and where in it (line or key)."""
    return {"benchmark": benchmark, "file": str(file.resolve()), **where}


def pick_file(path: Path, origin: Origin, names: dict[str, str], split: str | None, default: str) -> Path:
    """The CSV to read: ``path`` itself when it is a file (then ``split`` must not be given), else the split's file
    inside the folder ``path``."""
    if path.is_file():
        if split is not None:
            raise UsageError(
                f"{origin.dataset}: split={split} picks a file inside a folder, but path {path} is a file.",
                f"Drop split= to read this file, or pass the folder holding {', '.join(names.values())}.",
            )
        return path
    key = choice(split if split is not None else default, origin.dataset, "split", tuple(names))
    file = path / names[key]
    if not file.is_file():
        present = sorted(p.name for p in path.glob("*.csv"))
        which = f" (split={key})" if len(names) > 1 else ""
        raise UsageError(
            f"{origin.dataset}: the folder {path} has no {names[key]}{which}; "
            f"CSV files there: {', '.join(present) or 'none'}.",
            f"Pass path=FILE.csv directly, or a folder holding the official files. {origin.get_it()}",
        )
    return file


def read_csv(path: Path, origin: Origin, columns: tuple[str, ...], expected: str) -> list[tuple[int, dict[str, str]]]:
    """(first line of the record, row keyed by ``columns``) for each data row of the CSV ``path``.

    The text is read with universal newlines, so quoted fields that span lines keep their line breaks as ``\\n``
    (HarmBench's own code reads its files this way; its CSVs mix CRLF and LF). Header names match ``columns``
    case-insensitively (the JBB-Behaviors copies differ in case). A missing column, a record with the wrong number
    of fields or an unreadable file is a usage error naming the file (and line) and what was expected."""
    if path.is_dir():
        raise UsageError(f"{origin.dataset}: {path} is a folder; expected {expected}.", origin.get_it())
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); expected {expected}.", origin.get_it()
        ) from None
    except OSError as exc:
        raise UsageError(
            f"{path} cannot be read: {exc.strerror or exc}.", "Check the file and its permissions."
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise UsageError(
            f"{path}:1: not a readable CSV header ({exc}); expected {expected}.", origin.get_it()
        ) from None
    if not header:
        raise UsageError(
            f"{path} is empty; expected {expected} with the columns {', '.join(columns)}.", origin.get_it()
        )
    folded = {name.strip().casefold(): i for i, name in enumerate(header)}
    missing = [c for c in columns if c.casefold() not in folded]
    if missing:
        raise UsageError(
            f"{path} lacks the column(s) {', '.join(missing)}: expected {expected} with the columns "
            f"{', '.join(columns)}; its columns are {', '.join(header)}.",
            looks_like(header) or f"Pass the official file. {origin.get_it()}",
        )
    index = {c: folded[c.casefold()] for c in columns}
    rows: list[tuple[int, dict[str, str]]] = []
    start = reader.line_num + 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise UsageError(
                f"{path}:{start}: malformed CSV ({exc}).", "Fix that record or use the official file."
            ) from None
        if fields:
            if len(fields) != len(header):
                raise UsageError(
                    f"{path}:{start}: the record has {len(fields)} fields, the header has {len(header)}.",
                    "Fix that record (a field with a comma or line break must be quoted), or use the official file.",
                )
            rows.append((start, {c: fields[i] for c, i in index.items()}))
        start = reader.line_num + 1
    if not rows:
        raise UsageError(f"{path} has a header but no rows; expected {expected}.", origin.get_it())
    return rows


def required(value: str, path: Path, line: int, column: str) -> str:
    """``value`` unless it is blank, which is a usage error naming the file, line and column."""
    if not value.strip():
        raise UsageError(f"{path}:{line}: the {column} column is empty.", "Fill it in or use the official file.")
    return value


def integer(value: str, path: Path, line: int, column: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise UsageError(
            f"{path}:{line}: the {column} column should hold a whole number, not {value!r}.",
            "Fix that row or use the official file.",
        ) from None


def unique(ids: list[tuple[str, int]], path: Path, columns: str) -> None:
    """A usage error naming both lines when two rows give the same sample id."""
    seen: dict[str, int] = {}
    for sample_id, line in ids:
        if sample_id in seen:
            raise UsageError(
                f"{path}: lines {seen[sample_id]} and {line} give the same sample id {sample_id!r} (from {columns}).",
                "Remove the duplicate row or use the official file.",
            )
        seen[sample_id] = line


def select_ids(samples: list, wanted: list[str] | None, dataset: str, path: Path) -> list:
    """The samples whose id is in ``wanted`` (in file order); an unknown id is a usage error."""
    if wanted is None:
        return samples
    known = {s.id for s in samples}
    unknown = [i for i in wanted if i not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=3)
        hint = f" Close: {', '.join(close)}." if close else ""
        raise UsageError(
            f"{dataset}: {len(unknown)} id(s) in ids= are not in {path}: {', '.join(unknown[:5])}"
            f"{' ...' if len(unknown) > 5 else ''}.",
            f"Use the BehaviorID column's values.{hint}",
        )
    keep = set(wanted)
    return [s for s in samples if s.id in keep]


def missing_files_error(dataset: str, missing: list[tuple[str, Path]], total: int, fix: str) -> UsageError:
    """One message for every image that is not there: how many, and the first sample and file."""
    sample_id, file = missing[0]
    return UsageError(
        f"{dataset}: {len(missing)} of {total} image(s) are missing; the first is {file} for sample {sample_id!r}.",
        fix,
    )
