"""No setting silently ignored: named columns must exist, settings without effect are refused, every value is
type-checked before anything is created, foreign folders are left alone, a full disk is one message, and
missing weights of every component are reported together before any generation."""

from __future__ import annotations

import errno
import json
import os

import pytest

from lam3_core.testing import FakeJudge, plugin_providing


def _fails(result, *needles, code=2):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


def _rows(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_named_column_that_does_not_exist_lists_the_columns(lam3_run, tmp_path):
    data = _rows(tmp_path / "d.jsonl", [{"id": "1", "prompt": "what is shown?", "picture": "a.png"}])
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", data, "--dataset-arg",
                      "image=pictur")
    _fails(result, "no column 'pictur'", "Columns: id, prompt, picture", "--dataset-arg image=COLUMN")
    assert not result.out_dir.exists()


def test_harmful_as_a_constant_marks_every_row(lam3_run, tmp_path):
    data = _rows(tmp_path / "d.jsonl", [{"prompt": "first request"}, {"prompt": "second request"}])
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", data, "--dataset-arg",
                      "harmful=true")
    assert result.exit_code == 0, result.output
    assert [g["harmful"] for g in result.generations] == [True, True] and result.summary["asr"]["n"] == 2


def test_a_run_without_harmful_samples_warns_that_asr_is_undefined(lam3_run, tmp_path):
    data = _rows(tmp_path / "d.jsonl", [{"prompt": "first request"}, {"prompt": "second request"}])
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", data)
    assert result.exit_code == 0
    assert "No sample is marked harmful, so the attack success rate is undefined" in result.output
    assert "--dataset-arg harmful=true" in result.summary["warnings"][0]


def test_images_that_are_absent_run_text_only_only_on_purpose(lam3_run, tmp_path):
    data = _rows(tmp_path / "d.jsonl", [{"id": "s1", "prompt": "what is shown?", "image": "gone.png"}])
    _fails(lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", data), "s1", "Image not found")
    ok = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", data, "--dataset-arg", "image=none")
    assert ok.exit_code == 0 and ok.generations[0]["images"] == []


def test_samples_whose_images_were_never_given_are_refused_except_for_replay(lam3_run, tmp_path):
    from lam3_core import Dataset, Sample

    def needs_images():
        return Dataset([Sample("q1", "Is there a dog?", meta={"missing_images": ["COCO_1.jpg"]}, harmful=False)])

    plugin = ("p", plugin_providing(datasets={"needs_images": needs_images}))
    refused = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "needs_images", plugins=[plugin])
    _fails(refused, "1 of 1 samples need images that were not given", "COCO_1.jpg", "--model replay")
    answers = _rows(tmp_path / "a.jsonl", [{"id": "q1", "response": "Yes, there is a dog in the picture."}])
    replayed = lam3_run("eval", "--model", "replay", "--model-arg", f"path={answers}", "--judge", "refusal",
                        "--dataset", "needs_images", plugins=[plugin])
    assert replayed.exit_code == 0, replayed.output


def test_weighted_without_weights_and_weights_without_weighted_are_refused(lam3_run):
    base = ["eval", "--model", "echo", "--judge", "refusal", "--judge", "profanity", "--dataset", "mini"]
    _fails(lam3_run(*base, "--ensemble", "weighted"), "--ensemble weighted needs weights")
    _fails(lam3_run(*base, "--judge-weight", "refusal=2"), "--judge-weight has no effect with --ensemble majority")


def test_out_at_a_folder_that_is_not_a_lam3_run_is_refused(lam3_run, tmp_path):
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "draft.tex").write_text("\\section{Results}")
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--out", folder)
    _fails(result, "is not empty and is not a lam3 run directory")
    assert sorted(p.name for p in folder.iterdir()) == ["draft.tex"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--limit", "1",
                    "--out", empty).exit_code == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--gen", "max_new_tokens=lots"], "Generation setting max_new_tokens must be an integer, got 'lots'"),
    (["--gen", "do_sample=maybe"], "Generation setting do_sample must be true or false, got 'maybe'"),
    (["--gen", "temprature=0.7"], "Unknown generation setting(s): temprature"),
])
def test_generation_settings_are_type_checked(lam3_run, args, message):
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", *args)
    _fails(result, message)
    assert not result.out_dir.exists()


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("limit: three\n", "limit must be an integer >= 1, got 'three'"),
    ("seed: abc\n", "seed must be an integer, got 'abc'"),
    ("judges: refusal\n", "judges must be a list of judge names, e.g. [refusal, detoxify], got 'refusal'"),
    ("judge_args: {refusal: 3}\n", "judge_args must be a mapping judge -> {argument: value}"),
    ("thresholds: {refusal: 2}\n", "thresholds must be a mapping judge (or 'ensemble') -> number in [0, 1]"),
    ("batch_size: 0\n", "batch_size must be an integer >= 1, got 0"),
    ("- a\n- b\n", "must hold a mapping of options, got list"),
    ("jduges: [refusal]\n", "unknown key(s) jduges"),
])
def test_yaml_values_are_type_checked_and_name_the_file(lam3_run, tmp_path, yaml_text, message):
    config = tmp_path / "run.yaml"
    config.write_text(yaml_text)
    result = lam3_run("eval", "--config", config, "--model", "echo", "--dataset", "mini", "--judge", "refusal")
    _fails(result, message)
    assert str(config) in result.output
    assert not result.out_dir.exists()


