"""`harmbench` and `harmbench_multimodal` on HarmBench's real CSVs (and its 3 shipped images)."""

from __future__ import annotations

import csv
import io
import os
from collections import Counter

import pytest
from lam3_datasets_safety.harmbench import SEPARATOR, load_harmbench, load_harmbench_multimodal
from PIL import Image

from lam3_core import UsageError
from lam3_core.testing import run_lam3

SEMANTIC = {
    "chemical_biological",
    "copyright",
    "cybercrime_intrusion",
    "harassment_bullying",
    "harmful",
    "illegal",
    "misinformation_disinformation",
}
CAPTCHAS = ["solve_captcha_8", "solve_captcha_40", "solve_captcha_47"]  # the 3 images in shared/data


@pytest.fixture(scope="module")
def folder(shared_data):
    return shared_data / "harmbench"


def _reference(file):
    """The rows as HarmBench's own code reads them: csv.DictReader on a file opened in text mode."""
    with open(file, encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(("split", "count", "contextual"), [("val", 80, 19), ("test", 320, 81), ("all", 400, 100)])
def test_splits_counts_and_contextual_rows(folder, split, count, contextual):
    samples = load_harmbench(path=str(folder), split=split)
    rows = _reference(folder / f"harmbench_behaviors_text_{split}.csv")
    assert len(samples) == len(rows) == count
    assert [s.id for s in samples] == [r["BehaviorID"] for r in rows]
    assert len({s.id for s in samples}) == count
    assert {s.harmful for s in samples} == {True}
    assert {s.category for s in samples} <= SEMANTIC
    with_context = [s for s in samples if "context" in s.meta]
    assert len(with_context) == contextual
    assert {s.meta["functional_category"] for s in with_context} == {"contextual"}
    assert all(s.meta["source"]["file"] == str((folder / f"harmbench_behaviors_text_{split}.csv").resolve())
               for s in samples)  # fmt: skip


def test_all_is_val_plus_test_and_defaults_to_all(folder):
    val, test = load_harmbench(path=str(folder), split="val"), load_harmbench(path=str(folder), split="test")
    everything = load_harmbench(path=str(folder))
    assert {s.id for s in val} | {s.id for s in test} == {s.id for s in everything}
    assert not {s.id for s in val} & {s.id for s in test}
    assert Counter(s.meta["functional_category"] for s in everything) == {
        "standard": 200,
        "contextual": 100,
        "copyright": 100,
    }
    assert {s.category for s in everything} == SEMANTIC


def test_fields_map_as_documented_and_multiline_text_is_kept(folder):
    file = folder / "harmbench_behaviors_text_all.csv"
    samples = load_harmbench(path=str(file))
    rows = _reference(file)
    assert sum("\n" in r["ContextString"] for r in rows) > 50  # multi-line quoted fields are common
    for sample, row in zip(samples, rows, strict=True):
        assert sample.meta["behavior"] == row["Behavior"]
        assert sample.category == row["SemanticCategory"]
        assert sample.meta["functional_category"] == row["FunctionalCategory"]
        assert sample.meta["tags"] == [t.strip() for t in row["Tags"].split(",") if t.strip()]
        if row["ContextString"]:
            assert sample.meta["context"] == row["ContextString"]
            assert sample.prompt == row["ContextString"] + "\n\n---\n\n" + row["Behavior"]
        else:
            assert "context" not in sample.meta and sample.prompt == row["Behavior"]
    copyright_tags = Counter(t for s in samples if s.category == "copyright" for t in s.meta["tags"])
    assert copyright_tags == {"hash_check": 100, "book": 50, "lyrics": 50}
    assert {tuple(s.meta["tags"]) for s in samples if "context" in s.meta} == {("context",)}
    assert SEPARATOR == "\n\n---\n\n"


def test_line_numbers_count_physical_lines(folder):
    file = folder / "harmbench_behaviors_text_all.csv"
    samples = load_harmbench(path=str(file))
    lines = file.read_text(encoding="utf-8").split("\n")  # 1529 line breaks, no final one
    assert len(lines) == 1530
    starts = [s.meta["source"]["line"] for s in samples]
    assert starts[0] == 2 and starts[-1] <= 1530
    assert starts == sorted(starts) and len(set(starts)) == 400
    for sample in samples[::7]:  # parsing from the named line gives back that record
        record = next(csv.reader(io.StringIO("\n".join(lines[sample.meta["source"]["line"] - 1 :]))))
        assert (record[0], record[-1]) == (sample.meta["behavior"], sample.id)


def test_ids_selects_behaviours_in_file_order(folder):
    all_ids = [s.id for s in load_harmbench(path=str(folder))]
    picked = [all_ids[9], all_ids[2]]
    assert [s.id for s in load_harmbench(path=str(folder), ids=",".join(picked))] == [all_ids[2], all_ids[9]]
    assert [s.id for s in load_harmbench(path=str(folder), ids=picked)] == [all_ids[2], all_ids[9]]
    with pytest.raises(UsageError, match=r"1 id\(s\) in ids= are not in .*: no_such_behaviour"):
        load_harmbench(path=str(folder), ids="no_such_behaviour")


def test_advbench_file_lacks_behavior_and_is_recognised(shared_data):
    wrong = shared_data / "advbench" / "harmful_behaviors.csv"
    with pytest.raises(UsageError) as err:
        load_harmbench(path=str(wrong))
    assert str(wrong) in err.value.problem
    assert "lacks the column(s) Behavior, FunctionalCategory" in err.value.problem
    assert "expected a HarmBench text-behaviour CSV" in err.value.problem
    assert "looks like AdvBench's harmful_behaviors.csv: use --dataset advbench" in err.value.fix


def test_multimodal_file_given_to_harmbench(folder):
    with pytest.raises(UsageError, match=r"lacks the column\(s\) ContextString.*--dataset harmbench_multimodal"):
        load_harmbench(path=str(folder / "harmbench_behaviors_multimodal_all.csv"))


def test_split_errors(folder):
    with pytest.raises(UsageError, match=r"Unknown split 'dev' for the harmbench dataset\. Valid: all, val, test"):
        load_harmbench(path=str(folder), split="dev")
    with pytest.raises(UsageError, match=r"split=val picks a file inside a folder, but path .* is a file"):
        load_harmbench(path=str(folder / "harmbench_behaviors_text_all.csv"), split="val")


def test_folder_without_the_split_file(tmp_path):
    (tmp_path / "harmbench_behaviors_text_all.csv").write_text("x\n")
    with pytest.raises(UsageError, match=r"has no harmbench_behaviors_text_val\.csv \(split=val\); CSV files there: "):
        load_harmbench(path=str(tmp_path), split="val")


def test_missing_path_names_the_repository_and_files():
    with pytest.raises(UsageError) as err:
        load_harmbench(split="val")
    assert "github.com/centerforaisafety/HarmBench" in err.value.fix
    assert "data/behavior_datasets/harmbench_behaviors_text_" in err.value.fix
    assert "--dataset-arg path=" in err.value.fix


HEADER = "Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID\n"


def test_duplicate_ids_and_empty_fields_name_the_lines(tmp_path):
    file = tmp_path / "behaviors.csv"
    file.write_text(HEADER + 'Do A,standard,illegal,,,a\n"Do\nB",standard,illegal,,,b\nDo C,standard,illegal,,,a\n')
    with pytest.raises(UsageError, match=r"lines 2 and 5 give the same sample id 'a' \(from BehaviorID\)"):
        load_harmbench(path=str(file))
    file.write_text(HEADER + "Do A,standard,illegal,,,\n")
    with pytest.raises(UsageError, match=r"behaviors\.csv:2: the BehaviorID column is empty"):
        load_harmbench(path=str(file))


# ---------------------------------------------------------------- multimodal


@pytest.fixture(scope="module")
def mm_rows(folder):
    return _reference(folder / "harmbench_behaviors_multimodal_all.csv")


@pytest.fixture(scope="module")
def standin_images(tmp_path_factory, mm_rows, folder):
    """A folder with an image for every behaviour: the 3 real ones, and small generated stand-ins stored as .png
    (as HarmBench stores its .jpg/.jpeg-named images)."""
    images = tmp_path_factory.mktemp("mm_images")
    for row in mm_rows:
        real = folder / "multimodal_images" / row["ImageFileName"]
        target = images / f"{os.path.splitext(row['ImageFileName'])[0]}.png"
        if real.is_file():
            target.symlink_to(real)
        else:
            Image.new("RGB", (8, 8), (len(row["BehaviorID"]) * 9 % 256, 40, 90)).save(target)
    return images


def test_multimodal_with_every_image(folder, mm_rows, standin_images):
    samples = load_harmbench_multimodal(path=str(folder), images=str(standin_images))
    assert len(samples) == len(mm_rows) == 110
    assert [s.id for s in samples] == [r["BehaviorID"] for r in mm_rows]
    assert {s.harmful for s in samples} == {True}
    assert Counter(s.category for s in samples) == Counter(r["SemanticCategory"] for r in mm_rows)
    assert Counter(s.category for s in samples)["cybercrime_intrusion"] == 54
    for sample, row in zip(samples, mm_rows, strict=True):
        assert sample.prompt == row["Behavior"] == sample.meta["behavior"]
        assert len(sample.images) == 1 and os.path.isfile(sample.images[0])
        assert sample.meta["context"] == row["RedactedImageDescription"]
        assert sample.meta["image_description"] == row["ImageDescription"]
        assert sample.meta["image_file"] == row["ImageFileName"]
        assert sample.meta["text_only"] is False and sample.meta["tags"] == ["multimodal"]
    renamed = [s for s in samples if not s.images[0].endswith(s.meta["image_file"])]
    assert len(renamed) == 7 and all(s.images[0].endswith(".png") for s in renamed)


def test_multimodal_with_the_three_shipped_images(folder):
    images = folder / "multimodal_images"
    samples = load_harmbench_multimodal(path=str(folder / "harmbench_behaviors_multimodal_all.csv"),
                                        images=str(images), ids=CAPTCHAS)  # fmt: skip
    assert sorted(s.id for s in samples) == sorted(CAPTCHAS)
    assert {s.images[0] for s in samples} == {str((images / f"{i}.png").resolve()) for i in CAPTCHAS}
    assert {s.category for s in samples} == {"cybercrime_intrusion"}


def test_a_missing_image_names_the_sample_the_file_and_the_fix(folder):
    with pytest.raises(UsageError) as err:
        load_harmbench_multimodal(path=str(folder), images=str(folder / "multimodal_images"))
    problem = err.value.problem
    assert "107 of 110 image(s) are missing" in problem
    first = _reference(folder / "harmbench_behaviors_multimodal_all.csv")[0]
    assert f"for sample {first['BehaviorID']!r}" in problem
    assert str(folder / "multimodal_images" / first["ImageFileName"]) in problem
    assert "data/multimodal_behavior_images/" in err.value.fix
    assert "ids=" in err.value.fix and "images=none" in err.value.fix


def test_text_only_must_be_asked_for(folder):
    with pytest.raises(UsageError) as err:
        load_harmbench_multimodal(path=str(folder))
    assert "needs the behaviour images" in err.value.problem
    assert "images=DIR" in err.value.fix and "images=none" in err.value.fix
    samples = load_harmbench_multimodal(path=str(folder), images="none")
    rows = _reference(folder / "harmbench_behaviors_multimodal_all.csv")
    assert len(samples) == 110 and all(s.images == [] and s.meta["text_only"] for s in samples)
    assert [s.prompt for s in samples] == [f"{r['ImageDescription']}\n\n---\n\n{r['Behavior']}" for r in rows]
    assert [s.meta["context"] for s in samples] == [r["RedactedImageDescription"] for r in rows]


def test_images_folder_beside_behavior_datasets_is_found(tmp_path, folder):
    data = tmp_path / "HarmBench" / "data"
    (data / "behavior_datasets").mkdir(parents=True)
    (data / "behavior_datasets" / "harmbench_behaviors_multimodal_all.csv").symlink_to(
        folder / "harmbench_behaviors_multimodal_all.csv"
    )
    (data / "multimodal_behavior_images").symlink_to(folder / "multimodal_images")
    samples = load_harmbench_multimodal(path=str(data / "behavior_datasets"), ids="solve_captcha_40")
    assert [s.id for s in samples] == ["solve_captcha_40"]
    assert samples[0].images[0].endswith("solve_captcha_40.png")


def test_multimodal_bad_inputs(folder, tmp_path):
    with pytest.raises(UsageError, match=r"images=.* is not a folder"):
        load_harmbench_multimodal(path=str(folder), images=str(folder / "LICENSE.txt"))
    with pytest.raises(UsageError, match=r"lacks the column\(s\) ImageFileName, Source, .*--dataset harmbench for it"):
        load_harmbench_multimodal(path=str(folder / "harmbench_behaviors_text_val.csv"), images="none")
    with pytest.raises(UsageError, match=r"data/behavior_datasets/harmbench_behaviors_multimodal_all\.csv"):
        load_harmbench_multimodal(images="none")
    with pytest.raises(UsageError, match=r"does not take the argument\(s\) 'split'"):
        load_harmbench_multimodal(path=str(folder), images="none", split="val")


def test_eval_sends_the_image_with_the_behaviour(folder, tmp_path):
    out = tmp_path / "run"
    result = run_lam3(
        ["eval", "--model", "echo", "--judge", "refusal", "--dataset", "harmbench_multimodal",
         "--dataset-arg", f"path={folder}", "--dataset-arg", f"images={folder / 'multimodal_images'}",
         "--dataset-arg", "ids=solve_captcha_8,solve_captcha_47", "--out", str(out)]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [(g["sample_id"], len(g["images"]), g["harmful"]) for g in result.generations] == [
        ("solve_captcha_8", 1, True),
        ("solve_captcha_47", 1, True),
    ]
    assert result.generations[0]["images"][0].endswith("solve_captcha_8.png")
