"""``lam3 uncertainty``: uncertainty metrics over K sampled answers per prompt, read from a JSONL file or a
run directory, and how well each metric flags wrong answers (AUROC, PRR) when correctness is known.

Input file, one JSON object per line::

    {"id": "q1", "samples": [{"text": "Paris", "token_logprobs": [-0.1, -0.02]}, ...],
     "correct": true, "question": "Capital of France?", "greedy": {"text": "Paris", "token_logprobs": [...]}}

(``correct``, ``question``, ``greedy`` and each sample's ``token_logprobs`` are optional.) A run
directory is read from its ``generations.jsonl`` (a record's ``samples`` are the K sampled answers,
``response``/``token_logprobs`` the greedy one, ``request`` the question; records without samples
are skipped and counted) and its ``verdicts.jsonl`` (a correctness judge's ``flagged`` = correct).

Outputs: ``--out FILE`` holds one line per id, ``{"id": ..., "<metric>": value or null}`` (null for
NaN); ``FILE`` with the suffix ``.summary.json`` holds the settings, counts, AUROC, PRR and the
accuracy-rejection curve of every metric, and the warnings the metrics logged.

``compute_uncertainty(items, metrics)`` is the part the evaluation pipeline calls.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lam3_core.contract.manager import Plugins
from lam3_core.contract.registry import Component
from lam3_core.interfaces.components import UncertaintyMetric
from lam3_core.interfaces.errors import PluginError, UsageError
from lam3_core.interfaces.measures import Measure
from lam3_core.interfaces.records import SampledAnswer, UncertaintyItem
from lam3_core.kit.secrets import redact
from lam3_core.kit.tabular import json_lines
from lam3_core.run.rundir import FILES
from lam3_core.run.store import read_jsonl, write_json_atomic, write_text_atomic

log = logging.getLogger("lam3")

LINE_FORMAT = ('Each line is {"id": ..., "samples": [{"text": ..., "token_logprobs": [...]}, ...]}, optionally with '
               '"correct" (true/false), "question" and "greedy" ({"text": ..., "token_logprobs": [...]}).')
RECORD_FORMAT = ('A generation record\'s "samples" is a list of {"text": ..., "token_logprobs": [...]}; produce the '
                 "run with lam3 so that the records have that shape.")
CHUNK = 1024
"""Items per ``compute`` call: bounds memory and keeps shared clusterings fresh in their cache."""


@dataclass
class UncertaintyInput:
    """What was read: the items, their ids as written in the input, where correctness came from (None
    when no item has it) and how many records were skipped, by reason."""

    source: Path
    items: list[UncertaintyItem]
    ids: list
    correctness: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)


def _answer(value: object, where: str, fix: str) -> SampledAnswer:
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        raise UsageError(f"{where}: expected an object with a string 'text', got {json.dumps(value)[:80]}.", fix)
    logprobs = value.get("token_logprobs")
    if logprobs is None:
        logprobs = []
    if not isinstance(logprobs, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in logprobs
    ):
        raise UsageError(f"{where}: 'token_logprobs' must be a list of numbers (natural-log token probabilities).", fix)
    return SampledAnswer(value["text"], tuple(float(v) for v in logprobs))


def read_items_file(path: Path) -> UncertaintyInput:
    """Items from a JSONL file; any malformed line is a usage error naming ``path:line``."""
    if not path.is_file():
        raise UsageError(f"Not found: {path}.", "Pass a JSONL file of sampled answers or a lam3 run directory.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} cannot be read: {exc}.") from None
    items, ids, first_line = [], [], {}
    for lineno, row in json_lines(path, text.splitlines(), LINE_FORMAT):
        where = f"{path}:{lineno}"
        raw_id = row.get("id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            raise UsageError(f"{where}: needs an 'id' (a string or an integer), got {raw_id!r}.", LINE_FORMAT)
        if str(raw_id) in first_line:
            raise UsageError(f"{where}: id {raw_id!r} is also on line {first_line[str(raw_id)]}.",
                             "Give every line its own id.")
        first_line[str(raw_id)] = lineno
        samples = row.get("samples")
        if not isinstance(samples, list) or not samples:
            got = "no 'samples'" if samples is None else f"'samples' = {json.dumps(samples)[:60]}"
            raise UsageError(f"{where}: {got}; a line needs a non-empty list of sampled answers.", LINE_FORMAT)
        correct, question = row.get("correct"), row.get("question")
        if correct is not None and not isinstance(correct, bool):
            raise UsageError(f"{where}: 'correct' must be true, false or null, got {correct!r}.", LINE_FORMAT)
        if question is not None and not isinstance(question, str):
            raise UsageError(f"{where}: 'question' must be a string, got {question!r}.", LINE_FORMAT)
        greedy = row.get("greedy")
        items.append(UncertaintyItem(
            id=str(raw_id),
            question=question or "",
            samples=tuple(_answer(s, f"{where}: samples[{i}]", LINE_FORMAT) for i, s in enumerate(samples)),
            greedy=None if greedy is None else _answer(greedy, f"{where}: greedy", LINE_FORMAT),
            correct=correct,
        ))
        ids.append(raw_id)
    if not items:
        raise UsageError(f"{path} holds no items.", LINE_FORMAT)
    labelled = any(item.correct is not None for item in items)
    return UncertaintyInput(path, items, ids, "the input's 'correct' field" if labelled else None)


def _correctness(run_dir: Path, judge: str | None) -> tuple[str | None, dict[str, bool | None]]:
    """The correctness judge to use and its verdict per record id (flagged = correct; None = it failed)."""
    verdicts = [v for v in read_jsonl(run_dir / FILES["verdicts"])
                if v.get("measures") == Measure.CORRECTNESS and v.get("role", "judge") == "judge"]
    judges = sorted({v.get("judge") for v in verdicts})
    if judge is not None and judge not in judges:
        raise UsageError(f"{run_dir} has no correctness verdicts from {judge!r}.",
                         f"Correctness judges there: {', '.join(judges) or 'none'}.")
    if judge is None and len(judges) > 1:
        raise UsageError(f"{run_dir} has verdicts from several correctness judges: {', '.join(judges)}.",
                         "Choose one with --correctness-judge NAME.")
    judge = judge or (judges[0] if judges else None)
    return judge, {v["record_id"]: v.get("flagged") for v in verdicts if v.get("judge") == judge}


def read_run_dir(run_dir: Path, correctness_judge: str | None = None) -> UncertaintyInput:
    """Items from a run directory's generations that have sampled answers, labelled by its correctness judge."""
    generations = run_dir / FILES["generations"]
    if not generations.is_file():
        raise UsageError(f"{run_dir} has no {FILES['generations']}.", "Pass a lam3 run directory or a JSONL file.")
    judge, correct = _correctness(run_dir, correctness_judge)
    items, ids, skipped = [], [], Counter()
    records = read_jsonl(generations)
    for record in records:
        record_id = str(record.get("record_id"))
        samples = record.get("samples")
        if not samples:
            skipped["without samples"] += 1
            continue
        if any(isinstance(s, dict) and s.get("error") for s in samples):
            skipped["with a failed sample"] += 1
            continue
        where = f"{generations} record {record_id!r}"
        greedy = None
        if record.get("response") is not None and not record.get("error"):
            greedy = _answer({"text": record["response"], "token_logprobs": record.get("token_logprobs")},
                             f"{where}: response", RECORD_FORMAT)
        items.append(UncertaintyItem(
            id=record_id,
            question=record.get("request") or "",
            samples=tuple(_answer(s, f"{where}: samples[{i}]", RECORD_FORMAT) for i, s in enumerate(samples)),
            greedy=greedy,
            correct=correct.get(record_id),
        ))
        ids.append(record_id)
    if not items:
        raise UsageError(f"None of the {len(records)} records in {generations} has sampled answers.",
                         "Generate K sampled answers per prompt (a 'samples' field in each record) first.")
    return UncertaintyInput(run_dir, items, ids, f"judge {judge}" if judge else None, dict(skipped))


