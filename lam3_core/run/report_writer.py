"""report.html of a run directory: what the summary does not hold (examples, images, score distributions,
uncertainty curves, how complete the run is) gathered from the directory, rendered, written atomically.

Images are shown small: each is read once, downscaled and embedded as a JPEG data URI, so the
file opens anywhere with no network. A record's images are relative to the run directory
(attack images) or absolute (the dataset's); one that cannot be read here is named instead.
"""

from __future__ import annotations

import io
import logging
import math
from pathlib import Path

from lam3_core.analysis.examples import DEFAULT_PER_ATTACK, select_examples
from lam3_core.analysis.html_page import data_uri
from lam3_core.analysis.html_report import ReportPage, render_report
from lam3_core.analysis.summary import by_judge
from lam3_core.interfaces.measures import Measure
from lam3_core.interfaces.records import EnsembleVerdict, Generation, Verdict
from lam3_core.run.attacking import resolve_images
from lam3_core.run.failures import summary_errors
from lam3_core.run.progress import Progress
from lam3_core.run.rundir import RunDir
from lam3_core.run.runs_index import WORK_COMMANDS, RunState, run_state
from lam3_core.run.store import read_jsonl, write_text_atomic

log = logging.getLogger("lam3")

THUMBNAIL_PX = 192
UNCERTAINTY_FILE = "uncertainty.jsonl"
_NOT_METRICS = {"id", "record_id", "sample_id", "correct"}


def thumbnail(path: str) -> str | None:
    """The image at ``path`` downscaled to fit THUMBNAIL_PX, as a JPEG data URI; None if it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.draft("RGB", (THUMBNAIL_PX, THUMBNAIL_PX))
            small = image.convert("RGB")
            small.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=85)
    return data_uri(buffer.getvalue(), "image/jpeg")


def coverage(summary: dict, meta: dict, gens: list[Generation]) -> list[str]:
    """What is missing from a run killed half-way: samples an attack has not answered, records a judge has not
    scored."""
    lines = []
    expected = (meta.get("dataset") or {}).get("n_samples")
    if expected:
        for attack in meta.get("attacks") or {}:
            answered = len({g.sample_id for g in gens if g.attack == attack})
            if answered < expected:
                lines.append(f"attack {attack}: {answered} of {expected} samples answered")
    for name, stats in (summary.get("judges") or {}).items():
        scored = (stats.get("n") or 0) + (stats.get("errors") or 0)
        if stats.get("role") != "arbiter" and scored < summary.get("n_records", 0):
            lines.append(f"judge {name}: {scored} of {summary['n_records']} records scored")
    return lines


def _correctness(verdicts: list[Verdict], gens: list[Generation]) -> dict[str, bool]:
    """Correct (True) or not by record id, and by sample id where a sample has one judged record."""
    by_record = {v.record_id: bool(v.flagged) for v in verdicts
                 if v.measures == Measure.CORRECTNESS and v.error is None and v.role != "arbiter"}
    sample_of = {g.record_id: g.sample_id for g in gens}
    samples: dict[str, list[bool]] = {}
    for record, correct in by_record.items():
        samples.setdefault(sample_of.get(record, ""), []).append(correct)
    return {**{s: c[0] for s, c in samples.items() if len(c) == 1}, **by_record}


def uncertainty_roc(rundir: RunDir, verdicts: list[Verdict], gens: list[Generation]) -> tuple[dict, str | None]:
    """``({metric: (fpr, tpr, auroc)}, note)`` from the run's uncertainty.jsonl and correctness (the file's
    ``correct`` field, else a correctness judge's verdicts); the note says why there are no curves."""
    path = rundir.path / UNCERTAINTY_FILE
    if not path.is_file():
        return {}, f"No ROC curves: the run directory has no {UNCERTAINTY_FILE} (uncertainty values per record)."
    rows = read_jsonl(path)
    judged = _correctness(verdicts, gens)
    values: dict[str, list[tuple[float, bool]]] = {}
    for row in rows:
        key = str(row.get("id", row.get("record_id", row.get("sample_id"))))
        correct = row["correct"] if isinstance(row.get("correct"), bool) else judged.get(key)
        if correct is None:
            continue
        for metric, value in row.items():
            if metric not in _NOT_METRICS and isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and not math.isnan(value):
                values.setdefault(metric, []).append((float(value), correct))
    usable = {m: v for m, v in values.items() if len({c for _, c in v}) == 2}
    if not usable:
        return {}, (f"No ROC curves: {UNCERTAINTY_FILE} has no metric with both right and wrong answers among the "
                    "items whose correctness is known (a `correct` field, or a correctness judge's verdicts).")
    from sklearn.metrics import roc_auc_score, roc_curve

    curves = {}
    for metric, pairs in usable.items():
        wrong = [0 if c else 1 for _, c in pairs]
        scores = [u for u, _ in pairs]
        fpr, tpr, _ = roc_curve(wrong, scores)
        curves[metric] = (fpr.tolist(), tpr.tolist(), float(roc_auc_score(wrong, scores)))
    return curves, None


