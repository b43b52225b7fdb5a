"""Detoxify checkpoints built locally (random BERT weights), once per session, offline."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def original_checkpoint(tmp_path_factory, offline_hf_env):
    from lam3_judges_detoxify.testing import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("detoxify_original"))


@pytest.fixture(scope="session")
def unbiased_checkpoint(tmp_path_factory, offline_hf_env):
    """Like Detoxify's unbiased model: a 16-output head of which the 7 named classes are reported."""
    from lam3_judges_detoxify.testing import UNBIASED_CLASSES, build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("detoxify_unbiased"), classes=UNBIASED_CLASSES, num_outputs=16)


@pytest.fixture(scope="session")
def hub_named_checkpoint(tmp_path_factory, offline_hf_env):
    """As released: ``model_type`` is the hub name 'bert-base-uncased', which fails offline."""
    from lam3_judges_detoxify.testing import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("detoxify_released"), hub_name="bert-base-uncased")
