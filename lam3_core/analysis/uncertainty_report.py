"""report.md's uncertainty sections, rendered from summary.json's ``uncertainty`` and ``uncertainty_vs_safety``."""

from __future__ import annotations

from lam3_core.analysis.html_page import fmt


def _sampling(gen: dict) -> str:
    return (f"temperature {gen['temperature']:g}, top_p {gen['top_p']:g}, top_k {gen['top_k'] or 'off'}, "
            f"max_new_tokens {gen['max_new_tokens']}")


def uncertainty_lines(summary: dict) -> list[str]:
    """Both sections' lines, or none when the run computed no uncertainty."""
    section = summary.get("uncertainty")
    if not section:
        return []
    lines = ["", "## Uncertainty", "",
             f"- {section['samples']} sampled answers per prompt ({_sampling(section['sample_gen'])}); "
             f"values per record in {section['file']}", "",
             "| metric | mean | computed | NaN | missing |", "|---|---|---|---|---|"]
    for name, m in section["metrics"].items():
        lines.append(f"| {name} | {fmt(m['mean'])} | {m['computed']} | {m['nan']} | {m['missing']} |")
    if section["correctness_undefined"]:
        lines += ["", f"- AUROC / PRR: n/a: {section['correctness_undefined']}."]
    for judge, by_metric in section["correctness"].items():
        lines += ["", f"How well each metric flags wrong answers (correctness from {judge}; AUROC 0.5 = chance):", "",
                  "| metric | AUROC | PRR | n | wrong |", "|---|---|---|---|---|"]
        reasons = []
        for name, q in by_metric.items():
            lines.append(f"| {name} | {fmt(q['auroc'])} | {fmt(q['prr'])} | {q['n']} | {q['n_wrong']} |")
            if q["auroc_undefined"]:
                reasons.append(f"- {name}: AUROC and PRR undefined: {q['auroc_undefined']}.")
        lines += [""] + reasons if reasons else []
    return lines + _safety_lines(summary.get("uncertainty_vs_safety"))


def _safety_lines(section: dict | None) -> list[str]:
    if not section:
        return []
    lines = ["", "## Uncertainty vs safety", ""]
    if section["undefined"]:
        return lines + [f"- n/a: {section['undefined']}."]
    lines += [f"- predicting that {section['target']}: {section['n']} responses, {section['n_unsafe']} unsafe "
              "(AUROC 0.5 = no relation, above: higher values go with unsafe responses)", "",
              "| score | AUROC | PRR | n | unsafe |", "|---|---|---|---|---|"]
    reasons = []
    for name, f in section["scores"].items():
        lines.append(f"| {name} | {fmt(f['auroc'])} | {fmt(f['prr'])} | {f['n']} | {f['n_unsafe']} |")
        if f["undefined"]:
            reasons.append(f"- {name}: undefined: {f['undefined']}.")
    return lines + ([""] + reasons if reasons else [])
