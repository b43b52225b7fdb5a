"""Throughput of the harmbench judge at real size: batched versus one by one, random weights.

The HarmBench classifier is Llama-2-13B (hidden 5120, 40 layers, 40 heads, intermediate
13824, vocab 32000, context 4096), built here in bf16 directly on the GPU and handed to
``HarmBenchJudge`` in place of ``from_pretrained`` (``_load`` is overridden; writing and
reading 26 GB would only time the disk), so response clipping, prompt filling, tokenization,
length-sorted left-padded batching, the first-token forward pass and the yes/no reading are
the judge's own code. Its output rows are steered so that it always answers yes or no (as
the real classifier does), which keeps every item on the scoring path rather than the
invalid-label one. The tokenizer is a byte-level BPE trained here on the HarmBench prompt
and synthetic text.

Each response is exactly 256 tokens of synthetic text; requests are 5-40 words. Each timing
follows a warm-up at the same batch size. The batched and the one-by-one scores of the same
items are compared as a sanity check.

    PYTHONPATH=.:plugins/lam3_judges_harmbench python bench/bench_harmbench.py --out "$OUT"

``--size tiny`` runs the same code on the CPU with a tiny config in a few seconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from judging_path import WORDS, exact_length_items
from lam3_judges_harmbench.judge import LABEL_FIX, HarmBenchJudge
from lam3_judges_harmbench.prompts import PROMPTS
from lam3_judges_harmbench.testing import steer_to_labels

from lam3_core.kit.causal_scoring import label_token_ids
from lam3_core.testing.tinymodels import build_bpe_tokenizer


class PrebuiltHarmBench(HarmBenchJudge):
    """The harmbench judge with a model built in memory instead of ``from_pretrained``."""

    def __init__(self, tokenizer, model, **kwargs):
        super().__init__(**kwargs)
        self._prebuilt = (tokenizer, model)

    def _load(self):
        return self._prebuilt


def classifier_model(size: str, vocab: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    if size == "real":
        config = LlamaConfig(vocab_size=32000, hidden_size=5120, intermediate_size=13824, num_hidden_layers=40,
                             num_attention_heads=40, num_key_value_heads=40, max_position_embeddings=4096,
                             rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    else:
        config = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
                             tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    device = "cuda" if size == "real" else "cpu"
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16 if size == "real" else torch.float32)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config).eval()
    finally:
        torch.set_default_dtype(previous)
    return model


def timed(fn, *args) -> tuple[float, object]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def run(args) -> dict:
    tok = build_bpe_tokenizer(corpus=[PROMPTS["llama2"].standard, " ".join(WORDS) * 3, *["Yes No yes no"] * 20],
                              vocab_size=args.bpe_vocab)
    build_s, model = timed(classifier_model, args.size, len(tok))
    steer_to_labels(model, *(label_token_ids(tok, word, "harmbench", LABEL_FIX) for word in ("yes", "no")))
    items = exact_length_items(tok, args.n, args.response_tokens)
    batched = PrebuiltHarmBench(tok, model, batch_size=args.batch)
    batched.score(items[: args.batch])  # warm-up (and load)
    lengths = [len(batched._prepare(i).ids) for i in items]
    t_batched, scores = timed(batched.score, items)
    single = PrebuiltHarmBench(tok, model, batch_size=1)
    sub = items[: args.single]
    single.score(sub[:2])
    t_single, scores_single = timed(single.score, sub)
    return {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
        "torch": torch.__version__, "size": args.size, "params": sum(p.numel() for p in model.parameters()),
        "build_s": build_s, "n": len(items), "response_tokens": args.response_tokens,
        "prompt_tokens_mean": statistics.mean(lengths), "prompt_tokens_max": max(lengths),
        "batch_size": args.batch, "batched_rps": len(items) / t_batched, "batch1_n": len(sub),
        "batch1_rps": len(sub) / t_single,
        "max_abs_diff_batched_vs_batch1": max(abs(a.score - b.score) for a, b in zip(scores, scores_single)),
        "errors": sum(s.error is not None for s in scores), "backoffs": batched.backoffs,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["real", "tiny"], default="real")
    parser.add_argument("--n", type=int, default=256, help="responses scored in batches")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--single", type=int, default=48, help="responses scored one by one")
    parser.add_argument("--response-tokens", type=int, default=256)
    parser.add_argument("--bpe-vocab", type=int, default=8000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2))
    print(f"\n{result['device']}: harmbench ({result['params'] / 1e9:.2f} B parameters), {result['n']} responses "
          f"of {args.response_tokens} tokens, prompts of {result['prompt_tokens_mean']:.0f} tokens on average")
    print("| path | responses/s | ratio |")
    print("|---|---|---|")
    print(f"| batched, batch {args.batch} | {result['batched_rps']:.2f} | 1.00 |")
    print(f"| one by one | {result['batch1_rps']:.2f} | {result['batch1_rps'] / result['batched_rps']:.3f} |")
    print(f"batched vs one by one: max |score difference| {result['max_abs_diff_batched_vs_batch1']:.2e}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_harmbench.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
