"""A persistent cache of judge scores, shared by all runs on the machine.

Keyed by the judge's identity — its name, distribution and version, every constructor argument
with defaults filled in (secrets left out), a fingerprint of its code when its distribution is
installed from a local folder, and the judge's own ``version`` and ``config()`` — and by the
item: the request and context (when the judge reads the request), the reference label, the
response text and the content of the images. So a judge is never run twice on the same item with
the same settings and code (adding a judge to a finished run costs nothing for what was scored),
and a changed argument or an edited judge is never served old scores.
Error scores are never cached. SQLite makes every write atomic, so a killed run cannot
corrupt it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from lam3_core.interfaces.records import Score
from lam3_core.kit.cachedir import cache_dir

_ENCODER = json.JSONEncoder(default=str)
"""Keys and values are encoded by the thousand per chunk: one encoder (``json.dumps`` with options builds one per
call)."""


def default_cache_path() -> Path:
    """``$LAM3_CACHE_DIR/judge-cache.sqlite``, else ``~/.cache/lam3/judge-cache.sqlite``."""
    return cache_dir() / "judge-cache.sqlite"


class JudgeCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # the judging stage reads and writes it from its bookkeeping thread
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.commit()

    @staticmethod
    def key(identity: str, item: list) -> str:
        """The key of one judge identity (a hash) scoring one item (its JSON-able content)."""
        return hashlib.sha256(_ENCODER.encode([identity, item]).encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, Score]:
        found: dict[str, Score] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in self._db.execute(f"SELECT key, value FROM scores WHERE key IN ({marks})", chunk):
                found[key] = Score(**json.loads(value))
        return found

    def put_many(self, entries: dict[str, Score]) -> None:
        rows = [
            (k, _ENCODER.encode(s.__dict__))
            for k, s in entries.items()
            if s.error is None and s.score is not None
        ]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO scores (key, value) VALUES (?, ?)", rows)

    def close(self) -> None:
        self._db.close()


class NoCache:
    """Stands in for ``JudgeCache`` when the user passes ``--no-judge-cache``."""

    def get_many(self, keys: list[str]) -> dict[str, Score]:
        return {}

    def put_many(self, entries: dict[str, Score]) -> None:
        pass

    def close(self) -> None:
        pass
