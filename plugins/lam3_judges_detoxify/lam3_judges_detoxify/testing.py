"""Detoxify checkpoints built locally (random BERT weights), loadable by the real ``Detoxify`` class offline.

Layout as in the released checkpoints: ``{"config": {"arch": {"args": {...}}, "dataset":
{"args": {"classes": [...]}}}, "state_dict": ...}``. ``model_type`` is a local folder
holding the config and tokenizer (or, with ``hub_name``, a hub name, as in the released
files, which then needs ``offline.localise_checkpoint``). Imports torch and transformers:
use from tests and benchmarks only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

ORIGINAL_CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
UNBIASED_CLASSES = ["toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat",
                    "sexual_explicit"]
WORDS = ("you are a an the idiot liar stupid shut up hello world have great day thanks for help weekend "
         "kill hate love cake bread bake how do i make to and of is it not sorry cannot with that request").split()


def build_checkpoint(out_dir: str | Path, classes: Sequence[str] = ORIGINAL_CLASSES, num_outputs: int | None = None,
                     hub_name: str | None = None, words: Sequence[str] = WORDS, vocab_size: int | None = None,
                     model_max_length: int = 64, seed: int = 0, **bert: int | float) -> Path:
    """Write ``out_dir/base`` (config + BertTokenizer) and ``out_dir/detoxify.ckpt``; return the checkpoint path.

    ``bert`` overrides the tiny BertConfig (hidden 32, 2 layers); ``num_outputs`` > len(classes)
    mimics the unbiased head (16 outputs, 7 reported classes); ``vocab_size`` pads the
    vocabulary with ``[unused]`` entries to a real model's size.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    out_dir = Path(out_dir)
    base = out_dir / "base"
    base.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(words)]
    vocab += [f"[unused{i}]" for i in range((vocab_size or len(vocab)) - len(vocab))]
    (base / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizer(vocab=str(base / "vocab.txt"), do_lower_case=True, model_max_length=model_max_length)
    if len(tok) != len(vocab):
        raise RuntimeError(f"tokenizer has {len(tok)} entries, expected {len(vocab)}")
    settings = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37,
                "max_position_embeddings": model_max_length, "initializer_range": 0.5, **bert}
    outputs = num_outputs or len(classes)
    torch.manual_seed(seed)
    model = BertForSequenceClassification(BertConfig(vocab_size=len(vocab), num_labels=outputs, **settings))
    model.save_pretrained(base)
    tok.save_pretrained(base)
    checkpoint = out_dir / "detoxify.ckpt"
    torch.save({
        "config": {
            "arch": {"args": {"model_type": hub_name or str(base), "model_name": "BertForSequenceClassification",
                              "tokenizer_name": "BertTokenizer", "num_classes": outputs}},
            "dataset": {"args": {"classes": list(classes)}},
        },
        "state_dict": model.state_dict(),
    }, checkpoint)
    return checkpoint
