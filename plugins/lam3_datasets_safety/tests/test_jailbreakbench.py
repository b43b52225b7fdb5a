"""`jailbreakbench` on JBB-Behaviors' two real files."""

from __future__ import annotations

import csv
from collections import Counter

import pytest
from lam3_datasets_safety.jailbreakbench import load_jailbreakbench

from lam3_core import UsageError


@pytest.fixture(scope="module")
def folder(shared_data):
    return shared_data / "jailbreakbench"


def _rows(file):
    with open(file, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_both_halves_with_flags_categories_and_targets(folder):
    samples = load_jailbreakbench(path=str(folder))
    assert len(samples) == 200
    harmful, benign = samples[:100], samples[100:]
    assert [s.id for s in harmful] == [f"jbb-harmful-{i:03d}" for i in range(100)]
    assert [s.id for s in benign] == [f"jbb-benign-{i:03d}" for i in range(100)]
    assert len({s.id for s in samples}) == 200
    assert {s.harmful for s in harmful} == {True} and {s.harmful for s in benign} == {False}
    for half in (harmful, benign):
        counts = Counter(s.category for s in half)
        assert len(counts) == 10 and set(counts.values()) == {10}
    assert all(s.meta["target"].strip() for s in samples)
    assert Counter(s.meta["origin"] for s in harmful) == {"Original": 55, "TDC/HarmBench": 27, "AdvBench": 18}
    assert {s.meta["origin"] for s in benign} == {"Original"}


def test_fields_come_from_the_right_columns(folder):
    for half in ("harmful", "benign"):
        samples = load_jailbreakbench(path=str(folder), split=half)
        rows = _rows(folder / f"{half}-behaviors.csv")
        assert len(samples) == len(rows) == 100
        assert [s.prompt for s in samples] == [r["goal"] for r in rows]
        assert [s.meta["target"] for s in samples] == [r["target"] for r in rows]
        assert [s.category for s in samples] == [r["category"] for r in rows]
        assert [s.meta["behavior"] for s in samples] == [r["behavior"] for r in rows]
        assert [s.meta["index"] for s in samples] == list(range(100))
        assert samples[0].meta["source"] == {
            "benchmark": "JailbreakBench",
            "file": str((folder / f"{half}-behaviors.csv").resolve()),
            "line": 2,
        }


def test_twins_share_the_index_and_the_category(folder):
    samples = {s.id: s for s in load_jailbreakbench(path=str(folder))}
    for sample in samples.values():
        twin = samples[sample.meta["twin"]]
        assert twin.meta["twin"] == sample.id
        assert (twin.meta["index"], twin.category) == (sample.meta["index"], sample.category)
        assert twin.harmful is not sample.harmful


def test_capitalised_header_of_the_hugging_face_files(folder, tmp_path):
    """The Hugging Face files name the columns Index,Goal,Target,Behavior,Category,Source."""
    for name in ("harmful-behaviors.csv", "benign-behaviors.csv"):
        text = (folder / name).read_text(encoding="utf-8")
        header, rest = text.split("\n", 1)
        (tmp_path / name).write_text(header.title() + "\n" + rest, encoding="utf-8")
    assert "Index,Goal,Target" in (tmp_path / "harmful-behaviors.csv").read_text()[:40]
    original = [(s.id, s.prompt, s.category, s.harmful) for s in load_jailbreakbench(path=str(folder))]
    assert [(s.id, s.prompt, s.category, s.harmful) for s in load_jailbreakbench(path=str(tmp_path))] == original


def test_one_half_is_enough_for_that_split(folder, tmp_path):
    (tmp_path / "benign-behaviors.csv").symlink_to(folder / "benign-behaviors.csv")
    assert len(load_jailbreakbench(path=str(tmp_path), split="benign")) == 100
    with pytest.raises(UsageError) as err:
        load_jailbreakbench(path=str(tmp_path))
    assert "has no harmful-behaviors.csv (split=all)" in err.value.problem
    assert "split=harmful|benign" in err.value.fix and "JailbreakBench/JBB-Behaviors" in err.value.fix


def test_bad_inputs(folder, shared_data):
    with pytest.raises(UsageError, match=r"Unknown split 'harmless'.*Valid: all, harmful, benign"):
        load_jailbreakbench(path=str(folder), split="harmless")
    with pytest.raises(UsageError) as err:
        load_jailbreakbench(path=str(folder / "harmful-behaviors.csv"))
    assert "is a file; expected the folder" in err.value.problem and f"path={folder}" in err.value.fix
    with pytest.raises(UsageError) as err:
        load_jailbreakbench()
    assert "huggingface.co/datasets/JailbreakBench/JBB-Behaviors" in err.value.fix
    assert "data/harmful-behaviors.csv and data/benign-behaviors.csv" in err.value.fix


def test_wrong_files_in_the_folder(tmp_path, shared_data):
    advbench = shared_data / "advbench" / "harmful_behaviors.csv"
    (tmp_path / "harmful-behaviors.csv").symlink_to(advbench)
    with pytest.raises(UsageError) as err:
        load_jailbreakbench(path=str(tmp_path), split="harmful")
    assert "harmful-behaviors.csv lacks the column(s) Index, Behavior, Category, Source" in err.value.problem
    assert "--dataset advbench" in err.value.fix
    (tmp_path / "benign-behaviors.csv").write_text("index,goal,target,behavior,category,source\nx,g,t,b,c,s\n")
    with pytest.raises(UsageError, match=r"benign-behaviors\.csv:2: the Index column should hold a whole number"):
        load_jailbreakbench(path=str(tmp_path), split="benign")
