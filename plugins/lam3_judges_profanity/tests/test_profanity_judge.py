"""The `profanity` judge on real labelled text, its batching and edge cases, and a full `lam3 eval` run."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from lam3_judges_profanity.judge import EMPTY, ProfanityJudge
from sklearn.metrics import roc_auc_score

from lam3_core import JudgeItem, UsageError
from lam3_core.contract.manager import load_plugins
from lam3_core.testing import run_lam3

RUN_FILES = ("meta.json", "generations.jsonl", "verdicts.jsonl", "summary.json", "lam3.log")


@pytest.fixture(scope="module")
def judge() -> ProfanityJudge:
    return ProfanityJudge()


def _scores(judge: ProfanityJudge, texts: list[str]) -> list[float]:
    return [s.score for s in judge.score([JudgeItem(request="", response=t) for t in texts])]


def _auroc(judge: ProfanityJudge, positives: list[str], negatives: list[str]) -> float:
    return roc_auc_score([1] * len(positives) + [0] * len(negatives), _scores(judge, positives + negatives))


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_separates_clearly_profane_from_clean_text(judge, shared_data):
    """RealToxicityPrompts prompts (PROVENANCE §6) by their Perspective scores: profanity >= 0.8 vs toxicity < 0.1.

    Measured with alt-profanity-check 1.9.1: n = 812 / 614, AUROC 0.977, mean score 0.865 vs 0.044. The bounds
    leave a small margin only: the model is pinned, so the numbers move only if the classifier changes.
    """
    rtp = [json.loads(line)["prompt"] for name in ("toxic.jsonl", "nontoxic.jsonl")
           for line in (shared_data / "toxicity" / "realtoxicityprompts_decodingtrust" / name).read_text().splitlines()]
    profane = [p["text"] for p in rtp if (p.get("profanity") or 0) >= 0.8]
    clean = [p["text"] for p in rtp if p.get("toxicity") is not None and p["toxicity"] < 0.1]
    assert (len(profane), len(clean)) == (812, 614)
    assert _auroc(judge, profane, clean) > 0.96
    profane_scores, clean_scores = _scores(judge, profane), _scores(judge, clean)
    assert sum(profane_scores) / len(profane) > 0.8 > 0.1 > sum(clean_scores) / len(clean)


def test_detects_harassment_in_the_openai_moderation_set(judge, shared_data):
    """OpenAI moderation set: harassment (HR=1) vs rows with all eight labels 0 (a missing label is unknown).

    Measured: n = 76 / 337, AUROC 0.863; hate (H) alone is weaker, 0.765, as the model only sees words.
    """
    rows = _jsonl(shared_data / "toxicity" / "openai_moderation" / "samples-1680.jsonl")
    labels = ("S", "H", "V", "HR", "SH", "S3", "H2", "V2")
    harassment = [r["prompt"] for r in rows if r.get("HR") == 1]
    none = [r["prompt"] for r in rows if all(r.get(k) == 0 for k in labels)]
    assert (len(harassment), len(none)) == (76, 337)
    assert _auroc(judge, harassment, none) > 0.84


def test_implicit_hate_is_only_weakly_separated(judge, shared_data):
    """ToxiGen's human-written hate vs neutral sentences: implicit hate uses few offensive words.

    Measured: n = 342 / 285, AUROC 0.696 (README caveat: pair it with a contextual judge for hate speech).
    """
    folder = shared_data / "toxicity" / "toxigen_demonstrations"

    def lines(prefix: str) -> list[str]:
        return [s for f in sorted(folder.glob(f"*/{prefix}_*")) for s in f.read_text().splitlines() if s.strip()]

    hate, neutral = lines("hate"), lines("neutral")
    assert (len(hate), len(neutral)) == (342, 285)
    assert 0.65 < _auroc(judge, hate, neutral) < 0.75


def test_batched_scores_equal_one_by_one_and_are_python_floats():
    texts = ["you are a complete idiot", "what a lovely morning", "this is shit", "the meeting is at noon"] * 3
    batched = _scores(ProfanityJudge(batch_size=5), texts)
    single = [_scores(ProfanityJudge(batch_size=1), [t])[0] for t in texts]
    assert batched == single
    assert all(type(s) is float for s in batched)
    assert batched[2] > 0.5 > batched[3]


def test_empty_and_non_text_responses(judge):
    items = [JudgeItem(request="", response=r) for r in ("", "   \n", "fuck off", None)]
    empty, blank, rude, missing = judge.score(items)
    assert (empty.score, empty.notes) == (0.0, [EMPTY]) and (blank.score, blank.notes) == (0.0, [EMPTY])
    assert rude.score > 0.5 and rude.flagged_categories == ["profanity"]
    assert rude.categories == {"profanity": rude.score}
    assert missing.score is None and "not text" in missing.error


def test_identity_and_arguments():
    judge = ProfanityJudge()
    assert (judge.name, judge.measures, judge.uses_request) == ("profanity", "social_toxicity", False)
    assert judge.config() == {}
    assert "alt-profanity-check 1.9.1" in judge.version and "lam3-judges-profanity 0.1.0" in judge.version
    with pytest.raises(UsageError, match="Bad profanity.batch_size: 0. Give an integer greater than 0"):
        ProfanityJudge(batch_size=0)


def test_missing_library_is_a_usage_error_on_first_use(monkeypatch):
    monkeypatch.setitem(sys.modules, "profanity_check", None)
    judge = ProfanityJudge()
    with pytest.raises(UsageError, match="needs alt-profanity-check.*pip install lam3-judges-profanity"):
        judge.score([JudgeItem(request="", response="hello there")])


def test_registration_and_construction_import_no_model():
    code = (
        "import sys; from lam3_core.contract.manager import load_plugins; "
        "judge = load_plugins().get('judge', 'profanity').create(batch_size=8); "
        "print(judge.batch_size, 'profanity_check' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["8", "False", "False"]
    component = load_plugins().get("judge", "profanity")
    assert component.distribution == "lam3-judges-profanity"


def test_eval_with_refusal_and_profanity_on_mini(tmp_path):
    out = tmp_path / "run"
    result = run_lam3(["eval", "--model", "echo", "--judge", "refusal", "--judge", "profanity",
                       "--dataset", "mini", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert all((out / name).is_file() for name in RUN_FILES)
    records = {g["record_id"] for g in result.generations}
    assert len(records) == len(result.generations) == 40
    pairs = Counter((v["record_id"], v["judge"]) for v in result.verdicts)
    assert set(pairs) == {(r, j) for r in records for j in ("refusal", "profanity")}
    assert set(pairs.values()) == {1}
    assert all(v["error"] is None for v in result.verdicts)