def _accuracy_rejection_curves(section, prefix: str = "") -> dict[str, list]:
    """Every ``accuracy_rejection`` curve inside a summary section, named by the keys leading to it."""
    found = {}
    if isinstance(section, dict):
        curve = section.get("accuracy_rejection")
        if isinstance(curve, list) and curve:
            found[prefix or "metric"] = curve
        for key, value in section.items():
            if isinstance(value, dict):
                found.update(_accuracy_rejection_curves(value, f"{prefix}/{key}" if prefix else str(key)))
    return found


def _plots(summary: dict, table: dict[str, dict[str, Verdict]], rundir: RunDir, verdicts: list[Verdict],
           gens: list[Generation]) -> tuple[dict[str, bytes], dict[str, str]]:
    from lam3_core.analysis import plots

    made: dict[str, bytes | None] = {}
    notes = {}
    made["asr_by_attack"] = plots.asr_by_attack(summary.get("asr"), summary.get("by_attack") or {})
    if made["asr_by_attack"] is None:
        notes["asr_by_attack"] = "No plot: no harmful sample has an attack success verdict."
    agreement = summary.get("agreement") or {}
    pairs = {**(agreement.get("pairwise_kappa") or {}), **(agreement.get("cross_measure_kappa") or {})}
    judges = [j for j in summary.get("judges") or {} if any(j in p.split("|") for p in pairs)]
    made["agreement"] = plots.agreement_heatmap(judges, pairs)
    if made["agreement"] is None:
        notes["agreement"] = "No heatmap: agreement needs at least two judges."
    scores = {j: [v.score for v in table.get(j, {}).values() if v.error is None and v.score is not None]
              for j in summary.get("judges") or {}}
    made["scores"] = plots.score_distributions(scores, summary.get("thresholds") or {})
    if made["scores"] is None:
        notes["scores"] = "No plot: no judge has scored a record."
    if summary.get("uncertainty") is not None or (rundir.path / UNCERTAINTY_FILE).is_file():
        curves, note = uncertainty_roc(rundir, verdicts, gens)
        made["roc"] = plots.roc_curves(curves)
        if note:
            notes["roc"] = note
        made["accuracy_rejection"] = plots.accuracy_rejection(_accuracy_rejection_curves(summary.get("uncertainty")))
    return {k: v for k, v in made.items() if v is not None}, notes


def _state(meta: dict, summary: dict, command: str | None, max_error_rate: float) -> RunState:
    """The run's state as the command writing the report sees it: a working command whose records failed beyond
    ``--max-error-rate`` is about to fail, as its summary already shows."""
    if command in WORK_COMMANDS:
        fatal = [s.stage for s in summary_errors(summary) if s.fatal(max_error_rate)]
        if fatal:
            return RunState("failed", f"lam3 {command}: too many records failed (more than --max-error-rate "
                                      f"{max_error_rate:g}) in {', '.join(fatal)}; see the errors below")
    return run_state(meta, True, current=command)


def write_report_html(rundir: RunDir, summary: dict, meta: dict, gens: list[Generation], verdicts: list[Verdict],
                      ensemble: dict[str, EnsembleVerdict], *, command: str | None = None,
                      examples: int = DEFAULT_PER_ATTACK, quiet: bool = False, max_error_rate: float = 1.0) -> Path:
    """Write report.html beside summary.json. ``verdicts`` are thresholded as in ``summary``; ``command`` is the
    command writing it now (its own invocation in ``meta`` has no end yet), ``max_error_rate`` its limit."""
    judges = list(summary.get("judges") or {})
    table = by_judge([v for v in verdicts if v.judge in judges], {g.record_id for g in gens})
    state = _state(meta, summary, command, max_error_rate)
    missing = coverage(summary, meta, gens)
    if missing and state.status == "finished":
        state = RunState("partial", "not every record is answered and judged")
    selection = select_examples(gens, {j: table.get(j, {}) for j in judges}, ensemble, examples) if table else None
    refs = sorted({ref for x in (selection.examples if selection else []) for ref in x.generation.images})
    images = {}
    if refs:
        with Progress(len(refs), "report images", quiet, unit="images") as progress:
            for ref, path in zip(refs, resolve_images(rundir, refs)):
                images[ref] = thumbnail(path)
                progress.update(1)
    plots, notes = _plots(summary, table, rundir, verdicts, gens)
    page = ReportPage(summary, meta, str(rundir.path.resolve()), state.status, state.reason, missing, selection,
                      images, plots, notes)
    path = rundir.file("report_html")
    write_text_atomic(path, render_report(page))
    log.info("report written: %s (%d examples, %d images)", path, len(selection.examples) if selection else 0,
             len(images))
    return path

