"""Throughput and peak GPU memory of the llava15 / idefics2 plugins at real size, with random weights.

Builds the published architecture (llava-1.5-7b: CLIP ViT-L/14-336 + Llama-7B, vocab 32064;
idefics2-8b: SigLIP 1152/27 layers/980 px/patch 14 + perceiver with 64 latents + Mistral-7B,
vocab 32003) in bf16 directly on the GPU, saves it with a locally built processor (a BPE
tokenizer trained on English prose, ``english_tokenizer``, with the real chat template;
real-size image preprocessing: 336 px for LLaVA, 980 px for Idefics2 with splitting off) to
local disk, and loads it back through the plugin, so every number comes from the plugin's own
code path (``path=DIR``). Runs greedy
generation with a fixed number of new tokens (min_new_tokens = max_new_tokens, so random
weights cannot stop early), each run warmed up once at its own shapes and then timed
``--repeats`` times (median), and reports samples/s and peak GPU memory, as ratios against
baselines measured in the same run: batch 8 vs one by one (bf16), and 4-bit NF4 vs bf16.

    PYTHONPATH=.:plugins/lam3_models_llava:plugins/lam3_models_idefics2 \\
        python bench/bench_models.py --model llava15 --model idefics2 --out "$OUT"

``--size tiny`` runs the same path on the CPU with tiny configs (a dry run of the script).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import shutil
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path

import torch

from lam3_core import GenConfig, Sample
from lam3_core.testing.tinymodels import DEFAULT_CORPUS, build_bpe_tokenizer
from lam3_core.testing.tinyvlm import (
    IDEFICS2_CHAT_TEMPLATE,
    IDEFICS2_SPECIALS,
    LLAVA_CHAT_TEMPLATE,
    idefics2_processor,
    llava_processor,
    tiny_idefics2_config,
    tiny_llava_config,
)

PROMPTS = (
    "What is in the image?",
    "Describe the picture in detail, including the colours, the objects and what the people are doing.",
    "Is there a dog in the image? Answer yes or no.",
    "Tell me a short story about this scene.",
)


TOKENIZERS = ("english", "test")
"""The real-size tokenizers: ``english`` (``english_tokenizer``, the default) or ``test`` (the test suite's
400-token BPE, which splits most words and made every prompt longer than with the real checkpoints)."""


def english_tokenizer(chat_template: str, specials: tuple[str, ...] = ()):
    """A byte-level BPE of 32,000 tokens, as many as Llama-2's and Mistral's, trained on what every Python ships: the
    topics of its documentation (English prose) and its standard library's sources (~13 MB). Common words are one
    token each, so prompts are as long as with the real checkpoints (POPE's "Is there a dog in the image?" with its
    instruction and the template: 29-32 tokens beside the image's 576), and nearly every id the model can generate
    decodes to text of its own, so comparing answers compares tokens (with the test suite's 400 tokens, every id
    from 400 up decoded to nothing)."""
    import pydoc_data.topics

    library = Path(sysconfig.get_paths()["stdlib"])
    sources = sorted(p for p in library.rglob("*.py") if not {"test", "tests", "site-packages"} & set(p.parts))
    corpus = [*DEFAULT_CORPUS, *pydoc_data.topics.topics.values(), *(p.read_text(errors="ignore") for p in sources)]
    return build_bpe_tokenizer(corpus=corpus, specials=specials, vocab_size=32000, chat_template=chat_template)


def llava_setup(size: str, tokenizer: str = "english"):
    """(plugin class, processor, config) for LLaVA-1.5 at ``size``."""
    from lam3_models_llava.model import LlavaModel
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    if size == "tiny":
        processor = llava_processor()
        return LlavaModel, processor, tiny_llava_config(processor.tokenizer)
    english = tokenizer == "english"
    processor = llava_processor(image_size=336, patch_size=14,
                                tokenizer=english_tokenizer(LLAVA_CHAT_TEMPLATE) if english else None)
    tok = processor.tokenizer
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                       num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768),
        text_config=LlamaConfig(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
                                rms_norm_eps=1e-5, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                                eos_token_id=tok.eos_token_id),
        image_token_index=tok.convert_tokens_to_ids("<image>"), image_seq_length=576, projector_hidden_act="gelu",
        vision_feature_select_strategy="default", vision_feature_layer=-2,
    )
    return LlavaModel, processor, config


def idefics2_setup(size: str, tokenizer: str = "english"):
    """(plugin class, processor, config) for Idefics2 at ``size``."""
    from lam3_models_idefics2.model import Idefics2Model
    from transformers import Idefics2Config, MistralConfig

    if size == "tiny":
        processor = idefics2_processor()
        return Idefics2Model, processor, tiny_idefics2_config(processor.tokenizer, processor.image_token_id)
    english = tokenizer == "english"
    processor = idefics2_processor(
        longest_edge=980, shortest_edge=378, image_seq_len=64,
        tokenizer=english_tokenizer(IDEFICS2_CHAT_TEMPLATE, IDEFICS2_SPECIALS) if english else None,
    )
    tok = processor.tokenizer
    config = Idefics2Config(
        vision_config=dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                           image_size=980, patch_size=14),
        perceiver_config=dict(hidden_size=4096, resampler_n_latents=64, resampler_depth=3, resampler_n_heads=16,
                              resampler_head_dim=96, num_key_value_heads=4),
        text_config=MistralConfig(vocab_size=32003, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                  num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768,
                                  sliding_window=4096, rms_norm_eps=1e-5, pad_token_id=tok.pad_token_id,
                                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id),
        image_token_id=processor.image_token_id, tie_word_embeddings=False,
    )
    return Idefics2Model, processor, config


SETUPS = {"llava15": llava_setup, "idefics2": idefics2_setup}
LABELS = {"none": "bf16", "4bit": "4bit-nf4"}


def save_random_checkpoint(config, processor, directory: Path, device: str) -> int:
    """Build the architecture with random bf16 weights on ``device``, save it; returns the parameter count."""
    from transformers import AutoModelForImageTextToText, GenerationConfig

    tok = processor.tokenizer
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    assert next(model.parameters()).dtype == torch.bfloat16
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    del model
    free_memory()
    return params


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def make_samples(n: int, image_side: int) -> list[Sample]:
    """``n`` samples with noise images of a few shapes around ``image_side`` and prompts of several lengths."""
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    samples = []
    for i in range(n):
        w, h = image_side + 64 * (i % 3), image_side + 32 * (i % 2)
        pixels = torch.randint(0, 256, (h, w, 3), generator=gen, dtype=torch.uint8).numpy()
        samples.append(Sample(f"s{i}", PROMPTS[i % len(PROMPTS)], [Image.fromarray(pixels)]))
    return samples


def timed_run(model, samples: list[Sample], gen: GenConfig, label: str, repeats: int) -> dict:
    """Generate ``samples`` once untimed (warm-up at these shapes), then ``repeats`` times timed; median time."""
    cuda = torch.cuda.is_available()
    model.generate(samples, gen)
    times = []
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = model.generate(samples, gen)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        assert len(out) == len(samples)
    seconds = statistics.median(times)
    tokens = len(samples) * gen.max_new_tokens  # exact: min_new_tokens == max_new_tokens
    row = {
        "run": label, "batch_size": model.batch_size, "quantization": model.quantization or "none",
        "samples": len(samples), "new_tokens": tokens, "seconds": round(seconds, 3),
        "all_seconds": [round(t, 3) for t in times],
        "samples_per_s": round(len(samples) / seconds, 3), "tokens_per_s": round(tokens / seconds, 1),
        "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "batch_backoffs": list(model.backoffs),
    }
    print(json.dumps(row), flush=True)
    return row


def bench_one(name: str, size: str, n: int, batch: int, new_tokens: int, repeats: int, workdir: Path) -> dict:
    plugin_cls, processor, config = SETUPS[name](size)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    directory = workdir / name
    t0 = time.perf_counter()
    params = save_random_checkpoint(config, processor, directory, device)
    build_s = time.perf_counter() - t0
    image_side = 336 if name == "llava15" else 980
    samples = make_samples(n, image_side if size == "real" else 48)
    gen = GenConfig(max_new_tokens=new_tokens, min_new_tokens=new_tokens)
    result = {"model": name, "size": size, "params": params, "build_and_save_s": round(build_s, 1), "runs": []}
    for quantization in ("none", "4bit"):
        model = plugin_cls(path=str(directory), batch_size=batch, quantization=quantization)
        t0 = time.perf_counter()
        model.load()
        load_s = time.perf_counter() - t0
        pixel_shape = tuple(model.preprocess(samples[0])["pixel_values"].shape)
        result["runs"].append(timed_run(model, samples, gen, f"{LABELS[quantization]} batch {batch}", repeats))
        result["runs"][-1].update(load_s=round(load_s, 1), pixel_values=pixel_shape, info_dtype=model.info()["dtype"])
        if quantization == "none":
            model.batch_size = 1
            result["runs"].append(timed_run(model, samples[: max(2, n // 2)], gen, "bf16 one by one", repeats))
        model.close()
        del model
        free_memory()
    shutil.rmtree(directory)
    by_run = {r["run"]: r for r in result["runs"]}
    bf16, single, nf4 = by_run[f"bf16 batch {batch}"], by_run["bf16 one by one"], by_run[f"4bit-nf4 batch {batch}"]
    result["ratios"] = {
        f"bf16 batch {batch} vs one by one (samples/s)": round(bf16["samples_per_s"] / single["samples_per_s"], 2),
        f"4bit vs bf16 at batch {batch} (samples/s)": round(nf4["samples_per_s"] / bf16["samples_per_s"], 2),
    }
    if bf16["peak_gib"]:
        memory = round(nf4["peak_gib"] / bf16["peak_gib"], 2)
        result["ratios"][f"4bit vs bf16 at batch {batch} (peak GPU memory)"] = memory
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=sorted(SETUPS), required=True)
    parser.add_argument("--size", choices=("real", "tiny"), default="real")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="Timed repeats per run (median reported).")
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    args = parser.parse_args()
    import transformers

    env = {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
        "torch": torch.__version__, "transformers": transformers.__version__,
        "samples": args.samples, "batch_size": args.batch_size, "new_tokens": args.new_tokens, "repeats": args.repeats,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="lam3-bench-") as workdir:
        for name in args.model:
            results.append(bench_one(name, args.size, args.samples, args.batch_size, args.new_tokens, args.repeats,
                                     Path(workdir)))
            report = {"environment": env, "results": results}
            (args.out / f"bench_models_{args.size}.json").write_text(json.dumps(report, indent=2))
    print(f"\n{env}")
    print(f"{'model':9} {'run':18} {'samples/s':>9} {'tokens/s':>9} {'peak GiB':>8} {'load s':>6}")
    for res in results:
        for r in res["runs"]:
            print(f"{res['model']:9} {r['run']:18} {r['samples_per_s']:9.3f} {r['tokens_per_s']:9.1f} "
                  f"{r['peak_gib'] if r['peak_gib'] is not None else '-':>8} {r.get('load_s', '-'):>6}")
        for k, v in res["ratios"].items():
            print(f"{res['model']:9} ratio {k}: {v}")


if __name__ == "__main__":
    main()
