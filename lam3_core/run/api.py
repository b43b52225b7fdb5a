"""The Python API: ``evaluate``, ``generate``, ``judge`` and ``report``. The CLI parses arguments and calls these.

Each takes a ``RunConfig`` (or a plain mapping with the same keys) and returns a ``RunOutcome``.
Everything the user gave is checked — plugins, their arguments, weights, images, the output
directory — before the run directory is created. A run whose records mostly failed raises
``RunFailed`` after everything was written; its ``outcome`` holds what was produced::

    from lam3_core import RunConfig, evaluate
    outcome = evaluate(RunConfig(model="echo", judges=["refusal"], dataset="mini", out="runs/x"))
    outcome.summary["asr"]
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lam3_core.analysis.examples import DEFAULT_PER_ATTACK
from lam3_core.analysis.report import render
from lam3_core.analysis.summary import build_summary, by_judge
from lam3_core.contract.manager import Plugins, load_plugins
from lam3_core.interfaces.components import Judge
from lam3_core.interfaces.errors import Lam3Error, RunFailed, UsageError
from lam3_core.interfaces.records import Generation, Verdict
from lam3_core.run.calibrate import corrected_rates
from lam3_core.run.command_setup import as_config, given_settings, judge_setup, output_dir, with_dataset_judges
from lam3_core.run.components import (
    Prepared,
    check_ready,
    model_requirements,
    prepare,
    prepare_attacks,
    prepare_judge,
    prepare_judges,
)
from lam3_core.run.config import RunConfig, resolve
from lam3_core.run.failures import StageErrors, generation_errors, summary_errors
from lam3_core.run.generation import run_generation
from lam3_core.run.importing import import_generations, read_foreign_generations
from lam3_core.run.judging import judge_records
from lam3_core.run.preflight import Preflight, generation_preflight, judge_preflight
from lam3_core.run.report_writer import write_report_html
from lam3_core.run.rundir import FILES, RunDir
from lam3_core.run.runs_index import run_state
from lam3_core.run.samples import check_images, load_dataset
from lam3_core.run.session import RunSession
from lam3_core.run.store import read_jsonl, write_json_atomic, write_text_atomic
from lam3_core.run.uncertainty_stage import prepare_metrics, run_uncertainty_stage, uncertainty_sections

log = logging.getLogger("lam3")


@dataclass(frozen=True)
class RunOutcome:
    """What a command produced: where, its summary (None for ``generate``), what went wrong on the way
    (error tallies and warnings, for the user to read), and the next useful command."""

    command: str
    out_dir: Path
    summary: dict | None
    problems: tuple[str, ...]
    next_step: str

    @property
    def files(self) -> list[Path]:
        return [self.out_dir / name for name in FILES.values() if (self.out_dir / name).exists()]


def read_generations(rundir: RunDir) -> list[Generation]:
    return [Generation.from_dict(r) for r in read_jsonl(rundir.file("generations"))]


def read_verdicts(rundir: RunDir) -> list[Verdict]:
    return [Verdict.from_dict(r) for r in read_jsonl(rundir.file("verdicts"))]


def _finish(session: RunSession, summary: dict | None, stages: list[StageErrors], next_step: str) -> RunOutcome:
    """The outcome, or ``RunFailed`` carrying it when a stage failed beyond ``--max-error-rate``."""
    problems = [s.text for s in stages] + list((summary or {}).get("warnings", []))
    outcome = RunOutcome(session.command, session.rundir.path, summary, tuple(problems), next_step)
    fatal = [s for s in stages if s.fatal(session.cfg.max_error_rate)]
    if fatal:
        raise RunFailed(
            f"Too many records failed (more than --max-error-rate {session.cfg.max_error_rate:g}):\n"
            + "\n".join(s.text for s in fatal)
            + f"\nEverything was written to {session.rundir.path}; fix the cause and rerun the same command to "
            "retry the failed records.", outcome)
    return outcome


def _summarize(session: RunSession, gens: list[Generation], measures: dict[str, str],
               judges: dict[str, Judge], examples: int = DEFAULT_PER_ATTACK) -> dict:
    """summary.json, ensemble.jsonl, report.md and report.html from the run's records; judges add their own
    figures. ``examples``: how many flagged and disputed records per attack report.html shows."""
    rundir = session.rundir
    verdicts = read_verdicts(rundir)
    policy = session.cfg.ensemble_policy(measures)
    summary, ensemble = build_summary(gens, verdicts, policy)
    corrected = corrected_rates(gens, verdicts, policy.members, session.cfg.seed)
    if corrected:
        summary["asr_corrected"] = corrected
    scored = by_judge(verdicts, {g.record_id for g in gens})
    by_id = {g.record_id: g for g in gens}
    for name, judge in judges.items():
        figures = judge.summarize([(by_id[r], v) for r, v in scored.get(name, {}).items()])
        if figures is not None:
            key = judge.summary_key or f"{name}_figures"
            summary[key] = figures
            summary.setdefault("judge_figures", {})[key] = name
    summary.update(uncertainty_sections(rundir, session.cfg, session.meta, gens, verdicts, ensemble, policy.members))
    write_text_atomic(rundir.file("ensemble"), "".join(json.dumps(e.to_dict()) + "\n" for e in ensemble.values()))
    write_json_atomic(rundir.file("summary"), summary)
    write_text_atomic(rundir.file("report"), render(summary))
    write_report_html(rundir, summary, session.meta, gens, verdicts, ensemble, command=session.command,
                      examples=examples, quiet=session.cfg.quiet, max_error_rate=session.cfg.max_error_rate)
    session.summary = summary
    return summary


def _judge_and_summarize(session: RunSession, judges: dict[str, Prepared], gens: list[Generation]) -> dict:
    cfg = session.cfg
    judge_records(session, {n: judges[n] for n in cfg.judges}, gens)
    measures = {n: str(j.instance.measures) for n, j in judges.items()}
    if cfg.arbiter:
        table = by_judge(read_verdicts(session.rundir), {g.record_id for g in gens})
        disputed = set(cfg.ensemble_policy(measures).disputed([g.record_id for g in gens], table))
        judge_records(session, {cfg.arbiter: judges[cfg.arbiter]}, [g for g in gens if g.record_id in disputed],
                      role="arbiter")
    return _summarize(session, gens, measures, {n: j.instance for n, j in judges.items()})


def _generation_command(cfg: RunConfig, command: str, with_judges: bool, plugins: Plugins | None,
                        argv: Sequence[str] | None) -> RunOutcome:
    cfg.validate(need_model=True, need_judges=False)
    plugins = plugins or load_plugins()
    rundir = output_dir(cfg)
    rundir.check_writable_target()
    dataset = load_dataset(plugins, cfg)
    cfg = with_dataset_judges(cfg, dataset, with_judges)
    cfg.validate(need_model=True, need_judges=with_judges)
    model = prepare(plugins, "model", str(cfg.model), cfg.model_args)
    attacks = prepare_attacks(plugins, cfg)
    judges = prepare_judges(plugins, cfg) if with_judges else {}
    metrics = prepare_metrics(plugins, cfg)
    for _, _, check in model_requirements(cfg, model, attacks):
        check()
    check_ready(model, judges, metrics)
    check_images(dataset.samples, model.instance.reads_images)
    with RunSession(plugins, cfg, rundir, command, argv or sys.argv) as session:
        gens = run_generation(session, dataset, model, attacks)
        stages = [generation_errors(gens)]
        if metrics and not stages[0].fatal(cfg.max_error_rate):
            run_uncertainty_stage(session, metrics, gens)
        if with_judges and not stages[0].fatal(cfg.max_error_rate):
            summary = _judge_and_summarize(session, judges, gens)
            return _finish(session, summary, summary_errors(summary), f"lam3 report {rundir.path}")
        return _finish(session, None, [s for s in stages if s.tallied["count"]],
                       f"lam3 judge {rundir.path} --judge refusal")


def evaluate(config: RunConfig | Mapping, *, plugins: Plugins | None = None,
             argv: Sequence[str] | None = None) -> RunOutcome:
    """Generate, judge and summarise in one go; rerunning the same config resumes."""
    return _generation_command(as_config(config), "eval", True, plugins, argv)


def generate(config: RunConfig | Mapping, *, plugins: Plugins | None = None,
             argv: Sequence[str] | None = None) -> RunOutcome:
    """Only generate (e.g. on a GPU server without internet); judge later with ``judge``."""
    return _generation_command(as_config(config), "generate", False, plugins, argv)


def judge(source: str | Path, config: RunConfig | Mapping, *, plugins: Plugins | None = None,
          argv: Sequence[str] | None = None) -> RunOutcome:
    """Score a run directory, or a generations file made elsewhere (``config.out`` says where then).

    Settings not given are taken from the source run's configuration (thresholds, ensemble, ...).
    """
    generations_file, cfg = judge_setup(source, config)
    plugins = plugins or load_plugins()
    rundir = RunDir(cfg.out)
    if not rundir.is_run:
        rundir.check_writable_target()
    judges = prepare_judges(plugins, cfg)
    check_ready(None, judges)
    foreign = generations_file.resolve() != rundir.file("generations").resolve()
    imported = read_foreign_generations(generations_file) if foreign else []
    with RunSession(plugins, cfg, rundir, "judge", argv or sys.argv) as session:
        if foreign:
            import_generations(imported, rundir)
        gens = read_generations(rundir)
        summary = _judge_and_summarize(session, judges, gens)
        return _finish(session, summary, summary_errors(summary), f"lam3 report {rundir.path}")


def report(run_dir: str | Path, config: RunConfig | Mapping | None = None, *, plugins: Plugins | None = None,
           argv: Sequence[str] | None = None, examples: int = DEFAULT_PER_ATTACK) -> RunOutcome:
    """Rebuild summary.json, report.md and report.html from a run directory, with other thresholds or strategy
    if given; ``examples`` flagged and disputed records per attack are shown in report.html.

    The thresholds and strategy used go into summary.json, and the invocation into meta.json.
    """
    rundir = RunDir(run_dir)
    rundir.require_run()
    meta = rundir.read_meta()
    cfg = resolve({k: v for k, v in meta.get("config", {}).items() if k != "out"}, given_settings(config))
    cfg = dataclasses.replace(cfg, out=str(rundir.path))
    cfg.validate(need_model=False, need_judges=True)
    verdicts = read_verdicts(rundir)
    have = {v.judge for v in verdicts}
    missing = [j for j in cfg.judges if j not in have]
    stopped = run_state(meta, True).status != "finished"
    if missing and (given_settings(config).get("judges") or not stopped):
        raise UsageError(
            f"{rundir.path} has no verdicts from {', '.join(missing)}.",
            f"Score them first: lam3 judge {rundir.path} --judge {missing[0]}",
        )
    if missing:
        log.warning("%s has no verdicts from %s yet: its judging stopped before them, so the report is partial "
                    "(rerun the command that made it to finish it)", rundir.path, ", ".join(missing))
    plugins = plugins or load_plugins()
    measures = {v.judge: v.measures for v in verdicts}
    judges = _judges_for_figures(plugins, cfg)
    with RunSession(plugins, cfg, rundir, "report", argv or sys.argv) as session:
        summary = _summarize(session, read_generations(rundir), measures, judges, examples)
        return _finish(session, summary, summary_errors(summary), f"open {rundir.file('report_html').resolve()}")


def preflight(command: str, config: RunConfig | Mapping, source: str | Path | None = None, *,
              plugins: Plugins | None = None) -> Preflight:
    """What ``command`` (eval, generate or judge; judge scores ``source``) would check and write, checked without
    loading a model or creating anything (``--dry-run``)."""
    plugins = plugins or load_plugins()
    if command == "judge":
        return judge_preflight(source, config, plugins)
    return generation_preflight(as_config(config), command, plugins)


def _judges_for_figures(plugins: Plugins, cfg: RunConfig) -> dict[str, Judge]:
    """The run's judges, for the figures of their own they add to the summary; one that can no longer be
    created (uninstalled) is left out with a warning rather than blocking the report."""
    judges = {}
    for name in cfg.judges:
        try:
            judges[name] = prepare_judge(plugins, name, cfg.judge_args.get(name, {})).instance
        except Lam3Error as exc:
            log.warning("the %s judge's own figures are left out of the report: %s", name, exc)
    return judges