def read_source(source: str | Path, correctness_judge: str | None = None) -> UncertaintyInput:
    """A run directory or a JSONL file; ``correctness_judge`` only applies to a run directory."""
    path = Path(source).expanduser()
    if path.is_dir():
        return read_run_dir(path, correctness_judge)
    if correctness_judge is not None:
        raise UsageError(f"--correctness-judge applies to a run directory, and {path} is a file.",
                         "Remove it: a file gives correctness in each line's 'correct' field.")
    return read_items_file(path)


def select_metrics(plugins: Plugins, names: Sequence[str], args: Mapping[str, dict]) -> dict[str, Component]:
    """The registered metrics by name, after checking the names and that every ``--metric-arg`` has its metric."""
    if not names:
        raise UsageError("No metric given.", "Pass --metric NAME (see `lam3 plugins`).")
    twice = sorted(n for n, count in Counter(names).items() if count > 1)
    if twice:
        raise UsageError(f"--metric {twice[0]} is given twice.", "Pass each --metric once.")
    stray = sorted(set(args) - set(names))
    if stray:
        raise UsageError(f"--metric-arg given for {', '.join(stray)}, which is not a selected metric.",
                         f"Add --metric {stray[0]}, or remove that --metric-arg. Selected: {', '.join(names)}.")
    return {name: plugins.get("uncertainty_metric", name) for name in names}


