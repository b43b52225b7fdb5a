"""A tiny StrongREJECT judge (random Gemma + a LoRA adapter saved with peft), built once per session, offline."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def strongreject_dirs(tmp_path_factory, offline_hf_env):
    """(base model folder, adapter folder with the tokenizer)."""
    from lam3_judges_strongreject.testing import build_tiny_strongreject

    return build_tiny_strongreject(tmp_path_factory.mktemp("strongreject"))
