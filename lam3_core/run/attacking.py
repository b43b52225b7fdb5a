"""Applying an attack once per sample and keeping what it made: ``attacks/<attack>/samples.jsonl`` and its images.

Every attacked version of a sample (its prompt, its images, its variant and what the attack
recorded) is written before any generation uses it, all versions of one sample in one
flushed write. On resume an attack runs only on samples it has not attacked yet (or whose
content changed), so an expensive attack (PGD) never recomputes a finished image. Images an
attack returns in memory are written as lossless PNG next to the samples file.
"""

from __future__ import annotations

import io
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from lam3_core.interfaces.components import Model
from lam3_core.interfaces.errors import PluginError, UsageError
from lam3_core.interfaces.records import Sample
from lam3_core.run.components import Prepared
from lam3_core.run.progress import Progress
from lam3_core.run.rundir import RunDir, safe_name
from lam3_core.run.store import JsonlAppender, write_bytes_atomic


@dataclass
class Attacked:
    """One attacked version of one sample."""

    original: Sample
    sent: Sample
    variant: int | str
    info: dict
    images: list[str]


class AttackStore:
    """The attacked samples of one attack in one run directory."""

    def __init__(self, rundir: RunDir, attack: Prepared):
        self.rundir = rundir
        self.attack = attack
        self.folder = rundir.attack_dir(attack.name)
        self.store = JsonlAppender(self.folder / "samples.jsonl", key=lambda r: (r["sample_id"], str(r["variant"])))

    def check_same_arguments(self) -> None:
        """Refuse to mix attacked samples made with other arguments of this attack."""
        check_attack_arguments(self.rundir, self.attack, self.store.records)

    def versions(self, originals: list[Sample], hashes: dict[str, str], batch_size: int,
                 model: Callable[[], Model], quiet: bool) -> list[Attacked]:
        """Every attacked version of ``originals``, applying the attack only where none is stored yet."""
        self.store.discard(lambda r: r["sample_id"] in hashes and r.get("sample_hash") != hashes[r["sample_id"]])
        done = {r["sample_id"] for r in self.store.records}
        pending = [s for s in originals if s.id not in done]
        if pending:
            self.folder.mkdir(parents=True, exist_ok=True)
            attack = self.attack.instance
            with Progress(len(pending), f"attack {self.attack.name}", quiet, unit="samples") as progress:
                for start in range(0, len(pending), batch_size):
                    chunk = pending[start : start + batch_size]
                    made = attack.apply(chunk, model() if attack.needs_model else None)
                    self.store.append(self._records(chunk, made, hashes))
                    progress.update(len(chunk))
        by_sample: dict[str, list[dict]] = defaultdict(list)
        for record in self.store.records:
            by_sample[record["sample_id"]].append(record)
        return [self._attacked(s, r) for s in originals for r in by_sample.get(s.id, [])]

    def _records(self, chunk: list[Sample], made: list[Sample], hashes: dict[str, str]) -> list[dict]:
        ids = {s.id for s in chunk}
        strays = [s.id for s in made if not isinstance(s, Sample) or s.id not in ids]
        if strays or not isinstance(made, list):
            raise PluginError(f"The attack {self.attack.name!r} returned samples for ids it was not given "
                              f"({strays[:3]}).", "Each attacked sample keeps the id of its original.")
        counts: dict[str, int] = defaultdict(int)
        records = []
        for sample in made:
            variant = sample.meta.get("variant", counts[sample.id])
            counts[sample.id] += 1
            records.append({
                "sample_id": sample.id,
                "variant": variant,
                "sample_hash": hashes[sample.id],
                "identity": self.attack.identity_hash,
                "prompt": sample.prompt,
                "images": [self._image(sample.id, variant, i, image) for i, image in enumerate(sample.images)],
                "attack_info": dict(sample.meta.get("attack_info") or {}),
            })
        keys = [(r["sample_id"], str(r["variant"])) for r in records]
        if len(set(keys)) != len(keys):
            raise PluginError(f"The attack {self.attack.name!r} returned two versions of one sample with the same "
                              "variant.", "Give each version its own meta['variant'].")
        return records

    def _image(self, sample_id: str, variant, index: int, image) -> str:
        """The image's path: as given for a file, or a PNG written into the run directory for an image in memory."""
        if isinstance(image, (str, Path)):
            return str(image)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        path = self.folder / f"{safe_name(sample_id)}__{safe_name(str(variant))}__{index}.png"
        write_bytes_atomic(path, buffer.getvalue())
        return str(path.relative_to(self.rundir.path))

    def _attacked(self, original: Sample, record: dict) -> Attacked:
        sent = replace(original, prompt=record["prompt"], images=resolve_images(self.rundir, record["images"]),
                       meta={**original.meta, "variant": record["variant"]})
        return Attacked(original, sent, record["variant"], record["attack_info"], list(record["images"]))


def check_attack_arguments(rundir: RunDir, attack: Prepared, records: list[dict]) -> None:
    """Refuse ``attack`` when the samples it attacked in ``rundir`` (``records``) were made with other arguments."""
    old = {r.get("identity") for r in records}
    if old and old != {attack.identity_hash}:
        raise UsageError(
            f"{rundir} already holds samples attacked by {attack.name} with other arguments.",
            f"Use a new --out for the new {attack.name} arguments, or the arguments used before "
            f"(meta.json, attacks.{attack.name}).",
        )


def resolve_images(rundir: RunDir, images: list[str]) -> list[str]:
    """Absolute paths of a record's images (an attack's images are stored relative to the run directory)."""
    return [p if os.path.isabs(p) else str(rundir.path / p) for p in images]
