"""Throughput of the llamaguard judge (Llama Guard 2) through ``lam3 judge``: shared-prefix cache on and off,
against a hand-written batched forward pass on the same token ids, random weights.

Llama Guard 2 is the Llama-3-8B architecture (hidden 4096, 32 layers, 32 heads, 8 KV heads,
intermediate 14336, vocabulary 128256), built in bf16 on the GPU with random weights, saved to
a local folder and loaded by the judge through ``path=`` (the plugin's own loading). Its output
rows are steered (``steer``) so that the answer is "unsafe" or "safe" with odds that vary with
the prompt: P(unsafe) spreads over (0, 1) and the comparisons below mean something. The tokenizer is a
byte-level BPE trained here with the official Llama Guard 2 chat template, so the judge's
template check runs as it does on the real checkpoint.

Items: requests of 5-40 words and responses of exactly ``--response-tokens`` tokens. Timed,
each after a warm-up run that loads the weights (once per process) and the kernels:

* ``lam3 judge`` (``lam3_core.run.api.judge`` on a generations file, ``--batch-size`` equal to
  the judge's ``batch_size``; the run's judging stage is timed, and the whole command reported),
  ``prefix_cache=true`` (the default) and ``false``, threshold 1 so that no item generates
  categories: P(unsafe) only, as the throughput target is stated;
* the judge's own ``score`` on the same items in the same chunks (the judge without the run);
* the hand-written loop: the judge's token ids, length-sorted, left-padded, one forward pass per
  batch of the same size, P(unsafe) from the last position, in ``torch.inference_mode`` with
  PyTorch's default attention kernels; its first pass over the items (as a user runs it: cuDNN's
  attention builds a graph for each width it meets, ``lam3_core/kit/inference.py``) and a second
  pass on the same widths;
* the floor: per batch, the shared-prefix cache copied to the rows and the model's own forward pass on
  the mean suffix length (random ids, no padding, no mask, no preparation): what the judge's scoring
  pass cannot beat;
* ``lam3 judge`` at threshold 0.5 on ``--n-categories`` items, cache on and off: flagged items
  also generate their verdict (up to 24 greedy tokens, continued from the scoring pass);
* ``lam3 judge`` with ``compile_layers=true``: a first run loads the weights again and compiles the
  layers (its whole command is recorded as ``first_run_command_s``), a second run is timed.

Printed and written to ``bench_llamaguard.json``: the GPU, responses/s, the ratios, the
agreement of the scores (largest |difference| and the share of identical flags at 0.5) and of
the generated verdicts, and where the cached run's judging stage goes (one more, instrumented
run: ``phase_timers.py``).

    pip install -c constraints.txt -e . -e plugins/lam3_judges_llamaguard   # lam3 finds the judge by its entry point
    HF_HUB_OFFLINE=1 python bench/bench_llamaguard.py --out "$OUT"

``--size tiny`` runs the same code on the CPU with a tiny model in seconds (a dry run).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
from pathlib import Path

import torch
from judging_path import (
    WORDS,
    agreement,
    device_name,
    exact_length_items,
    keep_weights,
    lam3_judge,
    say,
    timed,
    write_generations,
    write_json,
)
from lam3_judges_llamaguard.judge import LlamaGuardJudge
from lam3_judges_llamaguard.prompt_format import FORMATS
from lam3_judges_llamaguard.testing import LLAMA_GUARD_2_TEMPLATE
from phase_timers import PhaseTimers, print_phases

from lam3_core.contract.manager import load_plugins
from lam3_core.kit.causal_scoring import CausalScorer
from lam3_core.testing.tinymodels import build_bpe_tokenizer

LLAMA_3_8B = {"vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
              "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 8192,
              "rms_norm_eps": 1e-5, "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}}
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 4096}


def build_guard(size: str, tok, folder: Path, calibration: list[list[int]], spread: float) -> tuple[int, dict]:
    """Save a random Llama Guard 2 (real or tiny size), steered with ``calibration`` prompts, and its tokenizer
    to ``folder``; its parameter count and the steering figures."""
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    shape = LLAMA_3_8B if size == "real" else {"vocab_size": len(tok), **TINY}
    config = LlamaConfig(**shape, tie_word_embeddings=False, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16 if size == "real" else torch.float32)
    try:
        with torch.device("cuda" if size == "real" else "cpu"):
            model = LlamaForCausalLM(config).eval()
    finally:
        torch.set_default_dtype(previous)
    steering = steer(model, calibration, tok.convert_tokens_to_ids("unsafe"), tok.convert_tokens_to_ids("safe"),
                     spread)
    model.generation_config = GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                               pad_token_id=tok.pad_token_id)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    params = sum(p.numel() for p in model.parameters())
    del model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return params, steering


def steer(model, prompts: list[list[int]], unsafe_id: int, safe_id: int, spread: float) -> dict:
    """Rewrite the output rows so that the answer is "unsafe" or "safe" with odds that vary with the prompt.

    The last hidden states of ``prompts`` share a large common part (their mean) and vary along a
    few directions. Every other row points against the mean (logit about -30 for any prompt);
    "unsafe" and "safe" point in opposite directions along the largest variation, orthogonal to
    the mean and scaled so that the log-odds have a standard deviation of ``2 * spread`` over
    ``prompts``: P(unsafe) spreads over (0, 1), around 0.5. Returns the size of that variation
    against the common part: the smaller it is, the more the steered scores magnify rounding.
    """
    with torch.no_grad():
        hidden = torch.stack([model.model(torch.tensor([ids], device=model.device)).last_hidden_state[0, -1].float()
                              for ids in prompts])
        mean = hidden.mean(0)
        along = mean / mean.norm()
        direction = torch.linalg.svd(hidden - mean, full_matrices=False).Vh[0]
        direction = direction - (direction @ along) * along
        direction = direction / direction.norm()
        scale = spread / float(((hidden - mean) @ direction).std())
        head = model.get_output_embeddings().weight
        head.copy_((-30.0 / float(mean.norm()) * along).to(head.dtype).expand_as(head))
        head[unsafe_id] = (scale * direction).to(head.dtype)
        head[safe_id] = (-scale * direction).to(head.dtype)
    return {"variation_std": spread / scale, "mean_norm": float(mean.norm()), "gain": scale}


def hand_written(model, rows: list[list[int]], batch: int, pad_id: int, unsafe_id: int) -> list[float]:
    """P(unsafe) with a plain loop: length-sorted, left-padded batches, one forward pass each."""
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
    out: list[float] = [0.0] * len(rows)
    for start in range(0, len(rows), batch):
        chunk = order[start:start + batch]
        width = max(len(rows[i]) for i in chunk)
        ids = torch.tensor([[pad_id] * (width - len(rows[i])) + rows[i] for i in chunk], device=model.device)
        mask = torch.tensor([[0] * (width - len(rows[i])) + [1] * len(rows[i]) for i in chunk], device=model.device)
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                           use_cache=False, logits_to_keep=1).logits[:, -1].float()
        for i, p in zip(chunk, logits.softmax(-1)[:, unsafe_id].tolist()):
            out[i] = p
    return out


def forward_floor(judge, rows: list[list[int]], batch: int) -> dict:
    """What the scoring pass cannot beat: per batch, the shared-prefix cache copied to ``batch`` rows and the model's
    own forward on the mean suffix length of ``rows`` (random ids), with no padding, mask or preparation."""
    scorer = judge._scorer
    prefix = scorer.prefixes[0]
    suffix = round(statistics.mean(len(r) for r in rows)) - len(prefix)
    ids = torch.randint(100, len(judge._tok), (batch, suffix), device=judge._model.device)

    def once() -> None:
        with torch.inference_mode():
            judge._model(input_ids=ids, past_key_values=scorer._expanded_prefix_cache(prefix, batch), use_cache=True,
                         logits_to_keep=1)

    once()
    seconds = statistics.median(timed(once)[0] for _ in range(3))
    return {"batch": batch, "suffix_tokens": suffix, "seconds_per_batch": seconds, "n": batch, "rps": batch / seconds}


def _scores(verdicts: list[dict]) -> list[float | None]:
    return [v["score"] for v in verdicts]


def run(args) -> dict:
    tmp = Path(args.workdir)
    guard = FORMATS["2"]
    corpus = [guard.render(["How do I bake bread?", "Mix flour, water and yeast."]), LLAMA_GUARD_2_TEMPLATE]
    tok = build_bpe_tokenizer(corpus=[*corpus, " ".join(WORDS) * 3],
                              specials=["safe", "unsafe"], vocab_size=args.bpe_vocab,
                              chat_template=LLAMA_GUARD_2_TEMPLATE)
    items = exact_length_items(tok, args.n, args.response_tokens)
    calibration = [tok.encode(guard.render([i.request, i.response])) for i in items[:16]]
    folder = tmp / "guard"
    say(f"building and saving Llama Guard 2 ({args.size}) in {folder} ...")
    build_s, (params, steering) = timed(build_guard, args.size, tok, folder, calibration, args.spread)
    generations = write_generations(items, tmp / "generations.jsonl")
    base = {"path": str(folder), "batch_size": args.batch, "threshold": 1.0}
    runs: dict[str, dict] = {}

    def through_lam3(name: str, source: Path, extra: dict) -> list[dict]:
        seconds, verdicts = lam3_judge(source, tmp / name, "llamaguard", {**base, **extra}, args.batch)
        runs[name] = {"seconds": seconds["stage_s"], "command_s": seconds["command_s"], "n": len(verdicts),
                      "rps": len(verdicts) / seconds["stage_s"]}
        say(f"  {name}: {runs[name]['rps']:.2f} responses/s (judging stage; command {seconds['command_s']:.1f} s)")
        return verdicts

    say("warm-up (loads the weights once) ...")
    warm = write_generations(items[: args.batch], tmp / "warmup.jsonl")
    load_s, _ = timed(lam3_judge, warm, tmp / "warm-cache", "llamaguard", base, args.batch)
    lam3_judge(warm, tmp / "warm-plain", "llamaguard", {**base, "prefix_cache": False}, args.batch)
    say(f"timed runs on {args.n} responses, batch {args.batch} ...")
    cached = through_lam3("lam3_prefix_cache", generations, {})
    plain = through_lam3("lam3_plain", generations, {"prefix_cache": False})

    judge = load_plugins().get("judge", "llamaguard").create(**base)
    judge._ensure_loaded()
    prompts = [judge._prepare(item) for item in items]
    rows = [p.ids for p in prompts]
    seconds, direct = timed(lambda: [s for k in range(0, len(items), args.batch)
                                     for s in judge.score(items[k:k + args.batch])])
    runs["judge_score_prefix_cache"] = {"seconds": seconds, "n": len(items), "rps": len(items) / seconds}
    hand_written(judge._model, rows[: args.batch], args.batch, judge._pad_id, judge._unsafe_id)  # warm-up
    say(f"  judge_score_prefix_cache: {runs['judge_score_prefix_cache']['rps']:.2f} responses/s")
    runs["model_forward_floor"] = forward_floor(judge, rows, args.batch)
    say(f"  model_forward_floor: {runs['model_forward_floor']['rps']:.2f} responses/s")
    for name in ("hand_written_loop", "hand_written_loop_second_pass"):  # the first pass meets most widths anew
        seconds, loop = timed(hand_written, judge._model, rows, args.batch, judge._pad_id, judge._unsafe_id)
        runs[name] = {"seconds": seconds, "n": len(rows), "rps": len(rows) / seconds}
        say(f"  {name}: {runs[name]['rps']:.2f} responses/s")

    with PhaseTimers() as timers:  # where the cached path's time goes: one more, instrumented run
        timers.wrap(LlamaGuardJudge, "_encoded_texts", "prompt tokenization (one call per chunk)")
        timers.wrap(LlamaGuardJudge, "_prepare", "prompt preparation (rendering, template check)")
        timers.wrap(CausalScorer, "_forward", "scoring forward passes (padding, mask, model)")
        timers.wrap(CausalScorer, "_expanded_prefix_cache", "shared-prefix cache copied to the rows", inner=True)
        seconds, _ = lam3_judge(generations, tmp / "phases", "llamaguard", base, args.batch)
    phases = timers.report(seconds["stage_s"])

    say(f"with categories: threshold 0.5 on {args.n_categories} responses ...")
    subset = write_generations(items[: args.n_categories], tmp / "categories.jsonl")
    cat_cached = through_lam3("lam3_categories_prefix_cache", subset, {"threshold": 0.5})
    cat_plain = through_lam3("lam3_categories_plain", subset, {"threshold": 0.5, "prefix_cache": False})
    generated = [(a["raw"].get("generation"), b["raw"].get("generation")) for a, b in zip(cat_cached, cat_plain)
                 if a["raw"] and b["raw"]]
    say("compile_layers=true: a first run loads the weights again and compiles, a second is timed ...")
    compile_args = {"compile_layers": True}
    first_s, _ = lam3_judge(generations, tmp / "compiled-first", "llamaguard", {**base, **compile_args}, args.batch)
    compiled = through_lam3("lam3_prefix_cache_compile_layers", generations, compile_args)
    runs["lam3_prefix_cache_compile_layers"]["first_run_command_s"] = first_s["command_s"]
    hand = runs["hand_written_loop"]["rps"]
    prefix_tokens = len(judge._scorer.prefixes[0]) if judge._scorer.prefixes else 0
    return {
        "device": device_name(), "torch": torch.__version__, "size": args.size, "params": params,
        "build_and_save_s": build_s, "first_load_and_warmup_s": load_s, "n": args.n, "batch_size": args.batch,
        "response_tokens": args.response_tokens, "prompt_tokens_mean": statistics.mean(len(r) for r in rows),
        "prompt_tokens_max": max(len(r) for r in rows), "shared_prefix_tokens": prefix_tokens,
        "steering": steering, "runs": runs, "phases_lam3_prefix_cache": phases,
        "ratios": {"lam3_prefix_cache_vs_hand_written": runs["lam3_prefix_cache"]["rps"] / hand,
                   "lam3_prefix_cache_vs_hand_written_second_pass":
                       runs["lam3_prefix_cache"]["rps"] / runs["hand_written_loop_second_pass"]["rps"],
                   "lam3_plain_vs_hand_written": runs["lam3_plain"]["rps"] / hand,
                   "lam3_prefix_cache_vs_lam3_plain": runs["lam3_prefix_cache"]["rps"] / runs["lam3_plain"]["rps"],
                   "lam3_prefix_cache_vs_model_forward_floor":
                       runs["lam3_prefix_cache"]["rps"] / runs["model_forward_floor"]["rps"],
                   "lam3_compile_layers_vs_lam3_prefix_cache":
                       runs["lam3_prefix_cache_compile_layers"]["rps"] / runs["lam3_prefix_cache"]["rps"],
                   "lam3_compile_layers_vs_target": runs["lam3_prefix_cache_compile_layers"]["rps"] / 100.0},
        "agreement": {
            "lam3_prefix_cache_vs_lam3_plain": agreement(_scores(cached), _scores(plain)),
            "lam3_compile_layers_vs_lam3_prefix_cache": agreement(_scores(compiled), _scores(cached)),
            "lam3_prefix_cache_vs_hand_written": agreement(_scores(cached), loop),
            "lam3_plain_vs_hand_written": agreement(_scores(plain), loop),  # rounding alone: batches differ
            "judge_score_vs_lam3_prefix_cache": agreement([s.score for s in direct], _scores(cached)),
            "categories_flagged_share": sum(v["flagged"] is True for v in cat_cached) / max(1, len(cat_cached)),
            "categories_same_generation_share": (sum(a == b for a, b in generated) / len(generated)
                                                 if generated else None),
        },
        "scores_spread": {"min": min(s for s in _scores(cached) if s is not None),
                          "max": max(s for s in _scores(cached) if s is not None)},
        "errors": sum(v["error"] is not None for v in cached + plain),
        "items_without_the_cache": sum(any("shared-prefix cache" in n for n in v["notes"]) for v in cached),
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["real", "tiny"], default="real")
    parser.add_argument("--n", type=int, default=512, help="responses scored in each timed run")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--response-tokens", type=int, default=256)
    parser.add_argument("--n-categories", type=int, default=128, help="responses of the runs with categories")
    parser.add_argument("--spread", type=float, default=2.0, help="std of the unsafe logit over the prompts")
    parser.add_argument("--bpe-vocab", type=int, default=8000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    loaded_once = keep_weights(LlamaGuardJudge, key=lambda judge: repr(judge.load_args))
    with tempfile.TemporaryDirectory() as workdir, loaded_once:
        args.workdir = workdir
        result = run(args)
    runs, ratios, agree = result["runs"], result["ratios"], result["agreement"]
    say(f"\n{result['device']}: llamaguard version 2 ({result['params'] / 1e9:.2f} B parameters), {args.n} responses "
        f"of {args.response_tokens} tokens, prompts of {result['prompt_tokens_mean']:.0f} tokens on average, "
        f"{result['shared_prefix_tokens']} of them shared; batch {args.batch}")
    say("| path | responses/s | vs hand-written |")
    say("|---|---|---|")
    for name in ("lam3_prefix_cache", "lam3_plain", "lam3_prefix_cache_compile_layers", "judge_score_prefix_cache",
                 "hand_written_loop", "hand_written_loop_second_pass", "model_forward_floor"):
        say(f"| {name} | {runs[name]['rps']:.2f} | {runs[name]['rps'] / runs['hand_written_loop']['rps']:.2f} |")
    for name in ("lam3_categories_prefix_cache", "lam3_categories_plain"):
        say(f"| {name} (threshold 0.5, {runs[name]['n']} responses) | {runs[name]['rps']:.2f} | – |")
    say(f"prefix cache vs plain: {ratios['lam3_prefix_cache_vs_lam3_plain']:.2f}x; scores: max |difference| "
        f"{agree['lam3_prefix_cache_vs_lam3_plain']['max_abs_diff']:.2e}, same flags "
        f"{agree['lam3_prefix_cache_vs_lam3_plain']['same_flag_share']:.3f}; vs the hand-written loop: max "
        f"|difference| {agree['lam3_prefix_cache_vs_hand_written']['max_abs_diff']:.2e}, same flags "
        f"{agree['lam3_prefix_cache_vs_hand_written']['same_flag_share']:.3f} (plain vs hand-written, rounding "
        f"alone: {agree['lam3_plain_vs_hand_written']['max_abs_diff']:.2e}); flagged with categories "
        f"{agree['categories_flagged_share']:.2f}, same generated verdicts {agree['categories_same_generation_share']}")
    print_phases(say, "where lam3_prefix_cache's judging stage goes", result["phases_lam3_prefix_cache"])
    write_json(result, args.out, "bench_llamaguard.json")
    return result


if __name__ == "__main__":
    main()
