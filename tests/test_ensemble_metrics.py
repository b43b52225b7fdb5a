"""Ensemble strategies, arbitration, kappa and refusal metrics on hand-made verdicts."""

from __future__ import annotations

import pytest

from lam3_core.analysis.ensemble import arbitrate, combine
from lam3_core.analysis.metrics import agreement, attack_success, refusal
from lam3_core.interfaces.records import Generation, Verdict
from lam3_core.testing import FakeJudge, plugin_providing


def _v(judge, score, threshold=0.5, error=None, measures="other", record="r"):
    flagged = None if error else score >= threshold
    return Verdict(record, judge, "1", "h", measures, None if error else score, threshold, flagged, error=error)


SCORES = {"a": 0.9, "b": 0.6, "c": 0.1}


@pytest.mark.parametrize(
    ("strategy", "score", "flagged"),
    [("any", 0.9, True), ("all", 0.1, False), ("majority", 2 / 3, True), ("mean", 1.6 / 3, True), ("max", 0.9, True)],
)
def test_strategies(strategy, score, flagged):
    e = combine("r", {j: _v(j, s) for j, s in SCORES.items()}, strategy)
    assert e.score == pytest.approx(score) and e.flagged is flagged and e.disagreement


def test_weighted_uses_weights_and_ensemble_threshold():
    verdicts = {j: _v(j, s) for j, s in SCORES.items()}
    e = combine("r", verdicts, "weighted", {"a": 0.0, "b": 1.0, "c": 3.0}, threshold=0.3)
    assert e.score == pytest.approx((0.6 + 0.3) / 4) and e.flagged is False


def test_majority_tie_is_not_flagged_and_errors_do_not_vote():
    e = combine("r", {"a": _v("a", 0.9), "b": _v("b", 0.1), "c": _v("c", 0, error="boom")}, "majority")
    assert e.flagged is False and e.disagreement and e.votes["c"] is None
    all_failed = combine("r", {"a": _v("a", 0, error="x")}, "any")
    assert all_failed.error and all_failed.flagged is None


def test_arbiter_decides_only_disagreements():
    e = combine("r", {"a": _v("a", 0.9), "b": _v("b", 0.1)}, "majority")
    decided = arbitrate(e, _v("arb", 0.8))
    assert decided.flagged is True and decided.arbitrated and decided.votes["arbiter:arb"] is True
    assert arbitrate(e, _v("arb", 0, error="down")) == e


def test_arbiter_runs_only_on_disagreed_items(lam3_run):
    arbiters: list[FakeJudge] = []

    def arbiter():
        arbiters.append(FakeJudge(keywords=["bomb"]))
        return arbiters[-1]

    plugin = (
        "p",
        plugin_providing(
            judges={"sure_judge": lambda: FakeJudge(["sure"]), "arb": arbiter, "how_judge": lambda: FakeJudge(["how"])}
        ),
    )
    result = lam3_run(
        "eval",
        "--model",
        "echo",
        "--model-arg",
        "prefix=Sure. ",
        "--judge",
        "sure_judge",
        "--judge",
        "how_judge",
        "--arbiter",
        "arb",
        "--dataset",
        "mini",
        plugins=[plugin],
    )
    assert result.exit_code == 0, result.output
    disputed = [g for g in result.generations if "how" not in g["response"].lower()]
    assert disputed and len(arbiters[0].seen) == len(disputed) < len(result.generations)
    assert result.summary["agreement"]["arbitrated"] == len(disputed)
    assert result.summary["judges"]["arb"]["role"] == "arbiter"


def _gen(rid, harmful, attack="none", category="c"):
    return Generation(rid, rid, attack, "m", "q", "q", "a", harmful=harmful, category=category)


def test_asr_counts_only_harmful_samples_by_attack_and_category():
    gens = [_gen("1", True), _gen("2", True, "x", "d"), _gen("3", False), _gen("4", True)]
    ens = {
        g.record_id: combine(g.record_id, {"a": _v("a", s, record=g.record_id)}, "any")
        for g, s in zip(gens, [0.9, 0.9, 0.9, 0.1])
    }
    result = attack_success(gens, ens)
    assert result["asr"]["value"] == pytest.approx(2 / 3) and result["asr"]["n"] == 3
    assert result["by_attack"]["x"]["value"] == 1.0 and result["by_category"]["c"]["n"] == 2


def test_kappa_matches_sklearn_and_is_null_when_undefined():
    from sklearn.metrics import cohen_kappa_score

    fa, fb = [1, 1, 0, 0, 1, 0], [1, 0, 0, 0, 1, 1]
    table = {
        "a": {str(i): _v("a", float(f), record=str(i)) for i, f in enumerate(fa)},
        "b": {str(i): _v("b", float(f), record=str(i)) for i, f in enumerate(fb)},
        "c": {str(i): _v("c", 0.0, record=str(i)) for i in range(6)},
        "d": {str(i): _v("d", 0.0, record=str(i)) for i in range(6)},
    }
    ens = {str(i): combine(str(i), {j: table[j][str(i)] for j in "ab"}, "any") for i in range(6)}
    result = agreement(table, ["a", "b", "c", "d"], ens)
    assert result["pairwise_kappa"]["a|b"] == pytest.approx(cohen_kappa_score(fa, fb))
    assert result["pairwise_kappa"]["c|d"] is None
    assert result["disagreement_rate"] == pytest.approx(2 / 6)


def test_refusal_and_over_refusal():
    gens = [_gen("1", True), _gen("2", True), _gen("3", False), _gen("4", False)]
    table = {
        "refusal": {
            g.record_id: _v("refusal", s, measures="refusal", record=g.record_id)
            for g, s in zip(gens, [0.0, 1.0, 0.0, 1.0])
        }
    }
    result = refusal(gens, table)["refusal"]
    assert result["refusal_rate_harmful"]["value"] == 0.5 and result["over_refusal"]["value"] == 0.5
    assert refusal(gens, {"x": {}}) is None
