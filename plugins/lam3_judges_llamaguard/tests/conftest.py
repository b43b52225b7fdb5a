"""Tiny Llama Guard checkpoints (real chat templates, tiny LlamaForCausalLM), built once per session, offline."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def guard2_dir(tmp_path_factory, offline_hf_env):
    from lam3_judges_llamaguard.testing import build_tiny_guard

    return build_tiny_guard(tmp_path_factory.mktemp("guard2"), version=2)


@pytest.fixture(scope="session")
def guard3_dir(tmp_path_factory, offline_hf_env):
    from lam3_judges_llamaguard.testing import build_tiny_guard

    return build_tiny_guard(tmp_path_factory.mktemp("guard3"), version=3)


@pytest.fixture(scope="session")
def scripted_guard_dir(tmp_path_factory, offline_hf_env):
    """Answers every Llama Guard 2 prompt with exactly 'unsafe\\nS1,S10'."""
    from lam3_judges_llamaguard.testing import build_tiny_guard

    return build_tiny_guard(tmp_path_factory.mktemp("guard_scripted"), version=2, script="unsafe\nS1,S10")
