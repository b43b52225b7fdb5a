"""What a command settles before any work: its configuration, its output directory, the judge command's source,
and the dataset's own judges. Shared by the commands (``run.api``) and their dry run (``run.preflight``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from lam3_core.interfaces.errors import UsageError
from lam3_core.run.config import RunConfig, resolve
from lam3_core.run.rundir import FILES, RunDir
from lam3_core.run.samples import LoadedDataset


def as_config(config: RunConfig | Mapping) -> RunConfig:
    return config if isinstance(config, RunConfig) else RunConfig.from_values(dict(config))


def given_settings(config: RunConfig | Mapping | None) -> dict:
    """The settings a caller gave: a mapping as it is, or a ``RunConfig``'s fields that differ from the defaults."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return {k: v for k, v in config.items() if v is not None}
    defaults = RunConfig()
    return {k: v for k, v in dataclasses.asdict(config).items() if v != getattr(defaults, k)}


def output_dir(cfg: RunConfig) -> RunDir:
    if not cfg.out:
        raise UsageError("No output directory given.",
                         "Pass --out DIR (a new directory, or an earlier run's to resume).")
    return RunDir(cfg.out)


def with_dataset_judges(cfg: RunConfig, dataset: LoadedDataset, with_judges: bool) -> RunConfig:
    """The dataset's own judges when the command judges and the user named none (POPE is scored against its labels)."""
    if with_judges and not cfg.judges and dataset.judges:
        return dataclasses.replace(cfg, judges=list(dataset.judges))
    return cfg


def _judge_source(source: Path, cfg_out: str | None) -> tuple[Path | None, Path]:
    """(the run directory the source belongs to, or None; the generations file to score)."""
    if source.is_dir():
        if not (source / FILES["generations"]).exists():
            raise UsageError(f"{source} has no {FILES['generations']}.", "Run `lam3 generate ... --out DIR` first.")
        if not RunDir(source).is_run:
            raise UsageError(f"{source} has no meta.json: it is not a lam3 run directory.",
                             f"Score its file instead: lam3 judge {source / FILES['generations']} --out NEW_DIR")
        return source, source / FILES["generations"]
    parent = source.parent
    in_place = source.name == FILES["generations"] and RunDir(parent).is_run and (
        cfg_out is None or Path(cfg_out).expanduser().resolve() == parent.resolve())
    return (parent if in_place else None), source


def judge_setup(source: str | Path, config: RunConfig | Mapping) -> tuple[Path, RunConfig]:
    """(the generations file to score, the judge command's configuration): settings not given are taken from
    the source run's configuration; the output directory defaults to the source run."""
    src = Path(source).expanduser()
    if not src.exists():
        raise UsageError(f"Not found: {src}.", "Pass a run directory or a generations .jsonl file.")
    given = given_settings(config)
    run_dir, generations_file = _judge_source(src, given.get("out"))
    base = {}
    if run_dir is not None:
        base = {k: v for k, v in RunDir(run_dir).read_meta().get("config", {}).items()
                if k not in ("judges", "judge_args", "ensemble_judges", "arbiter", "out", "judge_weights")}
    cfg = resolve(base, given)
    if not cfg.out:
        if run_dir is None:
            raise UsageError(f"Where should the verdicts for {src} go?", "Pass --out DIR.")
        cfg = dataclasses.replace(cfg, out=str(run_dir))
    cfg.validate(need_model=False, need_judges=True)
    return generations_file, cfg
