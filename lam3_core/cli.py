"""The ``lam3`` command line: parsing and printing only; the work is done by the Python API (``lam3_core.run.api``).

Importing this module imports no torch: plugins are found through their light
registration modules, and heavy code loads only when a model or judge is created.
Exit status: 0 done; 1 the run failed (too many records failed: everything is written);
2 a usage error (nothing was run); 3 a plugin's own code failed; 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import traceback
from pathlib import Path

import click

from lam3_core.analysis.ensemble import STRATEGIES
from lam3_core.analysis.tables import FORMATS
from lam3_core.interfaces.errors import Lam3Error, PluginFault, RunFailed
from lam3_core.run.config import load_yaml, merge_values, parse_judge_pairs, parse_pairs
from lam3_core.version import __version__

log = logging.getLogger("lam3")


class Lam3Group(click.Group):
    """Turns lam3's errors into one message and an exit status instead of a traceback."""

    def invoke(self, ctx):
        warnings = logging.StreamHandler(sys.stderr)
        warnings.addFilter(lambda record: record.levelno == logging.WARNING)  # errors are printed below, once
        warnings.setFormatter(logging.Formatter("lam3: warning: %(message)s"))
        log.addHandler(warnings)
        try:
            return super().invoke(ctx)
        except RunFailed as exc:
            if exc.outcome is not None:
                _print_outcome(exc.outcome, problems=False)
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except PluginFault as exc:
            cause = exc.__cause__
            if cause is not None:
                click.echo("".join(traceback.format_exception(cause)).rstrip(), err=True)
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(3)
        except Lam3Error as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("Interrupted. Everything written so far is kept; rerun the same command to resume.", err=True)
            ctx.exit(130)
        finally:
            log.removeHandler(warnings)


def _plugins():
    from lam3_core.contract.manager import load_plugins

    obj = click.get_current_context().find_object(dict) or {}
    if "plugins" not in obj:
        obj["plugins"] = load_plugins(obj.get("extra_plugins", ()))
    return obj["plugins"]


def _argv() -> list[str]:
    return (click.get_current_context().find_object(dict) or {}).get("argv") or sys.argv


def _options(*decorators):
    def apply(f):
        for d in reversed(decorators):
            f = d(f)
        return f

    return apply


common_options = _options(
    click.option("--config", "config_file", type=click.Path(dir_okay=False),
                 help="YAML file with any of these options."),
    click.option("--batch-size", type=int,
                 help="At most N records per call to the model or a judge (else chunks of 256, which they split into "
                      "micro-batches that fit their memory), and samples per call to an attack [8]."),
    click.option("--max-error-rate", type=float,
                 help="Fail (exit 1) when a larger share of a stage's records failed [0.5]."),
    click.option("--no-retry-errors", "retry_errors", flag_value=False, default=None,
                 help="On resume, keep records that ended in an error instead of retrying them."),
    click.option("--quiet", is_flag=True, default=None, help="No progress bars."),
)
out_option = click.option("--out", type=click.Path(file_okay=False), help="Run directory (created; rerun to resume).")
dry_run_option = click.option("--dry-run", is_flag=True,
                              help="Check everything (plugins, arguments, data, weights, keys, GPU, disk, resume) "
                                   "without loading a model or creating anything; exit 2 on a blocker.")

model_options = _options(
    click.option("--model", help="Model plugin name (see `lam3 plugins`)."),
    click.option("--model-arg", multiple=True, metavar="K=V", help="Argument for the model factory (repeatable)."),
    click.option("--dataset", help="Dataset name, or a .jsonl/.csv file."),
    click.option("--dataset-arg", multiple=True, metavar="K=V", help="Argument for the dataset (e.g. prompt=COLUMN)."),
    click.option("--attack", "attacks", multiple=True, help="Attack name (repeatable) [none]."),
    click.option("--attack-arg", multiple=True, metavar="ATTACK.K=V", help="Argument for one attack (repeatable)."),
    click.option("--gen", multiple=True, metavar="K=V",
                 help="Generation setting, e.g. max_new_tokens=64, do_sample=true, trace_attentions=true."),
    click.option("--limit", type=int, help="Use only the first N samples."),
    click.option("--seed", type=int, help="Random seed [0]."),
)

