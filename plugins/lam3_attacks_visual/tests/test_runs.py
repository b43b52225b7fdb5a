"""The image attacks through `lam3 eval`: ASR per attack, the PNGs the core writes, resume, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from lam3_attacks_visual.pgd import PGDAttack
from PIL import Image

from lam3_core import Sample
from lam3_core.testing import run_lam3


def eval_args(tiny_llava, out, *extra, limit=3):
    return ["eval", "--model", "llava15", "--model-arg", f"path={tiny_llava}", "--judge", "refusal",
            "--dataset", "mini", "--limit", str(limit), "--gen", "max_new_tokens=4", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def three_attacks(tiny_llava, tmp_path_factory):
    out = tmp_path_factory.mktemp("three") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAM3_CACHE_DIR", str(out.parent / "cache"))
        result = run_lam3(eval_args(tiny_llava, out, "--attack", "none", "--attack", "figstep", "--attack", "pgd",
                                    "--attack-arg", "pgd.steps=3"))
    assert result.exit_code == 0, result.output
    return result


def test_none_figstep_and_pgd_in_one_run_report_asr_per_attack(three_attacks):
    summary = three_attacks.summary
    assert set(summary["by_attack"]) == {"none", "figstep", "pgd"}
    for attack in ("none", "figstep", "pgd"):
        rate = summary["by_attack"][attack]
        assert rate["n"] == 2 and rate["ci_low"] <= rate["value"] <= rate["ci_high"]
        assert set(summary["by_attack_category"][attack]) == {"violence"}
    generations = three_attacks.generations
    assert len(generations) == 9 and not any(g["error"] for g in generations)
    pgd = [g for g in generations if g["attack"] == "pgd"]
    assert pgd[0]["attack_args"]["steps"] == 3 and pgd[0]["attack_args"]["epsilon"] == pytest.approx(8 / 255)
    figstep = [g for g in generations if g["attack"] == "figstep"]
    assert all(g["prompt"].startswith("The image shows a list numbered 1, 2, and 3") for g in figstep)
    assert all(Image.open(three_attacks.out_dir / g["images"][0]).size == (760, 760) for g in figstep)


def test_the_png_the_core_wrote_stays_in_the_ball_and_keeps_its_loss(three_attacks, llava):
    out = three_attacks.out_dir
    originals = {g["sample_id"]: g for g in three_attacks.generations if g["attack"] == "none"}
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in llava.image_normalization())
    for generation in (g for g in three_attacks.generations if g["attack"] == "pgd"):
        original = originals[generation["sample_id"]]
        pixels = llava.preprocess(Sample("o", original["prompt"], original["images"]))["pixel_values"][0]
        before = ((pixels * std + mean).clamp(0, 1) * 255).round().numpy().transpose(1, 2, 0)
        (path,) = generation["images"]
        assert path.startswith("attacks/pgd/") and path.endswith(".png")
        saved = Image.open(out / path)
        difference = np.abs(np.asarray(saved).astype(int) - before.astype(int))
        info = generation["attack_info"]
        assert saved.size == (28, 28) and 0 < difference.max() == info["linf_255"] <= 8
        attacked = Sample("a", original["prompt"], [str(out / path)])
        loss = llava.target_losses(llava.target_batch([attacked], [info["target"]]))[0].item()
        assert loss == pytest.approx(info["loss_saved"], abs=1e-5)
        assert len(info["loss_history"]) == 3


def test_resume_never_recomputes_a_finished_image(tiny_llava, tmp_path, monkeypatch):
    calls: list[list[str]] = []
    original_apply = PGDAttack.apply

    def counting_apply(self, samples, model=None):
        calls.append([s.id for s in samples])
        return original_apply(self, samples, model)

    monkeypatch.setattr(PGDAttack, "apply", counting_apply)
    monkeypatch.setenv("LAM3_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    args = ["--attack", "pgd", "--attack-arg", "pgd.steps=2", "--batch-size", "2"]
    assert run_lam3(eval_args(tiny_llava, out, *args, limit=2)).exit_code == 0
    assert [len(c) for c in calls] == [2]
    folder = out / "attacks" / "pgd"
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.glob("*.png")}
    assert len(before) == 2
    assert run_lam3(eval_args(tiny_llava, out, *args, limit=2)).exit_code == 0
    assert len(calls) == 1  # the same run again: nothing to attack
    assert run_lam3(eval_args(tiny_llava, out, *args, limit=3)).exit_code == 0
    assert len(calls[1]) == 1 and calls[1][0] not in calls[0]  # only the new sample
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.glob("*.png")}
    assert len(after) == 3 and all(after[name] == before[name] for name in before)
    changed = run_lam3(eval_args(tiny_llava, out, "--attack", "pgd", "--attack-arg", "pgd.steps=5", limit=2))
    assert changed.exit_code == 2 and "already holds samples attacked by pgd with other arguments" in changed.output


def snapshot(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
            if p.is_file() and p.name not in (".lock", "meta.json", "lam3.log")}


def test_bad_arguments_exit_2_and_leave_a_finished_run_untouched(lam3_run, tmp_path, tiny_llava):
    out = tmp_path / "run"
    finished = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--limit", "2",
                        "--attack", "figstep", "--out", out)
    assert finished.exit_code == 0
    before = snapshot(out)
    font = tmp_path / "missing.ttf"
    for args, needle in (
        (["--attack", "pgd", "--attack-arg", "pgd.epsilon=2"], "Bad pgd.epsilon: 2"),
        (["--attack", "figstep", "--attack-arg", f"figstep.font={font}"], f"font file {font} does not exist"),
    ):
        result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--limit", "2",
                          *args, "--out", out)
        assert result.exit_code == 2 and needle in result.output and "Traceback" not in result.output, args
    assert snapshot(out) == before
    fresh = tmp_path / "fresh"
    result = lam3_run(*eval_args(tiny_llava, fresh, "--attack", "pgd", "--attack-arg", "pgd.epsilon=0"))
    assert result.exit_code == 2 and "Bad pgd.epsilon" in result.output and not fresh.exists()


@pytest.mark.parametrize(("attack", "needle"), [("pgd", "llava15 or idefics2"),
                                                ("query_relevant", "key_phrase=prompt")])
def test_an_attack_that_cannot_run_on_these_samples_exits_2_before_anything_is_recorded(lam3_run, tmp_path, attack,
                                                                                          needle):
    out = tmp_path / "run"
    args = ("eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--limit", "2", "--attack", attack,
            "--out", out)
    for _ in range(2):
        result = lam3_run(*args)
        assert result.exit_code == 2 and needle in result.output and "Traceback" not in result.output
        assert not (out / "generations.jsonl").exists() or not (out / "generations.jsonl").read_text()
        assert not list((out / "attacks").rglob("*.png"))
    if attack == "pgd":  # a model without gradients is refused before the run directory exists
        assert not out.exists()
        return
    invocations = json.loads((out / "meta.json").read_text())["invocations"]
    assert [i["status"] for i in invocations] == ["failed", "failed"] and needle in invocations[-1]["error"]
