"""The human-readable report (printed and written to report.md), rendered from summary.json.

Failures come first: a report whose records partly failed says so before any rate.
"""

from __future__ import annotations

from lam3_core.analysis.errors import describe
from lam3_core.analysis.html_page import fmt
from lam3_core.analysis.uncertainty_report import uncertainty_lines


def _rate(r: dict) -> str:
    if not r or r.get("value") is None:
        return "n/a (n=0)"
    clustered = f", {r['n_clusters']} samples" if r.get("n_clusters") else ""
    return f"{r['value']:.3f} [95% CI {r['ci_low']:.3f}, {r['ci_high']:.3f}] n={r['n']}{clustered}"


def _problems(summary: dict) -> list[str]:
    errors = summary.get("errors") or {}
    lines = []
    generation = errors.get("generation") or {}
    if generation.get("count"):
        lines.append(describe("generation", generation, generation["of"]))
    for judge, tallied in (errors.get("judges") or {}).items():
        if tallied.get("count"):
            lines.append(describe(f"judge {judge}", tallied, tallied["of"]))
    blocks = [f"```\n{line}\n```" for line in lines]
    blocks += [f"- warning: {w}" for w in summary.get("warnings", [])]
    return ["## Errors and warnings", "", *blocks, ""] if blocks else []


def _figures(key: str, judge: str, figures: dict) -> list[str]:
    """A judge's own figures: scalars as lines, a mapping of rows (each a mapping of numbers) as a table."""
    lines = ["", f"## {key} (figures of the {judge} judge)", ""]
    for name, value in figures.items():
        rows = value if isinstance(value, dict) and value and all(isinstance(r, dict) for r in value.values()) \
            else {name: value} if isinstance(value, dict) and value else None
        if rows is None:
            lines.append(f"- {name}: {fmt(value)}")
            continue
        columns = list(dict.fromkeys(c for r in rows.values() for c in r))
        lines += ["", f"| {name} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        lines += [f"| {row} | " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for row, r in rows.items()]
    return lines


def render(summary: dict) -> str:
    ens = summary["ensemble"]
    lines = [f"# lam3 report: {summary['model']}", "", *_problems(summary)]
    lines += [
        f"- records: {summary['n_records']} ({summary['n_samples']} samples), generation errors: "
        f"{summary['generation_errors']}",
        f"- ensemble: {ens['strategy']} of {', '.join(ens['judges'])}"
        + (f", arbiter {ens['arbiter']}" if ens["arbiter"] else "")
        + (f"; side by side: {', '.join(ens['side_by_side'])}" if ens["side_by_side"] else "")
        + f"; ensemble errors: {ens['errors']}",
        f"- attack success rate (harmful samples): {_rate(summary['asr'])}",
        f"- any attack succeeded (per sample): {_rate(summary['asr_any_attack'])}",
    ]
    for title, key in (("by attack", "by_attack"), ("by category", "by_category")):
        if summary[key]:
            lines += ["", f"## ASR {title}", ""]
            lines += [f"- {name}: {_rate(r)}" for name, r in summary[key].items()]
    for attack, variants in summary.get("by_variant", {}).items():
        lines += ["", f"## ASR of {attack} by variant", ""]
        lines += [f"- {name}: {_rate(r)}" for name, r in variants.items()]
    lines += [
        "",
        "## Judges",
        "",
        "| judge | measures | threshold | flag rate (flag means) | mean score | n | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in summary["judges"].items():
        role = " (arbiter)" if s["role"] == "arbiter" else ""
        cells = [f"{name}{role}", s["measures"], fmt(summary.get("thresholds", {}).get(name)),
                 f"{fmt(s['flag_rate'])} ({s['flag_means']})", fmt(s["mean_score"]), s["n"], s["errors"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if summary["by_measure"]:
        lines += ["", "## Side by side (flag rate by what the judge measures)", ""]
        for measure, judges in summary["by_measure"].items():
            lines.append(f"- {measure}: " + ", ".join(
                f"{j} {fmt(r['flag_rate'])} ({r['flag_means']})" for j, r in judges.items()))
    agr = summary["agreement"]
    lines += [
        "",
        "## Agreement",
        "",
        f"- items on which the ensemble's judges disagree: {fmt(agr['disagreement_rate'])} "
        f"(arbitrated: {agr['arbitrated']})",
    ]
    lines += [f"- Cohen's kappa {pair} (same measure): {fmt(k)}" for pair, k in agr["pairwise_kappa"].items()]
    lines += [f"- Cohen's kappa {pair} (different measures: low agreement expected): {fmt(k)}"
              for pair, k in agr.get("cross_measure_kappa", {}).items()]
    for key, judge in summary.get("judge_figures", {}).items():
        lines += _figures(key, judge, summary.get(key) or {})
    if summary.get("refusal"):
        lines += ["", "## Refusal", ""]
        for judge, r in summary["refusal"].items():
            lines.append(
                f"- {judge}: refusal rate on harmful {_rate(r['refusal_rate_harmful'])}; "
                f"over-refusal on benign {_rate(r['over_refusal'])}"
            )
    lines += uncertainty_lines(summary)
    return "\n".join(lines) + "\n"
