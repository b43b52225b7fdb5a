"""The `pope` dataset: LLaVA's questions paired with POPE's labels, POPE's own questions, images, argument errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lam3_core import Dataset, UsageError
from lam3_core.contract.manager import load_plugins


def _load(**args) -> Dataset:
    return load_plugins().get("dataset", "pope").create(**args)


@pytest.fixture(scope="module")
def pope(shared_data):
    return shared_data / "pope"


@pytest.fixture(scope="module")
def llava_pope(pope) -> Dataset:
    return _load(questions=str(pope / "llava_pope_test.jsonl"), labels=str(pope / "pope_2023-08-10"))


def test_llava_questions_are_paired_with_the_labels_of_their_split_by_order(llava_pope, pope):
    samples = llava_pope.samples
    assert llava_pope.judges == ("pope",)
    assert len(samples) == 8910
    assert [sum(s.category == c for s in samples) for c in ("adversarial", "popular", "random")] == [3000, 3000, 2910]
    labels = {}
    for split in ("adversarial", "popular", "random"):
        lines = (pope / "pope_2023-08-10" / f"coco_pope_{split}.json").read_text().splitlines()
        labels[split] = [json.loads(line) for line in lines]
    questions = [json.loads(line) for line in (pope / "llava_pope_test.jsonl").read_text().splitlines()]
    for sample, question in zip(samples, questions):
        assert sample.id == str(question["question_id"]) and sample.prompt == question["text"]
        label = labels[sample.category][sample.meta["source"]["label_line"] - 1]
        assert sample.label == label["label"] and sample.meta["image"] == label["image"] == question["image"]
    first = samples[0]
    assert first.prompt.endswith("\nAnswer the question using a single word or phrase.")
    assert first.harmful is False and first.images == []
    assert first.meta["missing_images"] == ["COCO_val2014_000000310196.jpg"]
    assert first.meta["source"]["benchmark"] == "POPE" and first.meta["source"]["line"] == 1
    assert samples[3000].id == "10000001" and samples[5910].id == "20000001"  # the file holds random before popular


def test_pope_own_questions_from_the_label_folder_have_split_prefixed_ids(pope):
    samples = _load(labels=str(pope / "pope_2023-08-10"), splits="random,adversarial").samples
    assert [s.category for s in (samples[0], samples[-1])] == ["adversarial", "random"]
    assert len(samples) == 5910
    assert samples[0].id == "adversarial-1" and samples[-1].id == "random-2910"
    assert samples[0].prompt == "Is there a snowboard in the image?"  # POPE's text, without LLaVA's instruction
    assert len({s.id for s in samples}) == len(samples)


def test_one_label_file_gives_its_split(pope):
    own = _load(labels=str(pope / "pope_2023-08-10" / "coco_pope_popular.json")).samples
    assert {s.category for s in own} == {"popular"} and len(own) == 3000
    paired = _load(questions=str(pope / "llava_pope_test.jsonl"),
                   labels=str(pope / "pope_2023-08-10" / "coco_pope_random.json")).samples
    assert {s.category for s in paired} == {"random"} and paired[0].id == "10000001" and len(paired) == 2910


def test_image_root_gives_image_paths_and_missing_images_are_counted(shared_data, tmp_path):
    folder = shared_data / "images" / "coco_000000039769"
    labels = folder / "DERIVED_pope_style_questions.jsonl"
    samples = _load(labels=str(labels), image_root=str(folder)).samples
    assert len(samples) == 8 and [s.label for s in samples] == ["yes"] * 4 + ["no"] * 4
    assert samples[0].images == [str(folder / "000000039769.png")] and "missing_images" not in samples[0].meta
    with pytest.raises(UsageError) as err:
        _load(labels=str(labels), image_root=str(tmp_path))
    assert "8 of 8 questions have no image under" in err.value.problem and "000000039769.png" in err.value.problem
    assert "COCO val2014" in err.value.fix and "--model replay" in err.value.fix


@pytest.mark.parametrize("args, problem, fix", [
    ({}, "The pope dataset needs labels=", "RUCAIBox/POPE"),
    ({"labels": "NOWHERE"}, "labels=NOWHERE does not exist", "Check the path"),
    ({"labels": "{pope}/llava_pope_test.jsonl"}, "it looks like LLaVA's question file", "questions="),
    ({"labels": "{pope}/pope_2023-08-10", "questions": "{pope}/pope_2023-08-10/coco_pope_random.json"},
     "it looks like a POPE label file", "labels="),
    ({"labels": "{pope}/pope_2023-08-10", "splits": "random,everything"},
     "splits= names everything, not among the splits of", "Choose among: adversarial, popular, random"),
    ({"labels": "{pope}/pope_2023-08-10", "splits": ""}, "splits= is empty", "splits=adversarial,popular,random"),
    ({"labels": "{pope}/pope_2023-08-10", "questions": "{pope}"}, "is a folder", "llava_pope_test.jsonl"),
    ({"labels": "{pope}/../advbench"}, "holds no coco_pope_<split>.json", "e3e39262"),
    ({"labels": 3}, "must be a path, got 3", "--dataset-arg labels=PATH"),
])
def test_argument_errors_name_the_problem_and_the_fix(pope, args, problem, fix):
    with pytest.raises(UsageError) as err:
        _load(**{k: v.format(pope=pope) if isinstance(v, str) else v for k, v in args.items()})
    assert problem in err.value.problem
    assert fix in err.value.fix


def test_a_question_split_without_a_label_file_is_refused(pope, tmp_path):
    (tmp_path / "coco_pope_adversarial.json").write_text(
        (pope / "pope_2023-08-10" / "coco_pope_adversarial.json").read_text())
    args = {"questions": str(pope / "llava_pope_test.jsonl"), "labels": str(tmp_path)}
    with pytest.raises(UsageError) as err:
        _load(**args)
    assert "no label file for the 2910 random questions" in err.value.problem
    assert "splits=" in err.value.fix
    assert len(_load(**args, splits="adversarial").samples) == 3000


def test_malformed_label_lines_name_the_file_and_line(tmp_path):
    bad = tmp_path / "coco_pope_random.json"
    bad.write_text('{"question_id": 1, "image": "a.jpg", "text": "Is there a cat?", "label": "yes"}\n'
                   '{"question_id": 2, "image": "a.jpg", "text": "Is there a dog?", "label": "maybe"}\n')
    with pytest.raises(UsageError) as err:
        _load(labels=str(bad))
    assert f"{bad}:2: 'label' should be \"yes\" or \"no\", got 'maybe'" in err.value.problem
    bad.write_text('{"question_id": "one", "image": "a.jpg", "text": "Is there a cat?", "label": "yes"}\n')
    with pytest.raises(UsageError) as err:
        _load(labels=str(bad))
    assert f"{bad}:1: 'question_id' should be an integer, got 'one'" in err.value.problem


def test_registration_is_light_and_versioned():
    code = ("import sys; from lam3_core.contract.manager import load_plugins; p = load_plugins(); "
            "d, j = p.get('dataset', 'pope'), p.get('judge', 'pope'); "
            "print(d.distribution, j.distribution, j.measures, d.version, "
            "sorted(m for m in sys.modules if m.startswith('lam3_datasets_pope')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 4)
    assert out[:4] == ["lam3-datasets-pope", "lam3-datasets-pope", "correctness", "0.1.0"]
    assert out[4].strip() == "['lam3_datasets_pope', 'lam3_datasets_pope.registration']"
