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


def _shared_data_dir():
    """``../shared/data`` beside the checkout (as in CI), else ``$LAM3_SHARED_DATA``."""
    import os
    from pathlib import Path

    for candidate in (os.environ.get("LAM3_SHARED_DATA"), Path(__file__).resolve().parent.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


SHARED_DATA = _shared_data_dir()


@pytest.fixture(scope="session")
def shared_data():
    """The public datasets in ``../shared/data`` (read them in place; never copy their text into the project)."""
    if SHARED_DATA is None:
        pytest.fail("../shared/data is missing: clone the project beside the shared folder or set LAM3_SHARED_DATA.")
    return SHARED_DATA


@pytest.fixture
def bench_script(monkeypatch):
    """``bench_script(name)``: ``bench/<name>.py`` loaded as a module, with ``bench/`` importable as when the script
    runs from there (the scripts import their siblings)."""
    import importlib.util
    from pathlib import Path

    folder = Path(__file__).resolve().parent / "bench"
    monkeypatch.syspath_prepend(str(folder))

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
