"""``safebench``: FigStep's SafeBench (Gong et al. 2023), 10 forbidden topics x 50 questions, and its 50-row Tiny
subset.

prompt = ``question``; category = ``category_name``; harmful = True; ids ``safebench-01-01`` (category_id,
task_id), the same in both splits. meta: ``category_id``, ``task_id`` (ints), ``figstep_instruction`` (the
``instruction``: the statement FigStep renders as typography; an attack reads it) and, with ``images=DIR``,
``figstep_image``: the pre-rendered FigStep image of the row, ``query_{dataset}_{category_id}_{task_id}_6.png``.
The image is not put in ``Sample.images``: the request itself has no image, the attack decides to use it.
"""

from __future__ import annotations

from lam3_core import Sample, UsageError
from lam3_datasets_safety._common import (
    Origin,
    integer,
    missing_files_error,
    need_path,
    path_arg,
    pick_file,
    read_csv,
    reject_unknown,
    required,
    source,
    unique,
)

REPO = "https://github.com/ThuCCSLab/FigStep"
ORIGIN = Origin(
    benchmark="SafeBench",
    dataset="safebench",
    repo=REPO,
    files="data/question/safebench.csv (SafeBench-Tiny.csv for split=tiny)",
    example="--dataset-arg path=/data/FigStep/data/question --dataset-arg split=tiny (or path=.../safebench.csv)",
)
SPLITS = {"full": "safebench.csv", "tiny": "SafeBench-Tiny.csv"}
COLUMNS = ("dataset", "category_id", "task_id", "category_name", "question", "instruction")
IMAGE_FOLDERS = {"full": "data/images/SafeBench/", "tiny": "data/images/SafeBench-Tiny/"}


def image_name(dataset: str, category_id: int, task_id: int) -> str:
    """FigStep's file name for a row's typographic image."""
    return f"query_{dataset}_{category_id}_{task_id}_6.png"


def load_safebench(path=None, split=None, images=None, **unknown) -> list[Sample]:
    """``path``: safebench.csv or SafeBench-Tiny.csv, or the folder holding them with ``split`` = full (default) |
    tiny. ``images``: the folder of FigStep's rendered images; every row's image must be there."""
    reject_unknown("safebench", unknown, ("path", "split", "images"))
    file = pick_file(need_path(path, ORIGIN, "FigStep's safebench.csv or its folder"), ORIGIN, SPLITS, split, "full")
    folder = path_arg(images, "safebench", "images")
    if folder is not None and not folder.is_dir():
        raise UsageError(
            f"safebench: images={folder} is not a folder.",
            f"Pass the folder of FigStep's images ({REPO}: {IMAGE_FOLDERS['full']} or {IMAGE_FOLDERS['tiny']}), "
            "or leave images= out.",
        )
    rows = read_csv(file, ORIGIN, COLUMNS, "FigStep's safebench.csv or SafeBench-Tiny.csv")
    samples, ids_at, missing = [], [], []
    for line, row in rows:
        category_id = integer(row["category_id"], file, line, "category_id")
        task_id = integer(row["task_id"], file, line, "task_id")
        sample_id = f"safebench-{category_id:02d}-{task_id:02d}"
        meta = {
            "category_id": category_id,
            "task_id": task_id,
            "figstep_instruction": required(row["instruction"], file, line, "instruction"),
            "source": source(ORIGIN.benchmark, file, line=line),
        }
        if folder is not None:
            image = folder / image_name(required(row["dataset"], file, line, "dataset").strip(), category_id, task_id)
            if image.is_file():
                meta["figstep_image"] = str(image.resolve())
            else:
                missing.append((sample_id, image))
        samples.append(
            Sample(
                id=sample_id,
                prompt=required(row["question"], file, line, "question"),
                category=row["category_name"].strip() or None,
                harmful=True,
                meta=meta,
            )
        )
        ids_at.append((sample_id, line))
    unique(ids_at, file, "category_id and task_id")
    if missing:
        raise missing_files_error(
            "safebench",
            missing,
            len(samples),
            f"Pass images= the folder of FigStep's rendered images for this split ({REPO}: {IMAGE_FOLDERS['full']} "
            f"for the full set, {IMAGE_FOLDERS['tiny']} for Tiny), or leave images= out.",
        )
    return samples
