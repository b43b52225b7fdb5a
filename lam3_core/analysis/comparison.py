"""Several runs side by side (comparison.json, comparison.html), and the check that they are comparable.

Runs are comparable when they scored the same data (meta.json ``dataset.fingerprint``) with the
same judges (names and identities: arguments, versions, code) combined the same way (ensemble
strategy, members, arbiter, thresholds). Anything else is listed as a difference; comparing
anyway is the caller's explicit choice, and the page then shows the differences first.
"""

from __future__ import annotations

from dataclasses import dataclass

from lam3_core.analysis.html_page import data_uri, fmt, generic, render_page


@dataclass(frozen=True)
class ComparedRun:
    """One run as compared: a short ``label``, its directory, summary.json, meta.json and state."""

    label: str
    path: str
    summary: dict
    meta: dict
    status: str


def _dataset(run: ComparedRun) -> str:
    d = run.meta.get("dataset") or {}
    fingerprint = d.get("fingerprint")
    return (f"{d.get('name', 'unknown')} ({d.get('n_samples', '?')} samples, fingerprint "
            f"{fingerprint[:12] if fingerprint else 'unknown: not recorded'})")


def _judges(run: ComparedRun) -> dict[str, str | None]:
    recorded = run.meta.get("judges") or {}
    return {name: (recorded.get(name) or {}).get("identity") for name in run.summary.get("judges") or {}}


def _scoring(run: ComparedRun) -> str:
    ens = run.summary.get("ensemble") or {}
    text = f"{ens.get('strategy')} of {', '.join(ens.get('judges') or [])}"
    if ens.get("arbiter"):
        text += f", arbiter {ens['arbiter']}"
    if ens.get("threshold") is not None:
        text += f", ensemble threshold {fmt(ens['threshold'])}"
    thresholds = run.summary.get("thresholds") or {}
    return text + "; thresholds " + ", ".join(f"{j}={fmt(t)}" for j, t in sorted(thresholds.items()))


def _listing(runs: list[ComparedRun], describe) -> str:
    return "; ".join(f"{r.label}: {describe(r)}" for r in runs)


def differences(runs: list[ComparedRun]) -> list[str]:
    """What makes the runs' numbers not comparable, one line per difference (empty when they are)."""
    found = []
    fingerprints = {(r.meta.get("dataset") or {}).get("fingerprint") for r in runs}
    if len(fingerprints) > 1 or None in fingerprints:
        found.append(f"dataset: {_listing(runs, _dataset)}")
    judges = [_judges(r) for r in runs]
    names = [sorted(j) for j in judges]
    if any(n != names[0] for n in names):
        found.append(f"judges: {_listing(runs, lambda r: ', '.join(sorted(_judges(r))) or 'none')}")
    for name in sorted(set.intersection(*(set(j) for j in judges))):
        identities = [j[name] for j in judges]
        if len(set(identities)) > 1 or None in identities:
            found.append(f"judge {name} has other settings, version or code (identity): "
                         + _listing(runs, lambda r, n=name: _judges(r)[n] or "not recorded"))
    scorings = [_scoring(r) for r in runs]
    if len(set(scorings)) > 1:
        found.append(f"how judges are combined: {_listing(runs, _scoring)}")
    return found


def _f1_values(section, prefix: str = "") -> dict[str, float | None]:
    """Every F1 inside a section (POPE's per split and mean), named by the keys leading to it."""
    found: dict[str, float | None] = {}
    if not isinstance(section, dict):
        return found
    for key, value in section.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        if str(key).lower() == "f1":
            found[prefix or "f1"] = value.get("value") if isinstance(value, dict) else value
        elif isinstance(value, dict):
            found.update(_f1_values(value, path))
    return found


def _by_name(runs: list[ComparedRun], key: str) -> dict[str, dict[str, dict | None]]:
    names = list(dict.fromkeys(n for r in runs for n in (r.summary.get(key) or {})))
    return {n: {r.label: (r.summary.get(key) or {}).get(n) for r in runs} for n in names}


def comparison(runs: list[ComparedRun], found: list[str], allow_different: bool) -> dict:
    """comparison.json's content: the runs, their differences, and their figures side by side."""
    result = {
        "runs": [{"label": r.label, "path": r.path, "model": r.summary.get("model"), "status": r.status,
                  "dataset": _dataset(r), "n_records": r.summary.get("n_records")} for r in runs],
        "differences": found,
        "allow_different": allow_different,
        "asr": {r.label: r.summary.get("asr") for r in runs},
        "asr_any_attack": {r.label: r.summary.get("asr_any_attack") for r in runs},
        "by_attack": _by_name(runs, "by_attack"),
        "by_category": _by_name(runs, "by_category"),
        "judges": {j: {r.label: {k: ((r.summary.get("judges") or {}).get(j) or {}).get(k)
                                 for k in ("flag_rate", "flag_means", "n", "errors", "mean_score")} for r in runs}
                   for j in dict.fromkeys(j for r in runs for j in (r.summary.get("judges") or {}))},
    }
    pope = {r.label: _f1_values(r.summary.get("pope")) for r in runs if r.summary.get("pope") is not None}
    if pope:
        splits = list(dict.fromkeys(s for values in pope.values() for s in values))
        result["pope_f1"] = {s: {r.label: pope.get(r.label, {}).get(s) for r in runs} for s in splits}
    corrected = {r.label: r.summary.get("asr_corrected") for r in runs if r.summary.get("asr_corrected") is not None}
    if corrected:
        result["asr_corrected"] = corrected
    return result


def render_comparison(result: dict, plots: dict[str, bytes]) -> str:
    """The HTML text of comparison.html."""
    labels = [r["label"] for r in result["runs"]]
    return render_page(
        "comparison.html.j2",
        c=result,
        labels=labels,
        corrected=generic(result["asr_corrected"]) if "asr_corrected" in result else None,
        plots={name: data_uri(png, "image/png") for name, png in plots.items()},
    )
