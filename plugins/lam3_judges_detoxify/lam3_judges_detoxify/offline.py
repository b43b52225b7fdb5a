"""Prepare Detoxify weights for a machine without internet.

Detoxify always calls ``config_class.from_pretrained(model_type)`` with the hub name stored
in the checkpoint (``bert-base-uncased``, ``roberta-base``, ``xlm-roberta-base``), so a
released checkpoint fails offline even when its weights are local. The fix is to store a
*local directory* holding that base model's config and tokenizer in
``config.arch.args.model_type``.

    # on a machine with internet: checkpoint + base config/tokenizer + rewritten copy
    python -m lam3_judges_detoxify.offline fetch --variant original --out ~/detoxify
    # after copying ~/detoxify to another path or machine: point the checkpoint at the new folder
    python -m lam3_judges_detoxify.offline localise ~/detoxify/original-local.ckpt ~/detoxify/bert-base-uncased

then ``--judge-arg detoxify.checkpoint=~/detoxify/original-local.ckpt``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# Everything a base model's config and tokenizer may need; the weights are not fetched.
BASE_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
              "vocab.json", "merges.txt", "sentencepiece.bpe.model"]


def localise_checkpoint(checkpoint: str | Path, base_dir: str | Path, out: str | Path | None = None) -> Path:
    """Point the checkpoint's ``model_type`` at the absolute ``base_dir``; save to ``out`` (default: in place)."""
    import torch

    base_dir = Path(base_dir).expanduser().resolve()
    if not (base_dir / "config.json").is_file():
        raise FileNotFoundError(f"{base_dir} holds no config.json; it must hold the base model's config and tokenizer")
    loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    loaded["config"]["arch"]["args"]["model_type"] = str(base_dir)
    out = Path(out or checkpoint).expanduser()
    torch.save(loaded, out)
    return out


def fetch(variant: str, out_dir: str | Path) -> Path:
    """Download a released checkpoint and its base model's config/tokenizer into ``out_dir``; needs internet.

    Returns the localised checkpoint ``out_dir/<variant>-local.ckpt``.
    """
    import torch
    from detoxify.detoxify import MODEL_URLS
    from huggingface_hub import snapshot_download

    out_dir = Path(out_dir).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / Path(MODEL_URLS[variant]).name
    if not raw.exists():
        torch.hub.download_url_to_file(MODEL_URLS[variant], str(raw))
    base = torch.load(raw, map_location="cpu", weights_only=False)["config"]["arch"]["args"]["model_type"]
    base_dir = out_dir / base.replace("/", "--")
    snapshot_download(base, local_dir=base_dir, allow_patterns=BASE_FILES)
    local = localise_checkpoint(raw, base_dir, out_dir / f"{variant}-local.ckpt")
    raw.unlink()
    return local


def main(argv: list[str] | None = None) -> None:
    from lam3_judges_detoxify.judge import VARIANTS

    parser = argparse.ArgumentParser(prog="python -m lam3_judges_detoxify.offline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("fetch", help="download a variant for offline use (needs internet)")
    get.add_argument("--variant", choices=sorted(VARIANTS), default="original")
    get.add_argument("--out", required=True, help="folder to write the checkpoint and base model files to")
    fix = commands.add_parser("localise", help="point a checkpoint at a local base-model folder")
    fix.add_argument("checkpoint")
    fix.add_argument("base_dir", help="folder with the base model's config.json and tokenizer files")
    fix.add_argument("--out", help="where to write the rewritten checkpoint (default: in place)")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        path = fetch(args.variant, args.out)
    else:
        path = localise_checkpoint(args.checkpoint, args.base_dir, args.out)
    print(f"Wrote {path}\nUse it with: --judge-arg detoxify.checkpoint={path}")


if __name__ == "__main__":
    main()
