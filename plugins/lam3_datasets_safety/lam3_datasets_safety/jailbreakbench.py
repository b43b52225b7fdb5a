"""``jailbreakbench``: JailbreakBench's JBB-Behaviors (Chao et al. 2024), 100 harmful requests and their 100 benign
twins on the same topics, so that one run reports both attack success and over-refusal.

prompt = ``Goal``; category = ``Category``; harmful = True for the harmful file, False for the benign one;
meta ``target`` (``Target``), ``behavior``, ``index``, ``origin`` (the ``Source`` column: where the behaviour was
taken from) and ``twin`` (the id of the row with the same index in the other file: JBB pairs them by index).
Ids ``jbb-harmful-000`` ... and ``jbb-benign-000`` ...; with split=all the harmful rows come first.
"""

from __future__ import annotations

from lam3_core import Sample, UsageError
from lam3_datasets_safety._common import (
    Origin,
    choice,
    integer,
    need_path,
    read_csv,
    reject_unknown,
    required,
    source,
    unique,
)

ORIGIN = Origin(
    benchmark="JailbreakBench",
    dataset="jailbreakbench",
    repo="https://huggingface.co/datasets/JailbreakBench/JBB-Behaviors",
    files="data/harmful-behaviors.csv and data/benign-behaviors.csv",
    example="--dataset-arg path=/data/JBB-Behaviors/data (the folder holding both)",
)
FILES = {"harmful": "harmful-behaviors.csv", "benign": "benign-behaviors.csv"}
SPLITS = ("all", "harmful", "benign")
COLUMNS = ("Index", "Goal", "Target", "Behavior", "Category", "Source")


def load_jailbreakbench(path=None, split="all", **unknown) -> list[Sample]:
    """``path``: the folder holding harmful-behaviors.csv and benign-behaviors.csv. ``split``: all (default),
    harmful or benign."""
    reject_unknown("jailbreakbench", unknown, ("path", "split"))
    split = choice(split, "jailbreakbench", "split", SPLITS)
    folder = need_path(path, ORIGIN, "the folder holding JBB-Behaviors' harmful-behaviors.csv and benign-behaviors.csv")
    if folder.is_file():
        raise UsageError(
            f"jailbreakbench: path {folder} is a file; expected the folder holding {' and '.join(FILES.values())}.",
            f"Pass its folder, path={folder.parent}, and choose a half with split=harmful|benign.",
        )
    halves = ("harmful", "benign") if split == "all" else (split,)
    absent = [FILES[h] for h in halves if not (folder / FILES[h]).is_file()]
    if absent:
        raise UsageError(
            f"jailbreakbench: the folder {folder} has no {' or '.join(absent)} (split={split}).",
            f"{ORIGIN.get_it()} Or choose the half you have with split=harmful|benign.",
        )
    samples = []
    for half in halves:
        samples += _half(folder / FILES[half], half)
    return samples


def _half(file, half: str) -> list[Sample]:
    other = "benign" if half == "harmful" else "harmful"
    rows = read_csv(file, ORIGIN, COLUMNS, f"JBB-Behaviors' {FILES[half]}")
    samples, ids_at = [], []
    for line, row in rows:
        index = integer(row["Index"], file, line, "Index")
        sample_id = f"jbb-{half}-{index:03d}"
        meta = {
            "behavior": row["Behavior"],
            "index": index,
            "origin": row["Source"],
            "twin": f"jbb-{other}-{index:03d}",
            "source": source(ORIGIN.benchmark, file, line=line),
        }
        if row["Target"].strip():
            meta["target"] = row["Target"]
        samples.append(
            Sample(
                id=sample_id,
                prompt=required(row["Goal"], file, line, "Goal"),
                category=row["Category"].strip() or None,
                harmful=half == "harmful",
                meta=meta,
            )
        )
        ids_at.append((sample_id, line))
    unique(ids_at, file, "Index")
    return samples
