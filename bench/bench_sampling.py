"""K sampled answers per POPE-shaped prompt (``lam3 generate --samples K``) against a hand-written loop.

32 COCO-like images x 4 yes/no questions (128 prompts), K = 5 answers of exactly 8 tokens each with
their log-probs, LLaVA-1.5-7B's architecture with random bf16 weights (see vlm_bench.py for how each
path is timed). Runs, on the same inputs and weights:

* lam3's command path, ``api.generate`` with ``samples=5``: per prompt the traced greedy answer and 5
  sampled answers from one ``generate_with_samples`` call (the image prefix prefilled once per image, each
  prompt once for its 6 answers, which decode together);
* the command path again on a second copy of the weights loaded with ``compile_layers=true``;
* the model's ``sample(prompts, 5)`` alone (the samples without the greedy answer), and the same with
  ``prefix_reuse=false`` (every row prefilled, as ``num_return_sequences`` does);
* the hand-written loop at the same rows per forward pass: processor + ``generate(do_sample=True,
  num_return_sequences=5, output_logits=True)``; and the same work as the command path (a traced greedy
  ``generate`` and then the sampled one, per batch).

Prints the GPU, prompts/s of each, the ratios (lam3 / hand loop doing the same work, lam3 / the 30
prompts/s target), the agreement of the greedy answers and where lam3's time goes (one more, instrumented
run: ``phase_timers.py``); writes ``bench_sampling_<size>.json``.

    PYTHONPATH=.:bench:plugins/lam3_models_llava HF_HUB_OFFLINE=1 python bench/bench_sampling.py --out "$OUT"

``--size tiny`` is a CPU dry run with the tiny test model.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from bench_pope import pope_rows
from vlm_bench import (
    agreement,
    hand_loop,
    lam3_phases,
    run_lam3,
    run_lam3_compiled,
    runner,
    samples_of,
    say,
    synced,
    write_dataset,
    write_images,
)

from lam3_core import GenConfig

TARGET = 30.0
DEFAULTS = {
    "--images": (int, 32, "Images; each is asked --questions questions."),
    "--questions": (int, 4, "POPE questions per image."),
    "--k": (int, 5, "Sampled answers per prompt."),
    "--new-tokens": (int, 8, "Tokens per answer (min = max)."),
}


def _timed_sample(model, samples, k: int, gen: GenConfig) -> float:
    """``model.sample`` once untimed, then timed; checks that every answer has its finite log-probs."""
    model.sample(samples, k, gen)
    start = synced()
    drawn = model.sample(samples, k, gen)
    seconds = synced() - start
    assert len(drawn) == len(samples) and all(len(group) == k for group in drawn)
    assert all(len(c.token_logprobs) == gen.max_new_tokens and all(map(math.isfinite, c.token_logprobs))
               for group in drawn for c in group)
    return seconds


def run(model, args: argparse.Namespace, workdir: Path) -> dict:
    rows = pope_rows(write_images(workdir / "sampling_images", args.images, args.size), args.questions)
    dataset = write_dataset(workdir / "sampling.jsonl", rows)
    samples = samples_of(rows)
    n, k, new_tokens = len(rows), args.k, args.new_tokens
    gen = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens}
    say(f"sampling: {n} prompts x {k} answers, {new_tokens} new tokens")
    lam3 = run_lam3(model, dataset, workdir, f"lam3 --samples {k} (greedy + {k} sampled)", gen, samples=k)
    prompts_per_pass = lam3.info["micro_batches"]["generate_with_samples"]["prompts_per_micro_batch"]
    greedy_batch = prompts_per_pass
    say(f"  lam3 --samples {k}: {n / lam3.seconds:.2f} prompts/s, micro-batches of {prompts_per_pass} prompts x "
        f"{k + 1} (greedy and samples)")
    compiled = run_lam3_compiled(model, dataset, workdir, gen, samples=k)
    say(f"  lam3 --samples {k}, compile_layers=true: {n / compiled.seconds:.2f} prompts/s "
        f"(first call, compiling: {compiled.extra['warm_up_s']:.1f} s)")
    sample_gen = GenConfig(**gen, do_sample=True, seed=0)
    shared = _timed_sample(model, samples, k, sample_gen)
    model.prefix_reuse = False
    unshared = _timed_sample(model, samples, k, sample_gen)
    model.prefix_reuse = True
    model.sample(samples[:prompts_per_pass], 1, sample_gen)  # warm-up at one answer per prompt
    start = synced()
    for _ in range(k):  # the K answers drawn one at a time: K passes, each with its own prefill
        model.sample(samples, 1, sample_gen)
    one_at_a_time = synced() - start
    say(f"  lam3 sample(): {n / shared:.2f} prompts/s; without prefix reuse {n / unshared:.2f}; "
        f"{k} answers drawn one at a time {n / one_at_a_time:.2f}")
    hand_batch = prompts_per_pass
    while True:  # the hand loop repeats each prompt K times before its prefill: it may need fewer prompts per pass
        try:
            hand_loop(model, samples[:hand_batch], hand_batch, new_tokens, k, trace=True)  # warm-up
            sampled, _, peak = hand_loop(model, samples, hand_batch, new_tokens, k, trace=True)
            break
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            say(f"  hand loop: out of memory at {hand_batch} prompts x {k}; halving")
            hand_batch = max(1, hand_batch // 2)
    start = time.perf_counter()
    greedy, greedy_answers, _ = hand_loop(model, samples, greedy_batch, new_tokens, 1, trace=True)
    say(f"  hand loop: {k} samples {n / sampled:.2f} prompts/s; greedy + {k} samples "
        f"{n / (sampled + greedy):.2f} prompts/s ({time.perf_counter() - start:.1f}s greedy)")

    def row(label: str, seconds: float, peak_gib=None) -> dict:
        return {"path": label, "prompts": n, "answers": n * k, "seconds": round(seconds, 3),
                "prompts_per_s": round(n / seconds, 2), "peak_gib": peak_gib}

    lam3_row = lam3.row(n, "prompts")
    runs = [lam3_row, compiled.row(n, "prompts"), row(f"lam3 sample(prompts, {k})", shared),
            row(f"lam3 sample(prompts, {k}), prefix_reuse=false", unshared),
            row(f"lam3 sample(prompts, 1) called {k} times (answers drawn one at a time)", one_at_a_time),
            row(f"hand loop: generate(num_return_sequences={k}), {hand_batch} prompts per batch", sampled, peak),
            row(f"hand loop: greedy (batch {greedy_batch}) + {k} sampled, same work as --samples", greedy + sampled)]
    return {
        "workload": "sampling", "unit": "prompts", "prompts": n, "k": k, "new_tokens": new_tokens, "runs": runs,
        "ratios": {
            f"lam3 --samples {k} / hand loop doing the same work": round((greedy + sampled) / lam3.seconds, 2),
            f"lam3 sample() / hand loop num_return_sequences={k}": round(sampled / shared, 2),
            "lam3 sample() prefix reuse / without": round(unshared / shared, 2),
            f"lam3 sample(prompts, {k}) / {k} answers drawn one at a time": round(one_at_a_time / shared, 2),
            f"lam3 --samples {k} / target {TARGET:g} prompts/s": round(n / lam3.seconds / TARGET, 2),
            f"lam3 --samples {k} compile_layers=true / defaults": round(lam3.seconds / compiled.seconds, 2),
        },
        "agreement": {"lam3 greedy answers vs hand loop": agreement(lam3.records, greedy_answers)},
        "phases_lam3": lam3_phases(model, dataset, workdir, gen, samples=k),
        "target": f">= {TARGET:g} prompts/s with {k} sampled answers each through lam3 generate",
    }


def main(argv=None) -> dict:
    return runner(run, argv, "bench_sampling", __doc__.splitlines()[0], DEFAULTS)


if __name__ == "__main__":
    main()
