"""Tiny WildGuard models (Mistral, WildGuard's format), built once per session, offline."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def scripted_dir(tmp_path_factory, offline_hf_env):
    """Answers every prompt: harmful request yes, response refusal no, harmful response yes."""
    from lam3_judges_wildguard.testing import build_tiny_wildguard

    return build_tiny_wildguard(tmp_path_factory.mktemp("wildguard"), answers=("yes", "no", "yes"))


@pytest.fixture(scope="session")
def random_dir(tmp_path_factory, offline_hf_env):
    from lam3_judges_wildguard.testing import build_tiny_wildguard

    return build_tiny_wildguard(tmp_path_factory.mktemp("wildguard_random"))