def test_the_python_api_checks_values_the_same_way(tmp_path):
    from lam3_core import RunConfig, UsageError, evaluate

    with pytest.raises(UsageError, match="judges must be a list of judge names"):
        evaluate({"model": "echo", "judges": "refusal", "dataset": "mini", "out": str(tmp_path / "x")})
    with pytest.raises(UsageError, match="limit must be an integer >= 1"):
        evaluate(RunConfig(model="echo", judges=["refusal"], dataset="mini", limit=0, out=str(tmp_path / "y")))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_a_foreign_generations_file_in_out_is_refused_with_the_way_to_judge_it(lam3_run, tmp_path):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    _rows(folder / "generations.jsonl", [{"id": "a", "response": "sure"}])
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--out", folder)
    _fails(result, "holds a generations.jsonl that lam3 did not write", "lam3 judge")
    judged = lam3_run("judge", folder / "generations.jsonl", "--judge", "refusal", "--out", tmp_path / "judged")
    assert judged.exit_code == 0, judged.output and len(judged.verdicts) == 1


def test_judging_a_run_directory_s_own_generations_file_judges_in_place(lam3_run, tmp_path):
    out = tmp_path / "run"
    assert lam3_run("generate", "--model", "echo", "--dataset", "mini", "--limit", "3", "--out", out).exit_code == 0
    before = (out / "generations.jsonl").read_bytes()
    result = lam3_run("judge", out / "generations.jsonl", "--judge", "refusal", "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "generations.jsonl").read_bytes() == before and len(result.verdicts) == 3
    also = lam3_run("judge", out / "generations.jsonl", "--judge", "profanity")
    assert also.exit_code == 0 and {v["judge"] for v in also.verdicts} == {"refusal", "profanity"}


def test_a_full_disk_is_one_message_leaves_no_temporary_file_and_resumes(lam3_run, tmp_path, monkeypatch):
    out = tmp_path / "run"
    args = ["eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--limit", "4", "--batch-size", "2",
            "--out", out]
    real_fsync = os.fsync
    generation_writes = []

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("generations.jsonl"):
            generation_writes.append(fd)
            if len(generation_writes) == 2:  # the second batch of answers finds the disk full
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    from lam3_core.run import store

    monkeypatch.setattr(store, "SYNC_INTERVAL", 0.0)  # fsync every batch, so the full disk shows at the second
    monkeypatch.setattr(os, "fsync", fsync)
    full = lam3_run(*args)
    _fails(full, "No space left on the device while writing", "rerun the same command")
    assert not [p for p in out.rglob(".*.tmp")]
    assert len((out / "generations.jsonl").read_text().splitlines()) == 2  # the first batch, whole; no torn line
    monkeypatch.setattr(os, "fsync", real_fsync)
    resumed = lam3_run(*args)
    assert resumed.exit_code == 0, resumed.output
    assert len(resumed.generations) == 4 and len(resumed.verdicts) == 4


def test_missing_weights_of_the_model_and_every_judge_come_in_one_message_before_any_work(lam3_run, tmp_path):
    empty = tmp_path / "llava-download"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    result = lam3_run("eval", "--model", "llava15", "--model-arg", f"path={empty}", "--judge", "llamaguard",
                      "--judge", "detoxify", "--judge", "refusal", "--dataset", "mini", "--limit", "1")
    _fails(result, "Weights are missing for 3 components", "- model llava15:", "holds no weights",
           "--model-arg path=DIR", "- judge llamaguard:", "--judge-arg llamaguard.path=DIR", "is gated",
           "- judge detoxify:", "detoxify.checkpoint=")
    assert not result.out_dir.exists()


def test_online_but_unreachable_hub_is_checked_once_and_says_to_go_offline(lam3_run, monkeypatch):
    from lam3_core.kit import hf

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr(hf, "_REACHABLE", {})
    result = lam3_run("eval", "--model", "llava15", "--judge", "refusal", "--dataset", "mini", "--limit", "1")
    _fails(result, "llava-hf/llava-1.5-7b-hf", "the hub is unreachable", "set HF_HUB_OFFLINE=1")
    assert list(hf._REACHABLE) == ["http://127.0.0.1:9"]


def test_the_refusal_judge_s_rate_says_that_it_counts_compliance(lam3_run):
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--judge", "profanity", "--dataset", "mini",
                      "--limit", "6")
    assert result.summary["judges"]["refusal"]["flag_means"] == "complied (did not refuse)"
    assert result.summary["by_measure"]["refusal"]["refusal"]["flag_means"] == "complied (did not refuse)"
    assert "(complied (did not refuse))" in (result.out_dir / "report.md").read_text()


def test_kappa_compares_judges_of_one_measure_and_reports_cross_measure_agreement_apart(lam3_run):
    plugin = ("p", plugin_providing(judges={"other_refusal": lambda: _Refusal(["sorry"])}))
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--judge", "other_refusal", "--judge",
                      "profanity", "--dataset", "mini", "--limit", "8", plugins=[plugin])
    agreement = result.summary["agreement"]
    assert set(agreement["pairwise_kappa"]) == {"other_refusal|refusal"}
    assert set(agreement["cross_measure_kappa"]) == {"other_refusal|profanity", "profanity|refusal"}


class _Refusal(FakeJudge):
    measures = "refusal"
