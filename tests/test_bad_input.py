"""Errors a user can cause: one clear message, exit status 2, no traceback, nothing in --out damaged."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def finished_run(lam3_run, tmp_path):
    out = tmp_path / "run"
    result = lam3_run(
        "eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--limit", "4", "--out", out
    )
    assert result.exit_code == 0
    return out


def _snapshot(out):
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != ".lock"}


def _fails(result, *needles):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


def test_unknown_model_suggests_the_closest_name(lam3_run):
    _fails(
        lam3_run("eval", "--model", "ecko", "--judge", "refusal", "--dataset", "mini"), "Unknown model 'ecko'", "echo"
    )


def test_unknown_judge_and_dataset(lam3_run):
    _fails(lam3_run("eval", "--model", "echo", "--judge", "refusol", "--dataset", "mini"), "Did you mean refusal")
    _fails(lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "minii"), "Unknown dataset", "mini")


def test_missing_dataset_file(lam3_run, tmp_path):
    _fails(
        lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", tmp_path / "nope.jsonl"),
        "File not found",
        "nope.jsonl",
    )


def test_malformed_jsonl_line_names_file_and_line(lam3_run, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "1", "prompt": "hello"}\n{"id": "2", "prompt": \n')
    _fails(lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", data), f"{data}:2", "malformed JSON")


def test_missing_prompt_column_lists_the_columns(lam3_run, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("goal,category\nsomething,x\n")
    _fails(lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", data), "no column 'prompt'", "goal")
    ok = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", data, "--dataset-arg", "prompt=goal")
    assert ok.exit_code == 0 and ok.generations[0]["response"] == "something"


def test_missing_and_unreadable_images(lam3_run, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "s1", "prompt": "what is this?", "image": "missing.png"}) + "\n")
    _fails(lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", data), "s1", "Image not found")
    data.write_text(json.dumps({"id": "s2", "prompt": "what is this?", "image": str(bad)}) + "\n")
    _fails(lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", data), "s2", "cannot be read")


def test_images_are_checked_once_each_and_the_first_bad_one_in_dataset_order_is_named(tmp_path, monkeypatch):
    from PIL import Image

    import lam3_core.run.samples as samples_module
    from lam3_core import Sample, UsageError

    good = tmp_path / "good.png"
    Image.new("RGB", (8, 8)).save(good)
    bad = [tmp_path / f"bad{i}.png" for i in range(2)]
    for path in bad:
        path.write_bytes(b"not a png")
    checked = []
    real_check = samples_module.check_image
    monkeypatch.setattr(samples_module, "check_image", lambda ref: checked.append(ref) or real_check(ref))
    samples = [Sample(f"s{i}", "q", [str(good)]) for i in range(30)]
    samples[7:7] = [Sample("first-bad", "q", [str(bad[1])]), Sample("second-bad", "q", [str(bad[0])])]
    with pytest.raises(UsageError, match="Sample 'first-bad'"):
        samples_module.check_images(samples, reads_images=True)
    read = list(map(str, checked))
    assert len(read) == len(set(read)) and str(good) in read and str(bad[1]) in read  # each file read once at most
    samples_module.check_images(samples[:7], reads_images=True)


def test_judge_arg_for_a_judge_not_selected(lam3_run):
    _fails(
        lam3_run(
            "eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--judge-arg", "detoxify.variant=x"
        ),
        "--judge-arg given for detoxify",
        "--judge detoxify",
    )


def test_malformed_key_value_options(lam3_run):
    _fails(
        lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--model-arg", "novalue"),
        "--model-arg expects KEY=VALUE",
    )
    _fails(
        lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--gen", "max_tokens=3"),
        "Unknown generation setting",
        "max_new_tokens",
    )


def test_unwritable_out(lam3_run, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _fails(
        lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--out", blocker / "run"),
        "Cannot write to the output directory",
    )


def test_bad_commands_leave_a_finished_run_untouched(lam3_run, finished_run, tmp_path):
    before = _snapshot(finished_run)
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "1", "prompt": \n')
    for args in (
        ["eval", "--model", "echo", "--judge", "nope", "--dataset", "mini", "--limit", "4"],
        ["eval", "--model", "echo", "--judge", "refusal", "--dataset", data],
        [
            "eval",
            "--model",
            "echo",
            "--judge",
            "refusal",
            "--dataset",
            "mini",
            "--limit",
            "4",
            "--gen",
            "max_new_tokens=3",
        ],
        [
            "eval",
            "--model",
            "echo",
            "--model-arg",
            "prefix=x",
            "--judge",
            "refusal",
            "--dataset",
            "mini",
            "--limit",
            "4",
        ],
        [
            "eval",
            "--model",
            "echo",
            "--judge",
            "refusal",
            "--judge-arg",
            "refusal.mode=gcg",
            "--dataset",
            "mini",
            "--limit",
            "4",
        ],
        ["report", finished_run, "--judge", "profanity"],
    ):
        result = lam3_run(*args, "--out", finished_run) if args[0] == "eval" else lam3_run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
    after = _snapshot(finished_run)
    for name in ("generations.jsonl", "verdicts.jsonl", "summary.json", "ensemble.jsonl", "report.md"):
        assert after[name] == before[name], name


def test_a_second_process_on_the_same_out_is_refused(lam3_run, finished_run):
    import fcntl

    with open(finished_run / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        result = lam3_run(
            "eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--limit", "4", "--out", finished_run
        )
    _fails(result, "Another lam3 process is writing to")


def test_torn_and_corrupt_lines_in_a_run_directory(lam3_run, finished_run):
    gens = finished_run / "generations.jsonl"
    lines = gens.read_text().splitlines(keepends=True)
    gens.write_text("".join(lines[:-1]) + lines[-1][:15])
    resumed = lam3_run(
        "eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--limit", "4", "--out", finished_run
    )
    assert resumed.exit_code == 0 and len(resumed.generations) == 4
    assert len({g["record_id"] for g in resumed.generations}) == 4
    gens.write_text("garbage\n" + gens.read_text())
    _fails(lam3_run("report", finished_run), f"{gens}:1", "malformed JSON")
