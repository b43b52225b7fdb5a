"""PGD throughput and peak GPU memory on the LLaVA-1.5-7B architecture with random weights: batched vs one at a time.

Builds the published llava-1.5-7b architecture (CLIP ViT-L/14-336 + Llama-7B) in bf16 with
random weights, saves it with a locally built processor (336 px images), loads it through the
llava15 plugin and runs the ``pgd`` attack's own ``apply`` (default 100 steps, epsilon 8/255) on
noise images: once on a chunk of ``--batch-size`` samples (one forward and one backward pass per
step for the chunk, as ``lam3 eval --batch-size`` hands them over) and once sample by sample.
Each run is warmed up with one step at its own shapes. It reports images/s and peak GPU memory,
and their ratios batched / one at a time; ``--mask attention`` adds a batched run with the
attention mask (one extra eager-attention prefill per chunk).

    PYTHONPATH=.:plugins/lam3_models_llava:plugins/lam3_attacks_visual HF_HUB_OFFLINE=1 \\
        python bench/bench_pgd.py --out "$OUT"

``--size tiny`` runs the same path on the CPU with a tiny config in seconds (a dry run of the script).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_models import free_memory, llava_setup, make_samples, save_random_checkpoint  # noqa: E402


def timed_pgd(model, samples, chunk: int, attack_args: dict, label: str) -> dict:
    """Attack ``samples`` in chunks of ``chunk`` with pgd(``attack_args``) after a one-step warm-up; one row."""
    from lam3_attacks_visual.pgd import PGDAttack

    attack = PGDAttack(**attack_args)
    PGDAttack(**{**attack_args, "steps": 1}).apply(samples[:chunk], model)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    attacked = []
    for first in range(0, len(samples), chunk):
        attacked += attack.apply(samples[first : first + chunk], model)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    infos = [s.meta["attack_info"] for s in attacked]
    row = {
        "run": label, "chunk": chunk, "images": len(samples), "steps": attack.steps, "mask": attack.mask,
        "seconds": round(seconds, 3), "images_per_s": round(len(samples) / seconds, 4),
        "steps_per_s": round(len(samples) * attack.steps / seconds, 2),
        "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "mean_loss_initial": round(sum(i["loss_initial"] for i in infos) / len(infos), 4),
        "mean_loss_saved": round(sum(i["loss_saved"] for i in infos) / len(infos), 4),
        "max_linf_255": max(i["linf_255"] for i in infos),
    }
    print(json.dumps(row), flush=True)
    return row


def run(args: argparse.Namespace, workdir: Path) -> dict:
    plugin_cls, processor, config = llava_setup(args.size)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    directory = workdir / "llava15"
    t0 = time.perf_counter()
    params = save_random_checkpoint(config, processor, directory, device)
    build_s = time.perf_counter() - t0
    model = plugin_cls(path=str(directory))  # bf16 on a GPU, fp32 on the CPU
    model.load()
    samples = make_samples(args.samples, 336 if args.size == "real" else 48)
    pixel_shape = list(model.preprocess(samples[0])["pixel_values"].shape[-2:])
    pgd = {"steps": args.steps, "epsilon": 8 / 255, "step_size": 1 / 255}
    single_count = args.single_samples or max(1, args.samples // 4)
    rows = [
        timed_pgd(model, samples, args.batch_size, pgd, f"batch {args.batch_size}"),
        timed_pgd(model, samples[:single_count], 1, pgd, "one at a time"),
    ]
    for mask in args.mask:
        masked = {**pgd, "mask": mask, "top_patches": args.top_patches}
        rows.append(timed_pgd(model, samples, args.batch_size, masked, f"batch {args.batch_size}, mask={mask}"))
    batched, single = rows[0], rows[1]
    ratios = {"images/s, batched vs one at a time": round(batched["images_per_s"] / single["images_per_s"], 2)}
    if batched["peak_gib"]:
        ratios["peak GPU memory, batched vs one at a time"] = round(batched["peak_gib"] / single["peak_gib"], 2)
    model.close()
    free_memory()
    return {"model": "llava15", "size": args.size, "params": params, "build_and_save_s": round(build_s, 1),
            "processed_image": pixel_shape, "runs": rows, "ratios": ratios}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("real", "tiny"), default="real")
    parser.add_argument("--samples", type=int, default=16, help="Images attacked in the batched runs.")
    parser.add_argument("--single-samples", type=int, default=0,
                        help="Images attacked one at a time (default: a quarter of --samples).")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--mask", action="append", choices=("attention", "saliency"), default=[],
                        help="Also time a batched run with this mask (repeatable).")
    parser.add_argument("--top-patches", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    args = parser.parse_args(argv)
    if args.size == "tiny":
        args.top_patches = min(args.top_patches, 4)  # the tiny model's images have 2 x 2 patches
    import transformers

    env = {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
        "torch": torch.__version__, "transformers": transformers.__version__, "samples": args.samples,
        "batch_size": args.batch_size, "steps": args.steps,
    }
    print(f"device: {env['device']}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lam3-bench-pgd-") as workdir:
        result = run(args, Path(workdir))
    report = {"environment": env, "result": result}
    path = args.out / f"bench_pgd_{args.size}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\n{env}")
    print(f"{'run':28} {'images/s':>9} {'steps/s':>8} {'peak GiB':>8} {'loss start':>10} {'loss saved':>10}")
    for r in result["runs"]:
        peak = r["peak_gib"] if r["peak_gib"] is not None else "-"
        print(f"{r['run']:28} {r['images_per_s']:9.4f} {r['steps_per_s']:8.2f} {peak:>8} "
              f"{r['mean_loss_initial']:10.4f} {r['mean_loss_saved']:10.4f}")
    for name, value in result["ratios"].items():
        print(f"ratio {name}: {value}")
    print(f"written: {path}")
    return report


if __name__ == "__main__":
    main()
