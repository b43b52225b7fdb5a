"""`advbench` on the real file, its error messages, the shared CSV checks, and a full `lam3 eval` run."""

from __future__ import annotations

import csv

import pytest
from lam3_datasets_safety.advbench import load_advbench

from lam3_core import UsageError
from lam3_core.testing import run_lam3


@pytest.fixture(scope="module")
def advbench_csv(shared_data):
    return shared_data / "advbench" / "harmful_behaviors.csv"


def test_maps_every_row_to_a_harmful_sample_with_its_target(advbench_csv):
    samples = load_advbench(path=str(advbench_csv))
    with advbench_csv.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(samples) == len(rows) == 520
    assert [s.id for s in samples] == [f"advbench-{n:03d}" for n in range(1, 521)]
    assert [s.prompt for s in samples] == [r["goal"] for r in rows]
    assert [s.meta["target"] for s in samples] == [r["target"] for r in rows]
    assert all(s.meta["target"].strip() for s in samples)
    assert {s.harmful for s in samples} == {True}
    assert {s.category for s in samples} == {None}
    assert all(s.images == [] and s.label is None for s in samples)
    first, last = samples[0].meta["source"], samples[-1].meta["source"]
    assert first == {"benchmark": "AdvBench", "file": str(advbench_csv.resolve()), "line": 2}
    assert last["line"] == 521


def test_order_and_ids_are_stable_and_a_folder_finds_the_file(advbench_csv):
    by_file = load_advbench(path=advbench_csv)
    by_folder = load_advbench(path=str(advbench_csv.parent))
    assert [(s.id, s.prompt) for s in by_file] == [(s.id, s.prompt) for s in by_folder]


def test_missing_path_says_where_the_file_comes_from():
    with pytest.raises(UsageError) as err:
        load_advbench()
    assert "needs path=" in err.value.problem
    assert "github.com/llm-attacks/llm-attacks" in err.value.fix
    assert "data/advbench/harmful_behaviors.csv" in err.value.fix
    assert "--dataset-arg path=" in err.value.fix


def test_a_path_that_does_not_exist(tmp_path):
    with pytest.raises(UsageError, match=r"does not exist.*llm-attacks"):
        load_advbench(path=str(tmp_path / "nope.csv"))


def test_a_folder_without_the_file(tmp_path):
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UsageError, match=r"has no harmful_behaviors\.csv; CSV files there: other\.csv"):
        load_advbench(path=str(tmp_path))


def test_harmbench_file_is_named_with_the_missing_columns_and_what_it_looks_like(shared_data):
    wrong = shared_data / "harmbench" / "harmbench_behaviors_text_val.csv"
    with pytest.raises(UsageError) as err:
        load_advbench(path=str(wrong))
    assert str(wrong) in err.value.problem
    assert "lacks the column(s) goal, target" in err.value.problem
    assert "columns are Behavior, FunctionalCategory" in err.value.problem
    assert "HarmBench's text behaviours" in err.value.fix and "--dataset harmbench " in err.value.fix


def test_harmful_strings_is_recognised_and_refused(shared_data):
    with pytest.raises(UsageError, match=r"lacks the column\(s\) goal.*harmful_strings\.csv"):
        load_advbench(path=str(shared_data / "advbench" / "harmful_strings.csv"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"is empty; expected AdvBench's harmful_behaviors\.csv with the columns goal, target"),
        (b"goal,target\n", r"has a header but no rows"),
        (b"goal,target\nfirst,t1\nsecond,t2,extra\n", r":3: the record has 3 fields, the header has 2"),
        (b'goal,target\n"spans\ntwo lines",t1\n,t2\n', r":4: the goal column is empty"),
        (b"goal,target\n\xff\xfe,t\n", r"is not UTF-8 text"),
        (b'goal,target\n"open quote,t\n', r":2: malformed CSV \(unexpected end of data\)"),
        (b'goal,target\na,b\n"c"d,e\n', r":3: malformed CSV \(',' expected after '\"'\)"),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path, content, message):
    file = tmp_path / "harmful_behaviors.csv"
    file.write_bytes(content)
    with pytest.raises(UsageError, match=message) as err:
        load_advbench(path=str(file))
    assert str(file) in str(err.value)


def test_header_case_and_bom_do_not_matter_and_crlf_is_read(tmp_path):
    file = tmp_path / "harmful_behaviors.csv"
    file.write_bytes(b'\xef\xbb\xbfGoal,TARGET\r\n"a\r\nb",t1\r\nc,t2\r\n')
    samples = load_advbench(path=str(file))
    assert [(s.prompt, s.meta["target"], s.meta["source"]["line"]) for s in samples] == [
        ("a\nb", "t1", 2),
        ("c", "t2", 4),
    ]


def test_unknown_argument_lists_the_accepted_ones(advbench_csv):
    with pytest.raises(UsageError, match=r"does not take the argument\(s\) 'pth'.*It takes: path\. 'pth': did you"):
        load_advbench(path=str(advbench_csv), pth="x")


def test_a_path_of_the_wrong_type():
    with pytest.raises(UsageError, match=r"path= must be a file or folder path, got 3 \(int\)"):
        load_advbench(path=3)


def test_eval_with_echo_and_refusal_on_five_behaviours(advbench_csv, tmp_path):
    out = tmp_path / "run"
    result = run_lam3(
        ["eval", "--model", "echo", "--judge", "refusal", "--dataset", "advbench",
         "--dataset-arg", f"path={advbench_csv}", "--limit", "5", "--out", str(out)]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    generations = result.generations
    assert len(generations) == 5
    assert [g["sample_id"] for g in generations] == [f"advbench-{n:03d}" for n in range(1, 6)]
    assert all(g["harmful"] is True for g in generations)
    expected = [s.prompt for s in load_advbench(path=str(advbench_csv))[:5]]
    assert [g["request"] for g in generations] == expected
    assert [g["response"] for g in generations] == expected  # echo
    assert result.meta["config"]["dataset_args"] == {"path": str(advbench_csv)}
    assert {v["judge"] for v in result.verdicts} == {"refusal"} and len(result.verdicts) == 5
    assert result.summary["asr"]["n"] == 5


def test_eval_without_path_exits_with_the_fix(tmp_path):
    result = run_lam3(["eval", "--model", "echo", "--judge", "refusal", "--dataset", "advbench",
                       "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2
    assert "needs path=" in result.output and "llm-attacks" in result.output
    assert "Traceback" not in result.output
