"""What meta.json records about the machine and the software, so a run can be reproduced."""

from __future__ import annotations

import platform
import sys
from datetime import UTC, datetime
from importlib import metadata


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict:
    """Python, platform, library versions and GPU; torch is only inspected if already imported."""
    env = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": {d: _version(d) for d in ("torch", "transformers", "accelerate", "bitsandbytes", "numpy")},
        "cuda": None,
        "gpus": [],
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        env["cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            env["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return env
