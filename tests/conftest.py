"""Every test runs offline, with its own lam3 cache and Hugging Face / torch homes."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("LAM3_CACHE_DIR", str(home / "lam3"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("LAM3_PLUGINS", raising=False)
    monkeypatch.delenv("LAM3_DISABLE_PLUGIN_AUTOLOAD", raising=False)


def _install_fake_dist(root: Path, dist: str, module: str, source: str, version: str = "1.0",
                       entry_point: str | None = None, editable: bool = False) -> Path:
    """Write ``module.py`` and a ``.dist-info`` with a ``lam3`` entry point under ``root``, on sys.path.

    ``editable`` records the distribution as installed from a local folder (pip's direct_url.json).
    Returns the module's file.
    """
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{module}.py"
    path.write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[lam3]\n{entry_point or module} = {module}\n")
    if editable:
        (info / "direct_url.json").write_text(json.dumps({"url": root.as_uri(), "dir_info": {"editable": True}}))
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return path


@pytest.fixture
def fake_dist(tmp_path, monkeypatch):
    """``fake_dist(dist, module, source, version="1.0", entry_point=None, editable=False)`` installs a fake plugin
    distribution for this test and returns its module's file."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [m for m in sys.modules if m.startswith("fakeplug")]:
        monkeypatch.delitem(sys.modules, name)

    def install(dist: str, module: str, source: str, version: str = "1.0", **options) -> Path:
        return _install_fake_dist(tmp_path / "site", dist, module, source, version, **options)

    return install
