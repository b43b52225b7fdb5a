"""The ``lam3`` command line: eval, generate, judge, report, plugins, judge-prompt.

Importing this module imports no torch: plugins are found through their light
registration modules, and heavy code loads only when a model or judge is created.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from lam3_core import __version__
from lam3_core.contract.manager import Plugins, load_plugins
from lam3_core.interfaces.errors import Lam3Error, UsageError
from lam3_core.run.config import STRATEGIES, RunConfig, load_yaml, parse_judge_pairs, parse_pairs, resolve
from lam3_core.run.rundir import FILES, RunDir


class Lam3Failure(click.ClickException):
    """A user-caused error: printed as one line, exit status 2, no traceback."""

    exit_code = 2


class Lam3Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Lam3Error as exc:
            raise Lam3Failure(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("Interrupted. Everything written so far is kept; rerun the same command to resume.", err=True)
            sys.exit(130)


def _plugins() -> Plugins:
    ctx = click.get_current_context()
    obj = ctx.find_object(dict) or {}
    if "plugins" not in obj:
        obj["plugins"] = load_plugins(obj.get("extra_plugins", ()))
    return obj["plugins"]


def _options(*decorators):
    def apply(f):
        for d in reversed(decorators):
            f = d(f)
        return f

    return apply


config_option = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="YAML file with any of these options."
)
out_option = click.option("--out", type=click.Path(file_okay=False), help="Run directory (created; rerun to resume).")
batch_option = click.option("--batch-size", type=int, help="Items per batch for the model and local judges [8].")

model_options = _options(
    click.option("--model", help="Model plugin name (see `lam3 plugins`)."),
    click.option("--model-arg", multiple=True, metavar="K=V", help="Argument for the model factory (repeatable)."),
    click.option("--dataset", help="Dataset name, or a .jsonl/.csv file."),
    click.option("--dataset-arg", multiple=True, metavar="K=V", help="Argument for the dataset (e.g. prompt=COLUMN)."),
    click.option("--attack", "attacks", multiple=True, help="Attack name (repeatable) [none]."),
    click.option(
        "--gen", multiple=True, metavar="K=V", help="Generation setting, e.g. max_new_tokens=64, do_sample=true."
    ),
    click.option("--limit", type=int, help="Use only the first N samples."),
    click.option("--seed", type=int, help="Random seed [0]."),
)

judge_options = _options(
    click.option("--judge", "judges", multiple=True, help="Judge plugin name (repeatable)."),
    click.option("--judge-arg", multiple=True, metavar="JUDGE.K=V", help="Argument for one judge (repeatable)."),
    click.option("--ensemble", type=click.Choice(STRATEGIES), help="How judges are combined [majority]."),
    click.option(
        "--ensemble-judge",
        "ensemble_judges",
        multiple=True,
        help="Judge that forms the ensemble (repeatable) [all but social-toxicity judges].",
    ),
    click.option("--judge-weight", multiple=True, metavar="JUDGE=W", help="Weight for --ensemble weighted."),
    click.option(
        "--threshold", multiple=True, metavar="JUDGE=T", help="Flag threshold per judge (or ensemble=T) [0.5]."
    ),
    click.option("--arbiter", help="Judge that decides the items on which the judges disagree."),
    click.option(
        "--judge-cache", type=click.Path(dir_okay=False), help="Judge cache file [~/.cache/lam3/judge-cache.sqlite]."
    ),
    click.option("--no-judge-cache", is_flag=True, default=None, help="Do not read or write the judge cache."),
)


def _cli_values(kw: dict) -> dict:
    values = {
        "model": kw.get("model"),
        "model_args": parse_pairs(kw.get("model_arg", ()), "--model-arg"),
        "dataset": kw.get("dataset"),
        "dataset_args": parse_pairs(kw.get("dataset_arg", ()), "--dataset-arg"),
        "attacks": kw.get("attacks", ()),
        "gen": parse_pairs(kw.get("gen", ()), "--gen"),
        "limit": kw.get("limit"),
        "seed": kw.get("seed"),
        "judges": kw.get("judges", ()),
        "judge_args": parse_judge_pairs(kw.get("judge_arg", ())),
        "ensemble": kw.get("ensemble"),
        "ensemble_judges": kw.get("ensemble_judges", ()),
        "judge_weights": parse_pairs(kw.get("judge_weight", ()), "--judge-weight"),
        "thresholds": parse_pairs(kw.get("threshold", ()), "--threshold"),
        "arbiter": kw.get("arbiter"),
        "judge_cache": kw.get("judge_cache"),
        "no_judge_cache": kw.get("no_judge_cache"),
        "batch_size": kw.get("batch_size"),
        "out": kw.get("out"),
    }
    return {k: v for k, v in values.items() if v is not None}


def _resolve(kw: dict, base: dict | None = None) -> RunConfig:
    file_values = {**(base or {}), **(load_yaml(kw["config_file"]) if kw.get("config_file") else {})}
    return resolve(file_values, _cli_values(kw))


def _print_done(rundir: RunDir, summary: dict | None, next_hint: str) -> None:
    from lam3_core.analysis.report import render

    if summary is not None:
        click.echo(render(summary))
    present = [name for name in FILES.values() if (rundir.path / name).exists()]
    click.echo(f"Outputs in {rundir.path}: {', '.join(present)}")
    click.echo(f"Next: {next_hint}")


@click.group(cls=Lam3Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lam3")
@click.pass_context
def cli(ctx):
    """Evaluate the safety of multimodal LLMs with pluggable models, judges, attacks and datasets.

    A run is: generate -> judge -> aggregate -> report. `lam3 eval` does all of it; `lam3
    generate`, `lam3 judge` and `lam3 report` do one stage each (e.g. generate on a GPU
    server without internet, judge with API judges elsewhere).
    """
    ctx.ensure_object(dict)


def _require_out(cfg: RunConfig) -> RunDir:
    if not cfg.out:
        raise UsageError(
            "No output directory given.", "Pass --out DIR (a new directory, or an earlier run's to resume)."
        )
    return RunDir(cfg.out)


def _run_generation(cfg: RunConfig, command: str, with_judges: bool) -> None:
    from lam3_core.run import pipeline

    plugins = _plugins()
    cfg.validate(need_model=True, need_judges=with_judges)
    model_component = plugins.get("model", cfg.model)
    for attack in cfg.attacks:
        plugins.get("attack", attack)
    judges = pipeline.create_judges(plugins, cfg) if with_judges else {}
    samples = pipeline.load_samples(plugins, cfg)
    rundir = _require_out(cfg)
    _in_run(rundir, plugins, cfg, command, lambda stage: _generation_body(stage, samples, model_component, judges))


def _generation_body(stage, samples, model_component, judges):
    from lam3_core.run import pipeline

    gens = pipeline.generate(stage, samples, lambda: model_component.create(**stage.cfg.model_args))
    if not judges:
        return None
    return _judge_and_aggregate(stage, judges, gens)


def _judge_and_aggregate(stage, judges, gens):
    from lam3_core.analysis.summary import by_judge, ensemble_members, needs_arbiter
    from lam3_core.run import pipeline

    cfg = stage.cfg
    pipeline.judge_records(stage, {n: j for n, j in judges.items() if n in cfg.judges}, gens)
    if cfg.arbiter:
        table = by_judge(pipeline.read_verdicts(stage.rundir), {g.record_id for g in gens})
        members = ensemble_members(cfg, {n: j.measures for n, j in judges.items()})
        disputed = needs_arbiter(gens, table, cfg, members)
        pipeline.judge_records(stage, {cfg.arbiter: judges[cfg.arbiter]}, disputed, role="arbiter")
    return _aggregate(stage.rundir, cfg, gens)


def _aggregate(rundir: RunDir, cfg: RunConfig, gens) -> dict:
    from lam3_core.analysis.report import render
    from lam3_core.analysis.summary import build_summary
    from lam3_core.run import pipeline
    from lam3_core.run.store import write_json_atomic, write_text_atomic

    summary, ensemble = build_summary(gens, pipeline.read_verdicts(rundir), cfg)
    write_text_atomic(rundir.file("ensemble"), "".join(json.dumps(e.to_dict()) + "\n" for e in ensemble.values()))
    write_json_atomic(rundir.file("summary"), summary)
    write_text_atomic(rundir.file("report"), render(summary))
    return summary


def _in_run(rundir: RunDir, plugins: Plugins, cfg: RunConfig, command: str, body) -> None:
    """Run ``body(stage)`` holding the directory lock, with the log attached and meta.json kept current."""
    from lam3_core.run import pipeline

    handler = rundir.attach_log()
    stage = None
    status = "failed"
    try:
        argv = (click.get_current_context().find_object(dict) or {}).get("argv") or sys.argv
        stage = pipeline.start(plugins, cfg, rundir, command, argv)
        summary = body(stage)
        status = "ok"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if stage is not None:
            pipeline.finish(stage, status)
        RunDir.detach_log(handler)
        rundir.unlock()
    plugins.notify("lam3_run_finished", run=stage.run, summary=summary)
    hint = f"lam3 report {rundir.path}" if summary is not None else f"lam3 judge {rundir.path} --judge refusal"
    _print_done(rundir, summary, hint)


@cli.command("eval")
@config_option
@model_options
@judge_options
@batch_option
@out_option
def eval_command(**kw):
    """Generate, judge and report in one go (rerun the same command to resume)."""
    _run_generation(_resolve(kw), "eval", with_judges=True)


@cli.command("generate")
@config_option
@model_options
@batch_option
@out_option
def generate_command(**kw):
    """Only generate: write generations.jsonl (e.g. on a GPU server without internet)."""
    _run_generation(_resolve(kw), "generate", with_judges=False)


def _import_generations(source: Path, rundir: RunDir) -> None:
    """Copy a generations file made elsewhere into the run directory (skipping records it has)."""
    from lam3_core.interfaces.records import Generation
    from lam3_core.kit.tabular import read_rows
    from lam3_core.run.store import JsonlAppender

    records = []
    for lineno, row in read_rows(source):
        sample_id = row.get("sample_id", row.get("id"))
        if "response" not in row or sample_id is None:
            raise UsageError(
                f"{source}:{lineno}: a generation needs 'response' and 'sample_id' (or 'id').",
                "Produce the file with `lam3 generate`, or add those fields.",
            )
        attack = row.get("attack", "none")
        row = {
            "sample_id": str(sample_id),
            "attack": attack,
            "model": row.get("model", "unknown"),
            "request": row.get("request", row.get("prompt", "")),
            "prompt": row.get("prompt", ""),
            **row,
        }
        row.setdefault("record_id", Generation.make_id(row["sample_id"], attack, int(row.get("variant", 0))))
        records.append(Generation.from_dict(row).to_dict())
    JsonlAppender(rundir.file("generations"), key=lambda r: r["record_id"]).append(records)


@cli.command("judge")
@click.argument("source", type=click.Path())
@config_option
@judge_options
@batch_option
@out_option
def judge_command(source, **kw):
    """Score an existing run directory, or a generations file made elsewhere (--out required then)."""
    from lam3_core.run import pipeline

    src = Path(source).expanduser()
    if not src.exists():
        raise UsageError(f"Not found: {src}.", "Pass a run directory or a generations .jsonl file.")
    src_dir = src if src.is_dir() else None
    if src_dir is not None and not (src_dir / FILES["generations"]).exists():
        raise UsageError(f"{src_dir} has no {FILES['generations']}.", "Run `lam3 generate ... --out DIR` first.")
    base = RunDir(src_dir, create=False).read_meta().get("config", {}) if src_dir else {}
    base = {k: v for k, v in base.items() if k not in ("judges", "judge_args", "ensemble_judges", "arbiter", "out")}
    cfg = _resolve(kw, base)
    if not cfg.out:
        if src_dir is None:
            raise UsageError(f"Where should the verdicts for {src} go?", "Pass --out DIR.")
        cfg.out = str(src_dir)
    cfg.validate(need_model=False, need_judges=True)
    plugins = _plugins()
    judges = pipeline.create_judges(plugins, cfg)
    rundir = RunDir(cfg.out)
    source_file = src if src_dir is None else src_dir / FILES["generations"]
    if source_file.resolve() != rundir.file("generations").resolve():
        _import_generations(source_file, rundir)

    def body(stage):
        return _judge_and_aggregate(stage, judges, pipeline.read_generations(rundir))

    _in_run(rundir, plugins, cfg, "judge", body)


@cli.command("report")
@click.argument("run_dir", type=click.Path())
@judge_options
def report_command(run_dir, **kw):
    """Recompute summary.json and report.md from a run directory and print them."""
    from lam3_core.run import pipeline

    rundir = RunDir(run_dir, create=False)
    meta = rundir.read_meta()
    if not meta.get("config"):
        raise UsageError(f"{rundir.path} has no meta.json with a config.", "Pass the --out directory of a lam3 run.")
    cfg = _resolve(kw, {k: v for k, v in meta["config"].items() if k != "out"})
    cfg.validate(need_model=False, need_judges=True)
    gens = pipeline.read_generations(rundir)
    have = {v.judge for v in pipeline.read_verdicts(rundir)}
    missing = [j for j in cfg.judges if j not in have]
    if missing:
        raise UsageError(
            f"{rundir.path} has no verdicts from {', '.join(missing)}.",
            f"Score them first: lam3 judge {rundir.path} --judge {missing[0]}",
        )
    rundir.lock()
    try:
        summary = _aggregate(rundir, cfg, gens)
    finally:
        rundir.unlock()
    _print_done(rundir, summary, f"open {rundir.file('report')}")


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
def plugins_command(as_json):
    """List installed plugin distributions, their versions and what they provide."""
    plugins = _plugins()
    rows = [
        {
            "distribution": dist.name,
            "version": dist.version,
            "provides": [
                {"kind": c.kind, "name": c.name, "description": c.description} for c in plugins.provides(dist.name)
            ],
        }
        for dist in sorted(plugins.distributions.values(), key=lambda d: d.name)
    ]
    rows += [
        {"distribution": f.distribution, "version": None, "provides": [], "error": str(f)} for f in plugins.failures
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['distribution']} {row['version'] or ''}".rstrip())
        if row.get("error"):
            click.echo(f"  FAILED: {row['error']}")
        for p in row["provides"]:
            click.echo(f"  {p['kind']:<19} {p['name']:<22} {p['description']}")


@cli.command("judge-prompt")
@click.argument("name")
@click.option("--prompt", required=True, help="The user's request.")
@click.option("--response", default="", help="The model's response ('' to judge the request alone).")
@click.option("--judge-arg", multiple=True, metavar="JUDGE.K=V", help="Argument for the judge (repeatable).")
def judge_prompt_command(name, prompt, response, judge_arg):
    """Print the exact text a prompt-based judge feeds its model for one item (needs no weights)."""
    from lam3_core.interfaces.records import JudgeItem

    args = parse_judge_pairs(judge_arg)
    stray = sorted(set(args) - {name})
    if stray:
        raise UsageError(
            f"--judge-arg given for {', '.join(stray)}, but the judge is {name}.", f"Use --judge-arg {name}.K=V."
        )
    judge = _plugins().get("judge", name).create(**args.get(name, {}))
    try:
        text = judge.render_prompt(JudgeItem(request=prompt, response=response))
    except NotImplementedError:
        raise UsageError(f"The judge {name!r} is not prompt-based, so it has no prompt to show.") from None
    click.echo(text, nl=False)
    if not text.endswith("\n"):
        click.echo()


def main() -> None:
    cli(prog_name="lam3")


functools.update_wrapper(main, cli.callback)


@cli.command("calibrate")
@click.option("--judge", "judge_name", required=True, help="Judge plugin name.")
@click.option("--judge-arg", multiple=True, metavar="JUDGE.K=V", help="Argument for the judge (repeatable).")
@click.option("--labels", required=True, type=click.Path(dir_okay=False),
              help="Human-labelled items: JSONL/CSV (request, response, label [, context, images]) "
                   "or HarmBench's text_behaviors_val_set.json.")
@click.option("--behaviors", type=click.Path(dir_okay=False),
              help="HarmBench's harmbench_behaviors_text_all.csv (with HarmBench's validation set).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Result file (JSON).")
@click.option("--threshold", type=float, help="Flag threshold [the judge's, 0.5].")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Items per call to the judge.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap interval of kappa.")
def calibrate_command(judge_name, judge_arg, labels, behaviors, out, threshold, batch_size, seed):
    """Measure a judge against human labels: sensitivity, specificity, accuracy, Cohen's kappa."""
    from lam3_core.run.calibrate import calibrate, summary_lines

    args = parse_judge_pairs(judge_arg)
    stray = sorted(set(args) - {judge_name})
    if stray:
        raise UsageError(f"--judge-arg given for {', '.join(stray)}, but the judge is {judge_name}.",
                         f"Use --judge-arg {judge_name}.K=V.")
    result = calibrate(_plugins(), judge_name, args.get(judge_name, {}), labels, out, behaviors=behaviors,
                       threshold=threshold, batch_size=batch_size, seed=seed)
    click.echo("\n".join(summary_lines(result)))
    click.echo(f"Outputs in {out} (stored for later runs in {result['stored_at']})")
    click.echo(f"Next: lam3 eval ... --judge {judge_name}, then compare its ASR with the judge's sensitivity and "
               "specificity above")
