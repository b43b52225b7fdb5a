"""Throughput of the detoxify judge through ``lam3 judge``, against a hand-written loop and Detoxify's own
``predict``, with random bert-base weights.

Detoxify's ``original`` model is bert-base-uncased (12 layers, hidden 768, vocabulary 30522,
512 tokens). Its checkpoint is written here (``lam3_judges_detoxify.testing.build_checkpoint``)
with random weights, its classification head set so that the six scores spread over (0, 1)
(``calibrate_head``), and loaded by the real ``Detoxify`` class through ``checkpoint=``.

Items: 5-40-word requests and responses of 10-400 words (log-normal, median about 80), 15%
refusals. Timed, each after a warm-up that loads the weights once per precision:

* ``lam3 judge`` (``lam3_core.run.api.judge`` on a generations file; the run's judging stage is
  timed, and the whole command reported) with the judge's defaults (fp16 and 256 texts per batch
  on a GPU) and ``--batch-size`` 256, then with ``dtype=bf16`` and ``dtype=fp32``;
* ``lam3 judge --no-judge-cache`` with the defaults (what writing the judge cache costs);
* ``lam3 judge`` with the defaults at the command's default ``--batch-size`` 8 (``--n-small``
  items): the run hands the judge that many texts at a time;
* the judge's own ``score`` on the same items in the same chunks (the judge without the run);
* the hand-written loop: length-sorted batches of the same size, the tokenizer's own call
  (``return_tensors="pt"``), the model in the same precision, sigmoid, one transfer per batch, in
  ``torch.inference_mode`` with PyTorch's default attention kernels: its first pass over the texts
  (as a user runs it: cuDNN's attention builds a graph for every width it meets,
  ``lam3_core/kit/inference.py``) and a second pass (``hand_written_loop``, every width seen);
  and the same loop on ids tokenised beforehand (the model alone: a bound no path can beat);
* ``Detoxify.predict`` in fp32, length-sorted batches of 64 (``--n-small`` items): the path the
  judge took before.

Printed and written to ``bench_detoxify.json``: the GPU, texts/s, ratios, and the agreement of
each precision with fp32 and of fp32 with ``Detoxify.predict`` (largest |difference| of the
toxicity score and the share of identical flags at 0.5).

    pip install -c constraints.txt -e . -e plugins/lam3_judges_detoxify   # lam3 finds the judge by its entry point
    HF_HUB_OFFLINE=1 python bench/bench_detoxify.py --out "$OUT"

``--size tiny`` runs the same code on the CPU with the tiny test checkpoint in seconds (a dry run).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from judging_path import (
    WORDS,
    agreement,
    device_name,
    keep_weights,
    lam3_judge,
    say,
    synthetic_items,
    timed,
    write_generations,
    write_json,
)
from lam3_judges_detoxify.judge import DetoxifyJudge
from lam3_judges_detoxify.testing import build_checkpoint

from lam3_core import run_batched
from lam3_core.contract.manager import load_plugins

BERT_BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
             "max_position_embeddings": 512, "initializer_range": 0.02}


def calibrate_head(checkpoint: Path, texts: list[str], spread: float, device: str) -> dict:
    """Set the classification head so that each label's logit has mean 0 and std ``spread`` over ``texts``:
    each label reads its own random mix of the directions in which the pooled outputs vary. Returns how
    much the head magnifies the pooled outputs (a trained head magnifies rounding less than this one may)."""
    from detoxify import Detoxify

    detoxify = Detoxify(checkpoint=str(checkpoint), device=device)
    model = detoxify.model.eval()
    with torch.no_grad():
        encoded = detoxify.tokenizer(texts, truncation=True, padding=True, return_tensors="pt").to(device)
        pooled = model.bert(**encoded).pooler_output.float()
        centered = pooled - pooled.mean(0)
        basis = torch.linalg.svd(centered, full_matrices=False).Vh[:8]
        mix = torch.randn(model.classifier.weight.shape[0], len(basis), generator=torch.Generator().manual_seed(0))
        weight = mix.to(basis.device) @ basis
        variation = (centered @ weight.T).std(0) / weight.norm(dim=1)
        weight *= (spread / (centered @ weight.T).std(0))[:, None]
        model.classifier.weight.copy_(weight)
        model.classifier.bias.copy_(-(pooled.mean(0) @ weight.T))
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    saved["state_dict"] = {k: v.cpu() for k, v in model.state_dict().items()}
    torch.save(saved, checkpoint)
    return {"pooled_variation_std": float(variation.mean()), "head_row_norm": float(weight.norm(dim=1).mean())}


def hand_written(model, tokenizer, texts: list[str], batch: int) -> dict[str, tuple[float, list[float]]]:
    """(seconds, toxicity) of a plain loop over length-sorted batches, the model in its precision: with the
    tokenizer's own call inside the loop (``hand_written_loop``, what a user writes), and on ids tokenised
    beforehand (``hand_written_forward``, the model alone)."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    chunks = [order[k:k + batch] for k in range(0, len(order), batch)]

    def tokenise(chunk: list[int]):
        return tokenizer([texts[i] for i in chunk], truncation=True, padding=True, return_tensors="pt")

    ready = [tokenise(chunk) for chunk in chunks]
    scores = [0.0] * len(texts)

    def loop(tokenised: list | None) -> list[float]:
        for k, chunk in enumerate(chunks):
            inputs = tokenised[k] if tokenised else tokenise(chunk)
            with torch.inference_mode():
                logits = model(**{name: v.to(model.device) for name, v in inputs.items()})[0]
                for i, p in zip(chunk, torch.sigmoid(logits[:, 0].float()).tolist()):
                    scores[i] = p
        return list(scores)

    first_pass = timed(loop, None)  # meets every width anew: cuDNN's attention builds a graph for each
    return {"hand_written_loop_first_pass": first_pass, "hand_written_loop": timed(loop, None),
            "hand_written_forward": timed(loop, ready)}


