"""``lam3 attention RUN_DIR``: PNG heatmaps of the attention maps a run stored (``--gen trace_attentions=true``).

For each chosen record with ``info["image_attention"]``, and each of its images: the image as the
model saw it with the answer's attention over its patch grid blended in
(``lam3_core.analysis.attention_heatmap``), written to ``OUT/<record id>.png`` (``-<n>`` added per
image when a record has several). Pillow and numpy are imported here only, never by ``lam3 --help``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

from lam3_core.interfaces.errors import UsageError
from lam3_core.interfaces.records import Generation
from lam3_core.kit.images import load_image
from lam3_core.run.attacking import resolve_images
from lam3_core.run.rundir import RunDir, safe_name
from lam3_core.run.store import read_jsonl

HOW = "Generate with --gen trace_attentions=true (a model that maps attention onto image patches, e.g. llava15)."


def _chosen(gens: list[Generation], record_ids: Sequence[str], rundir: RunDir) -> list[Generation]:
    mapped = [g for g in gens if "image_attention" in g.info]
    if not record_ids:
        if not mapped:
            raise UsageError(f"No record of {rundir.path} has an attention map.", HOW)
        return mapped
    by_id = {g.record_id: g for g in gens}
    chosen = []
    for record_id in record_ids:
        if record_id not in by_id:
            close = difflib.get_close_matches(record_id, list(by_id), n=3)
            hint = f"; close: {', '.join(close)}" if close else ""
            raise UsageError(f"{rundir.path} has no record {record_id!r}.",
                             f"Record ids look like SAMPLE::ATTACK::VARIANT{hint}.")
        if "image_attention" not in by_id[record_id].info:
            raise UsageError(f"The record {record_id!r} has no attention map.", HOW)
        chosen.append(by_id[record_id])
    return chosen


def write_attention_maps(run_dir: str | Path, record_ids: Sequence[str], out: str | Path) -> list[Path]:
    """Draw the chosen records' attention maps (all that have one when none is named) into ``out``; the files."""
    from lam3_core.analysis.attention_heatmap import overlay

    rundir = RunDir(run_dir)
    rundir.require_run()
    gens = [Generation.from_dict(r) for r in read_jsonl(rundir.file("generations"))]
    chosen = _chosen(gens, record_ids, rundir)
    folder = Path(out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {folder} is a file.", "Pass a folder for the PNG files.")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for g in chosen:
        attention = g.info["image_attention"]
        images = resolve_images(rundir, g.images)
        if len(images) != len(attention["maps"]):
            raise UsageError(f"The record {g.record_id!r} has {len(images)} images but {len(attention['maps'])} "
                             "attention maps.", "It was not written by lam3; generate it again.")
        for n, (image, grid) in enumerate(zip(images, attention["maps"]), start=1):
            picture = overlay(load_image(image), grid, attention["grid"], attention.get("view"))
            path = folder / f"{safe_name(g.record_id)}{f'-{n}' if len(images) > 1 else ''}.png"
            picture.save(path)
            written.append(path)
    return written
