"""`--dry-run` finds every blocker the real command would hit, loads no model, creates nothing, and exits 2."""

from __future__ import annotations

import json
import os
import struct
from dataclasses import replace
from pathlib import Path

import pytest

from lam3_core import hookimpl
from lam3_core.interfaces.components import Attack, Judge, Model
from lam3_core.interfaces.records import Completion, Score
from lam3_core.kit.apicall import api_key
from lam3_core.kit.hf import HFLoadArgs
from lam3_core.run import resources
from lam3_core.testing import plugin_providing, run_lam3

EVENTS: list[str] = []


class CountingModel(Model):
    """A Hugging Face-style model that counts what happens to it: created (cheap) and loaded (weights)."""

    name = "counting"

    def __init__(self, path: str | None = None, device: str | None = None):
        EVENTS.append("created")
        self.load_args = HFLoadArgs(model="org/counting-7b", path=path, device=device)

    def check_ready(self):
        self.load_args.check_available("--model-arg path=DIR")

    def generate(self, samples, gen_config, trace=False):
        EVENTS.append("loaded")
        return [Completion(text="Sure.") for _ in samples]


class KeyedJudge(Judge):
    """An API judge: needs COUNTING_API_KEY."""

    name = "keyed"
    measures = "policy_risk"

    def __init__(self, api_key: str | None = None):
        self.key = api_key

    def check_ready(self):
        api_key("COUNTING_API_KEY", self.key, judge="keyed")

    def score(self, items):
        return [Score(0.0) for _ in items]


class Suffix(Attack):
    """Appends ``suffix`` to every prompt."""

    name = "suffix"

    def __init__(self, suffix: str = "!"):
        self.suffix = suffix

    def apply(self, samples, model=None):
        return [replace(s, prompt=s.prompt + self.suffix) for s in samples]


class _Attacks:
    @hookimpl
    def lam3_register_attacks(self, registry):
        registry.add("suffix", Suffix, "test attack appending a suffix")


PLUGINS = [("counting", plugin_providing(models={"counting": CountingModel}, judges={"keyed": KeyedJudge})),
           ("suffix", _Attacks())]


