"""Shared pieces of the generation benchmarks: bench_pope.py, bench_jailbreak.py, bench_sampling.py and the driver
bench_generation.py (all three on one saved model, in one process).

Each workload is timed two ways on the same inputs and the same loaded weights:

* lam3's path: ``lam3_core.run.api.generate`` — what ``lam3 generate`` runs — on a dataset file of
  real-size images (COCO-like 640x480 JPEGs), into a fresh run directory each time. The model is
  the ``llava15`` plugin's own class, loaded once from the saved folder (``path=``) before any
  timing and handed to the API through a registered factory; its ``close()`` keeps the weights
  (the only difference to the installed plugin), so "model loading excluded" means exactly that:
  the timed call still reads and hashes the dataset, checks every image, writes meta.json and
  flushes every record. A first, untimed call at the same shapes warms up (kernels, compiled
  decoding). Its micro-batch sizes and paths come from meta.json.
* a hand-written loop: the processor and ``model.generate`` at the same batch size and settings
  (greedy, ``min_new_tokens = max_new_tokens`` so that random weights never stop early, the same
  stop and pad ids), images decoded with PIL one by one, answers decoded with ``batch_decode``.

Random weights (right for speed, meaningless for accuracy) with the published architecture
(``bench_models.llava_setup``: LLaVA-1.5-7B, 336 px CLIP, built in bf16 on the GPU). ``--size
tiny`` runs the same code on the CPU with the tiny test model: a dry run, so the scripts never rot.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from bench_models import TOKENIZERS, free_memory, llava_setup, save_random_checkpoint
from phase_timers import PhaseTimers, print_phases

from lam3_core import RunConfig, Sample
from lam3_core.contract.manager import load_plugins
from lam3_core.kit.hf_vlm import clean_response
from lam3_core.run.api import generate as lam3_generate
from lam3_core.run.store import read_jsonl
from lam3_core.testing import plugin_providing

MODEL_NAME = "llava15-bench"
OBJECTS = ("dog", "car", "person", "chair", "bottle", "bicycle", "umbrella", "clock", "horse", "cup", "bench", "kite")
POPE_INSTRUCTION = "\nAnswer the question using a single word or phrase."
IMAGE_SHAPES = ((640, 480), (480, 640), (640, 427), (500, 375))
"""COCO's most common image shapes (width, height)."""


def say(*parts) -> None:
    print(*parts, flush=True)


def environment(model) -> dict:
    """What the figures were measured on: the GPU by name, library versions, the image processor in use."""
    import importlib.util

    import transformers

    cuda = torch.cuda.is_available()
    return {
        "device": torch.cuda.get_device_name() if cuda else platform.processor() or "cpu",
        "gpu": cuda, "torch": torch.__version__, "transformers": transformers.__version__,
        "cuda": torch.version.cuda, "torchvision": importlib.util.find_spec("torchvision") is not None,
        "image_processor": type(model.processor.image_processor).__name__,
        "python": platform.python_version(),
    }


# ----- the model ---------------------------------------------------------------------------------------


def _timed(method: Callable) -> Callable:
    """``method``, adding its seconds to ``self.model_seconds`` (an outer timed call's inner calls count once)."""
    def call(self, *args, **kwargs):
        if self.timing:
            return method(self, *args, **kwargs)
        self.timing, start = True, time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            self.timing = False
            self.model_seconds += time.perf_counter() - start

    return call


def kept_model_class():
    """The llava15 plugin's class, timing its calls and keeping its weights when a run closes it."""
    from lam3_models_llava.model import LlavaModel

    class KeptLlava(LlavaModel):
        model_seconds = 0.0
        timing = False
        generate = _timed(LlavaModel.generate)
        sample = _timed(LlavaModel.sample)
        generate_with_samples = _timed(LlavaModel.generate_with_samples)

        def close(self) -> None:
            """Keep the weights: the benchmark times several runs on one loaded model."""

    return KeptLlava


def build_model(size: str, workdir: Path, tokenizer: str = "english") -> tuple[Path, dict]:
    """Save LLaVA-1.5 (real size or tiny) with random weights under ``workdir``; (folder, build facts)."""
    _, processor, config = llava_setup(size, tokenizer)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    directory = workdir / "llava15"
    start = time.perf_counter()
    params = save_random_checkpoint(config, processor, directory, device)
    return directory, {"params": params, "build_and_save_s": round(time.perf_counter() - start, 1),
                       "tokenizer": "the test suite's 400-token BPE" if size == "tiny" or tokenizer == "test" else
                       f"BPE trained on Python's documentation and sources, {len(processor.tokenizer)} tokens"}


