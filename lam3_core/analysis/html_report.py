"""report.html: the summary, plots, provenance and browsable examples of one run, in one self-contained file.

The page is built from what a run directory holds (summary.json, meta.json, the records)
gathered by ``lam3_core.run.report_writer``; this module only turns them into HTML. Sections
whose exact shape is not fixed yet (POPE, uncertainty, corrected ASR, a judge's own figures)
are shown generically, and any section may be absent.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from lam3_core.analysis.errors import describe
from lam3_core.analysis.examples import KINDS, Example, ExampleSelection
from lam3_core.analysis.html_page import clip, data_uri, fmt, generic, render_page

# summary.json keys shown by their own sections; any other key is shown under "Other figures".
CORE_KEYS = frozenset({
    "n_records", "n_samples", "generation_errors", "model", "thresholds", "ensemble", "asr", "asr_any_attack",
    "by_attack", "by_variant", "by_category", "by_attack_category", "judges", "by_measure", "agreement", "refusal",
    "errors", "warnings", "judge_figures",
})
OPTIONAL_SECTIONS = {
    "asr_corrected": "Attack success rate corrected for judge errors",
    "pope": "POPE (object hallucination)",
    "uncertainty": "Uncertainty",
    "uncertainty_vs_safety": "Uncertainty and safety",
}
RAW_LIMIT = 600
_EMPTY = {"thresholds": dict, "ensemble": dict, "by_attack": dict, "by_variant": dict, "by_category": dict,
          "by_attack_category": dict, "judges": dict, "by_measure": dict, "agreement": dict, "errors": dict,
          "warnings": list, "judge_figures": dict}


def _complete(summary: dict) -> dict:
    """``summary`` with every core section present (empty where a summary from another version lacks it)."""
    return {**summary, **{key: make() for key, make in _EMPTY.items() if not isinstance(summary.get(key), make)}}


@dataclass
class ReportPage:
    """Everything report.html shows. ``images`` maps an image reference (as in the records) to its thumbnail
    (a data URI, or None when it cannot be read); ``plots`` maps a plot name to PNG bytes; ``notes`` says why
    a plot or section is missing."""

    summary: dict
    meta: dict
    run_dir: str
    status: str
    status_reason: str = ""
    coverage: list[str] = field(default_factory=list)
    examples: ExampleSelection | None = None
    images: dict[str, str | None] = field(default_factory=dict)
    plots: dict[str, bytes] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def _problems(summary: dict) -> list[str]:
    errors = summary.get("errors") or {}
    blocks = []
    generation = errors.get("generation") or {}
    if generation.get("count"):
        blocks.append(describe("generation", generation, generation.get("of", 0)))
    for judge, tallied in (errors.get("judges") or {}).items():
        if tallied.get("count"):
            blocks.append(describe(f"judge {judge}", tallied, tallied.get("of", 0)))
    return blocks


def _kappa(summary: dict) -> dict:
    agreement = summary.get("agreement") or {}
    pairs = {**(agreement.get("pairwise_kappa") or {}), **(agreement.get("cross_measure_kappa") or {})}
    in_pairs = {name for pair in pairs for name in pair.split("|")}
    judges = [j for j in (summary.get("judges") or {}) if j in in_pairs]
    judges += sorted(in_pairs - set(judges))

    def cell(a: str, b: str) -> str:
        if a == b:
            return "—"
        value = pairs.get(f"{a}|{b}", pairs.get(f"{b}|{a}", "absent"))
        return "" if value == "absent" else fmt(value)

    return {"judges": judges, "rows": [[a, *(cell(a, b) for b in judges)] for a in judges],
            "cross": sorted(agreement.get("cross_measure_kappa") or {})}


def _raw(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return clip(text, RAW_LIMIT)


def _example_view(example: Example, images: dict[str, str | None]) -> dict:
    g, e = example.generation, example.ensemble
    return {
        "record_id": g.record_id,
        "sample_id": g.sample_id,
        "attack": g.attack,
        "variant": str(g.variant),
        "category": g.category or "uncategorised",
        "harmful": {True: "harmful", False: "benign"}.get(g.harmful, "harmfulness unknown"),
        "kinds": example.kinds,
        "flagged_by": example.flagged_by,
        "ensemble": None if e is None else {
            "score": fmt(e.score), "flagged": fmt(e.flagged), "arbitrated": e.arbitrated, "error": e.error},
        "request": clip(g.request),
        "prompt": clip(g.prompt) if g.prompt != g.request else None,
        "response": clip(g.response),
        "images": [{"ref": ref, "uri": images.get(ref)} for ref in g.images],
        "verdicts": [{
            "judge": v.judge, "role": v.role, "score": fmt(v.score), "flagged": fmt(v.flagged), "error": v.error,
            "categories": ", ".join(f"{k} {fmt(s)}" for k, s in sorted(v.categories.items())),
            "flagged_categories": ", ".join(v.flagged_categories), "raw": _raw(v.raw),
        } for v in example.verdicts],
    }


def _examples(page: ReportPage) -> dict | None:
    selection = page.examples
    if selection is None:
        return None
    shown = [_example_view(x, page.images) for x in selection.examples]
    return {
        "items": shown,
        "per_attack": selection.per_attack,
        "candidates": sum(selection.candidates.values()),
        "left_out": selection.left_out,
        "total_left_out": selection.total_left_out,
        "attacks": sorted({x["attack"] for x in shown}),
        "categories": sorted({x["category"] for x in shown}),
        "judges": sorted({j for x in shown for j in x["flagged_by"]}),
        "kinds": [k for k in KINDS if any(k in x["kinds"] for x in shown)],
    }


def _provenance(meta: dict) -> dict:
    model = meta.get("model") or {}
    info = model.get("info") or {}
    command = meta.get("command")
    return {
        "command": shlex.join(command) if isinstance(command, list) else fmt(command),
        "lam3_version": meta.get("lam3_version"),
        "seed": meta.get("seed"),
        "started": meta.get("started"),
        "ended": meta.get("ended"),
        "model": {
            "name": model.get("name"), "distribution": model.get("distribution"), "version": model.get("version"),
            "id": info.get("model_id"), "revision": info.get("resolved_revision") or info.get("revision"),
            "details": generic({k: v for k, v in info.items() if k not in ("model_id", "resolved_revision")}),
            "args": generic(model.get("args") or {}),
        } if model else None,
        "judges": [{
            "name": name, "distribution": j.get("distribution"), "version": j.get("version"),
            "judge_version": j.get("judge_version"), "measures": j.get("measures"), "identity": j.get("identity"),
            "args": generic(j.get("args") or {}), "config": generic(j.get("config") or {}),
        } for name, j in (meta.get("judges") or {}).items()],
        "attacks": [{"name": name, "distribution": a.get("distribution"), "version": a.get("version"),
                     "args": generic(a.get("args") or {})} for name, a in (meta.get("attacks") or {}).items()],
        "dataset": generic({k: v for k, v in (meta.get("dataset") or {}).items() if k != "sample_hashes"}),
        "generation": generic(meta.get("generation") or {}),
        "plugins": meta.get("plugins") or [],
        "environment": generic(meta.get("environment") or {}),
        "invocations": [{
            "command": i.get("command"),
            "argv": shlex.join(i["argv"]) if isinstance(i.get("argv"), list) else fmt(i.get("argv")),
            "started": i.get("started"), "ended": i.get("ended"), "status": i.get("status") or "running",
            "error": i.get("error"),
        } for i in meta.get("invocations") or []],
    }


def render_report(page: ReportPage) -> str:
    """The HTML text of report.html."""
    summary = _complete(page.summary)
    optional = {key: {"title": title, "node": generic(summary[key])}
                for key, title in OPTIONAL_SECTIONS.items() if summary.get(key) is not None}
    other = {key: generic(value) for key, value in summary.items()
             if key not in CORE_KEYS and key not in OPTIONAL_SECTIONS and value is not None}
    return render_page(
        "report.html.j2",
        s=summary,
        run_dir=page.run_dir,
        status=page.status,
        status_reason=page.status_reason,
        coverage=page.coverage,
        problems=_problems(summary),
        kappa=_kappa(summary),
        optional=optional,
        other=other,
        examples=_examples(page),
        plots={name: data_uri(png, "image/png") for name, png in page.plots.items()},
        notes=page.notes,
        provenance=_provenance(page.meta),
    )
