"""Tiny sequence classifiers (toxic-bert labels, MNLI labels), built once per session, offline."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def classifier_dir(tmp_path_factory, offline_hf_env):
    from lam3_judges_hf.testing import build_tiny_classifier

    return build_tiny_classifier(tmp_path_factory.mktemp("toxic_bert"))


@pytest.fixture(scope="session")
def nli_dir(tmp_path_factory, offline_hf_env):
    from lam3_judges_hf.testing import MNLI_LABELS, build_tiny_classifier

    return build_tiny_classifier(tmp_path_factory.mktemp("mnli"), MNLI_LABELS)


@pytest.fixture(scope="session")
def fixed_nli_dir(tmp_path_factory, offline_hf_env):
    """``fixed_nli_dir(label)``: an NLI model that always predicts ``label``; ids in a non-MNLI order."""
    from lam3_judges_hf.testing import build_tiny_classifier

    built = {}

    def build(label: str):
        if label not in built:
            built[label] = build_tiny_classifier(tmp_path_factory.mktemp(f"nli_{label.lower()}"),
                                                 ["ENTAILMENT", "NEUTRAL", "CONTRADICTION"], fixed_logits={label: 6.0})
        return built[label]

    return build
