"""Offline test environment for the profanity plugin."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def offline_env(tmp_path_factory):
    """No hub access, and every cache (HF, torch, lam3's judge cache and mini images) in a temp dir."""
    root = tmp_path_factory.mktemp("env")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        mp.setenv("HF_HOME", str(root / "hf"))
        mp.setenv("TORCH_HOME", str(root / "torch"))
        mp.setenv("LAM3_CACHE_DIR", str(root / "lam3"))
        yield
