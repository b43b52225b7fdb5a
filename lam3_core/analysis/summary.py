"""summary.json: every metric of a run, rebuilt from its generations and verdicts alone."""

from __future__ import annotations

from collections import defaultdict

from lam3_core.analysis.ensemble import arbitrate, combine
from lam3_core.analysis.metrics import agreement, attack_success, judge_stats, refusal
from lam3_core.interfaces.records import EnsembleVerdict, Generation, Verdict
from lam3_core.run.config import RunConfig

SOCIAL_TOXICITY = "social_toxicity"


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


def ensemble_members(cfg: RunConfig, measures: dict[str, str | None]) -> list[str]:
    """The judges that form the ensemble (and so the ASR): ``--ensemble-judge`` when given, else the
    selected judges that measure attack success (all but social-toxicity judges, which are
    reported side by side instead of being blended by accident), else all selected judges."""
    if cfg.ensemble_judges:
        return list(cfg.ensemble_judges)
    success = [j for j in cfg.judges if measures.get(j) != SOCIAL_TOXICITY]
    return success or list(cfg.judges)


def ensemble_verdicts(
    gens: list[Generation],
    table: dict[str, dict[str, Verdict]],
    cfg: RunConfig,
    members: list[str],
    use_arbiter: bool = True,
) -> dict[str, EnsembleVerdict]:
    """The ensemble verdict of every generation over ``members``, arbitrated where needed."""
    threshold = float(cfg.thresholds.get("ensemble", 0.5))
    result = {}
    for g in gens:
        votes = {j: table[j][g.record_id] for j in members if g.record_id in table.get(j, {})}
        verdict = combine(g.record_id, votes, cfg.ensemble, cfg.judge_weights, threshold)
        arbiter = table.get(cfg.arbiter or "", {}).get(g.record_id) if use_arbiter else None
        if verdict.disagreement and arbiter is not None:
            verdict = arbitrate(verdict, arbiter)
        result[g.record_id] = verdict
    return result


def needs_arbiter(
    gens: list[Generation], table: dict[str, dict[str, Verdict]], cfg: RunConfig, members: list[str]
) -> list[Generation]:
    """The generations on which the ensemble's judges disagree (only these go to the arbiter)."""
    ensemble = ensemble_verdicts(gens, table, cfg, members, use_arbiter=False)
    return [g for g in gens if ensemble[g.record_id].disagreement]


def build_summary(
    gens: list[Generation], verdicts: list[Verdict], cfg: RunConfig
) -> tuple[dict, dict[str, EnsembleVerdict]]:
    ids = {g.record_id for g in gens}
    table = by_judge(rethreshold(verdicts, cfg.thresholds), ids)
    selected = {j: table.get(j, {}) for j in [*cfg.judges, *([cfg.arbiter] if cfg.arbiter else [])]}
    measures = {j: next(iter(vs.values())).measures for j, vs in table.items() if vs}
    members = ensemble_members(cfg, measures)
    ensemble = ensemble_verdicts(gens, table, cfg, members)
    stats = judge_stats(selected)
    by_measure: dict[str, dict[str, float | None]] = defaultdict(dict)
    for name, s in stats.items():
        if s["role"] != "arbiter":
            by_measure[s["measures"] or "other"][name] = s["flag_rate"]
    summary = {
        "n_records": len(gens),
        "n_samples": len({g.sample_id for g in gens}),
        "generation_errors": sum(1 for g in gens if g.error),
        "model": gens[0].model if gens else cfg.model,
        "ensemble": {
            "strategy": cfg.ensemble,
            "judges": members,
            "side_by_side": [j for j in cfg.judges if j not in members],
            "arbiter": cfg.arbiter,
            "weights": dict(cfg.judge_weights),
            "threshold": float(cfg.thresholds.get("ensemble", 0.5)),
            "errors": sum(1 for e in ensemble.values() if e.error),
            "flag_rate": _rate([e.flagged for e in ensemble.values() if e.flagged is not None]),
        },
        **attack_success(gens, ensemble, cfg.seed),
        "judges": stats,
        "by_measure": dict(by_measure),
        "agreement": agreement({j: table.get(j, {}) for j in cfg.judges}, list(cfg.judges), ensemble),
        "refusal": refusal(gens, selected, cfg.seed),
    }
    return summary, ensemble


def _rate(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None
