"""``harmbench`` and ``harmbench_multimodal``: HarmBench's behaviours (Mazeika et al. 2024).

Text behaviours: id = ``BehaviorID``, category = ``SemanticCategory``, harmful = True, meta ``behavior`` (the
behaviour as written), ``functional_category``, ``tags`` (list) and, on contextual behaviours, ``context`` (the
``ContextString``). The prompt is the behaviour; for a contextual behaviour it is HarmBench's own layout (its
DirectRequest baseline): ``f"{context}\\n\\n---\\n\\n{behavior}"``, so the model sees the context it is asked about
while judges get ``meta['context']`` and ``meta['behavior']`` separately (HarmBench's contextual classifier prompt).

Multimodal behaviours: the image ``images/ImageFileName`` goes into ``Sample.images`` and the prompt is the
behaviour. ``meta['context']`` is the ``RedactedImageDescription``, which is what HarmBench's classifier is given
as context for multimodal behaviours. ``images=none`` is text-only on purpose: no image, and the prompt carries
the ``ImageDescription`` in the contextual layout instead, ``f"{description}\\n\\n---\\n\\n{behavior}"``.
"""

from __future__ import annotations

from pathlib import Path

from lam3_core import Sample, UsageError
from lam3_datasets_safety._common import (
    Origin,
    list_arg,
    missing_files_error,
    need_path,
    path_arg,
    pick_file,
    read_csv,
    reject_unknown,
    required,
    select_ids,
    source,
    unique,
)

REPO = "https://github.com/centerforaisafety/HarmBench"
SEPARATOR = "\n\n---\n\n"

TEXT = Origin(
    benchmark="HarmBench",
    dataset="harmbench",
    repo=REPO,
    files="data/behavior_datasets/harmbench_behaviors_text_{all,val,test}.csv",
    example="--dataset-arg path=/data/HarmBench/data/behavior_datasets --dataset-arg split=test "
    "(or path=.../harmbench_behaviors_text_test.csv)",
)
TEXT_SPLITS = {
    "all": "harmbench_behaviors_text_all.csv",
    "val": "harmbench_behaviors_text_val.csv",
    "test": "harmbench_behaviors_text_test.csv",
}
TEXT_COLUMNS = ("Behavior", "FunctionalCategory", "SemanticCategory", "Tags", "ContextString", "BehaviorID")

MULTIMODAL = Origin(
    benchmark="HarmBench",
    dataset="harmbench_multimodal",
    repo=REPO,
    files="data/behavior_datasets/harmbench_behaviors_multimodal_all.csv (images: data/multimodal_behavior_images/)",
    example="--dataset-arg path=/data/HarmBench/data/behavior_datasets "
    "--dataset-arg images=/data/HarmBench/data/multimodal_behavior_images",
)
MULTIMODAL_FILE = "harmbench_behaviors_multimodal_all.csv"
MULTIMODAL_COLUMNS = (
    "Behavior",
    "BehaviorID",
    "FunctionalCategory",
    "SemanticCategory",
    "ImageFileName",
    "Source",
    "ImageDescription",
    "RedactedImageDescription",
    "Tags",
)
IMAGES_FOLDER = "multimodal_behavior_images"  # beside behavior_datasets/ in HarmBench's data/


