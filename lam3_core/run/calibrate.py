"""``lam3 calibrate``: score human-labelled items with a judge and measure how far its flags can be trusted.

Labelled items come from a JSONL / CSV file (columns ``request``, ``response``, ``label``, and
optionally ``context`` and ``images``; ``label`` is true when the response is a successful
attack, i.e. harmful) or from HarmBench's classifier validation set
(``text_behaviors_val_set.json``: the majority of ``human_0..2`` is the label, and the
behaviour text and context string come from ``harmbench_behaviors_text_all.csv`` by
BehaviorID, passed with ``--behaviors``). The judge is created exactly as a run creates it and
scores the items in batches; items it cannot score are counted and listed, never dropped.

The result (``FORMAT``) is written to ``--out`` and stored for later runs as
``$LAM3_CACHE_DIR/calibrations/<judge>/<identity>.json``, ``identity`` being the judge's identity
hash — the one its verdicts record as ``judge_config``: its distribution and version, every
argument with defaults filled in, its code when installed from a folder, its ``version`` and
``config()`` — so a run finds the calibration of exactly the judge it ran (``find_calibration``).
Its fields:

* ``format``, ``created``, ``lam3_version``;
* ``judge``, ``judge_version``, ``judge_args`` (resolved, secrets redacted), ``identity``,
  ``measures``, ``threshold`` (flag = score >= threshold);
* ``labels``: ``path``, ``sha256``, ``behaviors`` (the behaviours CSV or null);
* ``rows`` (items read), ``unusable`` (``[{"where", "reason"}]``: items that could not be built,
  e.g. a behaviour missing from the CSV), ``scored``, ``errors`` (``[{"where", "error"}]``);
* ``agreement``: from ``lam3_core.analysis.calibration.judge_agreement`` over the scored items:
  ``n``, ``positives``, ``negatives``, ``confusion`` (tp, fp, tn, fn), ``sensitivity``,
  ``specificity``, ``accuracy`` (each ``{"value", "ci_low", "ci_high", "k", "n", "reason"}``,
  Wilson 95%) and ``kappa`` (``{"value", "ci_low", "ci_high", "reason", "undefined_resamples"}``,
  bootstrap 95%);
* ``warnings``: plain sentences (one class only, unusable items, errors);
* ``items``: ``[{"where", "label", "score", "flagged", "error"}]`` in file order, from which
  ``calibration_pairs`` rebuilds the (judge flag, human label) pairs at any threshold for
  ``lam3_core.analysis.calibration.corrected_asr``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from lam3_core.analysis.calibration import corrected_asr, judge_agreement
from lam3_core.contract.manager import Plugins
from lam3_core.interfaces.errors import UsageError
from lam3_core.interfaces.records import Generation, JudgeItem, Verdict
from lam3_core.kit.cachedir import cache_dir
from lam3_core.kit.tabular import read_rows
from lam3_core.run.components import prepare_judge
from lam3_core.run.environment import now
from lam3_core.run.judging import score_items
from lam3_core.run.rundir import safe_name
from lam3_core.run.store import write_json_atomic
from lam3_core.version import __version__

FORMAT = "lam3-calibration/1"
_TRUE = {"1", "true", "yes", "harmful", "unsafe"}
_FALSE = {"0", "false", "no", "benign", "safe"}
HUMANS = ("human_0", "human_1", "human_2")


@dataclass
class LabelledItem:
    """One item a human labelled: where it came from, what the judge sees, and the label."""

    where: str
    item: JudgeItem
    label: bool


def _label(value, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"{where}: cannot read the label {value!r} as true/false.",
                     "Write label as true/false, 1/0 or yes/no (true = the response is a successful attack).")


def _images(value) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str) and value.strip().startswith("["):
        value = json.loads(value)
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def read_labelled_rows(path: Path) -> tuple[list[LabelledItem], list[dict]]:
    """Items from a JSONL / CSV (or JSON list) file with columns request, response, label [, context, images]."""
    if path.suffix.lower() == ".json":
        data = _json_document(path)
        rows = list(enumerate(data, start=1)) if isinstance(data, list) else None
    else:
        rows = None
    rows = rows if rows is not None else read_rows(path)
    if not rows:
        raise UsageError(f"{path} holds no items.", "Give a file with one labelled item per line or row.")
    missing = [c for c in ("request", "response", "label") if c not in rows[0][1]]
    if missing:
        raise UsageError(f"{path}: no {', '.join(repr(c) for c in missing)} column.",
                         f"Columns found: {', '.join(rows[0][1]) or 'none'}. A calibration file needs request, "
                         "response and label (true = the response is a successful attack).")
    items = []
    for line, row in rows:
        where = f"{path}:{line}"
        if not isinstance(row, dict):
            raise UsageError(f"{where}: expected an object with request, response and label.")
        if row.get("label") in (None, ""):
            raise UsageError(f"{where}: the label is empty.", "Every item needs a human label (true or false).")
        context = row.get("context")
        items.append(LabelledItem(where, JudgeItem(request=str(row.get("request") or ""),
                                                   response=str(row.get("response") or ""),
                                                   images=_images(row.get("images")),
                                                   context=str(context) if context not in (None, "") else None),
                                  _label(row["label"], where)))
    return items, []


def _json_document(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} cannot be read: {exc}.") from None
    except json.JSONDecodeError:
        return None  # not one JSON document: read as JSON lines


def is_harmbench_val_set(data) -> bool:
    """HarmBench's classifier validation set: {BehaviorID: [{"generation", "human_0", ...}, ...]}."""
    return (isinstance(data, dict) and bool(data)
            and all(isinstance(v, list) and all(isinstance(x, dict) and "generation" in x and "human_0" in x
                                                for x in v) for v in data.values()))


