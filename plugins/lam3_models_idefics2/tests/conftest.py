"""A tiny random Idefics2 checkpoint (real classes, real chat template), built once per session, offline."""

from __future__ import annotations

import pytest

from lam3_core.testing.tinyvlm import build_tiny_idefics2


@pytest.fixture(scope="session")
def vlm_dir(tmp_path_factory, offline_hf_env):
    return build_tiny_idefics2(tmp_path_factory.mktemp("tiny_idefics2"))

