"""Loading the dataset of a run: its samples (first ``--limit``), the judges it names, and its fingerprint."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lam3_core.contract.manager import Plugins
from lam3_core.interfaces.components import Dataset
from lam3_core.interfaces.errors import PluginError, UsageError
from lam3_core.interfaces.records import Sample
from lam3_core.kit.images import check_image, image_key
from lam3_core.kit.prefetch import worker_pool
from lam3_core.kit.tabular import SUFFIXES
from lam3_core.run.config import RunConfig
from lam3_core.run.fingerprints import dataset_fingerprint, sample_hash


@dataclass
class LoadedDataset:
    """The samples of a run, their content hashes, and the judges the dataset asks for when none are named."""

    name: str
    args: dict
    samples: list[Sample]
    judges: tuple[str, ...] = ()
    hashes: dict[str, str] = field(default_factory=dict)

    def fingerprint(self) -> dict:
        """What meta.json records about the data: size, one overall hash, and each sample's hash."""
        return {"name": self.name, "n_samples": len(self.samples), "fingerprint": dataset_fingerprint(self.hashes),
                "sample_hashes": dict(self.hashes)}


def _resolve_name(cfg: RunConfig) -> tuple[str, dict]:
    name, args = str(cfg.dataset), dict(cfg.dataset_args)
    if Path(name).suffix.lower() in SUFFIXES or Path(name).exists():
        return "file", {"path": name, **args}
    return name, args


def load_dataset(plugins: Plugins, cfg: RunConfig) -> LoadedDataset:
    """The dataset's samples (first ``limit``), with unique ids, each hashed."""
    name, args = _resolve_name(cfg)
    component = plugins.get("dataset", name)
    source: Iterable = component.create(**args)
    judges = source.judges if isinstance(source, Dataset) else ()
    samples: list[Sample] = []
    for sample in source:
        if not isinstance(sample, Sample):
            raise PluginError(f"The dataset {name!r} of {component.distribution} yielded a "
                              f"{type(sample).__name__}, not a lam3_core.Sample.", "Report it to its authors.")
        samples.append(sample)
        if cfg.limit is not None and len(samples) >= cfg.limit:
            break
    if not samples:
        raise UsageError(f"The dataset {cfg.dataset!r} has no samples.", "Check the file or the dataset arguments.")
    seen: set[str] = set()
    for sample in samples:
        if sample.id in seen:
            raise UsageError(f"The dataset {cfg.dataset!r} has the sample id {sample.id!r} twice.",
                             "Ids must be unique.")
        seen.add(sample.id)
    return LoadedDataset(name, args, samples, tuple(judges), {s.id: sample_hash(s) for s in samples})


def check_images(samples: list[Sample], reads_images: bool) -> None:
    """Refuse, before any work, samples whose images are unreadable or were never given — unless the model
    does not read images (answers replayed from a file)."""
    if not reads_images:
        return
    lacking = [s for s in samples if s.meta.get("missing_images")]
    if lacking:
        first = lacking[0]
        raise UsageError(
            f"{len(lacking)} of {len(samples)} samples need images that were not given "
            f"(first: sample {first.id!r} needs {', '.join(map(str, first.meta['missing_images']))}).",
            "Give the dataset its image folder (see the dataset's arguments in its README), or evaluate "
            "answers made elsewhere with --model replay, which needs no images.",
        )
    first_use: dict = {}  # POPE asks several questions about one image: read each file once
    for sample in samples:
        for image in sample.images:
            first_use.setdefault(image_key(image), (image, sample))
    pool = worker_pool(min(8, os.cpu_count() or 1), "lam3-image-check")  # decoding releases the GIL
    try:
        problems = pool.map(_image_problem, (image for image, _ in first_use.values()))
        for (_, sample), problem in zip(first_use.values(), problems):
            if problem is not None:  # the first bad image in dataset order, as when checked one by one
                raise UsageError(f"Sample {sample.id!r}: {problem.problem}", problem.fix)
    finally:
        pool.shutdown(cancel_futures=True)  # a refusal does not wait for the images after it


def _image_problem(image) -> UsageError | None:
    """Why ``image`` cannot be read, or None."""
    try:
        check_image(image)
    except UsageError as exc:
        return exc
    return None
