"""Content hashes that decide when a stored result is stale: of samples, of datasets and of plugin code.

A generation record stores the hash of the sample it answered; on resume a sample whose
content changed (prompt, image bytes, labels, meta) is generated and judged again. A judge's
cache key includes the code fingerprint of its distribution when that distribution is
installed from a local folder (editable or not) — a version number there says nothing about
the code, so an edited judge is never served its old scores. Distributions installed from a
package index are identified by name and version alone.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from lam3_core.contract.registry import Component
from lam3_core.interfaces.records import Sample

_CODE_SUFFIXES = {".py", ".json", ".yaml", ".yml", ".txt", ".csv", ".jinja", ".ttf", ".otf"}


@lru_cache(maxsize=100_000)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def image_digest(image) -> str:
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            return f"missing:{path}"
        stat = path.stat()
        return _file_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if hasattr(image, "tobytes"):
        return hashlib.sha256(f"{image.mode}{image.size}".encode() + image.tobytes()).hexdigest()
    return f"unhashable:{type(image).__name__}"


def sample_hash(sample: Sample) -> str:
    """A short hash of everything about ``sample`` that can change its answer or its scoring."""
    content = [sample.prompt, [image_digest(i) for i in sample.images], sample.category, sample.label,
               sample.harmful, sample.meta]
    text = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dataset_fingerprint(hashes: dict[str, str]) -> str:
    """One hash of a dataset's samples (ids and content), independent of their order."""
    return hashlib.sha256(json.dumps(sorted(hashes.items())).encode()).hexdigest()[:16]


def distribution_origin(name: str) -> str:
    """"index" (installed from a package index), "local" or "editable" (from a folder), or "unknown"."""
    try:
        text = metadata.distribution(name).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return "unknown"
    if not text:
        return "index"
    try:
        direct = json.loads(text)
    except ValueError:
        return "unknown"
    if direct.get("dir_info", {}).get("editable"):
        return "editable"
    return "local" if str(direct.get("url", "")).startswith("file:") else "index"


def _tree_fingerprint(root: str) -> str:
    digest = hashlib.sha256()
    base = Path(root)
    files = [base] if base.is_file() else sorted(
        p for p in base.rglob("*") if p.is_file() and p.suffix in _CODE_SUFFIXES and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(base.parent if base.is_file() else base)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def code_fingerprint(component: Component) -> str | None:
    """A hash of the code of the package that defines ``component``'s factory, unless its distribution came
    from a package index (then its version identifies the code)."""
    if distribution_origin(component.distribution) == "index":
        return None
    top = component.module.split(".")[0]
    spec = importlib.util.find_spec(top) if top else None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return _tree_fingerprint(list(spec.submodule_search_locations)[0])
    return _tree_fingerprint(spec.origin) if spec.origin else None
