"""Where lam3 keeps what it can rebuild: ``$LAM3_CACHE_DIR``, else ``~/.cache/lam3``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("LAM3_CACHE_DIR") or Path.home() / ".cache" / "lam3")
