"""Throughput of K sampled answers per prompt with the llava15 plugin at real size (random weights): ``model.sample``
against K separate sampled ``generate`` calls over the same prompts, measured in the same run.

``model.sample(samples, K, gen)`` is what ``lam3 eval --samples K`` runs: per batch one encoding of the
prompts and one ``generate`` with ``num_return_sequences=K``. The baseline draws the K answers one by
one: K calls of ``generate(samples, gen, trace=True)`` with sampling on (trace: the uncertainty metrics
need the log-probs; seed ``s + i`` for draw i, as the same seed would draw the same answers). Both
decode the same rows per forward pass: ``batch_size`` rows (``sample`` takes ``batch_size // K`` prompts
per batch, ``generate`` ``batch_size`` prompts).

POPE-shaped work: ``--images`` noise images (COCO-like sizes) x ``--questions`` yes/no questions in
LLaVA's POPE wording, short answers of exactly ``--new-tokens`` tokens (min = max: random weights never
stop). The real size is LLaVA-1.5-7B's architecture (``bench_models.llava_setup``), built in bf16 with
random weights, saved, and loaded back through the plugin. Each path is warmed up once at its own
shapes, then timed ``--repeats`` times (median).

    PYTHONPATH=.:bench:plugins/lam3_models_llava HF_HUB_OFFLINE=1 python bench/bench_sampling.py --out "$OUT"

``--size tiny`` runs the same code on the CPU with the tiny test model (a dry run of the script).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from bench_models import free_memory, llava_setup, save_random_checkpoint

from lam3_core import GenConfig, Sample

OBJECTS = ("dog", "car", "person", "chair", "bottle", "bicycle", "umbrella", "clock", "horse", "cup", "bench", "kite")
POPE_INSTRUCTION = "\nAnswer the question using a single word or phrase."


def pope_samples(images: int, questions: int, side: int) -> list[Sample]:
    """``images`` noise images of COCO-like shapes around ``side``, each asked ``questions`` POPE questions."""
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    samples = []
    for i in range(images):
        width, height = side + side // 3 * (i % 2), side - side // 4 * (i % 3 == 0)
        pixels = torch.randint(0, 256, (height, width, 3), generator=gen, dtype=torch.uint8).numpy()
        image = Image.fromarray(pixels)
        for q in range(questions):
            thing = OBJECTS[(i * questions + q) % len(OBJECTS)]
            samples.append(Sample(f"img{i}-q{q}", f"Is there a {thing} in the image?{POPE_INSTRUCTION}", [image]))
    return samples


def _timed(work, repeats: int) -> tuple[float, list[float], float | None]:
    """Median seconds of ``repeats`` timed calls after one warm-up call, every time, and the peak GPU GiB."""
    cuda = torch.cuda.is_available()
    work()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        work()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None
    return statistics.median(times), times, peak


def _check(answers: list[list], n: int, k: int, new_tokens: int) -> None:
    assert len(answers) == n and all(len(a) == k for a in answers), "wrong number of sampled answers"
    for group in answers:
        for completion in group:
            assert completion.error is None and len(completion.token_logprobs) == new_tokens
            assert all(math.isfinite(v) for v in completion.token_logprobs)


def bench(size: str, images: int, questions: int, k: int, new_tokens: int, batch: int, repeats: int,
          workdir: Path) -> dict:
    plugin_cls, processor, config = llava_setup(size)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.perf_counter()
    params = save_random_checkpoint(config, processor, workdir / "llava15", device)
    build_s = time.perf_counter() - t0
    samples = pope_samples(images, questions, 480 if size == "real" else 48)
    gen = GenConfig(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=True, seed=0)
    model = plugin_cls(path=str(workdir / "llava15"), batch_size=batch)
    model.load()
    n = len(samples)

    def sampled():
        drawn = model.sample(samples, k, gen)
        _check(drawn, n, k, new_tokens)

    def one_by_one():
        draws = [model.generate(samples, dataclasses.replace(gen, seed=i), trace=True) for i in range(k)]
        _check([list(group) for group in zip(*draws)], n, k, new_tokens)

    runs = []
    for label, work in ((f"sample: K={k} per generate call", sampled), (f"one by one: {k} generate calls", one_by_one)):
        seconds, times, peak = _timed(work, repeats)
        runs.append({"path": label, "prompts": n, "answers": n * k, "seconds": round(seconds, 3),
                     "all_seconds": [round(t, 3) for t in times], "prompts_per_s": round(n / seconds, 3),
                     "answers_per_s": round(n * k / seconds, 2), "peak_gib": peak})
        print(json.dumps(runs[-1]), flush=True)
    info = model.info()
    model.close()
    free_memory()
    return {
        "model": "llava15", "size": size, "params": params, "build_and_save_s": round(build_s, 1),
        "dtype": info["dtype"], "batch_size_rows": batch, "k": k, "new_tokens": new_tokens,
        "images": images, "questions_per_image": questions, "batch_backoffs": info["batch_backoffs"], "runs": runs,
        "ratio": {"sample vs one by one (prompts/s)": round(runs[0]["prompts_per_s"] / runs[1]["prompts_per_s"], 2)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("real", "tiny"), default="real")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--questions", type=int, default=4, help="POPE questions per image.")
    parser.add_argument("--k", type=int, default=5, help="Sampled answers per prompt.")
    parser.add_argument("--new-tokens", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=40, help="Rows decoded together (the model's batch_size).")
    parser.add_argument("--repeats", type=int, default=3, help="Timed repeats per path (median reported).")
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    args = parser.parse_args()
    import transformers

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    env = {"device": gpu or platform.processor() or "cpu", "torch": torch.__version__,
           "transformers": transformers.__version__}
    print(f"device: {env['device']}", flush=True)
    with tempfile.TemporaryDirectory(prefix="lam3-bench-") as workdir:
        result = bench(args.size, args.images, args.questions, args.k, args.new_tokens, args.batch_size, args.repeats,
                       Path(workdir))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench_sampling_{args.size}.json"
    path.write_text(json.dumps({"environment": env, "result": result}, indent=2))
    print(f"\n{env}")
    print(f"{'path':34} {'prompts/s':>9} {'answers/s':>9} {'seconds':>8} {'peak GiB':>8}")
    for r in result["runs"]:
        print(f"{r['path']:34} {r['prompts_per_s']:9.3f} {r['answers_per_s']:9.2f} {r['seconds']:8.3f} "
              f"{r['peak_gib'] if r['peak_gib'] is not None else '-':>8}")
    for name, value in result["ratio"].items():
        print(f"ratio {name}: {value}")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