def _weights(folder: Path, parameters: int) -> Path:
    """A checkpoint folder whose safetensors header declares ``parameters`` bf16 parameters (no tensor data)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"torch_dtype": "bfloat16"}))
    header = json.dumps({"w": {"dtype": "BF16", "shape": [parameters], "data_offsets": [0, 2 * parameters]},
                         "__metadata__": {"format": "pt"}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    return folder


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def dry(tmp_path, monkeypatch):
    """``dry(*args)``: run a command with --dry-run; checks that it created nothing and loaded no model."""
    monkeypatch.delenv("COUNTING_API_KEY", raising=False)
    weights = _weights(tmp_path / "weights", 1000)

    def run(*args):
        EVENTS.clear()
        before = _tree(tmp_path)
        result = run_lam3([*args, "--dry-run"], PLUGINS)
        assert _tree(tmp_path) == before, "a dry run created or removed something"
        assert "loaded" not in EVENTS, "a dry run loaded the model"
        return result

    run.weights = weights
    return run


def _lines(output: str) -> dict[str, str]:
    """check name -> its status and detail, from the printed table."""
    rows = {}
    for line in output.splitlines():
        parts = line.split(None, 1)
        for status in ("ok", "warning", "blocker"):
            marker = f"  {status}  "
            if marker in line and parts and not line.startswith(" "):
                name, rest = line.split(marker, 1)
                rows[name.strip()] = f"{status}: {rest.strip()}"
    return rows


def _eval(tmp_path, dry, *extra):
    return dry("eval", "--model", "counting", "--model-arg", f"path={dry.weights}", "--dataset", "mini", "--limit",
               "3", "--judge", "refusal", "--out", tmp_path / "run", *extra)


def test_a_ready_run_passes_and_says_where_it_would_write(tmp_path, dry):
    result = _eval(tmp_path, dry)
    assert result.exit_code == 0, result.output
    rows = _lines(result.output)
    assert all(v.startswith(("ok", "warning")) for v in rows.values()), rows
    assert rows["model counting"].startswith("ok: ") and rows["images"] == "ok: 3 images readable"
    assert rows["output directory"] == f"ok: creates {tmp_path / 'run'}"
    assert f"Would write: {tmp_path / 'run'}" in result.output and "0 blocker(s)" in result.output
    assert rows["GPU memory"].startswith("warning: counting: 0.00B parameters, 2.0 KiB as bfloat16 on a GPU; no GPU")
    assert EVENTS == ["created"], "factories are cheap by contract: created once, never loaded"


def test_each_blocker_is_found_in_one_dry_run(tmp_path, dry):
    (tmp_path / "somebody_elses").mkdir()
    (tmp_path / "somebody_elses" / "notes.txt").write_text("mine")
    result = dry("eval", "--model", "counting", "--model-arg", f"path={tmp_path / 'no_weights'}", "--dataset", "mini",
                 "--limit", "3", "--judge", "refusl", "--judge", "keyed", "--attack", "pgdd",
                 "--out", tmp_path / "somebody_elses")
    assert result.exit_code == 2, result.output
    rows = _lines(result.output)
    assert rows["judge refusl"].startswith("blocker: Unknown judge 'refusl'.") and "Did you mean refusal?" in \
        result.output
    assert rows["attack pgdd"].startswith("blocker: Unknown attack 'pgdd'.")
    assert rows["model counting ready"].startswith("blocker: --model-arg path: ") and "is not a directory" in \
        rows["model counting ready"]
    assert rows["judge keyed ready"].startswith("blocker: The keyed judge needs an API key") and \
        "export COUNTING_API_KEY=YOUR_KEY" in result.output
    assert rows["output directory"].startswith("blocker: ") and "is not empty and is not a lam3 run" in \
        rows["output directory"]
    assert "5 blocker(s)" in result.output


def test_an_unwritable_out_is_a_blocker(tmp_path, dry):
    (tmp_path / "a_file").write_text("x")
    rows = _lines(_eval_out(dry, tmp_path / "a_file" / "run").output)
    assert rows["output directory"] == f"blocker: --out {tmp_path / 'a_file' / 'run'} cannot be created: " \
                                       f"{tmp_path / 'a_file'} is a file."
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert _lines(_eval_out(dry, locked / "run").output)["output directory"].startswith("blocker: ")


def _eval_out(dry, out: Path):
    result = dry("eval", "--model", "counting", "--model-arg", f"path={dry.weights}", "--dataset", "mini", "--limit",
                 "2", "--judge", "refusal", "--out", out)
    assert result.exit_code == 2
    return result


def test_an_incompatible_resume_is_a_blocker(tmp_path, dry):
    out = tmp_path / "run"
    done = run_lam3(["eval", "--model", "counting", "--model-arg", f"path={dry.weights}", "--dataset", "mini",
                     "--limit", "3", "--judge", "refusal", "--out", out], PLUGINS)
    assert done.exit_code == 0, done.output
    same = _eval(tmp_path, dry)
    assert same.exit_code == 0, same.output
    rows = _lines(same.output)
    assert rows["resume: generation settings"] == "ok: same settings as the generations there"
    assert rows["resume: judge refusal"] == "ok: same settings as its verdicts there"
    assert f"Would resume the run in: {out}" in same.output

    other = _eval(tmp_path, dry, "--gen", "max_new_tokens=7", "--judge-arg", "refusal.mode=gcg")
    assert other.exit_code == 2
    rows = _lines(other.output)
    assert rows["resume: generation settings"].startswith("blocker: ") and "(gen)" in rows[
        "resume: generation settings"]
    assert rows["resume: judge refusal"].startswith(f"blocker: {out} already holds refusal verdicts made with other")

    done = run_lam3(["eval", "--model", "counting", "--model-arg", f"path={dry.weights}", "--dataset", "mini",
                     "--limit", "3", "--judge", "refusal", "--attack", "suffix", "--out", tmp_path / "attacked"],
                    PLUGINS)
    assert done.exit_code == 0, done.output
    other_suffix = dry("eval", "--model", "counting", "--model-arg", f"path={dry.weights}", "--dataset", "mini",
                       "--limit", "3", "--judge", "refusal", "--attack", "suffix", "--attack-arg", "suffix.suffix=?",
                       "--out", tmp_path / "attacked")
    assert other_suffix.exit_code == 2
    assert _lines(other_suffix.output)["resume: attack suffix"].startswith(
        f"blocker: {tmp_path / 'attacked'} already holds samples attacked by suffix with other arguments.")

    judged = dry("judge", out, "--judge", "refusal", "--judge-arg", "refusal.mode=gcg")
    assert judged.exit_code == 2 and "resume: judge refusal" in _lines(judged.output)
    assert _lines(judged.output)["generations"] == "ok: 3 generations to score"

    lines = (out / "verdicts.jsonl").read_text().splitlines()
    (out / "verdicts.jsonl").write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
    corrupt = _lines(_eval(tmp_path, dry).output)["resume: records there"]
    assert corrupt.startswith(f"blocker: {out / 'verdicts.jsonl'}:2")


def test_judge_dry_run_of_a_foreign_file_needs_out(tmp_path, dry):
    source = tmp_path / "answers.jsonl"
    source.write_text(json.dumps({"id": "q1", "response": "Sure."}) + "\n")
    missing = dry("judge", source, "--judge", "refusal")
    assert missing.exit_code == 2 and "Pass --out DIR" in missing.output
    ready = dry("judge", source, "--judge", "refusal", "--out", tmp_path / "scored")
    assert ready.exit_code == 0, ready.output
    assert _lines(ready.output)["generations"] == "ok: 1 generations to score"


def test_gpu_memory_against_the_weights(tmp_path, dry, monkeypatch):
    big = _weights(tmp_path / "big", 3_000_000_000)
    base = ["eval", "--model", "counting", "--model-arg", f"path={big}", "--dataset", "mini", "--limit", "1",
            "--judge", "refusal", "--out", tmp_path / "run"]
    monkeypatch.setattr(resources, "free_gpu_memory", lambda: [4 * 2**30])
    rows = _lines(dry(*base).output)
    assert rows["GPU memory"] == ("blocker: counting: 3.00B parameters, 5.6 GiB as bfloat16 on a GPU; 4.0 GiB free on "
                                  "the GPU")
    monkeypatch.setattr(resources, "free_gpu_memory", lambda: [6 * 2**30])
    assert _lines(dry(*base).output)["GPU memory"].startswith("warning: ")
    monkeypatch.setattr(resources, "free_gpu_memory", lambda: [80 * 2**30])
    assert _lines(dry(*base).output)["GPU memory"].startswith("ok: ")
    on_cpu = _lines(dry(*base, "--model-arg", "device=cpu").output)["GPU memory"]
    assert on_cpu == "ok: counting: 3.00B parameters, 11.2 GiB as float32 on the CPU; runs on the CPU (device=cpu)"


def test_parameter_count_from_the_safetensors_index(tmp_path):
    folder = tmp_path / "sharded"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"torch_dtype": "float16"}))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 14_000_000_000}}))
    assert resources.parameter_count(folder) == 7_000_000_000
    assert resources.parameter_count(tmp_path) is None


def test_gpu_memory_of_weights_that_are_not_local(tmp_path, dry):
    result = dry("eval", "--model", "counting", "--dataset", "mini", "--limit", "1", "--judge", "refusal", "--out",
                 tmp_path / "run")
    rows = _lines(result.output)
    assert result.exit_code == 2 and rows["model counting ready"].startswith("blocker: Weights for 'org/counting-7b'")
    assert rows["GPU memory"] == "ok: not measured: the weights of counting are not local"


def test_what_the_run_asks_of_the_model_is_checked(tmp_path, dry):
    result = dry("eval", "--model", "counting", "--model-arg", f"path={dry.weights}", "--dataset", "mini", "--limit",
                 "2", "--judge", "refusal", "--samples", "2", "--gen", "trace_attentions=true", "--out", tmp_path / "r")
    assert result.exit_code == 2, result.output
    rows = _lines(result.output)
    assert rows["sampling"].startswith("blocker: --samples 2: the model 'counting' cannot draw sampled answers")
    assert rows["attention maps"].startswith("blocker: The model 'counting' cannot trace its attention")
    assert rows["attack none on model counting"] == "ok: the attack can run against this model"
