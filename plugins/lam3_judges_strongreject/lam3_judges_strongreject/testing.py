"""A tiny offline StrongREJECT judge for tests and benchmarks: a random GemmaForCausalLM and a LoRA adapter
created and saved with peft, the tokenizer saved with the adapter as the published one is.

Imports torch, tokenizers, transformers and peft: use from tests and benchmarks only.
"""

from __future__ import annotations

from pathlib import Path


def build_gemma_tokenizer(vocab_size: int = 800):
    """A byte-level BPE tokenizer with Gemma's BOS/EOS spellings (``<bos>`` added in front, like Gemma's)."""
    from tokenizers import processors

    from lam3_core.testing.tinymodels import DEFAULT_CORPUS, build_bpe_tokenizer
    from lam3_judges_strongreject.prompt import STRONGREJECT_FINETUNED

    tok = build_bpe_tokenizer(corpus=[*DEFAULT_CORPUS, STRONGREJECT_FINETUNED], specials=["<bos>", "<eos>"],
                              vocab_size=vocab_size, add_bos=False)
    bos = tok.convert_tokens_to_ids("<bos>")
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", bos)])
    tok.bos_token, tok.eos_token = "<bos>", "<eos>"
    return tok


def build_tiny_strongreject(out_dir: str | Path, seed: int = 0, hidden_size: int = 32,
                            num_hidden_layers: int = 2) -> tuple[Path, Path]:
    """Save a tiny Gemma base model to ``out_dir/base`` and a LoRA adapter (non-zero, so it changes the
    scores) with the tokenizer to ``out_dir/adapter``; return the two folders."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import GemmaConfig, GemmaForCausalLM

    out_dir = Path(out_dir)
    tok = build_gemma_tokenizer()
    torch.manual_seed(seed)
    config = GemmaConfig(vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                         num_hidden_layers=num_hidden_layers, num_attention_heads=2, num_key_value_heads=1,
                         head_dim=16, max_position_embeddings=4096, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, initializer_range=0.2)
    base = GemmaForCausalLM(config).eval()
    base.save_pretrained(out_dir / "base")
    tok.save_pretrained(out_dir / "base")
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, lora).save_pretrained(out_dir / "adapter")
    tok.save_pretrained(out_dir / "adapter")
    return out_dir / "base", out_dir / "adapter"
