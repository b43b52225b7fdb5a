"""summary.json's ``uncertainty`` section: each metric's values over the run, and how well each flags wrong
answers (AUROC, PRR, accuracy-rejection curve) wherever a correctness judge scored the answers.

Correctness comes from the verdicts of every judge that measures correctness (``pope``, or any judge
with ``measures = "correctness"``): flagged = the greedy answer is right. Each such judge gets its own
figures; without one the figures are absent and ``correctness_undefined`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from lam3_core.analysis.uncertainty_quality import uncertainty_quality
from lam3_core.interfaces.measures import Measure
from lam3_core.interfaces.records import Generation, Verdict

NO_CORRECTNESS = ("no judge of this run measures correctness, so it is unknown which answers are wrong; a "
                  "correctness judge (e.g. pope on a dataset with labels) gives AUROC and PRR")


def correctness_by_judge(verdicts: list[Verdict], record_ids: set[str]) -> dict[str, dict[str, bool]]:
    """``{judge: {record_id: correct}}`` from the correctness judges' verdicts that did not fail."""
    table: dict[str, dict[str, bool]] = {}
    for v in verdicts:
        if v.measures == Measure.CORRECTNESS and v.role == "judge" and v.error is None and v.record_id in record_ids:
            table.setdefault(v.judge, {})[v.record_id] = bool(v.flagged)
    return dict(sorted(table.items()))


def _metric_figures(by_record: Mapping[str, float], ids: list[str], meta: dict) -> dict:
    column = [by_record[r] for r in ids if r in by_record]
    finite = [v for v in column if math.isfinite(v)]
    return {
        "distribution": meta.get("distribution"), "version": meta.get("version"), "args": meta.get("args", {}),
        "info": meta.get("info", {}), "computed": len(column), "missing": len(ids) - len(column),
        "nan": sum(math.isnan(v) for v in column), "mean": sum(finite) / len(finite) if finite else None,
        "warnings": meta.get("warnings", []),
    }


def uncertainty_summary(settings: dict, values: Mapping[str, Mapping[str, float]], metric_meta: Mapping[str, dict],
                        gens: list[Generation], verdicts: list[Verdict]) -> dict:
    """``settings`` (K, the samples' settings, the file) with, per metric, its figures over the run's records
    (``values``: metric -> record id -> value, NaN for none; a record without a value is ``missing``) and, per
    correctness judge, each metric's ``uncertainty_quality`` (y = the answer is wrong)."""
    ids = [g.record_id for g in gens]
    correctness = correctness_by_judge(verdicts, set(ids))
    quality = {judge: {name: uncertainty_quality([by_record.get(r, math.nan) for r in ids], [right.get(r) for r in ids])
                       for name, by_record in values.items()}
               for judge, right in correctness.items()}
    metrics = {name: _metric_figures(by_record, ids, metric_meta.get(name, {})) for name, by_record in values.items()}
    return {
        **settings,
        "n_records": len(ids),
        "metrics": metrics,
        "correctness": quality,
        "correctness_undefined": None if quality else NO_CORRECTNESS,
    }