sampling_options = _options(
    click.option("--samples", type=int, metavar="K",
                 help="Also draw K sampled answers per prompt (one generate call per batch), for uncertainty [0]."),
    click.option("--sample-gen", multiple=True, metavar="K=V",
                 help="Generation setting of the samples only [--gen's, sampling on: T=1.0, top_p=1, top_k=0 off]."),
    click.option("--uncertainty", multiple=True, metavar="NAME",
                 help="Uncertainty metric over the samples (repeatable; needs --samples; see `lam3 plugins`)."),
    click.option("--metric-arg", multiple=True, metavar="METRIC.K=V", help="Argument for one metric (repeatable)."),
)

judge_options = _options(
    click.option("--judge", "judges", multiple=True, help="Judge plugin name (repeatable)."),
    click.option("--judge-arg", multiple=True, metavar="JUDGE.K=V", help="Argument for one judge (repeatable)."),
    click.option("--ensemble", type=click.Choice(STRATEGIES), help="How judges are combined [majority]."),
    click.option("--ensemble-judge", "ensemble_judges", multiple=True,
                 help="Judge that forms the ensemble (repeatable) [the judges that measure attack success]."),
    click.option("--judge-weight", multiple=True, metavar="JUDGE=W", help="Weight for --ensemble weighted."),
    click.option("--threshold", multiple=True, metavar="JUDGE=T",
                 help="Flag threshold per judge (or ensemble=T for mean/weighted/max) [0.5]."),
    click.option("--arbiter", help="Judge that decides the items on which the judges disagree."),
    click.option("--judge-cache", type=click.Path(dir_okay=False),
                 help="Judge cache file [~/.cache/lam3/judge-cache.sqlite]."),
    click.option("--no-judge-cache", is_flag=True, default=None, help="Do not read or write the judge cache."),
)


def _given(kw: dict) -> dict:
    """The settings given on the command line (and in --config), by RunConfig field name."""
    values = {
        "model": kw.get("model"),
        "model_args": parse_pairs(kw.get("model_arg", ()), "--model-arg"),
        "dataset": kw.get("dataset"),
        "dataset_args": parse_pairs(kw.get("dataset_arg", ()), "--dataset-arg"),
        "attacks": kw.get("attacks", ()),
        "attack_args": parse_judge_pairs(kw.get("attack_arg", ()), "--attack-arg"),
        "gen": parse_pairs(kw.get("gen", ()), "--gen"),
        "samples": kw.get("samples"),
        "sample_gen": parse_pairs(kw.get("sample_gen", ()), "--sample-gen"),
        "uncertainty": kw.get("uncertainty", ()),
        "metric_args": parse_judge_pairs(kw.get("metric_arg", ()), "--metric-arg"),
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
        "max_error_rate": kw.get("max_error_rate"),
        "retry_errors": kw.get("retry_errors"),
        "quiet": kw.get("quiet"),
        "out": kw.get("out"),
    }
    from_file = load_yaml(kw["config_file"]) if kw.get("config_file") else {}
    return merge_values(from_file, values)


def _print_outcome(outcome, problems: bool = True) -> None:
    """The summary, the outputs' absolute paths and the next command; problems (errors, warnings) on stderr."""
    from lam3_core.analysis.report import render

    if outcome.summary is not None:
        click.echo(render(outcome.summary))
    for problem in outcome.problems if problems else ():
        click.echo(problem, err=True)
    files = ", ".join(p.name for p in outcome.files)
    click.echo(f"Outputs in {outcome.out_dir.resolve()}: {files}")
    report = next((p for p in outcome.files if p.suffix == ".html"), None)
    if report is not None:
        click.echo(f"Report: {report.resolve()}")
    click.echo(f"Next: {outcome.next_step}")


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


