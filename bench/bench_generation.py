"""All three generation workloads (POPE-shaped, jailbreak-shaped, K=5 sampling) on one saved LLaVA-1.5-7B, in one
process: the model is built, saved and loaded once (see vlm_bench.py for how each path is timed).

Runs bench_pope.py, bench_jailbreak.py and bench_sampling.py's workloads in that order with their default
sizes, writes each one's JSON as soon as it is done (a run cut short keeps what it finished) and
``bench_generation_<size>.json`` with all of them, and prints one summary table. Sized to finish well
inside 10 minutes on one H200 (building and saving the model takes about two of them); progress is
printed with the elapsed time.

    PYTHONPATH=.:bench:plugins/lam3_models_llava HF_HUB_OFFLINE=1 python bench/bench_generation.py --out "$OUT"

``--size tiny`` is a CPU dry run with the tiny test model (the test suite runs it).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import bench_jailbreak
import bench_pope
import bench_sampling
from vlm_bench import add_tokenizer_option, build_model, elapsed_since, environment, load_model, release, report, say

WORKLOADS = {"pope": bench_pope, "jailbreak": bench_jailbreak, "sampling": bench_sampling}


def _defaults(module) -> argparse.Namespace:
    return argparse.Namespace(**{option.lstrip("-").replace("-", "_"): value
                                 for option, (_, value, _) in module.DEFAULTS.items()})


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("real", "tiny"), default="real")
    parser.add_argument("--checkpoint", type=Path, help="A saved model folder to use instead of building one.")
    add_tokenizer_option(parser)
    parser.add_argument("--only", action="append", choices=sorted(WORKLOADS), help="Run only these workloads.")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="Multiply every workload's size (images, prompts) by this (e.g. 0.25 for a quick look).")
    parser.add_argument("--new-tokens", type=int, help="Tokens per answer in every workload [each one's default].")
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="lam3-bench-") as tmp:
        workdir = Path(tmp)
        facts = {}
        directory = args.checkpoint
        if directory is None:
            say(f"{elapsed_since(start)} building LLaVA-1.5 ({args.size}) with random weights ...")
            directory, facts = build_model(args.size, workdir, args.tokenizer)
        model = load_model(directory)
        env = {**environment(model), **facts}
        try:
            for name in args.only or list(WORKLOADS):
                module = WORKLOADS[name]
                options = _defaults(module)
                options.size = args.size
                for field in ("images", "prompts"):
                    if hasattr(options, field):
                        setattr(options, field, max(1, round(getattr(options, field) * args.scale)))
                if args.new_tokens:
                    options.new_tokens = args.new_tokens
                say(f"{elapsed_since(start)} {name} ...")
                result = module.run(model, options, workdir / name)
                results[name] = report(f"bench_{module.__name__.removeprefix('bench_')}", args.size, env, result,
                                       args.out)["result"]
        finally:
            release(model)
    document = {"environment": env, "seconds": round(time.perf_counter() - start, 1), "results": results}
    path = args.out / f"bench_generation_{args.size}.json"
    path.write_text(json.dumps(document, indent=2))
    say(f"\n{elapsed_since(start)} summary on {env['device']}:")
    for name, result in results.items():
        for key, value in result["ratios"].items():
            say(f"  {name:9} {key}: {value}")
    say(f"written: {path}")
    return document


if __name__ == "__main__":
    main()
