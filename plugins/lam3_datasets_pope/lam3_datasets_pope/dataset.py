"""``pope``: POPE's yes/no object questions on COCO val2014, each with its label, scored by the ``pope`` judge.

Two ways in:

* ``questions=llava_pope_test.jsonl labels=DIR``: LLaVA's questions (POPE's text plus "Answer the
  question using a single word or phrase.") paired with POPE's label files by split and by order,
  as LLaVA's ``eval_pope.py`` pairs them. Sample id = LLaVA's ``question_id`` (unique across splits),
  so answers made with LLaVA's own scripts replay by id.
* ``labels=DIR`` (or one label file) alone: POPE's own questions, without LLaVA's suffix. POPE numbers
  its questions 1..N in every split, so the sample id is ``<split>-<question_id>``.

Pairing by order is only right when both files hold the same questions in the same order. POPE
regenerated its random split after 2023-08-10, while LLaVA's question file matches the files of
that date: every pair's image is compared, and a label file that does not match is refused
(naming the split and how many pairs disagree) instead of scoring answers against the wrong labels.

Images are not distributed with POPE (COCO val2014): ``image_root=DIR`` points at them. Without it the
samples list their image under ``meta['missing_images']``, so a model that reads images refuses to
run while ``--model replay`` (answers made elsewhere) scores them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lam3_core import Dataset, Sample, UsageError
from lam3_core.kit.arguments import as_names
from lam3_datasets_pope.files import (
    ALIGNED_COMMIT,
    GET_LABELS,
    LABEL_FILE,
    POPE_REPO,
    SPLITS,
    Question,
    read_label_file,
    read_question_file,
    split_of,
)

BENCHMARK = "POPE"
GET_IMAGES = ("image_root= must be the folder of COCO val2014 images (COCO_val2014_*.jpg, from "
              "https://cocodataset.org); without images, score answers made elsewhere with --model replay.")


@dataclass(frozen=True)
class Pair:
    """A question as it is asked and the POPE line that labels it (the same line without LLaVA's questions)."""

    split: str
    asked: Question
    labelled: Question
    question_file: Path
    label_file: Path


def _path(value, arg: str) -> Path | None:
    if value is None or value == "":
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise UsageError(f"The pope argument {arg}= must be a path, got {value!r}.",
                         f"Pass --dataset-arg {arg}=PATH (quote it if it looks like a number).")
    path = Path(value).expanduser()
    if not path.exists():
        raise UsageError(f"pope: {arg}={path} does not exist.", "Check the path.")
    return path


def _label_files(labels: Path | None) -> dict[str, Path]:
    """The label file of each split: ``labels`` itself when it is a file, else the folder's coco_pope_<split>.json."""
    if labels is None:
        raise UsageError("The pope dataset needs labels=: POPE's label files (coco_pope_<split>.json).", GET_LABELS)
    if labels.is_file():
        return {split_of(labels) or labels.stem: labels}
    found = {split_of(p): p for p in labels.glob(LABEL_FILE.format(split="*"))}
    found.pop(None, None)
    if not found:
        present = sorted(p.name for p in labels.glob("*.json*"))
        raise UsageError(f"pope: the folder {labels} holds no {LABEL_FILE.format(split='<split>')} "
                         f"(JSON files there: {', '.join(present[:8]) or 'none'}).", GET_LABELS)
    order = {split: i for i, split in enumerate(SPLITS)}
    return dict(sorted(found.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))


def _chosen(available: list[str], splits, where: str) -> list[str]:
    """``available`` narrowed to ``splits=`` (``a,b`` or a list); a split that is not there is refused."""
    if splits is None:
        return available
    names = as_names(splits)
    if not names:
        raise UsageError("The pope argument splits= is empty.", f"Name splits, e.g. splits={','.join(available)}.")
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UsageError(f"pope: splits= names {', '.join(unknown)}, not among the splits of {where}.",
                         f"Choose among: {', '.join(available)}.")
    return [s for s in available if s in names]


def _check_aligned(pairs: list[tuple[Question, Question]], split: str, questions: list[Question],
                   labelled: list[Question], question_file: Path, label_file: Path) -> None:
    """Refuse a label file whose lines do not label the questions of the same split, pair by pair."""
    disagree = [(q, lab) for q, lab in pairs if q.image != lab.image]
    if len(questions) == len(labelled) and not disagree:
        return
    found = []
    if len(questions) != len(labelled):
        found.append(f"it holds {len(labelled)} labels for {len(questions)} questions")
    if disagree:
        q, lab = disagree[0]
        found.append(f"{len(disagree)} of {len(pairs)} pairs (paired by order) are about different images (first: "
                     f"question {q.question_id} on line {q.line} shows {q.image}, label line {lab.line} {lab.image})")
    raise UsageError(
        f"pope: the {split} labels in {label_file} do not match the {split} questions in {question_file}: "
        + "; ".join(found) + ". Scoring the answers against them would report a wrong F1.",
        f"POPE regenerated its random split after August 2023, and LLaVA's questions match POPE's label files of "
        f"2023-08-10 (commit {ALIGNED_COMMIT[:8]} of {POPE_REPO}, output/coco/): pass labels= a folder holding "
        "those, or leave the split out with splits=.",
    )


def _paired(question_file: Path, label_files: dict[str, Path], one_file: bool, splits) -> list[Pair]:
    """LLaVA's questions, each paired with the label on the same line of its split's label file (only that file's
    split when ``labels=`` named one file)."""
    by_split: dict[str, list[Question]] = {}
    for question in read_question_file(question_file):
        by_split.setdefault(str(question.category), []).append(question)
    available = list(by_split)
    if one_file:
        split, file = next(iter(label_files.items()))
        if split not in by_split:
            raise UsageError(f"pope: the label file {file} is for the split {split!r} (from its name), which "
                             f"{question_file} does not hold (it holds {', '.join(available)}).",
                             "Name it coco_pope_<split>.json after its split, or pass the folder of the label files.")
        available = [split]
    pairs = []
    for split in _chosen(available, splits, str(question_file)):
        if split not in label_files:
            raise UsageError(f"pope: there is no label file for the {len(by_split[split])} {split} questions of "
                             f"{question_file} (looked for {LABEL_FILE.format(split=split)}).",
                             f"Add it, or leave the split out with splits=. {GET_LABELS}")
        questions, labelled = by_split[split], read_label_file(label_files[split])
        zipped = list(zip(questions, labelled))
        _check_aligned(zipped, split, questions, labelled, question_file, label_files[split])
        pairs += [Pair(split, q, lab, question_file, label_files[split]) for q, lab in zipped]
    return pairs


def _own(label_files: dict[str, Path], splits) -> list[Pair]:
    """POPE's own questions from its label files."""
    pairs = []
    for split in _chosen(list(label_files), splits, "the label files given"):
        file = label_files[split]
        pairs += [Pair(split, q, q, file, file) for q in read_label_file(file)]
    return pairs


def _check_images(pairs: list[Pair], root: Path) -> None:
    if not root.is_dir():
        raise UsageError(f"pope: image_root={root} is not a folder.", GET_IMAGES)
    missing = [p for p in pairs if not (root / p.asked.image).is_file()]
    if missing:
        first = missing[0]
        raise UsageError(f"pope: {len(missing)} of {len(pairs)} questions have no image under {root} (first: "
                         f"{first.asked.image} for question {first.asked.question_id}).", GET_IMAGES)


@lru_cache(maxsize=64)
def _absolute(path: Path) -> str:
    return str(path.resolve())


def _sample(pair: Pair, own_questions: bool, root: Path | None) -> Sample:
    asked, labelled = pair.asked, pair.labelled
    source = {"benchmark": BENCHMARK, "file": _absolute(pair.question_file), "line": asked.line}
    if not own_questions:
        source.update(labels=_absolute(pair.label_file), label_line=labelled.line)
    meta: dict = {"image": asked.image, "source": source}
    if root is None:
        meta["missing_images"] = [asked.image]
    return Sample(
        id=f"{pair.split}-{asked.question_id}" if own_questions else str(asked.question_id),
        prompt=asked.text,
        images=[str(root / asked.image)] if root is not None else [],
        category=pair.split,
        label=labelled.label,
        harmful=False,
        meta=meta,
    )


def load_pope(questions=None, labels=None, image_root=None, splits=None) -> Dataset:
    """POPE's samples, scored by the ``pope`` judge unless the user names judges.

    ``labels``: the folder of POPE's ``coco_pope_<split>.json`` files, or one of them. ``questions``:
    LLaVA's ``llava_pope_test.jsonl`` (optional). ``image_root``: the COCO val2014 image folder
    (optional). ``splits``: e.g. ``adversarial,popular`` (default: every split there is).
    """
    question_file = _path(questions, "questions")
    label_path = _path(labels, "labels")
    label_files = _label_files(label_path)
    root = _path(image_root, "image_root")
    if question_file is not None and question_file.is_dir():
        raise UsageError(f"pope: questions={question_file} is a folder.",
                         "Pass LLaVA's question file itself (llava_pope_test.jsonl).")
    own_questions = question_file is None
    if own_questions:
        pairs = _own(label_files, splits)
    else:
        pairs = _paired(question_file, label_files, label_path.is_file(), splits)
    if root is not None:
        _check_images(pairs, root)
    return Dataset([_sample(p, own_questions, root) for p in pairs], judges=("pope",))