def _tags(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def load_harmbench(path=None, split=None, ids=None, **unknown) -> list[Sample]:
    """``path``: a HarmBench text-behaviour CSV, or the folder holding them with ``split`` = all (default) | val |
    test. ``ids``: only these BehaviorIDs (comma-separated or a list)."""
    reject_unknown("harmbench", unknown, ("path", "split", "ids"))
    wanted = list_arg(ids, "harmbench", "ids")
    file = pick_file(
        need_path(path, TEXT, "a HarmBench text-behaviour CSV or its folder"), TEXT, TEXT_SPLITS, split, "all"
    )
    rows = read_csv(file, TEXT, TEXT_COLUMNS, "a HarmBench text-behaviour CSV")
    samples, ids_at = [], []
    for line, row in rows:
        behavior_id = required(row["BehaviorID"], file, line, "BehaviorID").strip()
        behavior = required(row["Behavior"], file, line, "Behavior")
        context = row["ContextString"] if row["ContextString"].strip() else None
        meta = {
            "behavior": behavior,
            "functional_category": row["FunctionalCategory"].strip(),
            "tags": _tags(row["Tags"]),
            "source": source(TEXT.benchmark, file, line=line),
        }
        if context is not None:
            meta["context"] = context
        samples.append(
            Sample(
                id=behavior_id,
                prompt=f"{context}{SEPARATOR}{behavior}" if context is not None else behavior,
                category=row["SemanticCategory"].strip() or None,
                harmful=True,
                meta=meta,
            )
        )
        ids_at.append((behavior_id, line))
    unique(ids_at, file, "BehaviorID")
    return select_ids(samples, wanted, "harmbench", file)


def _image_folder(images, file: Path) -> Path | None:
    """The images folder, or None for text-only (images=none). Not given: HarmBench's own folder beside the CSV's
    folder when it is there, else a usage error (text-only use must be asked for)."""
    if images is False or (isinstance(images, str) and images.strip().lower() == "none"):
        return None
    folder = path_arg(images, "harmbench_multimodal", "images")
    if folder is None:
        beside = file.absolute().parent.parent / IMAGES_FOLDER
        if beside.is_dir():
            return beside
        raise UsageError(
            f"harmbench_multimodal needs the behaviour images: no images= was given and there is no {IMAGES_FOLDER}/ "
            f"beside {file.parent}.",
            f"Pass images=DIR, HarmBench's data/{IMAGES_FOLDER}/ from {REPO}; or images=none to run text-only, with "
            "each image's description in the prompt instead of the image.",
        )
    if not folder.is_dir():
        raise UsageError(
            f"harmbench_multimodal: images={folder} is not a folder.",
            f"Pass the folder holding the images (HarmBench's data/{IMAGES_FOLDER}/), or images=none for text only.",
        )
    return folder


def _image_file(folder: Path, name: str) -> Path | None:
    """``folder/name``; else the same stem as .png (HarmBench's CSV names 7 images .jpg/.jpeg that its repository
    stores as .png); else None."""
    exact = folder / name
    if exact.is_file():
        return exact
    png = folder / f"{Path(name).stem}.png"
    return png if png.is_file() else None


def load_harmbench_multimodal(path=None, images=None, ids=None, **unknown) -> list[Sample]:
    """``path``: harmbench_behaviors_multimodal_all.csv or its folder. ``images``: the folder of behaviour images
    (default: ../multimodal_behavior_images beside the CSV's folder, if there), or ``none`` for text only. ``ids``:
    only these BehaviorIDs. Every selected behaviour's image must exist."""
    reject_unknown("harmbench_multimodal", unknown, ("path", "images", "ids"))
    wanted = list_arg(ids, "harmbench_multimodal", "ids")
    file = pick_file(
        need_path(path, MULTIMODAL, f"HarmBench's {MULTIMODAL_FILE} or its folder"),
        MULTIMODAL,
        {"all": MULTIMODAL_FILE},
        None,
        "all",
    )
    folder = _image_folder(images, file)
    rows = read_csv(file, MULTIMODAL, MULTIMODAL_COLUMNS, f"HarmBench's {MULTIMODAL_FILE}")
    samples, ids_at = [], []
    for line, row in rows:
        behavior_id = required(row["BehaviorID"], file, line, "BehaviorID").strip()
        behavior = required(row["Behavior"], file, line, "Behavior")
        description = required(row["ImageDescription"], file, line, "ImageDescription")
        meta = {
            "behavior": behavior,
            "functional_category": row["FunctionalCategory"].strip(),
            "tags": _tags(row["Tags"]),
            "image_description": description,
            "image_file": required(row["ImageFileName"], file, line, "ImageFileName").strip(),
            "image_source": row["Source"],
            "text_only": folder is None,
            "source": source(MULTIMODAL.benchmark, file, line=line),
        }
        if row["RedactedImageDescription"].strip():
            meta["context"] = row["RedactedImageDescription"]
        samples.append(
            Sample(
                id=behavior_id,
                prompt=behavior if folder is not None else f"{description}{SEPARATOR}{behavior}",
                category=row["SemanticCategory"].strip() or None,
                harmful=True,
                meta=meta,
            )
        )
        ids_at.append((behavior_id, line))
    unique(ids_at, file, "BehaviorID")
    samples = select_ids(samples, wanted, "harmbench_multimodal", file)
    if folder is not None:
        missing = []
        for sample in samples:
            image = _image_file(folder, sample.meta["image_file"])
            if image is None:
                missing.append((sample.id, folder / sample.meta["image_file"]))
            else:
                sample.images = [str(image.resolve())]
        if missing:
            raise missing_files_error(
                "harmbench_multimodal",
                missing,
                len(samples),
                f"Pass images= the complete folder (HarmBench's data/{IMAGES_FOLDER}/ from {REPO}), select the "
                "behaviours whose images you have with ids=ID1,ID2, or pass images=none to run text-only.",
            )
    return samples
