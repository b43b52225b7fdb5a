"""Tiny sequence classifiers (toxic-bert labels, MNLI labels), built once per session, offline."""

from __future__ import annotations

import pytest

from lam3_core.testing.tinymodels import MNLI_LABELS


@pytest.fixture(scope="session")
def classifier_dir(tiny_classifier, offline_hf_env):
    return tiny_classifier()


@pytest.fixture(scope="session")
def nli_dir(tiny_classifier, offline_hf_env):
    return tiny_classifier(MNLI_LABELS)
