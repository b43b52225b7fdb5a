"""`mm_safetybench` on MM-SafetyBench's 13 real scenario files and its Tiny id list."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from lam3_datasets_safety.mm_safetybench import load_mm_safetybench

from lam3_core import UsageError

COUNTS = {  # PROVENANCE §4
    "01-Illegal_Activitiy": 97,
    "02-HateSpeech": 163,
    "03-Malware_Generation": 44,
    "04-Physical_Harm": 144,
    "05-EconomicHarm": 122,
    "06-Fraud": 154,
    "07-Sex": 109,
    "08-Political_Lobbying": 153,
    "09-Privacy_Violence": 139,
    "10-Legal_Opinion": 130,
    "11-Financial_Advice": 167,
    "12-Health_Consultation": 109,
    "13-Gov_Decision": 149,
}
BORDERLINE = {"08-Political_Lobbying", "10-Legal_Opinion", "11-Financial_Advice", "12-Health_Consultation",
              "13-Gov_Decision"}  # fmt: skip
META = ("key_phrase", "phrase_type", "rephrased_question", "rephrased_question_sd", "changed_question")


@pytest.fixture(scope="module")
def root(shared_data):
    return shared_data / "mm_safetybench"


@pytest.fixture(scope="module")
def questions(root):
    return root / "processed_questions"


@pytest.fixture(scope="module")
def everything(questions):
    return load_mm_safetybench(path=str(questions))


def test_all_scenarios_and_counts(everything):
    assert len(everything) == 1680
    assert Counter(s.category for s in everything) == COUNTS
    assert [s.category for s in everything] == sorted(s.category for s in everything)  # scenario order
    assert len({s.id for s in everything}) == 1680
    assert {s.harmful for s in everything} == {True}
    assert all(s.images == [] and "mm_images" not in s.meta for s in everything)


def test_fields_come_from_the_json_keys(questions, everything):
    by_id = {s.id: s for s in everything}
    for name in ("05-EconomicHarm", "13-Gov_Decision"):
        data = json.loads((questions / f"{name}.json").read_text(encoding="utf-8"))
        for key, entry in data.items():
            sample = by_id[f"mmsb-{name[:2]}-{int(key):03d}"]
            assert sample.prompt == entry["Question"]
            assert (sample.meta["scenario"], sample.meta["question_id"]) == (name, key)
            assert sample.meta["key_phrase"] == entry["Key Phrase"]
            assert sample.meta["phrase_type"] == entry["Phrase Type"]
            assert sample.meta["rephrased_question"] == entry["Rephrased Question"]
            assert sample.meta["rephrased_question_sd"] == entry["Rephrased Question(SD)"]
            assert sample.meta["changed_question"] == entry["Changed Question"]
            assert sample.meta["source"] == {
                "benchmark": "MM-SafetyBench",
                "file": str((questions / f"{name}.json").resolve()),
                "key": key,
            }
    assert all(s.meta[k].strip() for s in everything for k in META)


def test_ids_follow_the_numeric_question_ids_with_their_gaps(everything):
    economic = [s.meta["question_id"] for s in everything if s.category == "05-EconomicHarm"]
    assert [int(q) for q in economic] == sorted(int(q) for q in economic)
    assert len(economic) == 122 and int(economic[-1]) == 132  # ids are not contiguous upstream


def test_borderline_scenarios_are_marked_but_stay_harmful(everything):
    criteria = {s.category: (s.meta["safety_criterion"], s.meta["borderline"]) for s in everything}
    assert {c for c, (_, borderline) in criteria.items() if borderline} == BORDERLINE
    assert criteria["08-Political_Lobbying"][0] == "refuses_political_lobbying"
    assert criteria["13-Gov_Decision"][0] == "refuses_government_decision"
    assert {criteria[c][0] for c in ("10-Legal_Opinion", "11-Financial_Advice", "12-Health_Consultation")} == {
        "disclaims_expertise"
    }
    assert {criteria[c][0] for c in COUNTS if c not in BORDERLINE} == {"harmful_content"}


def test_tiny_uses_the_list_beside_the_folder(root, questions):
    tiny = load_mm_safetybench(path=str(questions), tiny=True)
    listed = json.loads((root / "TinyVersion_ID_List.json").read_text())
    assert len(tiny) == 168
    assert Counter(s.category for s in tiny) == {e["Scenario"]: len(e["Sampled_ID_List"]) for e in listed}
    assert {(s.category, int(s.meta["question_id"])) for s in tiny} == {
        (e["Scenario"], i) for e in listed for i in e["Sampled_ID_List"]
    }
    assert [s.id for s in load_mm_safetybench(path=str(root), tiny="true")] == [s.id for s in tiny]


def test_scenarios_by_number_name_or_both(questions):
    picked = load_mm_safetybench(path=str(questions), scenarios="13,sex,01-Illegal_Activitiy,illegal activity")
    assert Counter(s.category for s in picked) == {"01-Illegal_Activitiy": 97, "07-Sex": 109, "13-Gov_Decision": 149}
    assert [s.category for s in picked][0] == "01-Illegal_Activitiy"  # scenario order, not argument order
    assert len(load_mm_safetybench(path=str(questions), scenarios=[3, "HateSpeech"])) == 44 + 163
    assert len(load_mm_safetybench(path=str(questions), scenarios=7)) == 109
    tiny = load_mm_safetybench(path=str(questions), scenarios="Malware_Generation", tiny=True)
    assert len(tiny) == 5 and {s.category for s in tiny} == {"03-Malware_Generation"}


def test_unknown_scenario_lists_the_available_ones(questions):
    with pytest.raises(UsageError) as err:
        load_mm_safetybench(path=str(questions), scenarios="1,Sexx")
    assert "unknown scenario 'Sexx'" in err.value.problem
    assert all(name in err.value.fix for name in COUNTS)
    with pytest.raises(UsageError, match="unknown scenario '14'"):
        load_mm_safetybench(path=str(questions), scenarios="14")


@pytest.fixture
def copied(tmp_path, questions):
    """The 13 scenario files linked into a folder that has no Tiny list beside it."""
    folder = tmp_path / "data" / "processed_questions"
    folder.mkdir(parents=True)
    for file in questions.glob("*.json"):
        (folder / file.name).symlink_to(file)
    return folder


def test_tiny_list_not_found_says_where_it_looked(copied, root):
    with pytest.raises(UsageError) as err:
        load_mm_safetybench(path=str(copied), tiny=True)
    assert "tiny=true needs TinyVersion_ID_List.json" in err.value.problem
    assert str(copied.parent / "TinyVersion_ID_List.json") in err.value.problem
    assert str(copied.parent.parent / "TinyVersion_ID_List.json") in err.value.problem
    assert "tiny_list=" in err.value.fix and "github.com/isXinLiu/MM-SafetyBench" in err.value.fix
    assert len(load_mm_safetybench(path=str(copied), tiny_list=str(root / "TinyVersion_ID_List.json"))) == 168
    (copied.parent.parent / "TinyVersion_ID_List.json").symlink_to(root / "TinyVersion_ID_List.json")
    assert len(load_mm_safetybench(path=str(copied.parent.parent), tiny=True)) == 168  # repository root layout


def test_bad_tiny_lists(copied, tmp_path):
    bad = tmp_path / "tiny.json"
    bad.write_text('{"Scenario": "07-Sex"}')
    with pytest.raises(UsageError, match=r"tiny\.json: expected a JSON list of \{Scenario, Sampled_ID_List\}"):
        load_mm_safetybench(path=str(copied), tiny_list=str(bad))
    bad.write_text('[{"Scenario": "07-Sex", "Sampled_ID_List": [1, 9999]}]')
    with pytest.raises(UsageError, match=r"lists question id\(s\) 9999 of 07-Sex, which .*07-Sex\.json lacks"):
        load_mm_safetybench(path=str(copied), tiny_list=str(bad), scenarios="7")
    with pytest.raises(UsageError, match=r"tiny\.json has no entry for the scenario 01-Illegal_Activitiy"):
        load_mm_safetybench(path=str(copied), tiny_list=str(bad))
    bad.write_text("[{")
    with pytest.raises(UsageError, match=r"tiny\.json:1:3: not valid JSON"):
        load_mm_safetybench(path=str(copied), tiny_list=str(bad))


def _image_tree(root, questions, scenarios, types=("SD", "TYPO", "SD_TYPO")):
    for name in scenarios:
        for key in json.loads((questions / f"{name}.json").read_text()):
            for kind in types:
                (root / name / kind).mkdir(parents=True, exist_ok=True)
                (root / name / kind / f"{key}.jpg").write_bytes(b"stand-in")


def test_image_paths_per_type_in_meta(tmp_path, questions):
    imgs = tmp_path / "MM-SafetyBench" / "imgs"
    _image_tree(imgs, questions, ["03-Malware_Generation"])
    samples = load_mm_safetybench(path=str(questions), scenarios="3", images=str(imgs))
    assert len(samples) == 44
    for sample in samples:
        key = sample.meta["question_id"]
        assert sample.meta["mm_images"] == {
            kind: str((imgs / "03-Malware_Generation" / kind / f"{key}.jpg").resolve())
            for kind in ("SD", "TYPO", "SD_TYPO")
        }
        assert sample.images == []  # the attack chooses the image
    found_from_parent = load_mm_safetybench(path=str(questions), scenarios="3", images=str(imgs.parent))
    assert [s.meta["mm_images"] for s in found_from_parent] == [s.meta["mm_images"] for s in samples]


def test_missing_images_and_image_types(tmp_path, questions):
    imgs = tmp_path / "imgs"
    _image_tree(imgs, questions, ["03-Malware_Generation"], types=("SD_TYPO",))
    with pytest.raises(UsageError) as err:
        load_mm_safetybench(path=str(questions), scenarios="3", images=str(imgs))
    assert "88 of 132 image(s) are missing" in err.value.problem
    assert f"{imgs / '03-Malware_Generation' / 'SD' / '0.jpg'} for sample 'mmsb-03-000'" in err.value.problem
    assert "image_types=" in err.value.fix and "imgs/<scenario>/<SD|TYPO|SD_TYPO>/<id>.jpg" in err.value.fix
    only = load_mm_safetybench(path=str(questions), scenarios="3", images=str(imgs), image_types="sd+typo")
    assert {tuple(s.meta["mm_images"]) for s in only} == {("SD_TYPO",)}
    with pytest.raises(UsageError, match=r"unknown image type 'SDXL'.*Valid: SD, TYPO, SD_TYPO"):
        load_mm_safetybench(path=str(questions), images=str(imgs), image_types="SDXL")
    with pytest.raises(UsageError, match=r"image_types= only applies with images=DIR"):
        load_mm_safetybench(path=str(questions), image_types="SD")
    with pytest.raises(UsageError, match=r"images=.* is not a folder"):
        load_mm_safetybench(path=str(questions), images=str(questions / "07-Sex.json"))


def test_wrong_paths_and_files(tmp_path, questions, shared_data):
    with pytest.raises(UsageError) as err:
        load_mm_safetybench()
    assert "github.com/isXinLiu/MM-SafetyBench" in err.value.fix and "data/processed_questions/" in err.value.fix
    with pytest.raises(UsageError, match=r"is a file; expected the processed_questions/ folder"):
        load_mm_safetybench(path=str(questions / "07-Sex.json"))
    with pytest.raises(UsageError, match=r"holds no scenario files \(NN-Name\.json.*it has: LICENSE\.txt"):
        load_mm_safetybench(path=str(shared_data / "harmbench"))
    folder = tmp_path / "processed_questions"
    folder.mkdir()
    (folder / "01-Illegal_Activitiy.json").write_text('{"0": {"Question": "q?", "Key Phrase": "k"}}')
    with pytest.raises(UsageError) as err:
        load_mm_safetybench(path=str(folder))
    assert "01-Illegal_Activitiy.json: question 0 has no key(s) 'Changed Question', 'Phrase Type'" in err.value.problem
    assert "expected 'Question', 'Changed Question', 'Key Phrase'" in err.value.problem
    (folder / "01-Illegal_Activitiy.json").write_text('[{"Question": "q?"}]')
    with pytest.raises(UsageError, match=r"expected an MM-SafetyBench scenario file: a JSON object keyed by question"):
        load_mm_safetybench(path=str(folder))
    (folder / "01-Illegal_Activitiy.json").write_text('{"zero": {}}')
    with pytest.raises(UsageError, match=r"the key 'zero' is not a question id"):
        load_mm_safetybench(path=str(folder))
    with pytest.raises(UsageError, match=r"tiny='maybe' is not true or false. Pass tiny=true or tiny=false"):
        load_mm_safetybench(path=str(questions), tiny="maybe")
