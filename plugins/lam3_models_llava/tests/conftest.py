"""A tiny random LLaVA-1.5 checkpoint (real classes, real chat template), built once per session, offline."""

from __future__ import annotations

import pytest

from lam3_core.testing.tinyvlm import build_tiny_llava


@pytest.fixture(scope="session")
def vlm_dir(tmp_path_factory, offline_hf_env):
    return build_tiny_llava(tmp_path_factory.mktemp("tiny_llava"))