def compute_uncertainty(items: Sequence[UncertaintyItem], metrics: Mapping[str, UncertaintyMetric],
                        progress: bool = False) -> dict[str, list[float]]:
    """Every metric's value for every item (NaN where a metric has none), in item order.

    Items go to the metrics in chunks of ``CHUNK``, each chunk to every metric in turn, so metrics
    that share clusterings find them cached. A metric that returns the wrong number of values,
    or something that is not a number, breaks the plugin contract (``PluginError``).
    """
    values: dict[str, list[float]] = {name: [] for name in metrics}
    bar = _progress(len(items) * len(metrics)) if progress else None
    try:
        for start in range(0, len(items), CHUNK):
            chunk = items[start:start + CHUNK]
            for name, metric in metrics.items():
                out = metric.compute(chunk)
                if len(out) != len(chunk) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in out
                ):
                    raise PluginError(f"The uncertainty metric {name!r} returned {len(out)} values for {len(chunk)} "
                                      "items, or a value that is not a number.",
                                      "It must return one float per item (NaN where it has none).")
                values[name].extend(float(v) for v in out)
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return values


def _progress(total: int):
    from tqdm import tqdm

    return tqdm(total=total, desc="uncertainty", unit="value", file=sys.stderr, disable=None, leave=False)


@contextmanager
def collected_warnings() -> Iterator[list[str]]:
    """The messages logged to "lam3" at WARNING or above while the block runs."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Collect(logging.WARNING)
    log.addHandler(handler)
    try:
        yield messages
    finally:
        log.removeHandler(handler)


def summary_path(out: Path) -> Path:
    """``scores.jsonl`` -> ``scores.summary.json``."""
    return out.with_suffix(".summary.json")


def _output_path(out: str | Path, source: Path) -> Path:
    path = Path(out).expanduser()
    if path.is_dir():
        raise UsageError(f"--out {path} is a directory.", "Pass a file name, e.g. --out scores.jsonl.")
    if path.exists() and path.resolve() == source.resolve():
        raise UsageError(f"--out {path} is the input file.", "Write the scores to another file.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"Cannot create {path.parent} ({exc.strerror or exc}).", "Choose a writable --out.") from None
    return path


def run_uncertainty(plugins: Plugins, source: str | Path, metric_names: Sequence[str],
                    metric_args: Mapping[str, dict], out: str | Path, correctness_judge: str | None = None) -> dict:
    """Read ``source``, compute the metrics, write ``out`` and its summary; returns the summary.

    Nothing is written unless every metric ran: a missing model or a bad argument leaves no file.
    """
    components = select_metrics(plugins, metric_names, metric_args)
    metrics = {name: c.create(**metric_args.get(name, {})) for name, c in components.items()}
    data = read_source(source, correctness_judge)
    out_path = _output_path(out, data.source)
    for metric in metrics.values():
        metric.check_ready()
    try:
        with collected_warnings() as warnings:
            values = compute_uncertainty(data.items, metrics, progress=True)
        info = {name: metric.info() for name, metric in metrics.items()}
    finally:
        for metric in metrics.values():
            metric.close()
    lines = [json.dumps({"id": raw_id, **{name: _json_number(v[i]) for name, v in values.items()}}, ensure_ascii=False)
             for i, raw_id in enumerate(data.ids)]
    summary = _summary(data, out_path, components, metric_args, values, info, warnings)
    write_text_atomic(out_path, "".join(line + "\n" for line in lines))
    write_json_atomic(summary_path(out_path), summary)
    return summary


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _summary(data: UncertaintyInput, out: Path, components: Mapping[str, Component], metric_args: Mapping[str, dict],
             values: Mapping[str, list[float]], info: Mapping[str, dict], warnings: list[str]) -> dict:
    from lam3_core.analysis.uncertainty_quality import uncertainty_quality

    correct = [item.correct for item in data.items]
    metrics = {}
    for name, component in components.items():
        column = values[name]
        metrics[name] = {
            "distribution": component.distribution,
            "version": component.version,
            "args": redact(metric_args.get(name, {})),
            "info": info[name],
            "nan": sum(math.isnan(v) for v in column),
            "infinite": sum(math.isinf(v) for v in column),
            "quality": uncertainty_quality(column, correct) if data.correctness else None,
        }
    return {
        "source": str(data.source),
        "scores": str(out),
        "items": len(data.items),
        "skipped": data.skipped,
        "correctness": data.correctness,
        "labelled": sum(c is not None for c in correct),
        "metrics": metrics,
        "warnings": warnings,
    }


def render(summary: dict) -> str:
    """What ``lam3 uncertainty`` prints: counts, AUROC and PRR per metric, the warnings, where the outputs are."""
    skipped = ", ".join(f"{n} records {why}" for why, n in summary["skipped"].items())
    lines = [f"{summary['items']} items from {summary['source']}" + (f" (skipped: {skipped})" if skipped else "")]
    if summary["correctness"]:
        lines.append(f"Correctness from {summary['correctness']}: {summary['labelled']} items labelled.")
    header = f"{'metric':<28} {'NaN':>5}" + (f" {'AUROC':>7} {'PRR':>7} {'n':>6} {'wrong':>6}" if summary["correctness"]
                                              else "")
    lines += ["", header]
    reasons = []
    for name, m in summary["metrics"].items():
        row = f"{name:<28} {m['nan']:>5}"
        q = m["quality"]
        if q is not None:
            row += f" {_fmt(q['auroc']):>7} {_fmt(q['prr']):>7} {q['n']:>6} {q['n_wrong']:>6}"
            if q["auroc_undefined"]:
                reasons.append(f"{name}: AUROC and PRR undefined: {q['auroc_undefined']}.")
        if m["infinite"]:
            reasons.append(f"{name}: {m['infinite']} infinite values are written as null in the scores file.")
        lines.append(row)
    lines += reasons
    if summary["warnings"]:
        lines += ["", "Warnings:", *(f"  {w}" for w in summary["warnings"])]
    summary_file = summary_path(Path(summary["scores"]))
    lines += ["", f"Outputs: {summary['scores']} (one line per id), {summary_file} (settings, counts, AUROC, PRR, "
                  "accuracy-rejection curves)."]
    if summary["correctness"]:
        lines.append(f"Next: compare the metrics' accuracy_rejection curves in {summary_file}.")
    else:
        lines.append("Next: add \"correct\" to the input lines (or score the run with a correctness judge) to get "
                     "AUROC and PRR.")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