def read_harmbench_val_set(path: Path, behaviors: Path) -> tuple[list[LabelledItem], list[dict]]:
    """Items of HarmBench's classifier validation set: the majority of the three human labels, the behaviour and
    (for contextual behaviours) its context string from the behaviours CSV; items whose behaviour is not in
    the CSV, or that lack a human label, are returned as unusable with the reason."""
    data = _json_document(path)
    if not is_harmbench_val_set(data):
        raise UsageError(f"{path} is not HarmBench's classifier validation set.",
                         "Pass the text_behaviors_val_set.json from HarmBench's data/classifier_val_sets.")
    if not behaviors.is_file():
        raise UsageError(f"Behaviours file not found: {behaviors}.",
                         "Pass --behaviors harmbench_behaviors_text_all.csv from HarmBench's data/behavior_datasets.")
    with open(behaviors, encoding="utf-8", newline="") as fh:
        table = {row.get("BehaviorID"): row for row in csv.DictReader(fh)}
    if not {"Behavior", "BehaviorID", "ContextString", "Tags"} <= set(next(iter(table.values()), {})):
        raise UsageError(f"{behaviors} lacks HarmBench's columns (Behavior, BehaviorID, ContextString, Tags).",
                         "Pass harmbench_behaviors_text_all.csv.")
    items, unusable = [], []
    for behavior_id, cases in data.items():
        for i, case in enumerate(cases):
            where = f"{behavior_id}[{i}]"
            row = table.get(behavior_id)
            votes = [case.get(h) for h in HUMANS]
            if row is None:
                unusable.append({"where": where, "reason": f"behaviour {behavior_id!r} is not in {behaviors.name}"})
            elif any(v not in (0, 1) for v in votes):
                unusable.append({"where": where, "reason": f"human labels {votes} are not three 0/1 votes"})
            else:
                context = row["ContextString"] if "context" in row["Tags"].split(", ") else None
                items.append(LabelledItem(where, JudgeItem(request=row["Behavior"], response=case["generation"],
                                                           context=context or None), sum(votes) >= 2))
    return items, unusable


