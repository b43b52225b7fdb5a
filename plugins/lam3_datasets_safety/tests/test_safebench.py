"""`safebench` on FigStep's SafeBench and SafeBench-Tiny, and its pre-rendered images."""

from __future__ import annotations

import csv
from collections import Counter

import pytest
from lam3_datasets_safety.safebench import load_safebench

from lam3_core import UsageError


@pytest.fixture(scope="module")
def folder(shared_data):
    return shared_data / "figstep"


def _rows(file):
    with open(file, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_full_split_by_default(folder):
    samples = load_safebench(path=str(folder))
    rows = _rows(folder / "safebench.csv")
    assert len(samples) == len(rows) == 500
    assert len({s.id for s in samples}) == 500
    assert samples[0].id == "safebench-01-01" and samples[-1].id == "safebench-10-50"
    assert {s.harmful for s in samples} == {True}
    assert Counter(s.meta["category_id"] for s in samples) == {c: 50 for c in range(1, 11)}
    assert len({s.category for s in samples}) == 10
    assert {(s.meta["category_id"], s.category) for s in samples} == {
        (int(r["category_id"]), r["category_name"]) for r in rows
    }
    assert [s.prompt for s in samples] == [r["question"] for r in rows]
    assert [s.meta["figstep_instruction"] for s in samples] == [r["instruction"] for r in rows]
    assert all(s.images == [] and "figstep_image" not in s.meta for s in samples)


def test_tiny_is_the_first_five_tasks_with_the_same_ids(folder):
    tiny = load_safebench(path=str(folder), split="tiny")
    full = {s.id: s for s in load_safebench(path=str(folder / "safebench.csv"))}
    assert len(tiny) == 50
    assert {s.meta["task_id"] for s in tiny} == {1, 2, 3, 4, 5}
    assert all((s.prompt, s.category, s.meta["figstep_instruction"]) == (
        full[s.id].prompt, full[s.id].category, full[s.id].meta["figstep_instruction"]) for s in tiny)  # fmt: skip
    assert tiny[0].meta["source"]["file"] == str((folder / "SafeBench-Tiny.csv").resolve())


@pytest.fixture
def tiny_images(tmp_path, folder):
    """FigStep's 10 shipped Tiny images (task 1) and stand-ins under FigStep's names for tasks 2-5."""
    images = tmp_path / "SafeBench-Tiny"
    images.mkdir()
    for real in (folder / "images").glob("*.png"):
        (images / real.name).symlink_to(real)
    for category in range(1, 11):
        for task in range(2, 6):
            (images / f"query_ForbidQI_{category}_{task}_6.png").write_bytes(b"\x89PNG stand-in")
    return images


def test_images_go_to_meta_not_to_the_sample(folder, tiny_images):
    samples = load_safebench(path=str(folder), split="tiny", images=str(tiny_images))
    assert len(samples) == 50
    assert all(s.images == [] for s in samples)
    for sample in samples:
        image = sample.meta["figstep_image"]
        assert image == str((tiny_images / f"query_ForbidQI_{sample.meta['category_id']}_"
                                           f"{sample.meta['task_id']}_6.png").resolve())  # fmt: skip
    shipped = {s.meta["figstep_image"] for s in samples if s.meta["task_id"] == 1}
    assert shipped == {str(p.resolve()) for p in (folder / "images").glob("*.png")}


def test_a_missing_image_names_the_sample_file_and_fix(folder):
    with pytest.raises(UsageError) as err:
        load_safebench(path=str(folder), split="tiny", images=str(folder / "images"))
    assert "40 of 50 image(s) are missing" in err.value.problem
    assert f"{folder / 'images' / 'query_ForbidQI_1_2_6.png'} for sample 'safebench-01-02'" in err.value.problem
    assert "github.com/ThuCCSLab/FigStep" in err.value.fix and "data/images/SafeBench-Tiny/" in err.value.fix
    assert "leave images= out" in err.value.fix


def test_bad_inputs(folder, shared_data):
    with pytest.raises(UsageError, match=r"Unknown split 'small'.*Valid: full, tiny"):
        load_safebench(path=str(folder), split="small")
    with pytest.raises(UsageError, match=r"images=.* is not a folder"):
        load_safebench(path=str(folder), images=str(folder / "safebench.csv"))
    with pytest.raises(UsageError) as err:
        load_safebench(path=str(shared_data / "jailbreakbench" / "benign-behaviors.csv"))
    assert "lacks the column(s) dataset, category_id, task_id, category_name, question, instruction" in str(err.value)
    assert "--dataset jailbreakbench" in err.value.fix
    with pytest.raises(UsageError, match=r"benign_sentences_without_harmful_phase\.csv.*prompt templates"):
        load_safebench(path=str(folder / "benign_sentences_without_harmful_phase.csv"))
    with pytest.raises(UsageError) as err:
        load_safebench()
    assert "github.com/ThuCCSLab/FigStep" in err.value.fix and "data/question/safebench.csv" in err.value.fix


def test_malformed_ids(tmp_path):
    header = "dataset,category_id,task_id,category_name,question,instruction\n"
    file = tmp_path / "safebench.csv"
    file.write_text(header + "ForbidQI,1,one,Cat,Q?,Statement.\n")
    with pytest.raises(UsageError, match=r"safebench\.csv:2: the task_id column should hold a whole number, not 'one'"):
        load_safebench(path=str(file))
    file.write_text(header + "ForbidQI,1,1,Cat,Q?,S.\nForbidQI,1,2,Cat,Q?,S.\nForbidQI,01,1,Cat,Q?,S.\n")
    with pytest.raises(UsageError, match=r"lines 2 and 4 give the same sample id 'safebench-01-01'"):
        load_safebench(path=str(file))
