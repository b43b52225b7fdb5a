"""What a new input shape costs with and without cuDNN attention: the measurement behind ``lam3_core/kit/inference.py``.

For bert-base (Detoxify's model, fp16, 256 texts) and four Llama-3-8B-sized decoder layers (bf16, 64 left-padded
prompts, the next token's logits only), with random weights: a forward pass at each of several widths never seen
before in the process, then a second pass at the same width; once with PyTorch's default attention kernels (cuDNN's
first on recent NVIDIA GPUs) and once inside ``kit.inference.inference()`` (flash, memory-efficient or math). Each
setting gets widths of its own, so every first pass meets a new shape. Prints milliseconds per pass and writes
``bench_attention_kernels.json``.

    HF_HUB_OFFLINE=1 python bench/bench_attention_kernels.py --out "$OUT"

``--size tiny`` runs two-layer models on the CPU (a dry run: the CPU has no cuDNN attention).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

from lam3_core.kit.inference import inference

SETTINGS = {"PyTorch default (cuDNN first)": lambda: contextlib.nullcontext(),
            "lam3 inference() (no cuDNN)": inference}


def synced() -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


def first_and_second(model, make, batch: int, widths: list[int], setting) -> dict:
    """Mean milliseconds of the first and the second forward pass at each new width."""
    first, second = [], []
    for width in widths:
        inputs = make(batch, width)
        with torch.inference_mode(), setting():
            for times in (first, second):
                start = synced()
                model(**inputs)
                times.append(synced() - start)
    return {"first_pass_ms": round(1000 * sum(first) / len(first), 2),
            "second_pass_ms": round(1000 * sum(second) / len(second), 2), "widths": widths}


def run(args) -> dict:
    real = args.size == "real"
    device, half = ("cuda", torch.float16) if real else ("cpu", torch.float32)
    bf16 = torch.bfloat16 if real else torch.float32
    bert = BertModel(BertConfig(**({"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                                    "intermediate_size": 3072} if real else
                                   {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                                    "intermediate_size": 64}),
                                max_position_embeddings=512, attn_implementation="sdpa")).to(device, half).eval()
    llama = LlamaForCausalLM(LlamaConfig(**({"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 4,
                                             "num_attention_heads": 32, "num_key_value_heads": 8,
                                             "vocab_size": 128256} if real else
                                            {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                                             "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 512}),
                                         attn_implementation="sdpa")).to(device, bf16).eval()

    def bert_inputs(batch: int, width: int) -> dict:
        mask = torch.ones(batch, width, dtype=torch.long, device=device)
        mask[batch // 2:, width - 7:] = 0  # right padding, as the tokenizer pads
        return {"input_ids": torch.randint(100, 500, (batch, width), device=device), "attention_mask": mask}

    def llama_inputs(batch: int, width: int) -> dict:
        mask = torch.ones(batch, width, dtype=torch.long, device=device)
        mask[: batch // 2, :9] = 0  # left padding, as the judges pad
        return {"input_ids": torch.randint(100, 500, (batch, width), device=device), "attention_mask": mask,
                "logits_to_keep": 1}

    results = {}
    names = ("bert-base fp16, 256 texts", "4 Llama-3-8B layers bf16, 64 prompts") if real else (
        "tiny bert fp32, 4 texts", "tiny llama fp32, 4 prompts")
    for name, model, make, batch, start in ((names[0], bert, bert_inputs, 256, 101),
                                            (names[1], llama, llama_inputs, 64, 301)):
        with torch.inference_mode():
            model(**make(4, 16))  # kernels loaded, weights touched
        widths = iter(range(start, start + 400, 3))
        results[name] = {}
        for setting_name, setting in SETTINGS.items():
            figures = first_and_second(model, make, batch if real else 4, [next(widths) for _ in range(args.widths)],
                                       setting)
            results[name][setting_name] = figures
            print(f"{name}, {setting_name}: first pass at a new width {figures['first_pass_ms']} ms, "
                  f"second {figures['second_pass_ms']} ms", flush=True)
    return {"device": torch.cuda.get_device_name() if real else "cpu", "torch": torch.__version__,
            "size": args.size, "results": results}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("real", "tiny"), default="real")
    parser.add_argument("--widths", type=int, default=8, help="new widths per model and setting")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = run(args)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_attention_kernels.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
