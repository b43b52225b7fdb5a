"""Session-wide test environment for the core and every plugin: offline, with temporary homes."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def offline_hf_env(tmp_path_factory):
    """Offline Hugging Face and torch homes in a temp dir for the whole session (before transformers loads)."""
    home = tmp_path_factory.mktemp("hf_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        mp.setenv("HF_HOME", str(home / "hf"))
        mp.setenv("TORCH_HOME", str(home / "torch"))
        mp.setenv("LAM3_CACHE_DIR", str(home / "lam3"))
        yield home