def _dry_run(command: str, config, source=None) -> None:
    """Print the preflight checks of ``command``; exit 2 when one of them blocks the run."""
    from lam3_core.run import api

    checked = api.preflight(command, config, source, plugins=_plugins())
    click.echo(checked.render())
    if checked.blocked:
        click.get_current_context().exit(2)


@cli.command("eval")
@common_options
@model_options
@sampling_options
@judge_options
@out_option
@dry_run_option
def eval_command(dry_run, **kw):
    """Generate, judge and report in one go (rerun the same command to resume)."""
    from lam3_core.run import api
    from lam3_core.run.config import RunConfig

    config = RunConfig.from_values(_given(kw), "the command line")
    if dry_run:
        return _dry_run("eval", config)
    _print_outcome(api.evaluate(config, plugins=_plugins(), argv=_argv()))


@cli.command("generate")
@common_options
@model_options
@sampling_options
@out_option
@dry_run_option
def generate_command(dry_run, **kw):
    """Only generate: write generations.jsonl (e.g. on a GPU server without internet)."""
    from lam3_core.run import api
    from lam3_core.run.config import RunConfig

    config = RunConfig.from_values(_given(kw), "the command line")
    if dry_run:
        return _dry_run("generate", config)
    _print_outcome(api.generate(config, plugins=_plugins(), argv=_argv()))


@cli.command("judge")
@click.argument("source", type=click.Path())
@common_options
@judge_options
@out_option
@dry_run_option
def judge_command(source, dry_run, **kw):
    """Score an existing run directory, or a generations file made elsewhere (--out required then)."""
    from lam3_core.run import api

    if dry_run:
        return _dry_run("judge", _given(kw), source)
    _print_outcome(api.judge(source, _given(kw), plugins=_plugins(), argv=_argv()))


@cli.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@judge_options
@click.option("--examples", type=click.IntRange(min=0),
              help="Flagged and disputed records shown per attack in report.html [20].")
@click.option("--format", "table_format", type=click.Choice(FORMATS),
              help="Print the main tables for a paper from summary.json instead (one run or several).")
@click.option("--out", type=click.Path(file_okay=False),
              help="With several runs: the folder for comparison.html and comparison.json.")
@click.option("--allow-different", is_flag=True,
              help="Compare runs that differ in dataset or judges (the differences are shown first).")
def report_command(run_dirs, examples, table_format, out, allow_different, **kw):
    """Rebuild summary.json, report.md and report.html of a run (e.g. with other thresholds); with several runs,
    compare them (--out DIR); with --format, print paper tables."""
    from lam3_core.run import api
    from lam3_core.run.compare_runs import check_report_options

    given = _given(kw)
    check_report_options(run_dirs, given, examples, table_format, out, allow_different)
    if table_format:
        from lam3_core.run.compare_runs import tables

        click.echo(tables(list(run_dirs), table_format, allow_different), nl=False)
    elif len(run_dirs) > 1:
        from lam3_core.run.compare_runs import compare

        outcome = compare(list(run_dirs), out, allow_different)
        for difference in outcome.differences:
            log.warning("the runs differ: %s", difference)
        click.echo("Outputs: " + ", ".join(str(p.resolve()) for p in outcome.files))
        click.echo(f"Next: open {outcome.files[0].resolve()}")
    else:
        from lam3_core.analysis.examples import DEFAULT_PER_ATTACK

        _print_outcome(api.report(run_dirs[0], given, plugins=_plugins(), argv=_argv(),
                                  examples=DEFAULT_PER_ATTACK if examples is None else examples))


