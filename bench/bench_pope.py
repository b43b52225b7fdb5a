"""POPE-shaped generation throughput of lam3 (``lam3 generate``'s code path) against a hand-written loop.

64 COCO-like images x 4 yes/no questions in LLaVA's POPE wording (256 samples), greedy answers of
exactly 4 tokens, LLaVA-1.5-7B's architecture with random bf16 weights (see vlm_bench.py for how
each path is timed). Runs, on the same inputs and weights:

* lam3 with its defaults (micro-batches from free memory, image-prefix reuse, prefetching);
* lam3 with ``prefix_reuse=false``, and lam3 capped at ``batch_size=64``;
* lam3 with ``compile_layers=true`` (a second copy of the weights, loaded so; its untimed first call
  pays the compiling, and its seconds are recorded as ``warm_up_s``; one more, instrumented run of it
  records where its time goes as ``phases_lam3`` in its row);
* the hand-written loop at the rows per micro-batch lam3 chose, and at 64.

Prints the GPU, samples/s of each, the ratios lam3 / hand loop at the same batch size and lam3 /
the 150 samples/s target, the agreement of the greedy answers, where lam3's time goes (one more,
instrumented run: ``phase_timers.py``) and the hand loop's phases at 64 (preprocessing, prefill,
one decoding step); writes ``bench_pope_<size>.json``.

    PYTHONPATH=.:bench:plugins/lam3_models_llava HF_HUB_OFFLINE=1 python bench/bench_pope.py --out "$OUT"

``--size tiny`` is a CPU dry run with the tiny test model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vlm_bench import (
    OBJECTS,
    POPE_INSTRUCTION,
    agreement,
    lam3_phases,
    phases,
    run_lam3,
    run_lam3_compiled,
    runner,
    samples_of,
    say,
    timed_hand_loop,
    write_dataset,
    write_images,
)

TARGET = 150.0
DEFAULTS = {
    "--images": (int, 64, "Images; each is asked --questions questions."),
    "--questions": (int, 4, "POPE questions per image."),
    "--new-tokens": (int, 4, "Tokens per answer (min = max)."),
    "--compare-batch": (int, 64, "A second batch size at which lam3 and the hand loop are compared."),
}


def pope_rows(paths: list[str], questions: int) -> list[dict]:
    """POPE-shaped rows, image-major as POPE's files are: every question on an image, then the next image."""
    rows = []
    for i, path in enumerate(paths):
        for q in range(questions):
            thing = OBJECTS[(i * questions + q) % len(OBJECTS)]
            rows.append({"id": f"img{i:03d}-q{q}", "prompt": f"Is there a {thing} in the image?{POPE_INSTRUCTION}",
                         "image": path, "label": "yes" if (i + q) % 2 else "no"})
    return rows


def run(model, args: argparse.Namespace, workdir: Path) -> dict:
    rows = pope_rows(write_images(workdir / "pope_images", args.images, args.size), args.questions)
    dataset = write_dataset(workdir / "pope.jsonl", rows)
    samples = samples_of(rows)
    n, new_tokens, other = len(rows), args.new_tokens, min(args.compare_batch, len(rows))
    gen = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens}
    say(f"pope: {args.images} images x {args.questions} questions, {new_tokens} new tokens")
    lam3 = run_lam3(model, dataset, workdir, "lam3 defaults", gen)
    batch = lam3.info["micro_batches"]["generate"]["prompts_per_micro_batch"]
    say(f"  lam3 defaults: {n / lam3.seconds:.2f} samples/s, micro-batches of {batch}")
    model.prefix_reuse = False
    no_reuse = run_lam3(model, dataset, workdir, "lam3 prefix_reuse=false", gen, warm_up=False)
    model.prefix_reuse, model.batch_size = True, other
    capped = run_lam3(model, dataset, workdir, f"lam3 batch_size={other}", gen, warm_up=False)
    model.batch_size = None
    same = timed_hand_loop(model, samples, batch, new_tokens)
    say(f"  hand loop at {batch}: {n / same['seconds']:.2f} samples/s")
    at_other = same if other == batch else timed_hand_loop(model, samples, other, new_tokens)
    phases_lam3 = lam3_phases(model, dataset, workdir, gen)
    phases_hand = phases(model, samples, other, decode_steps=8)
    compiled = run_lam3_compiled(model, dataset, workdir, gen, with_phases=True)
    say(f"  lam3 compile_layers=true: {n / compiled.seconds:.2f} samples/s "
        f"(first call, compiling: {compiled.extra['warm_up_s']:.1f} s)")
    runs = [lam3.row(n, "samples"), no_reuse.row(n, "samples"), capped.row(n, "samples"), compiled.row(n, "samples"),
            {"path": f"hand loop, batch {batch}", "samples": n, "seconds": round(same["seconds"], 3),
             "samples_per_s": round(n / same["seconds"], 2), "peak_gib": same["peak_gib"]}]
    if at_other is not same:
        runs.append({"path": f"hand loop, batch {other}", "samples": n, "seconds": round(at_other["seconds"], 3),
                     "samples_per_s": round(n / at_other["seconds"], 2), "peak_gib": at_other["peak_gib"]})
    return {
        "workload": "pope", "unit": "samples", "samples": n, "images": args.images, "new_tokens": new_tokens,
        "runs": runs,
        "ratios": {
            f"lam3 defaults / hand loop at batch {batch}": round(same["seconds"] / lam3.seconds, 2),
            f"lam3 batch_size={other} / hand loop at batch {other}": round(at_other["seconds"] / capped.seconds, 2),
            "lam3 prefix reuse / without": round(no_reuse.seconds / lam3.seconds, 2),
            f"lam3 defaults / target {TARGET:g} samples/s": round(n / lam3.seconds / TARGET, 2),
            "lam3 compile_layers=true / defaults": round(lam3.seconds / compiled.seconds, 2),
            f"lam3 compile_layers=true / target {TARGET:g} samples/s": round(n / compiled.seconds / TARGET, 2),
        },
        "agreement": {f"lam3 defaults vs hand loop at batch {batch}": agreement(lam3.records, same["answers"]),
                      "lam3 prefix_reuse=false vs hand loop": agreement(no_reuse.records, same["answers"]),
                      "lam3 compile_layers=true vs hand loop": agreement(compiled.records, same["answers"])},
        "phases_lam3": phases_lam3,
        "phases_hand_loop": phases_hand,
        "target": f">= {TARGET:g} samples/s through lam3 generate",
    }


def main(argv=None) -> dict:
    return runner(run, argv, "bench_pope", __doc__.splitlines()[0], DEFAULTS)


if __name__ == "__main__":
    main()
