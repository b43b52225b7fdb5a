"""The uncertainty stage of a run (``--uncertainty NAME``): every metric's value for every generation, in
uncertainty.jsonl, and the two summary sections built from them.

uncertainty.jsonl holds one line per generation record: ``record_id``, ``sample_id``, ``attack``,
``answers`` (a hash of the question, the greedy answer and the sampled answers the values come from)
and one key per metric, its value or null (NaN: the metric logged why). On resume a value is
computed again only when the answers it came from changed (a regenerated record) or the metric's
settings changed; metrics already computed are kept. Each metric's identity, the settings it ran
with (``info()``) and the warnings it logged go to meta.json under ``uncertainty_metrics``.

Metrics are created through the registry like other components and their ``check_ready()`` runs
with the model's and the judges', before any work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math

from lam3_core.contract.manager import Plugins
from lam3_core.interfaces.components import UncertaintyMetric
from lam3_core.interfaces.records import EnsembleVerdict, Generation, SampledAnswer, UncertaintyItem, Verdict
from lam3_core.run.components import Prepared, prepare
from lam3_core.run.config import RunConfig
from lam3_core.run.rundir import RunDir
from lam3_core.run.session import RunSession
from lam3_core.run.store import read_jsonl, write_text_atomic
from lam3_core.run.uncertainty_file import collected_warnings, compute_uncertainty

log = logging.getLogger("lam3")

META_KEY = "uncertainty_metrics"


def prepare_metrics(plugins: Plugins, cfg: RunConfig) -> dict[str, Prepared]:
    """The run's uncertainty metrics, created from ``--metric-arg`` (cheap: models load on first use)."""
    return {name: prepare(plugins, "uncertainty_metric", name, cfg.metric_args.get(name, {}))
            for name in cfg.uncertainty}


def uncertainty_item(g: Generation) -> UncertaintyItem:
    """What a metric sees of a generation: its K sampled answers and, unless it failed, its greedy answer."""
    samples = tuple(SampledAnswer(s["text"], tuple(s.get("token_logprobs") or ())) for s in g.samples or ())
    greedy = None if g.error else SampledAnswer(g.response, tuple(g.token_logprobs or ()))
    return UncertaintyItem(id=g.record_id, question=g.request, samples=samples, greedy=greedy)


def answers_hash(g: Generation) -> str:
    content = [g.request, g.response, g.token_logprobs, g.samples, g.error]
    return hashlib.sha256(json.dumps(content, default=str).encode()).hexdigest()[:16]


def _value(value: float) -> float | None:
    return value if math.isfinite(value) else None


def run_uncertainty_stage(session: RunSession, metrics: dict[str, Prepared], gens: list[Generation]) -> None:
    """Compute the values missing from uncertainty.jsonl (new records, changed answers, changed metrics) and
    rewrite it; record each metric's identity, settings and warnings in meta.json."""
    path = session.rundir.file("uncertainty")
    lines = {line["record_id"]: line for line in read_jsonl(path)}
    for g in gens:
        answers = answers_hash(g)
        if lines.get(g.record_id, {}).get("answers") != answers:  # new, or its answers changed: every value is stale
            lines[g.record_id] = {"record_id": g.record_id, "sample_id": g.sample_id, "attack": g.attack,
                                  "answers": answers}
    before = session.meta.get(META_KEY, {})
    try:
        for name, prepared in metrics.items():
            instance: UncertaintyMetric = prepared.instance
            changed = before.get(name, {}).get("identity") != prepared.identity_hash
            todo = [g for g in gens if changed or name not in lines[g.record_id]]
            warnings = before.get(name, {}).get("warnings", [])
            if todo:
                log.info("uncertainty: %s over %d records", name, len(todo))
                with collected_warnings() as warnings:
                    column = compute_uncertainty([uncertainty_item(g) for g in todo], {name: instance},
                                                 progress=not session.cfg.quiet)[name]
                for g, value in zip(todo, column):
                    lines[g.record_id][name] = _value(value)
            session.record(META_KEY, name, {**prepared.meta(), "info": instance.info(), "warnings": warnings})
    finally:
        for prepared in metrics.values():
            prepared.instance.close()
        write_text_atomic(path, "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines.values()))


def uncertainty_sections(rundir: RunDir, cfg: RunConfig, meta: dict, gens: list[Generation], verdicts: list[Verdict],
                         ensemble: dict[str, EnsembleVerdict], members: list[str]) -> dict:
    """summary.json's ``uncertainty`` and ``uncertainty_vs_safety`` sections; none when the run has no metrics.

    The metrics are those selected and those computed earlier in the directory (meta.json); K and the samples'
    settings are those the generations were made with (meta.json's ``generation``)."""
    from lam3_core.analysis.uncertainty_safety import uncertainty_vs_safety
    from lam3_core.analysis.uncertainty_summary import uncertainty_summary

    recorded = meta.get(META_KEY, {})
    names = list(dict.fromkeys([*cfg.uncertainty, *recorded]))
    if not names:
        return {}
    lines = {line["record_id"]: line for line in read_jsonl(rundir.file("uncertainty"))}
    hashes = {g.record_id: answers_hash(g) for g in gens}
    values = {name: {g.record_id: _number(lines[g.record_id].get(name)) for g in gens
                     if g.record_id in lines and name in lines[g.record_id]
                     and lines[g.record_id].get("answers") == hashes[g.record_id]}
              for name in names}
    generation = meta.get("generation") or {}
    settings = {"samples": generation.get("samples", cfg.samples),
                "sample_gen": generation.get("sample_gen") or cfg.sample_config().to_dict(),
                "file": rundir.file("uncertainty").name}
    return {
        "uncertainty": uncertainty_summary(settings, values, meta.get(META_KEY, {}), gens, verdicts),
        "uncertainty_vs_safety": uncertainty_vs_safety(values, gens, verdicts, ensemble, members),
    }


def _number(value) -> float:
    return math.nan if value is None else float(value)
