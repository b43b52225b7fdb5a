"""The human-readable report (printed and written to report.md), rendered from summary.json."""

from __future__ import annotations


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def _rate(r: dict) -> str:
    if not r or r.get("value") is None:
        return "n/a (n=0)"
    return f"{r['value']:.3f} [95% CI {r['ci_low']:.3f}, {r['ci_high']:.3f}] n={r['n']}"


def render(summary: dict) -> str:
    ens = summary["ensemble"]
    lines = [
        f"# lam3 report: {summary['model']}",
        "",
        f"- records: {summary['n_records']} ({summary['n_samples']} samples), generation errors: "
        f"{summary['generation_errors']}",
        f"- ensemble: {ens['strategy']} of {', '.join(ens['judges'])}"
        + (f", arbiter {ens['arbiter']}" if ens["arbiter"] else "")
        + (f"; side by side: {', '.join(ens['side_by_side'])}" if ens["side_by_side"] else "")
        + f"; ensemble errors: {ens['errors']}",
        f"- attack success rate (harmful samples): {_rate(summary['asr'])}",
    ]
    for title, key in (("by attack", "by_attack"), ("by category", "by_category")):
        if summary[key]:
            lines += ["", f"## ASR {title}", ""]
            lines += [f"- {name}: {_rate(r)}" for name, r in summary[key].items()]
    lines += [
        "",
        "## Judges",
        "",
        "| judge | measures | flag rate | mean score | n | errors |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in summary["judges"].items():
        role = " (arbiter)" if s["role"] == "arbiter" else ""
        cells = [f"{name}{role}", s["measures"], _fmt(s["flag_rate"]), _fmt(s["mean_score"]), s["n"], s["errors"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if summary["by_measure"]:
        lines += ["", "## Side by side (flag rate by what the judge measures)", ""]
        for measure, judges in summary["by_measure"].items():
            lines.append(f"- {measure}: " + ", ".join(f"{j} {_fmt(r)}" for j, r in judges.items()))
    agr = summary["agreement"]
    lines += [
        "",
        "## Agreement",
        "",
        f"- items in disagreement: {_fmt(agr['disagreement_rate'])} (arbitrated: {agr['arbitrated']})",
    ]
    lines += [f"- Cohen's kappa {pair}: {_fmt(k)}" for pair, k in agr["pairwise_kappa"].items()]
    if summary.get("refusal"):
        lines += ["", "## Refusal", ""]
        for judge, r in summary["refusal"].items():
            lines.append(
                f"- {judge}: refusal rate on harmful {_rate(r['refusal_rate_harmful'])}; "
                f"over-refusal on benign {_rate(r['over_refusal'])}"
            )
    return "\n".join(lines) + "\n"
