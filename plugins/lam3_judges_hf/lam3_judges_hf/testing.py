"""Tiny sequence classifiers built locally for offline tests (random BERT, byte-level BPE tokenizer).

Imports torch, tokenizers and transformers: use from tests only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

TOXIC_BERT_LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
MNLI_LABELS = ["CONTRADICTION", "NEUTRAL", "ENTAILMENT"]


def build_tiny_classifier(out_dir: str | Path, labels: Sequence[str] = TOXIC_BERT_LABELS,
                          fixed_logits: Mapping[str, float] | None = None, seed: int = 0) -> Path:
    """Save a tiny ``BertForSequenceClassification`` + tokenizer with ``id2label`` = ``labels``.

    With ``fixed_logits`` the classification head ignores its input and always outputs
    these logits (label -> value), which makes the predicted class known in advance.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from lam3_core.testing.tinymodels import build_bpe_tokenizer

    out_dir = Path(out_dir)
    tok = build_bpe_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=512, initializer_range=0.5,
                        pad_token_id=tok.pad_token_id, id2label=dict(enumerate(labels)),
                        label2id={label: i for i, label in enumerate(labels)})
    model = BertForSequenceClassification(config).eval()
    if fixed_logits is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.copy_(torch.tensor([float(fixed_logits.get(label, 0.0)) for label in labels]))
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir
