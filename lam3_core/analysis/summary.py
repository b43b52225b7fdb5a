"""summary.json: every metric of a run, rebuilt from its generations and verdicts alone."""

from __future__ import annotations

from collections import defaultdict

from lam3_core.analysis.ensemble import VOTING_STRATEGIES, EnsemblePolicy
from lam3_core.analysis.errors import tally
from lam3_core.analysis.metrics import agreement, attack_success, judge_stats, refusal
from lam3_core.interfaces.records import EnsembleVerdict, Generation, Verdict


def rethreshold(verdicts: list[Verdict], thresholds: dict[str, float]) -> list[Verdict]:
    """Apply the current --threshold values (a rerun or `lam3 report` may change them)."""
    for v in verdicts:
        if v.judge in thresholds:
            v.threshold = float(thresholds[v.judge])
        if v.error is None and v.score is not None:
            v.flagged = v.score >= v.threshold
    return verdicts


def by_judge(verdicts: list[Verdict], record_ids: set[str]) -> dict[str, dict[str, Verdict]]:
    table: dict[str, dict[str, Verdict]] = defaultdict(dict)
    for v in verdicts:
        if v.record_id in record_ids:
            table[v.judge][v.record_id] = v
    return dict(table)


def _errors(gens: list[Generation], table: dict[str, dict[str, Verdict]]) -> dict:
    """Error tallies per stage. A judge's errors leave out the records whose generation failed."""
    failed_generation = {g.record_id for g in gens if g.error}
    judges = {}
    for name, by_record in sorted(table.items()):
        own = [v.error for r, v in by_record.items() if v.error and r not in failed_generation]
        asked = sum(1 for r in by_record if r not in failed_generation)
        judges[name] = {**tally(own), "of": asked}
    return {"generation": {**tally(g.error for g in gens if g.error), "of": len(gens)}, "judges": judges}


def _warnings(gens: list[Generation], policy: EnsemblePolicy) -> list[str]:
    warnings = []
    if gens and policy.members and not any(g.harmful for g in gens):
        warnings.append(
            "No sample is marked harmful, so the attack success rate is undefined. Mark the harmful ones "
            "(a `harmful` column, or --dataset-arg harmful=true when every row is harmful).")
    if policy.judges and not policy.members and any(g.harmful for g in gens):
        warnings.append(
            "No selected judge looks at whether the response does harm (image-risk and correctness judges do not), "
            "so the attack success rate is undefined. Add a judge such as refusal or llamaguard.")
    if policy.arbiter and len(policy.members) < 2:
        warnings.append(f"The arbiter {policy.arbiter} never runs: with one ensemble judge there is no disagreement.")
    return warnings


def build_summary(gens: list[Generation], verdicts: list[Verdict],
                  policy: EnsemblePolicy) -> tuple[dict, dict[str, EnsembleVerdict]]:
    """summary.json's content and the ensemble verdict of every generation."""
    ids = {g.record_id for g in gens}
    table = by_judge(rethreshold(verdicts, policy.thresholds), ids)
    selected = {j: table.get(j, {}) for j in [*policy.judges, *([policy.arbiter] if policy.arbiter else [])]}
    ensemble = policy.verdicts([g.record_id for g in gens], table)
    stats = judge_stats(selected)
    by_measure: dict[str, dict[str, dict]] = defaultdict(dict)
    for name, s in stats.items():
        if s["role"] != "arbiter":
            by_measure[s["measures"] or "other"][name] = {"flag_rate": s["flag_rate"], "flag_means": s["flag_means"]}
    thresholds = {j: next((v.threshold for v in table.get(j, {}).values()), policy.thresholds.get(j))
                  for j in selected}
    summary = {
        "n_records": len(gens),
        "n_samples": len({g.sample_id for g in gens}),
        "generation_errors": sum(1 for g in gens if g.error),
        "model": gens[0].model if gens else None,
        "thresholds": thresholds,
        "ensemble": {
            "strategy": policy.strategy,
            "judges": policy.members,
            "side_by_side": policy.side_by_side,
            "arbiter": policy.arbiter,
            "weights": dict(policy.weights),
            "threshold": None if policy.strategy in VOTING_STRATEGIES else policy.threshold,
            "errors": sum(1 for e in ensemble.values() if e.error),
            "flag_rate": _rate([e.flagged for e in ensemble.values() if e.flagged is not None]),
        },
        **attack_success(gens, ensemble),
        "judges": stats,
        "by_measure": dict(by_measure),
        "agreement": agreement({j: table.get(j, {}) for j in policy.judges}, list(policy.judges), ensemble),
        "refusal": refusal(gens, selected),
        "errors": _errors(gens, selected),
        "warnings": _warnings(gens, policy),
    }
    return summary, ensemble


def _rate(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None
