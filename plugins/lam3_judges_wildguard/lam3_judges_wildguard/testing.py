"""Tiny offline WildGuard models for tests and benchmarks: a MistralForCausalLM with WildGuard's format.

Random weights answer garbage (a malformed output). A scripted model answers every prompt
with three given lines: a one-layer bigram machine (each scripted token's embedding is its
own basis direction and the output row of its successor points along it; the MLP is off and
the attention is damped, so the answer holds while its probabilities still move a little
with the text). A bigram machine cannot repeat a token with different successors, so the
line headings are single added tokens and a value that repeats is spelled differently
(" yes", " Yes", " YES"): WildGuard's parser reads them all alike.

Imports torch, tokenizers and transformers: use from tests and benchmarks only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

HEADINGS = ("Harmful request:", "\nResponse refusal:", "\nHarmful response:")
SPELLINGS = {"yes": (" yes", " Yes", " YES"), "no": (" no", " No", " NO"), "n/a": (" n/a", " N/A", " N/a")}


def build_wildguard_tokenizer(vocab_size: int = 800):
    """A byte-level BPE tokenizer trained on WildGuard's format, with the scripted pieces as single tokens."""
    from tokenizers import AddedToken

    from lam3_core.testing.tinymodels import DEFAULT_CORPUS, build_bpe_tokenizer
    from lam3_judges_wildguard.prompt import INPUT_FORMAT

    tok = build_bpe_tokenizer(corpus=[*DEFAULT_CORPUS, INPUT_FORMAT], vocab_size=vocab_size)
    pieces = [*HEADINGS, *(s for spellings in SPELLINGS.values() for s in spellings)]
    tok.add_tokens([AddedToken(p, normalized=False, special=False) for p in pieces])
    return tok


def script_answers(answers: Sequence[str]) -> str:
    """The scripted output for (harmful request, response refusal, harmful response) values."""
    seen: dict[str, int] = {}
    text = ""
    for heading, value in zip(HEADINGS, answers):
        text += heading + SPELLINGS[value][seen.get(value, 0)]
        seen[value] = seen.get(value, 0) + 1
    return text


def _script(model, tok, after: int, text: str, strength: float) -> None:
    import torch

    chain = [after, *tok.encode(text, add_special_tokens=False), tok.eos_token_id]
    if len(set(chain[:-1])) != len(chain) - 1:
        raise ValueError(f"scripted tokens must be distinct: {tok.convert_ids_to_tokens(chain)}")
    with torch.no_grad():
        for layer in model.model.layers:
            layer.mlp.down_proj.weight.zero_()
            layer.self_attn.o_proj.weight.mul_(0.05)
        emb, head = model.model.embed_tokens.weight, model.lm_head.weight
        k = len(chain) - 1
        emb[:, :k] = 0.0
        head[:, :k] = 0.0
        for j, (token, successor) in enumerate(zip(chain, chain[1:])):
            emb[token] = 0.0
            emb[token, j] = 1.0
            head[successor, j] = strength


def build_tiny_wildguard(out_dir: str | Path, answers: Sequence[str] | None = None, seed: int = 0,
                         strength: float = 1.5) -> Path:
    """Save a tiny Mistral WildGuard and its tokenizer; with ``answers`` (three of yes/no/n/a) it answers
    every prompt with those lines, else it is random."""
    import torch
    from transformers import GenerationConfig, MistralConfig, MistralForCausalLM

    from lam3_judges_wildguard.prompt import INPUT_FORMAT

    out_dir = Path(out_dir)
    tok = build_wildguard_tokenizer()
    torch.manual_seed(seed)
    scripted = answers is not None
    config = MistralConfig(vocab_size=len(tok), hidden_size=64 if scripted else 32, intermediate_size=64,
                           num_hidden_layers=1 if scripted else 2, num_attention_heads=2, num_key_value_heads=1,
                           head_dim=16, max_position_embeddings=4096, bos_token_id=tok.bos_token_id,
                           eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=False,
                           initializer_range=0.2)
    model = MistralForCausalLM(config).eval()
    if scripted:
        last = tok.encode(INPUT_FORMAT.format(prompt="q", response="a"), add_special_tokens=False)[-1]
        _script(model, tok, last, script_answers(answers), strength)
    model.generation_config = GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                               pad_token_id=tok.pad_token_id)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir
