"""Throughput of the llamaguard and detoxify judges at real size, with random weights.

Llama Guard 2 is the Llama-3-8B architecture (hidden 4096, 32 layers, 32 heads, 8 KV
heads, intermediate 14336, vocab 128256) built in bf16 directly on the GPU and handed to
``LlamaGuardJudge`` in place of ``from_pretrained`` (``_load`` is overridden; writing and
reading 16 GB would only time the disk), so prompt building, BOS handling, left padding,
length-sorted batching and the first-token P(unsafe) are the judge's own code. Its
tokenizer is a byte-level BPE trained here with the official LG2 chat template.
Detoxify is bert-base-uncased's architecture (12 layers, hidden 768, vocab 30522) saved as
a Detoxify checkpoint on this machine and loaded by the real ``Detoxify`` class through
``DetoxifyJudge(checkpoint=...)``.

The responses are synthetic (the GPU machine has no dataset): requests of 5-40 words and
responses of 10-400 words (log-normal, median ~80 words), plus refusals. Baselines
measured in the same run: batch size 1 through the same judge, and, for Llama Guard,
Meta's generate-based scoring (``generate`` per item with ``output_scores``, llama-recipes
``inference.py``) with 2 new tokens (a real "safe" answer is the label plus EOS). Each
timing follows a warm-up at the same batch size. Scores from the batched and the
generate-based paths are compared as a sanity check.

    PYTHONPATH=.:plugins/lam3_judges_llamaguard:plugins/lam3_judges_detoxify \\
        python bench/bench_judges.py --out "$OUT"

``--size tiny`` runs the same code on the CPU with tiny configs (a dry run of the script).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import tempfile
from pathlib import Path

import torch
from judging_path import WORDS, synthetic_items, timed
from lam3_judges_detoxify.judge import DetoxifyJudge
from lam3_judges_detoxify.testing import build_checkpoint
from lam3_judges_llamaguard.judge import LlamaGuardJudge
from lam3_judges_llamaguard.testing import LLAMA_GUARD_2_TEMPLATE

from lam3_core import JudgeItem
from lam3_core.testing.tinymodels import build_bpe_tokenizer


class PrebuiltGuard(LlamaGuardJudge):
    """The llamaguard judge with a model built in memory instead of ``from_pretrained``."""

    def __init__(self, tokenizer, model, **kwargs):
        super().__init__(**kwargs)
        self._prebuilt = (tokenizer, model)

    def _load(self):
        return self._prebuilt


def guard_model(size: str, vocab: int):
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    if size == "real":
        config = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                             num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192,
                             rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
                             tie_word_embeddings=False, bos_token_id=0, eos_token_id=1, pad_token_id=3)
    else:
        config = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                             tie_word_embeddings=False, bos_token_id=0, eos_token_id=1, pad_token_id=3)
    device = "cuda" if size == "real" else "cpu"
    dtype = torch.bfloat16 if size == "real" else torch.float32
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config).eval()
    finally:
        torch.set_default_dtype(previous)
    model.generation_config = GenerationConfig(bos_token_id=0, eos_token_id=1, pad_token_id=3)
    return model


def generate_based(judge: PrebuiltGuard, items: list[JudgeItem], new_tokens: int) -> list[float]:
    """Meta's llama-recipes scoring: generate per item with output_scores; P(unsafe) from the first step."""
    model, tok = judge._model, judge._tok
    out_p = []
    for item in items:
        ids = torch.tensor([judge._prepare(item).ids], device=model.device)
        with torch.inference_mode():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                                 min_new_tokens=new_tokens, do_sample=False, return_dict_in_generate=True,
                                 output_scores=True, pad_token_id=tok.pad_token_id)
        out_p.append(out.scores[0][0].float().log_softmax(-1)[judge._unsafe_id].exp().item())
    return out_p


