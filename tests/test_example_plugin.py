"""Integration: the third-party example plugin, installed as a user would, is found and used by lam3.

The README's test command installs examples/lam3_example_wordlist with everything else (and its own
tests run in the same suite); where it is not installed, this test builds and pip-installs a clean copy
(non-editable, offline) and uninstalls it afterwards. Either way it drives the `lam3` CLI in subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lam3_example_wordlist"
DISTRIBUTION = "lam3-example-wordlist"
LAM3 = [sys.executable, "-m", "lam3_core"]


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def installed_example(tmp_path):
    """The example as installed (the README's command installs it), else installed from a clean copy (so the
    build leaves nothing in the repo) and removed afterwards."""
    try:
        metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    else:
        yield EXAMPLE
        return
    source = tmp_path / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    _pip("install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", str(source))
    try:
        yield source
    finally:
        _pip("uninstall", "--yes", "--quiet", DISTRIBUTION)


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """Subprocess environment: offline, caches in the temp dir, every installed plugin loaded."""
    env = {k: v for k, v in os.environ.items() if k not in ("LAM3_PLUGINS", "LAM3_DISABLE_PLUGIN_AUTOLOAD")}
    env.update(LAM3_CACHE_DIR=str(tmp_path / "cache"), HF_HUB_OFFLINE="1")
    return env


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_installed_example_plugin_is_listed_and_used(installed_example, env, tmp_path):
    listing = json.loads(_run([*LAM3, "plugins", "--json"], env, tmp_path))
    row = next(r for r in listing if r["distribution"] == DISTRIBUTION)
    assert row["version"] == "0.1.0" and "error" not in row
    assert [(p["kind"], p["name"]) for p in row["provides"]] == [("judge", "wordlist")]

    out = tmp_path / "run"
    _run([*LAM3, "eval", "--model", "echo", "--judge", "wordlist", "--dataset", "mini", "--limit", "3",
          "--out", str(out)], env, tmp_path)
    verdicts = [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]
    wordlist = {v["record_id"].split("::")[0]: v for v in verdicts if v["judge"] == "wordlist"}
    assert set(wordlist) == {"mini-harm-violence-01", "mini-benign-violence-01", "mini-harm-violence-02"}
    assert all(v["judge_version"] == f"{DISTRIBUTION} 0.1.0" and v["error"] is None for v in wordlist.values())
    assert wordlist["mini-benign-violence-01"]["raw"] == {"hits": ["kill"]}  # the default list over-flags
    assert wordlist["mini-harm-violence-01"]["score"] == 0.0
