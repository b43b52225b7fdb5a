"""`lam3 uncertainty` over a JSONL file or a run directory, with a test metric: outputs, summary and bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from lam3_core import Generation, UncertaintyItem, UncertaintyMetric, Verdict, hookimpl
from lam3_core.run import uncertainty_file
from lam3_core.run.uncertainty_file import compute_uncertainty
from lam3_core.testing import run_lam3


class DistinctAnswers(UncertaintyMetric):
    """``scale`` x the number of distinct answer texts; NaN when an answer has no token log-probs."""

    name = "distinct_answers"

    def __init__(self, scale: float = 1.0):
        self.scale = scale
        self.batches: list[list[str]] = []

    def compute(self, items):
        self.batches.append([item.id for item in items])
        return [math.nan if any(not s.token_logprobs for s in item.samples)
                else self.scale * len({s.text for s in item.samples}) for item in items]

    def info(self):
        return {"scale": self.scale}


class OneValueShort(UncertaintyMetric):
    name = "one_value_short"

    def compute(self, items):
        return [0.0] * (len(items) - 1)


class TestMetrics:
    @hookimpl
    def lam3_register_uncertainty_metrics(self, registry):
        registry.add("distinct_answers", DistinctAnswers, "Number of distinct answers (test).")
        registry.add("one_value_short", OneValueShort, "Breaks the contract (test).")


PLUGINS = [("test_metrics", TestMetrics())]


def _answers(*texts, logprobs=(-0.5,)):
    return [{"text": t, "token_logprobs": list(logprobs)} for t in texts]


ROWS = [
    {"id": "a", "samples": _answers("x", "x", "x"), "correct": True, "question": "Q?"},
    {"id": "b", "samples": _answers("x", "y", "x"), "correct": True},
    {"id": 3, "samples": _answers("x", "y", "z"), "correct": False},
    {"id": "d", "samples": [{"text": "x"}, {"text": "y", "token_logprobs": None}], "correct": False},
    {"id": "e", "samples": _answers("x", "y", "z", "w"), "correct": None},
]


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _run(*args):
    return run_lam3(["uncertainty", *map(str, args)], plugins=PLUGINS)


def test_file_in_scores_and_summary_out(tmp_path):
    source = _write(tmp_path / "answers.jsonl", ROWS)
    out = tmp_path / "out" / "scores.jsonl"
    result = _run(source, "--metric", "distinct_answers", "--metric-arg", "distinct_answers.scale=2", "--out", out)
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"id": "a", "distinct_answers": 2.0}, {"id": "b", "distinct_answers": 4.0}, {"id": 3, "distinct_answers": 6.0},
        {"id": "d", "distinct_answers": None}, {"id": "e", "distinct_answers": 8.0}]
    summary = json.loads((tmp_path / "out" / "scores.summary.json").read_text())
    metric = summary["metrics"]["distinct_answers"]
    assert metric["args"] == {"scale": 2} and metric["info"] == {"scale": 2} and metric["nan"] == 1
    assert metric["distribution"] == "test_metrics"
    assert (summary["items"], summary["labelled"], summary["correctness"]) == (5, 4, "the input's 'correct' field")
    # labelled items with a value: a 2 (right), b 4 (right), 3 6 (wrong): the wrong one is the most uncertain
    quality = metric["quality"]
    assert (quality["auroc"], quality["prr"], quality["n"], quality["n_wrong"]) == (1.0, 1.0, 3, 1)
    assert (quality["excluded_nan"], quality["excluded_unlabelled"]) == (1, 1)
    assert "distinct_answers                 1   1.000   1.000      3      1" in result.output
    assert f"Outputs: {out} (one line per id), {tmp_path / 'out' / 'scores.summary.json'}" in result.output


def test_without_correctness_there_is_no_quality(tmp_path):
    source = _write(tmp_path / "answers.jsonl", [{k: v for k, v in r.items() if k != "correct"} for r in ROWS])
    result = _run(source, "--metric", "distinct_answers", "--out", tmp_path / "s.jsonl")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s.summary.json").read_text())
    assert summary["correctness"] is None and summary["metrics"]["distinct_answers"]["quality"] is None
    assert f"{'metric':<28} {'NaN':>5}\n" in result.output  # no AUROC / PRR columns
    assert 'add "correct" to the input lines' in result.output


@pytest.mark.parametrize(("lines", "message"), [
    ([ROWS[0], "{not json"], "answers.jsonl:2: malformed JSON line"),
    (["[1, 2]"], "answers.jsonl:1: expected a JSON object, got list"),
    ([{"id": "a"}], "answers.jsonl:1: no 'samples'; a line needs a non-empty list of sampled answers."),
    ([{"id": "a", "samples": []}], "answers.jsonl:1: 'samples' = []; a line needs a non-empty list"),
    ([{"id": "a", "samples": ["x"]}], "answers.jsonl:1: samples[0]: expected an object with a string 'text'"),
    ([{"id": "a", "samples": [{"text": "x", "token_logprobs": ["-1"]}]}],
     "answers.jsonl:1: samples[0]: 'token_logprobs' must be a list of numbers"),
    ([{"id": "a", "samples": _answers("x"), "greedy": {"text": 3}}],
     "answers.jsonl:1: greedy: expected an object with a string 'text'"),
    ([{"id": "a", "samples": _answers("x"), "correct": "yes"}],
     "answers.jsonl:1: 'correct' must be true, false or null"),
    ([{"id": "a", "samples": _answers("x"), "question": 5}], "answers.jsonl:1: 'question' must be a string"),
    ([{"samples": _answers("x")}], "answers.jsonl:1: needs an 'id' (a string or an integer), got None."),
    ([ROWS[0], ROWS[1], {**ROWS[2], "id": "a"}], "answers.jsonl:3: id 'a' is also on line 1."),
    ([], "answers.jsonl holds no items."),
])
def test_bad_lines_name_file_and_line_and_write_nothing(tmp_path, lines, message):
    source = _write(tmp_path / "answers.jsonl", lines)
    out = tmp_path / "scores.jsonl"
    result = _run(source, "--metric", "distinct_answers", "--out", out)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--metric", "distinct_answer"], "Unknown uncertainty metric 'distinct_answer'. Did you mean distinct_answers"),
    (["--metric", "distinct_answers", "--metric-arg", "semantic_entropy.variant=2023"],
     "--metric-arg given for semantic_entropy, which is not a selected metric. Add --metric semantic_entropy"),
    (["--metric", "distinct_answers", "--metric-arg", "scale=2"], "--metric-arg expects NAME.KEY=VALUE"),
    (["--metric", "distinct_answers", "--metric-arg", "distinct_answers.sacle=2"],
     "The uncertainty metric 'distinct_answers' has no argument 'sacle'. Did you mean scale?"),
    (["--metric", "distinct_answers", "--metric", "distinct_answers"], "--metric distinct_answers is given twice."),
    ([], "No metric given. Pass --metric NAME"),
    (["--metric", "distinct_answers", "--correctness-judge", "exact"],
     "--correctness-judge applies to a run directory"),
    (["--metric", "one_value_short"], "The uncertainty metric 'one_value_short' returned 4 values for 5 items"),
])
def test_bad_options_are_one_clear_message(tmp_path, args, message):
    source = _write(tmp_path / "answers.jsonl", ROWS)
    result = _run(source, *args, "--out", tmp_path / "scores.jsonl")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "scores.jsonl").exists()


def test_bad_paths(tmp_path):
    source = _write(tmp_path / "answers.jsonl", ROWS)
    assert "Not found:" in _run(tmp_path / "missing.jsonl", "--metric", "distinct_answers", "--out",
                                tmp_path / "s.jsonl").output
    same = _run(source, "--metric", "distinct_answers", "--out", source)
    assert same.exit_code == 2 and "is the input file" in same.output
    assert json.loads(source.read_text().splitlines()[0]) == ROWS[0]
    folder = _run(source, "--metric", "distinct_answers", "--out", tmp_path)
    assert folder.exit_code == 2 and "is a directory" in folder.output


def _generation(record_id, samples, response="x", error=None):
    g = Generation(record_id=record_id, sample_id=record_id.split("::")[0], attack="none", model="m",
                   request=f"question {record_id}", prompt="p", response=response, token_logprobs=[-0.1, -0.2],
                   samples=samples, error=error)
    return g.to_dict()


def _verdict(record_id, judge, flagged, measures="correctness"):
    return Verdict(record_id=record_id, judge=judge, judge_version="1", judge_config="{}", measures=measures,
                   score=float(flagged) if flagged is not None else None, threshold=0.5, flagged=flagged,
                   error=None if flagged is not None else "failed").to_dict()


def _run_dir(tmp_path, verdicts):
    run = tmp_path / "run"
    run.mkdir()
    _write(run / "generations.jsonl", [
        _generation("s1::none::0", _answers("x", "x")),
        _generation("s2::none::0", _answers("x", "y")),
        _generation("s3::none::0", None),
        _generation("s4::none::0", [*_answers("x"), {"text": "", "token_logprobs": None, "error": "OOM"}]),
        _generation("s5::none::0", _answers("x", "y", "z"), response="", error="RuntimeError"),
        _generation("s6::none::0", _answers("a", "b", "c", "d")),
    ])
    _write(run / "verdicts.jsonl", verdicts)
    return run


def test_run_directory_in(tmp_path):
    run = _run_dir(tmp_path, [
        _verdict("s1::none::0", "exact_match", True), _verdict("s2::none::0", "exact_match", True),
        _verdict("s5::none::0", "exact_match", False), _verdict("s6::none::0", "exact_match", None),
        _verdict("s2::none::0", "refusal", True, measures="refusal"),
    ])
    out = tmp_path / "scores.jsonl"
    result = _run(run, "--metric", "distinct_answers", "--out", out)
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"id": "s1::none::0", "distinct_answers": 1.0}, {"id": "s2::none::0", "distinct_answers": 2.0},
        {"id": "s5::none::0", "distinct_answers": 3.0}, {"id": "s6::none::0", "distinct_answers": 4.0}]
    assert "4 items from" in result.output
    assert "(skipped: 1 records without samples, 1 records with a failed sample)" in result.output
    summary = json.loads((tmp_path / "scores.summary.json").read_text())
    assert summary["skipped"] == {"without samples": 1, "with a failed sample": 1}
    assert (summary["correctness"], summary["labelled"]) == ("judge exact_match", 3)  # s6's verdict failed
    assert summary["metrics"]["distinct_answers"]["quality"]["auroc"] == 1.0


def test_run_directory_items_carry_question_greedy_and_correctness(tmp_path):
    run = _run_dir(tmp_path, [_verdict("s2::none::0", "exact_match", False)])
    data = uncertainty_file.read_source(run)
    s2 = data.items[1]
    assert (s2.id, s2.question, s2.correct) == ("s2::none::0", "question s2::none::0", False)
    assert s2.greedy.text == "x" and s2.greedy.token_logprobs == (-0.1, -0.2)
    assert [a.text for a in s2.samples] == ["x", "y"]
    assert data.items[2].greedy is None  # s5: the greedy generation failed
    assert data.items[0].correct is None


def test_several_correctness_judges_need_a_choice(tmp_path):
    run = _run_dir(tmp_path, [
        _verdict("s1::none::0", "exact_match", True), _verdict("s2::none::0", "exact_match", False),
        _verdict("s1::none::0", "llm_grader", False), _verdict("s2::none::0", "llm_grader", True),
    ])
    out = tmp_path / "scores.jsonl"
    unchosen = _run(run, "--metric", "distinct_answers", "--out", out)
    assert unchosen.exit_code == 2
    assert "has verdicts from several correctness judges: exact_match, llm_grader. Choose one with " \
           "--correctness-judge NAME." in unchosen.output
    unknown = _run(run, "--metric", "distinct_answers", "--correctness-judge", "grader", "--out", out)
    assert unknown.exit_code == 2 and "Correctness judges there: exact_match, llm_grader." in unknown.output
    chosen = _run(run, "--metric", "distinct_answers", "--correctness-judge", "llm_grader", "--out", out)
    assert chosen.exit_code == 0, chosen.output
    assert [i.correct for i in uncertainty_file.read_source(run, "llm_grader").items[:2]] == [False, True]


def test_a_run_without_samples_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _write(run / "generations.jsonl", [_generation("s1::none::0", None)])
    result = _run(run, "--metric", "distinct_answers", "--out", tmp_path / "s.jsonl")
    assert result.exit_code == 2
    assert "None of the 1 records in" in result.output and "has sampled answers" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "has no generations.jsonl" in _run(empty, "--metric", "distinct_answers", "--out", tmp_path / "s").output


def test_compute_uncertainty_goes_in_chunks_and_keeps_the_order(monkeypatch):
    monkeypatch.setattr(uncertainty_file, "CHUNK", 2)
    from lam3_core import SampledAnswer

    items = [UncertaintyItem(str(k), "q", tuple(SampledAnswer(str(t), (-1.0,)) for t in range(k))) for k in range(1, 6)]
    metric = DistinctAnswers()
    values = compute_uncertainty(items, {"distinct_answers": metric})
    assert values == {"distinct_answers": [1.0, 2.0, 3.0, 4.0, 5.0]}
    assert metric.batches == [["1", "2"], ["3", "4"], ["5"]]


def test_the_command_is_light():
    code = ("import sys\nfrom lam3_core.cli import cli\ntry:\n    cli(['uncertainty', '--help'], prog_name='lam3')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print(sorted(m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--metric-arg METRIC.K=V" in out.stdout and out.stdout.strip().endswith("[]")