@cli.command("runs")
@click.argument("root", required=False, default=".", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
def runs_command(root, as_json):
    """List the run directories under ROOT (default: here): model, dataset, attacks, judges, records, ASR, status
    (finished, partial, failed, running), duration and path."""
    from lam3_core.interfaces.errors import UsageError
    from lam3_core.run.runs_index import describe_run, find_runs, format_runs

    if not Path(root).is_dir():
        raise UsageError(f"Not a folder: {root}.", "Pass the folder that holds your run directories.")
    entries = [describe_run(path) for path in find_runs(root)]
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in entries], indent=2))
        return
    click.echo(format_runs(entries, Path(root).resolve()))


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
            "warnings": [w.message for w in plugins.warnings if w.distribution == dist.name],
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
        for warning in row.get("warnings", []):
            click.echo(f"  WARNING: {warning}")
        for p in row["provides"]:
            click.echo(f"  {p['kind']:<19} {p['name']:<22} {p['description']}")


@cli.command("judge-prompt")
@click.argument("name")
@click.option("--prompt", required=True, help="The user's request.")
@click.option("--response", default="", help="The model's response ('' to judge the request alone).")
@click.option("--context", default=None, help="The sample's context string, for judges that read one.")
@click.option("--image", "images", multiple=True, type=click.Path(dir_okay=False),
              help="An image the model was shown, for image-aware judges (repeatable).")
@click.option("--judge-arg", multiple=True, metavar="JUDGE.K=V", help="Argument for the judge (repeatable).")
def judge_prompt_command(name, prompt, response, context, images, judge_arg):
    """Print the exact text a prompt-based judge feeds its model for one item (needs no weights)."""
    from lam3_core.interfaces.errors import UsageError
    from lam3_core.interfaces.records import JudgeItem

    args = parse_judge_pairs(judge_arg)
    stray = sorted(set(args) - {name})
    if stray:
        raise UsageError(
            f"--judge-arg given for {', '.join(stray)}, but the judge is {name}.", f"Use --judge-arg {name}.K=V."
        )
    judge = _plugins().get("judge", name).create(**args.get(name, {}))
    try:
        text = judge.render_prompt(JudgeItem(request=prompt, response=response, images=list(images), context=context))
    except NotImplementedError:
        raise UsageError(f"The judge {name!r} is not prompt-based, so it has no prompt to show.") from None
    click.echo(text, nl=False)
    if not text.endswith("\n"):
        click.echo()


@cli.command("uncertainty")
@click.argument("source", type=click.Path())
@click.option("--metric", "metrics", multiple=True, help="Uncertainty metric name (repeatable; see `lam3 plugins`).")
@click.option("--metric-arg", multiple=True, metavar="METRIC.K=V", help="Argument for one metric (repeatable).")
@click.option("--correctness-judge", help="Which correctness judge labels the answers (run directory input).")
@click.option("--out", required=True, type=click.Path(), help="Scores file (JSONL); the summary goes beside it.")
def uncertainty_command(source, metrics, metric_arg, correctness_judge, out):
    """Uncertainty metrics over K sampled answers (a JSONL file or a run directory), with AUROC and PRR."""
    from lam3_core.run.uncertainty_file import render, run_uncertainty

    args = parse_judge_pairs(metric_arg, option="--metric-arg")
    click.echo(render(run_uncertainty(_plugins(), source, metrics, args, out, correctness_judge)))


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
    from lam3_core.interfaces.errors import UsageError
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


@cli.command("attention")
@click.argument("run_dir", type=click.Path())
@click.option("--record", "records", multiple=True, metavar="ID",
              help="Record id (SAMPLE::ATTACK::VARIANT; repeatable) [every record with an attention map].")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the PNG heatmaps.")
def attention_command(run_dir, records, out):
    """PNG heatmaps of the answers' attention over their images (runs made with --gen trace_attentions=true)."""
    from lam3_core.run.attention import write_attention_maps

    written = write_attention_maps(run_dir, records, out)
    click.echo(f"{len(written)} heatmaps in {Path(out).resolve()}: {', '.join(p.name for p in written[:5])}"
               + (", ..." if len(written) > 5 else ""))
    click.echo(f"Next: open {written[0].resolve()}")


def main() -> None:
    cli(prog_name="lam3")


functools.update_wrapper(main, cli.callback)
