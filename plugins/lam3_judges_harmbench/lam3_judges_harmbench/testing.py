"""Tiny offline HarmBench classifiers for tests and benchmarks: the real model classes, random weights.

Imports torch, tokenizers and transformers: use from tests and benchmarks only.
"""

from __future__ import annotations

from pathlib import Path

ARCHITECTURES = {"llama2": ("LlamaConfig", "LlamaForCausalLM"), "mistral": ("MistralConfig", "MistralForCausalLM")}


def build_classifier_tokenizer(vocab_size: int = 1000):
    """A byte-level BPE tokenizer trained on the HarmBench templates, in which "Yes"/"No" are single tokens."""
    from lam3_core.testing.tinymodels import DEFAULT_CORPUS, build_bpe_tokenizer
    from lam3_judges_harmbench.prompts import PROMPTS

    corpus = [*DEFAULT_CORPUS, *(t for p in PROMPTS.values() for t in (p.standard, p.contextual)),
              *["Yes Yes No No yes yes no no"] * 20]
    return build_bpe_tokenizer(corpus=corpus, vocab_size=vocab_size)


def steer_to_labels(model, yes_ids: list[int], no_ids: list[int]) -> None:
    """Make a yes/no token the most likely next token everywhere, with text-dependent odds between them.

    Every other output row is zeroed (logit 0) and the "no" rows are the negated "yes" row, so
    the winner of the two has a logit of at least 0: the classifier always answers, and
    P(yes) / (P(yes) + P(no)) still depends on the prompt through the last hidden state.
    """
    import torch

    with torch.no_grad():
        head = model.get_output_embeddings().weight
        direction = head[yes_ids[0]].clone()
        head.zero_()
        head[yes_ids] = direction
        head[no_ids] = -direction


def build_tiny_classifier(out_dir: str | Path, variant: str = "llama2", steer: bool = True, seed: int = 0,
                          hidden_size: int = 32, num_hidden_layers: int = 2) -> Path:
    """Save a tiny random Llama (or Mistral, for ``variant="mistral"``) classifier and its tokenizer.

    With ``steer`` (default) the model always answers yes or no (``steer_to_labels``); without,
    its first token is whatever the random weights say, usually neither.
    """
    import torch
    import transformers

    from lam3_core.kit.causal_scoring import label_token_ids
    from lam3_judges_harmbench.judge import LABEL_FIX

    out_dir = Path(out_dir)
    tok = build_classifier_tokenizer()
    config_name, model_name = ARCHITECTURES[variant]
    torch.manual_seed(seed)
    config = getattr(transformers, config_name)(
        vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=num_hidden_layers, num_attention_heads=2, num_key_value_heads=2,
        max_position_embeddings=4096, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, tie_word_embeddings=False, initializer_range=0.2)
    model = getattr(transformers, model_name)(config).eval()
    if steer:
        steer_to_labels(model, *(label_token_ids(tok, word, "harmbench", LABEL_FIX) for word in ("yes", "no")))
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir
