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

import numpy as np

from lam3_core.analysis.examples import DEFAULT_PER_ATTACK, select_examples
from lam3_core.analysis.html_page import data_uri
from lam3_core.analysis.html_report import ReportPage, render_report
from lam3_core.analysis.summary import by_judge
from lam3_core.analysis.uncertainty_summary import NO_CORRECTNESS, correctness_by_judge
from lam3_core.interfaces.records import EnsembleVerdict, Generation, Verdict
from lam3_core.run.attacking import resolve_images
from lam3_core.run.failures import summary_errors
from lam3_core.run.progress import Progress
from lam3_core.run.rundir import FILES, RunDir
from lam3_core.run.runs_index import WORK_COMMANDS, RunState, run_state
from lam3_core.run.store import read_jsonl, write_text_atomic
from lam3_core.run.uncertainty_stage import answers_hash

log = logging.getLogger("lam3")

THUMBNAIL_PX = 192
_NOT_METRICS = {"record_id", "sample_id", "attack", "answers"}


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


def _fresh_values(rundir: RunDir, gens: list[Generation]) -> dict[str, dict[str, float]]:
    """metric -> record id -> value, from uncertainty.jsonl lines made from the records' current answers (a value
    computed from answers since regenerated is left out, as the summary leaves it out); NaN and null dropped."""
    current = {g.record_id: answers_hash(g) for g in gens}
    values: dict[str, dict[str, float]] = {}
    for line in read_jsonl(rundir.file("uncertainty")):
        record = line.get("record_id")
        if record not in current or line.get("answers") != current[record]:
            continue
        for metric, value in line.items():
            if metric not in _NOT_METRICS and isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and not math.isnan(value):
                values.setdefault(metric, {})[record] = float(value)
    return values


def uncertainty_roc(rundir: RunDir, verdicts: list[Verdict], gens: list[Generation]) -> tuple[dict, str | None]:
    """``({label: (fpr, tpr, auroc)}, note)``: the ROC of each metric flagging wrong answers, against each
    correctness judge (the pairs summary.json's AUROC is computed on); the note says why there are none."""
    if not rundir.file("uncertainty").is_file():
        return {}, (f"No ROC curves: the run directory has no {FILES['uncertainty']} "
                    "(lam3 eval --samples K --uncertainty NAME writes one).")
    correctness = correctness_by_judge(verdicts, {g.record_id for g in gens})
    if not correctness:
        return {}, f"No ROC curves: {NO_CORRECTNESS}."
    from sklearn.metrics import roc_auc_score, roc_curve

    curves = {}
    for judge, right in correctness.items():
        for metric, by_record in _fresh_values(rundir, gens).items():
            pairs = [(value, right[r]) for r, value in by_record.items() if r in right]
            if len({correct for _, correct in pairs}) < 2:
                continue
            wrong = [not correct for _, correct in pairs]
            order = np.unique([value for value, _ in pairs], return_inverse=True)[1]  # ranks: infinities keep order
            fpr, tpr, _ = roc_curve(wrong, order)
            label = metric if len(correctness) == 1 else f"{metric} ({judge})"
            curves[label] = (fpr.tolist(), tpr.tolist(), float(roc_auc_score(wrong, order)))
    if not curves:
        return {}, ("No ROC curves: no metric has values for both right and wrong answers "
                    "(see the uncertainty section for why).")
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
    if summary.get("uncertainty") is not None or rundir.file("uncertainty").is_file():
        curves, note = uncertainty_roc(rundir, verdicts, gens)
        made["roc"] = plots.roc_curves(curves)
        if note:
            notes["roc"] = note
        curves = _accuracy_rejection_curves((summary.get("uncertainty") or {}).get("correctness"))
        made["accuracy_rejection"] = plots.accuracy_rejection(curves)
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

