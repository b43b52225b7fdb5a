"""Tiny HarmBench classifiers (random weights, real model classes), built once per session, offline."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def classifier_dir(tmp_path_factory, offline_hf_env):
    """A tiny Llama classifier that always answers yes or no, with text-dependent odds."""
    from lam3_judges_harmbench.testing import build_tiny_classifier

    return build_tiny_classifier(tmp_path_factory.mktemp("harmbench"))


@pytest.fixture(scope="session")
def unsteered_dir(tmp_path_factory, offline_hf_env):
    """A tiny random Llama classifier whose first token is usually neither yes nor no."""
    from lam3_judges_harmbench.testing import build_tiny_classifier

    return build_tiny_classifier(tmp_path_factory.mktemp("harmbench_random"), steer=False)


@pytest.fixture(scope="session")
def mistral_dir(tmp_path_factory, offline_hf_env):
    from lam3_judges_harmbench.testing import build_tiny_classifier

    return build_tiny_classifier(tmp_path_factory.mktemp("harmbench_mistral"), variant="mistral")
