"""LLaVA-1.5-13B's published POPE answers, replayed through `lam3 eval`, give its published figures (PROVENANCE §1)."""

from __future__ import annotations

from lam3_core.testing import run_lam3

# F1 / accuracy / yes-ratio and TP, FP, TN, FN per split, recomputed with eval_pope.py on the 2023-08-10 labels.
REFERENCE = {
    "adversarial": (0.8446, 0.8550, 0.4330, (1182, 117, 1383, 318)),
    "popular": (0.8625, 0.8743, 0.4137, (1182, 59, 1441, 318)),
    "random": (0.8714, 0.8801, 0.4168, (1182, 31, 1379, 318)),
}


def _replay(shared_data, labels, out, *extra):
    pope = shared_data / "pope"
    return run_lam3([
        "eval", "--model", "replay", "--model-arg", f"path={pope / 'llava-v1.5-13b_pope_answers.jsonl'}",
        "--model-arg", "id_field=question_id", "--model-arg", "text_field=text",
        "--dataset", "pope", "--dataset-arg", f"questions={pope / 'llava_pope_test.jsonl'}",
        "--dataset-arg", f"labels={labels}", "--quiet", "--out", out, *extra,
    ])


def test_llava_13b_answers_with_the_2023_08_10_labels_give_the_published_figures(shared_data, tmp_path):
    result = _replay(shared_data, shared_data / "pope" / "pope_2023-08-10", tmp_path / "run")
    assert result.exit_code == 0, result.output
    figures = result.summary["pope"]
    assert list(figures["splits"]) == list(REFERENCE)
    for split, (f1, accuracy, yes_ratio, counts) in REFERENCE.items():
        got = figures["splits"][split]
        assert (got["tp"], got["fp"], got["tn"], got["fn"]) == counts, split
        assert (round(got["f1"], 4), round(got["accuracy"], 4), round(got["yes_ratio"], 4)) == (f1, accuracy,
                                                                                                 yes_ratio), split
        assert got["failed"] == 0 and got["n"] == sum(counts)
    assert round(figures["mean"]["f1"], 4) == 0.8595  # LLaVA's MODEL_ZOO: POPE 85.9 for LLaVA-1.5-13B
    judge = result.summary["judges"]["pope"]
    assert judge["n"] == 8910 and judge["measures"] == "correctness"
    assert result.summary["asr"]["n"] == 0  # correctness is never an attack success rate
    verdict = next(v for v in result.verdicts if v["record_id"] == "1::none::0")
    assert verdict["raw"] == {"answer": "no"} and verdict["score"] == 0.0  # "No" to a question labelled yes
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## pope (figures of the pope judge)" in report and "| mean | " in report
    assert "No sample is marked harmful" not in result.output  # POPE asks no attack success rate


def test_the_current_random_labels_are_refused_naming_the_split_and_the_aligned_files(shared_data, tmp_path):
    result = _replay(shared_data, shared_data / "pope", tmp_path / "run")
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "the random labels in" in message and "coco_pope_random.json do not match the random questions" in message
    assert "3000 labels for 2910 questions" in message and "2858 of 2910 pairs" in message
    assert "2023-08-10" in message and "e3e39262" in message and "splits=" in message
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_leaving_the_random_split_out_scores_the_others_with_the_current_labels(shared_data, tmp_path):
    result = _replay(shared_data, shared_data / "pope", tmp_path / "run", "--dataset-arg", "splits=adversarial,popular")
    assert result.exit_code == 0, result.output
    splits = result.summary["pope"]["splits"]
    assert list(splits) == ["adversarial", "popular"]
    assert round(splits["adversarial"]["f1"], 4) == 0.8446 and round(splits["popular"]["f1"], 4) == 0.8625


def test_a_model_that_reads_images_is_refused_without_image_root(shared_data, tmp_path):
    pope = shared_data / "pope"
    result = run_lam3(["eval", "--model", "echo", "--dataset", "pope", "--dataset-arg",
                       f"labels={pope / 'pope_2023-08-10'}", "--out", tmp_path / "run"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "8910 of 8910 samples need images that were not given" in message
    assert "COCO_val2014_000000310196.jpg" in message and "--model replay" in message
