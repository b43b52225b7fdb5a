"""A run directory: its files, its lock, and its meta.json history."""

from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from lam3_core.interfaces.errors import UsageError
from lam3_core.run.store import write_json_atomic

log = logging.getLogger("lam3")

FILES = {
    "meta": "meta.json",
    "generations": "generations.jsonl",
    "verdicts": "verdicts.jsonl",
    "ensemble": "ensemble.jsonl",
    "summary": "summary.json",
    "report": "report.md",
    "log": "lam3.log",
}


@dataclass
class RunInfo:
    """What lifecycle hooks receive about the run in progress."""

    out_dir: Path
    command: str
    config: dict
    meta: dict = field(default_factory=dict)


class RunDir:
    """Owns one ``--out`` directory while a command works on it (an exclusive lock)."""

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path).expanduser()
        if create:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
                probe = self.path / ".lam3-write-test"
                probe.write_text("")
                probe.unlink()
            except OSError as exc:
                raise UsageError(
                    f"Cannot write to the output directory {self.path} ({exc.strerror or exc}).",
                    "Choose a writable --out directory.",
                ) from None
        elif not self.path.is_dir():
            raise UsageError(f"Run directory not found: {self.path}.", "Pass the --out directory of an earlier run.")
        self._lock_fh = None

    def file(self, name: str) -> Path:
        return self.path / FILES[name]

    def lock(self) -> None:
        fh = open(self.path / ".lock", "w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise UsageError(
                f"Another lam3 process is writing to {self.path}.",
                "Wait for it to finish, or use a different --out.",
            ) from None
        self._lock_fh = fh

    def unlock(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def read_meta(self) -> dict:
        path = self.file("meta")
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path} is not valid JSON ({exc.msg}).", "Restore it or start a new --out.") from None

    def write_meta(self, meta: dict) -> None:
        write_json_atomic(self.file("meta"), meta)

    def attach_log(self) -> logging.Handler:
        handler = logging.FileHandler(self.file("log"), encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        return handler

    @staticmethod
    def detach_log(handler: logging.Handler) -> None:
        log.removeHandler(handler)
        handler.close()

    def __str__(self) -> str:
        return os.fspath(self.path)