def read_labels(path: str | Path, behaviors: str | Path | None = None) -> tuple[list[LabelledItem], list[dict]]:
    """The labelled items of ``path`` (and the unusable ones, with reasons), whichever format it is in."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"Labels file not found: {path}.", "Check the --labels path.")
    if path.suffix.lower() == ".json" and is_harmbench_val_set(_json_document(path)):
        if behaviors is None:
            raise UsageError(f"{path} is HarmBench's classifier validation set, which holds behaviour ids, not texts.",
                             "Pass --behaviors harmbench_behaviors_text_all.csv as well.")
        return read_harmbench_val_set(path, Path(behaviors).expanduser())
    return read_labelled_rows(path)


def stored_path(judge: str, identity: str) -> Path:
    """``$LAM3_CACHE_DIR/calibrations/<judge>/<identity>.json``."""
    return cache_dir() / "calibrations" / safe_name(judge) / f"{identity}.json"


def find_calibration(judge: str, identity: str) -> dict | None:
    """The stored calibration of the judge with this identity hash (a verdict's ``judge_config``), or None."""
    path = stored_path(judge, identity)
    if not path.is_file():
        return None
    result = json.loads(path.read_text(encoding="utf-8"))
    same = result.get("format") == FORMAT and result.get("judge") == judge and result.get("identity") == identity
    return result if same else None


def calibration_pairs(calibration: dict, threshold: float | None = None) -> list[tuple[bool, bool]]:
    """(judge flag, human label) of every scored item, flagged at ``threshold`` (default: the calibration's)."""
    t = calibration["threshold"] if threshold is None else threshold
    return [(item["score"] >= t, item["label"]) for item in calibration["items"] if item["score"] is not None]


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _warnings(agreement: dict, unusable: list, errors: list, rows: int) -> list[str]:
    notes = []
    if agreement["n"] == 0:
        notes.append("The judge scored none of the items: no figure can be computed.")
    else:
        for key in ("sensitivity", "specificity"):
            if agreement[key]["reason"]:
                notes.append(f"Only one class among the scored items: {agreement[key]['reason']}.")
        if agreement["kappa"]["reason"]:
            notes.append(f"Cohen's kappa is undefined: {agreement['kappa']['reason']}.")
    if unusable:
        notes.append(f"{len(unusable)} of {rows} items could not be built (listed under 'unusable').")
    if errors:
        notes.append(f"The judge could not score {len(errors)} items (listed under 'errors').")
    return notes


def calibrate(plugins: Plugins, judge_name: str, judge_args: dict, labels: str | Path, out: str | Path,
              behaviors: str | Path | None = None, threshold: float | None = None, batch_size: int = 8,
              seed: int = 0, resamples: int = 2000) -> dict:
    """Score the labelled items with the judge, measure its agreement with the humans, write and store it."""
    if batch_size < 1:
        raise UsageError(f"Bad --batch-size {batch_size}.", "Give a positive integer.")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise UsageError(f"Bad --threshold {threshold}.", "Give a number in [0, 1].")
    labelled, unusable = read_labels(labels, behaviors)
    prepared = prepare_judge(plugins, judge_name, judge_args)
    judge = prepared.instance
    judge.check_ready()
    threshold = float(judge.threshold if threshold is None else threshold)
    scores = []
    from tqdm import tqdm

    with tqdm(total=len(labelled), desc=judge_name, unit="item", file=sys.stderr, disable=None, leave=False) as bar:
        for start in range(0, len(labelled), batch_size):
            batch = labelled[start:start + batch_size]
            scores.extend(score_items(judge, [x.item for x in batch], judge_name))
            bar.update(len(batch))
    judge.close()
    items = [{"where": x.where, "label": x.label, "score": None if s.error else float(s.score),
              "flagged": None if s.error else float(s.score) >= threshold, "error": s.error}
             for x, s in zip(labelled, scores)]
    errors = [{"where": i["where"], "error": i["error"]} for i in items if i["error"]]
    agreement = judge_agreement([(i["flagged"], i["label"]) for i in items if i["error"] is None], seed, resamples)
    labels_path = Path(labels).expanduser()
    result = {
        "format": FORMAT,
        "created": now(),
        "lam3_version": __version__,
        "judge": judge_name,
        "judge_version": judge.version,
        "judge_args": prepared.meta()["args"],
        "identity": prepared.identity_hash,
        "measures": str(judge.measures),
        "threshold": threshold,
        "labels": {"path": str(labels_path), "sha256": _file_sha256(labels_path),
                   "behaviors": str(Path(behaviors).expanduser()) if behaviors else None},
        "rows": len(labelled) + len(unusable),
        "unusable": unusable,
        "scored": agreement["n"],
        "errors": errors,
        "agreement": agreement,
        "warnings": _warnings(agreement, unusable, errors, len(labelled) + len(unusable)),
        "items": items,
    }
    stored = stored_path(judge_name, prepared.identity_hash)
    result["stored_at"] = str(stored)
    for path in (Path(out).expanduser(), stored):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, result)
    return result


def _figure(name: str, figure: dict) -> str:
    if figure["value"] is None:
        return f"{name}: undefined ({figure['reason']})"
    interval = "" if figure["ci_low"] is None else f" [{figure['ci_low']:.3f}, {figure['ci_high']:.3f}]"
    counts = f" ({figure['k']}/{figure['n']})" if "k" in figure else ""
    return f"{name}: {figure['value']:.3f}{interval}{counts}"


def summary_lines(result: dict) -> list[str]:
    """What ``lam3 calibrate`` prints: counts, the four figures with their intervals, and the warnings."""
    a = result["agreement"]
    lines = [
        f"{result['judge']} ({result['judge_version']}), threshold {result['threshold']}",
        f"items: {result['rows']} read, {len(result['unusable'])} unusable, {a['n']} scored, "
        f"{len(result['errors'])} errors; labels: {a['positives']} successful attacks, {a['negatives']} failed",
        _figure("sensitivity", a["sensitivity"]),
        _figure("specificity", a["specificity"]),
        _figure("accuracy", a["accuracy"]),
        _figure("Cohen's kappa", a["kappa"]),
    ]
    return lines + [f"Warning: {w}" for w in result["warnings"]]


def corrected_rates(gens: list[Generation], verdicts: list[Verdict], judges: list[str], seed: int) -> dict:
    """For each of ``judges`` that has a stored calibration of exactly the judge that scored this run, its
    attack success rate corrected for its errors (``asr_corrected`` in summary.json), beside the uncorrected one.

    ``verdicts`` carry the thresholds in force (after ``rethreshold``); the calibration's pairs are flagged at
    the same threshold.
    """
    harmful = {g.record_id for g in gens if g.harmful and not g.error}
    corrected = {}
    for name in judges:
        mine = [v for v in verdicts if v.judge == name and v.record_id in harmful and v.error is None]
        identities = {v.judge_config for v in mine}
        calibration = find_calibration(name, identities.pop()) if len(identities) == 1 else None
        if calibration is None:
            continue
        threshold = mine[0].threshold
        result = corrected_asr([bool(v.flagged) for v in mine], calibration_pairs(calibration, threshold), seed)
        corrected[name] = {**result, "threshold": threshold, "calibration": calibration.get("stored_at"),
                           "calibration_labels": calibration["labels"]["path"]}
    return corrected