def bench_llamaguard(items: list[JudgeItem], args) -> dict:
    corpus = [LLAMA_GUARD_2_TEMPLATE] + [f"{i.request} {i.response}" for i in items]
    tok = build_bpe_tokenizer(corpus=corpus, specials=["safe", "unsafe"], vocab_size=args.bpe_vocab,
                              chat_template=LLAMA_GUARD_2_TEMPLATE)
    build_s, model = timed(guard_model, args.size, len(tok))
    params = sum(p.numel() for p in model.parameters())
    batched = PrebuiltGuard(tok, model, batch_size=args.lg_batch)
    batched.score(items[: args.lg_batch])                                  # warm-up (and load)
    lengths = [len(batched._prepare(i).ids) for i in items]
    t_batched, scores = timed(batched.score, items)
    one = PrebuiltGuard(tok, model, batch_size=1)
    sub = items[: args.lg_single]
    one.score(sub[:2])
    t_one, scores_one = timed(one.score, sub)
    gen_sub = items[: args.lg_generate]
    generate_based(batched, gen_sub[:2], args.gen_tokens)
    t_gen, p_gen = timed(generate_based, batched, gen_sub, args.gen_tokens)
    diff_one = max(abs(a.score - b.score) for a, b in zip(scores, scores_one))
    diff_gen = max(abs(a.score - b) for a, b in zip(scores, p_gen))
    result = {
        "params": params, "build_s": build_s, "n": len(items), "batch_size": args.lg_batch,
        "prompt_tokens_mean": statistics.mean(lengths), "prompt_tokens_max": max(lengths),
        "batched_rps": len(items) / t_batched, "batch1_rps": len(sub) / t_one, "generate_rps": len(gen_sub) / t_gen,
        "max_abs_diff_batched_vs_batch1": diff_one, "max_abs_diff_batched_vs_generate": diff_gen,
        "errors": sum(s.error is not None for s in scores), "backoffs": batched.backoffs,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
    }
    batched.close()
    one.close()
    del model, batched, one
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result


def bench_detoxify(items: list[JudgeItem], args, workdir: Path) -> dict:
    real = args.size == "real"
    bert = ({"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
             "max_position_embeddings": 512, "initializer_range": 0.02} if real else {})
    build_s, checkpoint = timed(lambda: build_checkpoint(workdir / "detoxify", words=WORDS,
                                                         vocab_size=30522 if real else None,
                                                         model_max_length=512 if real else 64, **bert))
    device = "cuda" if real else "cpu"
    batched = DetoxifyJudge(checkpoint=str(checkpoint), device=device, batch_size=args.detox_batch)
    batched.score(items[: args.detox_batch])
    t_batched, scores = timed(batched.score, items)
    one = DetoxifyJudge(checkpoint=str(checkpoint), device=device, batch_size=1)
    sub = items[: args.detox_single]
    one.score(sub[:2])
    t_one, scores_one = timed(one.score, sub)
    return {
        "build_s": build_s, "n": len(items), "batch_size": args.detox_batch,
        "batched_rps": len(items) / t_batched, "batch1_rps": len(sub) / t_one,
        "max_abs_diff_batched_vs_batch1": max(abs(a.score - b.score) for a, b in zip(scores, scores_one)),
        "truncated": sum(bool(s.notes) for s in scores), "errors": sum(s.error is not None for s in scores),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["real", "tiny"], default="real")
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--lg-batch", type=int, default=16)
    parser.add_argument("--lg-single", type=int, default=64)
    parser.add_argument("--lg-generate", type=int, default=32)
    parser.add_argument("--gen-tokens", type=int, default=2)
    parser.add_argument("--detox-batch", type=int, default=64)
    parser.add_argument("--detox-single", type=int, default=128)
    parser.add_argument("--bpe-vocab", type=int, default=8000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    items = synthetic_items(args.n)
    results = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor(),
               "torch": torch.__version__, "size": args.size}
    with tempfile.TemporaryDirectory() as tmp:
        results["detoxify"] = bench_detoxify(items, args, Path(tmp))
    results["llamaguard"] = bench_llamaguard(items, args)
    lg, dx = results["llamaguard"], results["detoxify"]
    print(json.dumps(results, indent=2))
    print(f"\n{results['device']}, {args.n} synthetic responses")
    print("| judge | path | responses/s | ratio |")
    print("|---|---|---|---|")
    print(f"| llamaguard (8B, bf16) | batched first-token, batch {lg['batch_size']} | {lg['batched_rps']:.1f} | 1.00 |")
    print(f"| llamaguard | first-token, batch 1 | {lg['batch1_rps']:.1f} | "
          f"{lg['batch1_rps'] / lg['batched_rps']:.3f} |")
    print(f"| llamaguard | generate per item ({args.gen_tokens} tokens) | {lg['generate_rps']:.1f} | "
          f"{lg['generate_rps'] / lg['batched_rps']:.3f} |")
    print(f"| detoxify (bert-base) | batched, batch {dx['batch_size']} | {dx['batched_rps']:.1f} | 1.00 |")
    print(f"| detoxify | batch 1 | {dx['batch1_rps']:.1f} | {dx['batch1_rps'] / dx['batched_rps']:.3f} |")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_judges.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