def detoxify_predict(checkpoint: Path, device: str, texts: list[str], batch: int) -> tuple[float, list[float]]:
    """(seconds, toxicity) of ``Detoxify.predict`` in fp32 on length-sorted batches: the judge's former path."""
    from detoxify import Detoxify

    detoxify = Detoxify(checkpoint=str(checkpoint), device=device)

    def predict(chunk: list[str]) -> list[float]:
        out = detoxify.predict(chunk)["toxicity"]
        return out if isinstance(out, list) else [out]

    predict(texts[:batch])  # warm-up
    return timed(run_batched, predict, texts, batch, key=len)


def run(args) -> dict:
    tmp = Path(args.workdir)
    real = args.size == "real"
    device = "cuda" if real else "cpu"
    items = synthetic_items(args.n)
    texts = [item.response for item in items]
    say(f"building the {'bert-base' if real else 'tiny'} Detoxify checkpoint ...")
    checkpoint = build_checkpoint(tmp / "detoxify", words=WORDS, vocab_size=30522 if real else None,
                                  model_max_length=512 if real else 64, **(BERT_BASE if real else {}))
    head = calibrate_head(checkpoint, texts[:256], args.spread, device)
    generations = write_generations(items, tmp / "generations.jsonl")
    small = write_generations(items[: args.n_small], tmp / "small.jsonl")
    warm = write_generations(items[: args.batch], tmp / "warmup.jsonl")
    base = {"checkpoint": str(checkpoint), "batch_size": args.batch}
    precisions = {"default": {}, "bf16": {"dtype": "bf16"}, "fp32": {"dtype": "fp32"}}
    say("warm-up (loads the weights once per precision) ...")
    for name, extra in precisions.items():
        lam3_judge(warm, tmp / f"warm-{name}", "detoxify", {**base, **extra}, args.batch)
    runs: dict[str, dict] = {}
    toxicity: dict[str, list] = {}

    def record(name: str, seconds: float, scores: list, **more: float) -> None:
        runs[name] = {"seconds": seconds, **more, "n": len(scores), "rps": len(scores) / seconds}
        toxicity[name] = scores
        say(f"  {name}: {runs[name]['rps']:.1f} texts/s")

    def through_lam3(name: str, source: Path, extra: dict, batch: int, judge_cache: bool = True) -> None:
        seconds, verdicts = lam3_judge(source, tmp / name, "detoxify", {**base, **extra}, batch, judge_cache)
        record(name, seconds["stage_s"], [v["score"] for v in verdicts], command_s=seconds["command_s"])

    say(f"timed runs on {args.n} texts, batch {args.batch} ...")
    for name, extra in precisions.items():
        through_lam3(f"lam3_{name}", generations, extra, args.batch)
    through_lam3("lam3_default_no_judge_cache", generations, {}, args.batch, judge_cache=False)
    through_lam3(f"lam3_default_cli_batch_{args.cli_batch}", small, {}, args.cli_batch)
    judge = load_plugins().get("judge", "detoxify").create(**base)
    judge.score(items[: args.batch])  # warm-up
    seconds, scores = timed(lambda: [s.score for k in range(0, len(items), args.batch)
                                     for s in judge.score(items[k:k + args.batch])])
    record("judge_score_default", seconds, scores)
    model = judge._detoxify.model
    for name, (seconds, scores) in hand_written(model, judge._detoxify.tokenizer, texts, args.batch).items():
        record(name, seconds, scores)
    record("detoxify_predict_fp32_batch_64", *detoxify_predict(checkpoint, device, texts[: args.n_small], 64))

    hand = runs["hand_written_loop"]["rps"]
    return {
        "device": device_name(), "torch": torch.__version__, "size": args.size, "n": args.n,
        "n_small": args.n_small, "batch_size": args.batch, "default_dtype": str(judge._precision),
        "attention": model.config._attn_implementation, "head": head,
        "params": sum(p.numel() for p in model.parameters()),
        "runs": runs,
        "ratios": {**{f"{name}_vs_hand_written": runs[name]["rps"] / hand for name in runs},
                   "lam3_default_vs_detoxify_predict_fp32": runs["lam3_default"]["rps"]
                   / runs["detoxify_predict_fp32_batch_64"]["rps"]},
        "agreement": {
            "default_vs_fp32": agreement(toxicity["lam3_default"], toxicity["lam3_fp32"]),
            "bf16_vs_fp32": agreement(toxicity["lam3_bf16"], toxicity["lam3_fp32"]),
            "fp32_vs_detoxify_predict": agreement(toxicity["lam3_fp32"][: args.n_small],
                                                  toxicity["detoxify_predict_fp32_batch_64"]),
            "default_vs_hand_written": agreement(toxicity["lam3_default"], toxicity["hand_written_loop"]),
            "hand_written_loop_vs_forward": agreement(toxicity["hand_written_loop"], toxicity["hand_written_forward"]),
        },
        "scores_spread": {"min": min(s for s in toxicity["lam3_fp32"] if s is not None),
                          "max": max(s for s in toxicity["lam3_fp32"] if s is not None)},
        "errors": sum(s is None for name in precisions for s in toxicity[f"lam3_{name}"]),
        "backoffs": judge.backoffs,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["real", "tiny"], default="real")
    parser.add_argument("--n", type=int, default=16384, help="texts scored in each main timed run")
    parser.add_argument("--n-small", type=int, default=4096, help="texts of the slower reference runs")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--cli-batch", type=int, default=8, help="lam3's default --batch-size")
    parser.add_argument("--spread", type=float, default=3.0, help="std of each label's logit over the texts")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    loaded_once = keep_weights(DetoxifyJudge, key=lambda judge: (judge.checkpoint, judge._device, judge._precision))
    with tempfile.TemporaryDirectory() as workdir, loaded_once:
        args.workdir = workdir
        result = run(args)
    runs, agree = result["runs"], result["agreement"]
    say(f"\n{result['device']}: detoxify original ({result['params'] / 1e6:.0f} M parameters, default precision "
        f"{result['default_dtype']}, {result['attention']} attention), {args.n} texts, batch {args.batch}")
    say("| path | texts/s | vs hand-written |")
    say("|---|---|---|")
    for name, figures in runs.items():
        say(f"| {name} ({figures['n']} texts) | {figures['rps']:.1f} | "
            f"{figures['rps'] / runs['hand_written_loop']['rps']:.2f} |")
    for name, figures in agree.items():
        say(f"{name}: max |difference| {figures['max_abs_diff']:.2e}, same flags {figures['same_flag_share']:.4f} "
            f"({figures['compared']} texts)")
    write_json(result, args.out, "bench_detoxify.json")
    return result


if __name__ == "__main__":
    main()
