"""Tiny models built once per session, offline: MNLI classifiers (the core's ``tiny_classifier``) and a BERT encoder."""

from __future__ import annotations

import pytest

from lam3_core.testing.tinymodels import MNLI_LABELS


@pytest.fixture(scope="session")
def nli_dir(tiny_classifier, offline_hf_env):
    """MNLI labels, random weights: the predicted class depends on the pair."""
    return tiny_classifier(MNLI_LABELS)


@pytest.fixture(scope="session")
def nli_always(tiny_classifier, offline_hf_env):
    """``nli_always("ENTAILMENT")``: an MNLI classifier that predicts that class for every pair."""
    return lambda label: tiny_classifier(MNLI_LABELS, fixed_logits={label: 6.0})


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory, offline_hf_env):
    """A tiny random ``BertModel`` with the project's byte-level BPE tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    from lam3_core.testing.tinymodels import build_bpe_tokenizer

    out = tmp_path_factory.mktemp("encoder")
    tok = build_bpe_tokenizer()
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=128, initializer_range=0.5,
                        pad_token_id=tok.pad_token_id)
    BertModel(config).eval().save_pretrained(out)
    tok.save_pretrained(out)
    return out
