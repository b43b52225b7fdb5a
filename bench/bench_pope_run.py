"""POPE-shaped throughput of a whole lam3 run: the model handed 256 records per call, several calls in a row.

``bench_pope.py`` times one call of 256 samples, which pays the preparation of its first micro-batch with
the GPU idle. A run of all of POPE (8,910 questions) makes 35 such calls; before each, the generation stage
tells the model which chunk follows (``Model.prepare_next``), and the llava15 / idefics2 models prepare
that chunk's first micro-batch during the current call. This script times, on 256 COCO-like images x 4
questions (1,024 samples, four calls) and the same loaded weights (see vlm_bench.py for how each path is
timed; 4 new tokens, greedy):

* lam3 with its defaults;
* lam3 with the hint ignored (what a model without ``prepare_next`` does): every call prepares its own
  first micro-batch;
* lam3 with ``compile_layers=true`` (a second copy of the weights; its untimed first run compiles).

Prints the GPU, samples/s of each and the ratios against each other and the 150 samples/s target; writes
``bench_pope_run_<size>.json``. The hand-written loop's comparison is ``bench_pope.py``'s.

    PYTHONPATH=.:bench:plugins/lam3_models_llava HF_HUB_OFFLINE=1 python bench/bench_pope_run.py --out "$OUT"

``--size tiny`` is a CPU dry run with the tiny test model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench_pope import TARGET, pope_rows
from vlm_bench import run_lam3, run_lam3_compiled, runner, say, write_dataset, write_images

DEFAULTS = {
    "--images": (int, 256, "Images; each is asked --questions questions (the model gets 256 records per call)."),
    "--questions": (int, 4, "POPE questions per image."),
    "--new-tokens": (int, 4, "Tokens per answer (min = max)."),
}


def run(model, args: argparse.Namespace, workdir: Path) -> dict:
    rows = pope_rows(write_images(workdir / "pope_images", args.images, args.size), args.questions)
    dataset = write_dataset(workdir / "pope.jsonl", rows)
    n = len(rows)
    gen = {"max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens}
    say(f"pope run: {args.images} images x {args.questions} questions, {args.new_tokens} new tokens")
    lam3 = run_lam3(model, dataset, workdir, "lam3 defaults", gen)
    say(f"  lam3 defaults: {n / lam3.seconds:.2f} samples/s")
    model.prepare_next = lambda *args, **kwargs: None  # the Model default: the hint ignored
    ignored = run_lam3(model, dataset, workdir, "lam3, the next call not prepared ahead", gen, warm_up=False)
    del model.prepare_next
    say(f"  lam3, the next call not prepared ahead: {n / ignored.seconds:.2f} samples/s")
    compiled = run_lam3_compiled(model, dataset, workdir, gen)
    say(f"  lam3 compile_layers=true: {n / compiled.seconds:.2f} samples/s "
        f"(first run, compiling: {compiled.extra['warm_up_s']:.1f} s)")
    return {
        "workload": "pope_run", "unit": "samples", "samples": n, "images": args.images,
        "new_tokens": args.new_tokens, "runs": [run.row(n, "samples") for run in (lam3, ignored, compiled)],
        "ratios": {
            "lam3 defaults / the next call not prepared ahead": round(ignored.seconds / lam3.seconds, 2),
            f"lam3 defaults / target {TARGET:g} samples/s": round(n / lam3.seconds / TARGET, 2),
            "lam3 compile_layers=true / defaults": round(lam3.seconds / compiled.seconds, 2),
            f"lam3 compile_layers=true / target {TARGET:g} samples/s": round(n / compiled.seconds / TARGET, 2),
        },
        "target": f">= {TARGET:g} samples/s through lam3 generate",
    }


def main(argv=None) -> dict:
    return runner(run, argv, "bench_pope_run", __doc__.splitlines()[0], DEFAULTS)


if __name__ == "__main__":
    main()