def load_model(directory: Path, **args):
    """The plugin's model (timing and keeping its weights), loaded now."""
    start = time.perf_counter()
    model = kept_model_class()(path=str(directory), **args)
    model.load()
    say(f"loaded {directory} in {time.perf_counter() - start:.1f}s "
        f"({type(model.processor.image_processor).__name__})")
    return model


# ----- the data ----------------------------------------------------------------------------------------


def write_images(directory: Path, n: int, size: str) -> list[str]:
    """``n`` COCO-like JPEGs (smooth random scenes with some grain; tiny: 48x40)."""
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    paths = []
    for i in range(n):
        width, height = IMAGE_SHAPES[i % len(IMAGE_SHAPES)] if size == "real" else (48, 40)
        coarse = torch.randint(0, 256, (12, 16, 3), generator=gen, dtype=torch.uint8).numpy()
        image = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
        grain = torch.randint(-12, 13, (height, width, 3), generator=gen).numpy()
        pixels = np.clip(np.asarray(image, dtype=np.int16) + grain, 0, 255).astype(np.uint8)
        path = directory / f"img{i:03d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(str(path))
    return paths


def write_dataset(path: Path, rows: Sequence[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def samples_of(rows: Sequence[dict]) -> list[Sample]:
    return [Sample(r["id"], r["prompt"], [r["image"]] if r.get("image") else []) for r in rows]


# ----- timing ------------------------------------------------------------------------------------------


def synced() -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


@dataclass
class Lam3Run:
    """One timed ``lam3_core.run.api.generate`` call."""

    label: str
    seconds: float
    model_seconds: float
    records: list[dict]
    info: dict
    peak_gib: float | None = None
    extra: dict = field(default_factory=dict)

    def row(self, units: int, unit: str) -> dict:
        return {"path": self.label, unit: units, "seconds": round(self.seconds, 3),
                f"{unit}_per_s": round(units / self.seconds, 2), "model_seconds": round(self.model_seconds, 3),
                "pipeline_overhead_s": round(self.seconds - self.model_seconds, 3), "peak_gib": self.peak_gib,
                "micro_batches": self.info.get("micro_batches"), "rows_by_path": self.info.get("rows_by_path"),
                "batch_backoffs": self.info.get("batch_backoffs"),
                "prepared_during_previous_call": self.info.get("prepared_during_previous_call"), **self.extra}


class HostPauses:
    """What can stall lam3's main thread outside the model during a ``with`` block: Python's cyclic garbage
    collections (how many per generation, and their seconds: a process that compiled a model holds ~650,000 objects,
    and a full collection walks them all) and the fsyncs of the run's files (a disk busy writing back a checkpoint can
    hold one for long)."""

    def __enter__(self) -> HostPauses:
        self.gc_seconds = self.gc_longest = self.fsync_seconds = self.fsync_longest = 0.0
        self.by_generation: dict[int, int] = {}
        self.fsyncs = 0
        self._start = 0.0
        self._fsync = os.fsync
        gc.callbacks.append(self._collection)
        os.fsync = self._timed_fsync
        return self

    def _collection(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
            return
        pause = time.perf_counter() - self._start
        self.gc_seconds += pause
        self.gc_longest = max(self.gc_longest, pause)
        self.by_generation[info["generation"]] = self.by_generation.get(info["generation"], 0) + 1

    def _timed_fsync(self, fd) -> None:
        start = time.perf_counter()
        try:
            self._fsync(fd)
        finally:
            pause = time.perf_counter() - start
            self.fsyncs += 1
            self.fsync_seconds += pause
            self.fsync_longest = max(self.fsync_longest, pause)

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self._collection)
        os.fsync = self._fsync

    def row(self) -> dict:
        return {"gc_pause_s": round(self.gc_seconds, 3), "gc_longest_s": round(self.gc_longest, 3),
                "gc_collections": {f"generation {g}": n for g, n in sorted(self.by_generation.items())},
                "fsyncs": self.fsyncs, "fsync_s": round(self.fsync_seconds, 3),
                "fsync_longest_s": round(self.fsync_longest, 3)}


def run_lam3(model, dataset: Path, workdir: Path, label: str, gen: dict, samples: int = 0,
             sample_gen: dict | None = None, warm_up: bool = True) -> Lam3Run:
    """``api.generate`` on ``dataset`` with the loaded ``model`` into a fresh run directory: once untimed (warm-up),
    then timed. The model's counters (rows by path, out-of-memory back-offs) are those of the timed run."""
    plugins = load_plugins([("bench", plugin_providing(models={MODEL_NAME: lambda **_: model}))])
    config = {"model": MODEL_NAME, "dataset": str(dataset), "gen": gen, "quiet": True, "samples": samples,
              "sample_gen": sample_gen or {}}
    extra = {}
    for attempt in ("warm-up", "timed") if warm_up else ("timed",):
        out = workdir / f"run-{label.replace(' ', '_')}-{attempt}"
        shutil.rmtree(out, ignore_errors=True)
        model.rows_by_path.clear()
        model.prepared_ahead.clear()
        model.backoffs.clear()  # the run's meta.json records this call's back-offs only
        model.model_seconds = 0.0
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        start = synced()
        with HostPauses() as pauses:
            lam3_generate(RunConfig.from_values({**config, "out": str(out)}), plugins=plugins, argv=["bench"])
            seconds = synced() - start
        if attempt == "warm-up":
            extra["warm_up_s"] = round(seconds, 2)  # compiling, where the model compiles, is paid here
    meta = json.loads((out / "meta.json").read_text())
    peak = round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None
    return Lam3Run(label, seconds, model.model_seconds, read_jsonl(out / "generations.jsonl"),
                   meta["model"]["info"], peak, {**extra, **pauses.row()})


def run_lam3_compiled(model, dataset: Path, workdir: Path, gen: dict, samples: int = 0,
                      sample_gen: dict | None = None, with_phases: bool = False) -> Lam3Run:
    """``run_lam3`` on a second copy of ``model``'s weights loaded with ``compile_layers=true`` (the plugin compiles
    its layers at load); the warm-up call, which pays the compiling, is recorded as ``warm_up_s``, and with
    ``with_phases`` one more, instrumented call as ``phases_lam3`` (``lam3_phases``). The copy is released
    afterwards, so ``model`` stays as it was for the workloads that follow."""
    compiled = load_model(Path(model.load_args.path), compile_layers=True)
    try:
        run = run_lam3(compiled, dataset, workdir, "lam3 compile_layers=true", gen, samples, sample_gen)
        if with_phases:
            run.extra["phases_lam3"] = lam3_phases(compiled, dataset, workdir, gen, samples)
        return run
    finally:
        release(compiled)


def lam3_phases(model, dataset: Path, workdir: Path, gen: dict, samples: int = 0) -> dict:
    """One more ``run_lam3`` call (after the timed ones, at the same shapes) with lam3's generation phases timed
    (``phase_timers``): the image checks, the row budget, waiting for a micro-batch's preparation, the image-prefix
    prefill, the question prefill, the prefix-cache copies, the static cache, inside ``generate`` the prompt (suffix)
    prefill and the decoding steps, and the answers' decoding to text."""
    import lam3_core.kit.vlm_prefix as prefix
    import lam3_core.run.api as api
    from lam3_core.kit.prefetch import Prefetcher

    def forward_phase(*args, **kwargs) -> str:
        ids = kwargs.get("input_ids")
        one = ids is not None and ids.shape[1] == 1
        return "generate: decoding steps" if one else "generate: prompt prefill (the suffix, with prefix reuse)"

    with PhaseTimers() as timers:
        timers.wrap(Prefetcher, "take", "waiting for a micro-batch's preparation (CPU)")
        timers.wrap(prefix, "prefill_prefixes", "image-prefix prefill (vision tower and prefix)")
        timers.wrap(prefix, "prefill_questions", "question prefill shared by the K answers")
        timers.wrap(prefix, "copy_rows", "prefix-cache copies to the rows", inner=True)
        timers.wrap(model.model, "forward", forward_phase)
        timers.wrap(model, "_row_budget", "row budget (the longest prompt encoded)")
        timers.wrap(model, "_static_cache", "static cache allocated or reset")
        timers.wrap(model, "_completion", "answers decoded to text")
        timers.wrap(api, "check_images", "image checks before the run")
        run = run_lam3(model, dataset, workdir, "lam3 phases", gen, samples=samples, warm_up=False)
    return timers.report(run.seconds)


def hand_loop(model, samples: Sequence[Sample], batch: int, new_tokens: int, k: int = 1,
              trace: bool = False) -> tuple[float, dict[str, list[str]], float | None]:
    """The hand-written baseline: processor + ``model.generate`` per batch of ``batch`` prompts, the plugin's
    generation settings, PIL decoding one image at a time. With ``k`` > 1, K sampled answers per prompt
    (``num_return_sequences``, temperature 1, top-k off) with their logits, as ``--samples K`` needs.
    Returns (seconds, answers per sample id, peak GiB)."""
    from PIL import Image

    processor, hf_model = model.processor, model.model
    settings = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "pad_token_id": model._pad_id,
                "eos_token_id": model._stop_ids}
    if k > 1:
        settings.update(do_sample=True, temperature=1.0, top_p=1.0, top_k=0, num_return_sequences=k)
    else:
        settings.update(do_sample=False)
    if trace:
        settings.update(return_dict_in_generate=True, output_logits=True)
    answers: dict[str, list[str]] = {}
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = synced()
    for first in range(0, len(samples), batch):
        chunk = samples[first : first + batch]
        images = [Image.open(s.images[0]).convert("RGB") for s in chunk]
        prompts = [processor.apply_chat_template(model.messages(s), add_generation_prompt=True) for s in chunk]
        enc = processor(text=prompts, images=images, return_tensors="pt", padding=True).to(hf_model.device)
        enc["pixel_values"] = enc["pixel_values"].to(hf_model.dtype)
        with torch.inference_mode():
            out = hf_model.generate(**enc, **settings)
        sequences = out.sequences if trace else out
        texts = processor.batch_decode(sequences[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        for i, sample in enumerate(chunk):
            answers[sample.id] = [clean_response(t, model.role_prefixes, model.turn_markers)[0]
                                  for t in texts[i * k : (i + 1) * k]]
    seconds = synced() - start
    peak = round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None
    return seconds, answers, peak


def timed_hand_loop(model, samples, batch, new_tokens, k=1, trace=False, repeats=1) -> dict:
    """``hand_loop`` once untimed (warm-up at these shapes), then ``repeats`` times; the median."""
    hand_loop(model, samples[: min(len(samples), batch)], batch, new_tokens, k, trace)
    runs = [hand_loop(model, samples, batch, new_tokens, k, trace) for _ in range(repeats)]
    seconds = statistics.median(r[0] for r in runs)
    return {"seconds": seconds, "answers": runs[0][1], "peak_gib": runs[0][2]}


def agreement(lam3_records: Sequence[dict], baseline: dict[str, list[str]]) -> dict:
    """The share of greedy answers that are identical between lam3 and the hand-written loop."""
    same = sum(1 for r in lam3_records if baseline.get(r["sample_id"], [None])[0] == r["response"])
    return {"identical": same, "of": len(lam3_records), "rate": round(same / max(1, len(lam3_records)), 4)}


def phases(model, samples: Sequence[Sample], batch: int, decode_steps: int) -> dict:
    """Where one batch's time goes in the hand-written loop: preprocessing (decode + processor, CPU), prefill
    (``generate`` with one new token) and one decoding step ((t(1 + n) - t(1)) / n)."""
    from PIL import Image

    chunk = list(samples[:batch])
    processor, hf_model = model.processor, model.model
    start = time.perf_counter()
    images = [Image.open(s.images[0]).convert("RGB") for s in chunk]
    prompts = [processor.apply_chat_template(model.messages(s), add_generation_prompt=True) for s in chunk]
    enc = processor(text=prompts, images=images, return_tensors="pt", padding=True)
    preprocessing = time.perf_counter() - start
    enc = enc.to(hf_model.device)
    enc["pixel_values"] = enc["pixel_values"].to(hf_model.dtype)

    def generate(n: int) -> float:
        begin = synced()
        with torch.inference_mode():
            hf_model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                              pad_token_id=model._pad_id, eos_token_id=model._stop_ids)
        return synced() - begin

    generate(1 + decode_steps)  # warm-up
    prefill = statistics.median(generate(1) for _ in range(3))
    full = statistics.median(generate(1 + decode_steps) for _ in range(3))
    return {"batch": len(chunk), "prompt_tokens": int(enc["input_ids"].shape[1]),
            "preprocessing_s": round(preprocessing, 4), "prefill_s": round(prefill, 4),
            "decode_step_ms": round(1000 * (full - prefill) / decode_steps, 2)}


def decode_step_ablation(model, samples: Sequence[Sample], batch: int, steps: int,
                         variants: dict[str, dict]) -> dict:
    """Milliseconds per decoding step of one batch of the hand-written loop with each set of extra ``generate``
    arguments — what lam3 passes, one candidate at a time (min = max new tokens, prefill subtracted)."""
    from PIL import Image

    chunk = list(samples[:batch])
    processor, hf_model = model.processor, model.model
    images = [Image.open(s.images[0]).convert("RGB") for s in chunk]
    prompts = [processor.apply_chat_template(model.messages(s), add_generation_prompt=True) for s in chunk]
    enc = processor(text=prompts, images=images, return_tensors="pt", padding=True).to(hf_model.device)
    enc["pixel_values"] = enc["pixel_values"].to(hf_model.dtype)
    results = {}
    for name, extra in variants.items():
        def generate(n: int, extra=extra) -> float:
            begin = synced()
            with torch.inference_mode():
                hf_model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                  pad_token_id=model._pad_id, **extra)
            return synced() - begin

        generate(1 + steps)
        prefill, full = generate(1), generate(1 + steps)
        results[name] = round(1000 * (full - prefill) / steps, 2)
        say(f"  decode step, {name}: {results[name]} ms")
    return results


def read_bandwidth(gib: float = 16.0, repeats: int = 5) -> float | None:
    """Bytes per second this GPU reads from its memory: the median of ``repeats`` sums over ``gib`` GiB of bf16 after
    a warm-up (a read-bound kernel, what each decoding step mostly is); None on the CPU."""
    if not torch.cuda.is_available():
        return None
    data = torch.ones(int(gib * 2**30) // 2, dtype=torch.bfloat16, device="cuda")
    data.sum()
    times = []
    for _ in range(repeats):
        start = synced()
        data.sum()
        times.append(synced() - start)
    del data
    torch.cuda.empty_cache()
    return gib * 2**30 / statistics.median(times)


def report(name: str, size: str, env: dict, result: dict, out: Path) -> dict:
    """Write ``<name>_<size>.json`` under ``out`` and print the workload's table and ratios."""
    out.mkdir(parents=True, exist_ok=True)
    document = {"environment": env, "result": result}
    path = out / f"{name}_{size}.json"
    path.write_text(json.dumps(document, indent=2))
    say(f"\n== {name} on {env['device']} (torch {env['torch']}, transformers {env['transformers']}, "
        f"{env['image_processor']})")
    unit = result["unit"]
    for run in result["runs"]:
        say(f"  {run['path']:58} {run[f'{unit}_per_s']:9.2f} {unit}/s  ({run['seconds']:.2f}s"
            + (f", peak {run['peak_gib']} GiB" if run.get("peak_gib") else "") + ")")
    for key, value in result.get("ratios", {}).items():
        say(f"  ratio {key}: {value}")
    for key, value in result.get("agreement", {}).items():
        say(f"  agreement {key}: {value['identical']}/{value['of']} ({value['rate']:.2%})")
    if "phases_lam3" in result:
        print_phases(say, "where lam3's time goes", result["phases_lam3"])
    if "target" in result:
        say(f"  target: {result['target']}")
    say(f"  written: {path}")
    return document


def release(model) -> None:
    """Free the weights at the very end (the kept model's own ``close`` does not)."""
    model.model = model.processor = model._processors = None
    free_memory()


def elapsed_since(start: float) -> str:
    return f"[{time.perf_counter() - start:.0f}s]"


def add_tokenizer_option(parser) -> None:
    parser.add_argument("--tokenizer", choices=TOKENIZERS, default="english",
                        help="The real-size model's tokenizer: 32,000 tokens trained on Python's documentation and "
                             "sources (prompts as long as with Llama-2's) or the test suite's 400-token one (longer "
                             "prompts, most generated ids decoding to nothing: as before December 2026) [english].")


def runner(run: Callable, argv: Sequence[str] | None, name: str, description: str, defaults: dict) -> dict:
    """The command line of one workload script: build (or reuse) the model, load it, run the workload, report."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--size", choices=("real", "tiny"), default="real")
    parser.add_argument("--checkpoint", type=Path, help="A saved model folder to use instead of building one.")
    add_tokenizer_option(parser)
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    for option, (kind, value, text) in defaults.items():
        parser.add_argument(option, type=kind, default=value, help=text)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lam3-bench-") as tmp:
        workdir = Path(tmp)
        facts = {}
        directory = args.checkpoint
        if directory is None:
            say(f"building LLaVA-1.5 ({args.size}) with random weights ...")
            directory, facts = build_model(args.size, workdir, args.tokenizer)
        model = load_model(directory)
        try:
            result = run(model, args, workdir)
        finally:
            env = environment(model)
            release(model)
    result.update(facts)
    return report(name, args.size, env, result, args.out)


if __name__ == "__main__":
    sys.exit("vlm_bench.py holds shared code; run bench_pope.py, bench_jailbreak.py, bench_sampling.py or "
             "bench_generation.py")
