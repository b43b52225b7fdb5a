"""A run directory: its files, its lock, and its meta.json history.

Nothing is created until a command has checked everything it was given, so a refused
command leaves no directory behind. An existing folder that is not a lam3 run is never
written into unless it is empty.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
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
    "uncertainty": "uncertainty.jsonl",
    "report": "report.md",
    "report_html": "report.html",
    "log": "lam3.log",
}
ATTACKS = "attacks"


def safe_name(text: str) -> str:
    """``text`` as a file-name component: letters, digits, '-', '_' and '.', at most 80 characters."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._")[:80] or "_"


class RunDir:
    """One ``--out`` directory: where each file lives, the exclusive lock, meta.json and the log."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self._lock_fh = None

    def file(self, name: str) -> Path:
        return self.path / FILES[name]

    def attack_dir(self, attack: str) -> Path:
        return self.path / ATTACKS / safe_name(attack)

    @property
    def is_run(self) -> bool:
        return self.file("meta").is_file()

    def require_run(self) -> None:
        """Refuse a directory that does not hold an earlier lam3 run."""
        if not self.path.is_dir():
            raise UsageError(f"Run directory not found: {self.path}.", "Pass the --out directory of an earlier run.")
        if not self.is_run:
            raise UsageError(f"{self.path} has no meta.json: it is not a lam3 run directory.",
                             "Pass the --out directory of a lam3 run.")

    def check_writable_target(self) -> None:
        """Refuse an ``--out`` that is a file, a foreign generations file's folder, or another non-empty folder."""
        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"--out {self.path} is a file.", "Pass a directory (new, or an earlier run's).")
        if not self.path.is_dir() or self.is_run or not any(self.path.iterdir()):
            return
        if self.file("generations").exists():
            raise UsageError(
                f"{self.path} holds a {FILES['generations']} that lam3 did not write (there is no meta.json).",
                f"To score it: lam3 judge {self.file('generations')} --judge NAME --out NEW_DIR",
            )
        raise UsageError(f"{self.path} is not empty and is not a lam3 run directory.",
                         "Pass a new or empty directory, or an earlier run's --out to resume it.")

    def create(self) -> None:
        """Make the directory (and parents), checking that it can be written."""
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
