"""Append-only JSON-lines files that survive ``kill -9`` at any moment.

Every record is one line written with a single ``write`` and flushed to the operating system
before the next batch starts; the file is fsynced at most ``SYNC_INTERVAL`` seconds later. A kill
can only leave a torn *last* line without its newline; it is cut off when the file is opened
again, so the record is simply produced again (as are the records of the last second when the
machine itself stops). A malformed line anywhere else was not written by lam3 and is reported
with file and line.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from lam3_core.interfaces.errors import UsageError
from lam3_core.kit.tabular import json_lines

SYNC_INTERVAL = 1.0
"""Seconds between two fsyncs of one file: a batch is flushed to the operating system at once, and one
fsync per batch (milliseconds each) would dominate runs of fast models such as replay."""


def _disk_error(path: Path, exc: OSError) -> Exception:
    """A full disk (or quota) is the user's to fix: one message, and the run resumes where it stopped."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UsageError(f"No space left on the device while writing {path}.",
                          "Free some space, then rerun the same command: it resumes where it stopped.")
    return exc


def read_jsonl(path: Path, repair: bool = False) -> list[dict]:
    """All records of ``path``; a torn last line is dropped (and cut from the file if ``repair``)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    complete = data.rfind(b"\n") + 1
    if complete < len(data) and repair:
        with open(path, "r+b") as fh:
            fh.truncate(complete)
    fix = "Fix or delete that line; lam3 never writes partial lines except at the end of a killed run."
    return [record for _, record in json_lines(path, data[:complete].split(b"\n")[:-1], fix)]


class JsonlAppender:
    """Appends records to one file, skipping keys already present, so reruns never duplicate."""

    def __init__(self, path: Path, key: Callable[[dict], object]):
        self.path = path
        self.key = key
        self.records = read_jsonl(path, repair=True)
        self.keys = {key(r) for r in self.records}
        self._synced = -SYNC_INTERVAL

    def __contains__(self, key) -> bool:
        return key in self.keys

    def discard(self, where: Callable[[dict], bool]) -> list[dict]:
        """Remove the records ``where`` accepts (to produce them again), rewriting the file in one step."""
        gone = [r for r in self.records if where(r)]
        if gone:
            self.records = [r for r in self.records if not where(r)]
            self.keys = {self.key(r) for r in self.records}
            write_text_atomic(self.path, "".join(_line(r) for r in self.records))
        return gone

    def append(self, records: Iterable[dict]) -> list[dict]:
        """Write the records whose key is new; returns those written."""
        fresh = []
        for record in records:
            k = self.key(record)
            if k not in self.keys:
                self.keys.add(k)
                fresh.append(record)
        if not fresh:
            return []
        payload = "".join(_line(r) for r in fresh).encode("utf-8")
        with open(self.path, "ab") as fh:
            start = fh.tell()
            try:
                fh.write(payload)
                fh.flush()
                if time.monotonic() - self._synced >= SYNC_INTERVAL:
                    os.fsync(fh.fileno())
                    self._synced = time.monotonic()
            except OSError as exc:
                fh.truncate(start)
                for record in fresh:
                    self.keys.discard(self.key(record))
                raise _disk_error(self.path, exc) from exc
        self.records.extend(fresh)
        return fresh


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


_RECORD_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_json_default)
"""One encoder for every line (``json.dumps`` with options builds a new one per call)."""


def _line(record: dict) -> str:
    return _RECORD_ENCODER.encode(record) + "\n"


def write_json_atomic(path: Path, data) -> None:
    """Replace ``path`` with ``data`` in one step (temp file + rename): never half-written."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step; on failure (a full disk) no temporary file is left."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _disk_error(path, exc) from exc
