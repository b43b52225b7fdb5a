"""Throughput of the llamaguard judge with Llama Guard 4 at real size, one image per item, random weights.

Llama Guard 4 is a dense Llama 4 (pruned from Llama 4 Scout, 12 B parameters): text model of
48 layers, hidden 5120, 40 heads, 8 KV heads, head dim 128, dense MLP 8192, vocabulary
202048, no MoE layer; the Llama 4 vision tower (34 layers, hidden 1408, 336 px tiles of 14 px
patches, pixel shuffle 0.5, 144 tokens per tile) and its projector (4096). These values are
Scout's published ones with the routed experts removed, as the model card describes; pass
``--config DIR`` to use the real ``config.json`` instead. The model is built in bf16 directly
on the GPU and handed to ``LlamaGuardJudge(version=4)`` in place of ``from_pretrained``
(``_load`` is overridden), so image loading, the processor, prompt building, BOS handling,
left padding, length-sorted batching by image count and the first-token P(unsafe) are the
judge's own code. The tokenizer is a byte-level BPE trained here with Llama Guard 4's template.

Every item has one image (``--image-size`` px squares of random colour blocks, written as
PNG files) and a synthetic request/response (as in ``bench_judges.py``). The image processor
is transformers' ``Llama4ImageProcessor`` when torchvision is installed, else a stand-in that
does the same for an image of one tile (a 336 px square is one tile for both). Timed: the
batched judge (``--batch``) over ``--n`` items and the same judge at batch size 1 over
``--single`` items, each after a warm-up; their scores are compared. ``threshold=1`` keeps
the category generation of flagged items out of the timing.

    pip install -c constraints.txt -e . -e plugins/lam3_judges_llamaguard -e plugins/lam3_judges_detoxify
    PYTHONPATH=bench python bench/bench_guards.py --out "$OUT"

``--size tiny`` runs the same code on the CPU with a tiny model in a few seconds (a dry run).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import tempfile
from pathlib import Path

import torch
from bench_judges import PrebuiltGuard, synthetic_items, timed
from lam3_judges_llamaguard.testing import (
    LLAMA4_TILE,
    build_guard_tokenizer,
    single_tile_image_processor,
    tiny_llama4_config,
)

from lam3_core import JudgeItem


def real_llama4_config(tok, config_dir: Path | None):
    """Llama Guard 4's architecture with this tokenizer's special-token ids (ids stay below the 202048 vocab)."""
    from transformers import Llama4Config

    ids = {name: tok.convert_tokens_to_ids(token) for name, token in
           (("image", "<|patch|>"), ("boi", "<|image_start|>"), ("eoi", "<|image_end|>"))}
    special = dict(image_token_index=ids["image"], boi_token_index=ids["boi"], eoi_token_index=ids["eoi"])
    if config_dir is not None:
        return Llama4Config.from_pretrained(config_dir, **special)
    return Llama4Config(
        vision_config=dict(hidden_size=1408, num_hidden_layers=34, num_attention_heads=16, intermediate_size=5632,
                           vision_output_dim=4096, image_size=336, patch_size=14, projector_input_dim=4096,
                           projector_output_dim=4096, pixel_shuffle_ratio=0.5, norm_eps=1e-5),
        text_config=dict(vocab_size=202048, hidden_size=5120, intermediate_size=8192, intermediate_size_mlp=8192,
                         num_hidden_layers=48, num_attention_heads=40, num_key_value_heads=8, head_dim=128,
                         moe_layers=[], attention_chunk_size=8192, max_position_embeddings=131072,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        **special,
    )


def build_guard(args, tok):
    """(processor, model, image processor name): the model built in place, bf16 on the GPU or fp32 on the CPU."""
    import transformers

    real = args.size == "real"
    config = real_llama4_config(tok, args.config) if real else tiny_llama4_config(tok)
    device, dtype = ("cuda", torch.bfloat16) if real else ("cpu", torch.float32)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = transformers.Llama4ForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(previous)
    model.generation_config = transformers.GenerationConfig(bos_token_id=tok.bos_token_id,
                                                            eos_token_id=tok.eos_token_id,
                                                            pad_token_id=tok.pad_token_id)
    try:
        image_processor = transformers.Llama4ImageProcessor() if real else None
    except ImportError:  # the real one needs torchvision
        image_processor = None
    image_processor = image_processor or single_tile_image_processor(336 if real else LLAMA4_TILE)
    processor = transformers.Llama4Processor(image_processor=image_processor, tokenizer=tok, patch_size=14,
                                             chat_template=tok.chat_template)
    return processor, model, type(image_processor).__name__


def with_images(items: list[JudgeItem], size: int, folder: Path, seed: int = 0) -> list[JudgeItem]:
    """Each item with its own PNG: a ``size`` px square of 4x4 random colour blocks."""
    from PIL import Image

    rng = random.Random(seed)
    out = []
    for k, item in enumerate(items):
        image = Image.new("RGB", (4, 4))
        image.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(16)])
        path = folder / f"image{k:05d}.png"
        image.resize((size, size), Image.NEAREST).save(path)
        out.append(JudgeItem(item.request, item.response, images=[str(path)]))
    return out


def image_tokens(tok, ids: list[int]) -> int:
    """How many of ``ids`` stand for the image (its start and end markers, separators and patches)."""
    markers = {tok.convert_tokens_to_ids(t) for t in ("<|image_start|>", "<|image|>", "<|patch|>", "<|image_end|>",
                                                       "<|tile_x_separator|>", "<|tile_y_separator|>")}
    return sum(i in markers for i in ids)


def bench(args, items: list[JudgeItem]) -> dict:
    corpus = [f"{i.request} {i.response}" for i in items]
    tok = build_guard_tokenizer("4", vocab_size=args.bpe_vocab, corpus=corpus)
    build_s, (processor, model, image_processor) = timed(build_guard, args, tok)
    params = sum(p.numel() for p in model.parameters())
    batched = PrebuiltGuard(processor, model, version=4, batch_size=args.batch, threshold=1.0)
    batched.score(items[: args.batch])  # warm-up (and load)
    lengths = [len(batched._prepare(i).ids) for i in items]
    t_batched, scores = timed(batched.score, items)
    one = PrebuiltGuard(processor, model, version=4, batch_size=1, threshold=1.0)
    sub = items[: args.single]
    one.score(sub[:2])
    t_one, scores_one = timed(one.score, sub)
    result = {
        "params": params, "build_s": build_s, "image_processor": image_processor, "n": len(items),
        "batch_size": args.batch, "image_size": args.image_size,
        "prompt_tokens_mean": statistics.mean(lengths), "prompt_tokens_max": max(lengths),
        "image_tokens_per_item": image_tokens(tok, batched._prepare(items[0]).ids),
        "batched_rps": len(items) / t_batched, "batch1_rps": len(sub) / t_one,
        "max_abs_diff_batched_vs_batch1": max(abs(a.score - b.score) for a, b in zip(scores, scores_one)),
        "errors": sum(s.error is not None for s in scores), "backoffs": batched.backoffs,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
    }
    batched.close()
    one.close()
    del model, batched, one
    gc.collect()
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["real", "tiny"], default="real")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--single", type=int, default=48)
    parser.add_argument("--image-size", type=int, default=336)
    parser.add_argument("--bpe-vocab", type=int, default=8000)
    parser.add_argument("--config", type=Path, help="a folder with Llama Guard 4's config.json (default: built in)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.machine(),
               "torch": torch.__version__, "size": args.size}
    import transformers

    results["transformers"] = transformers.__version__
    with tempfile.TemporaryDirectory() as tmp:
        items = with_images(synthetic_items(args.n), args.image_size, Path(tmp))
        results["llamaguard4"] = lg = bench(args, items)
    print(json.dumps(results, indent=2))
    print(f"\n{results['device']}, {args.n} synthetic responses with one {args.image_size} px image each "
          f"({lg['image_tokens_per_item']} image tokens, {lg['prompt_tokens_mean']:.0f} prompt tokens on average)")
    print("| judge | path | responses/s | ratio |")
    print("|---|---|---|---|")
    print(f"| llamaguard version=4 ({lg['params'] / 1e9:.1f} B) | batched first-token, batch {lg['batch_size']} | "
          f"{lg['batched_rps']:.2f} | 1.00 |")
    print(f"| llamaguard version=4 | first-token, batch 1 | {lg['batch1_rps']:.2f} | "
          f"{lg['batch1_rps'] / lg['batched_rps']:.3f} |")
    print(f"max |batched - batch 1| = {lg['max_abs_diff_batched_vs_batch1']:.2e}; errors: {lg['errors']}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_guards.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
