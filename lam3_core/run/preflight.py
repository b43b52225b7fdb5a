"""``--dry-run``: what eval, generate or judge would check before any work, as a table of checks, and where it
would write — without loading a model or creating anything.

Each check runs the API's own step (creating components through the registry, which checks
their arguments; loading the dataset; checking images, weights and keys with each component's
``check_ready``; the output directory and resume checks of the generation, attack and judging
stages), so a dry run refuses exactly what the real run would. Unlike the real run it goes on
after a failure, so one dry run lists every blocker. Added here: free GPU memory against the
weights' size and free disk against the records to write (``lam3_core.run.resources``).
Component factories are cheap by contract (weights load on first use): they are called, the
weights are not loaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lam3_core.contract.manager import Plugins
from lam3_core.interfaces.errors import Lam3Error, UsageError
from lam3_core.kit.hf import HFLoadArgs
from lam3_core.run import command_setup, resources
from lam3_core.run.attacking import check_attack_arguments
from lam3_core.run.components import Prepared, model_requirements, prepare, prepare_attack, prepare_judge
from lam3_core.run.config import RunConfig
from lam3_core.run.generation import check_generation_settings
from lam3_core.run.importing import read_foreign_generations
from lam3_core.run.judging import judged_by_other_code
from lam3_core.run.resources import RUNTIME_MARGIN, disk_needed, free_disk, gib, weights_size
from lam3_core.run.rundir import RunDir
from lam3_core.run.runs_index import lock_held
from lam3_core.run.samples import check_images, load_dataset
from lam3_core.run.store import read_jsonl
from lam3_core.run.uncertainty_stage import prepare_metrics

OK, WARNING, BLOCKER = "ok", "warning", "blocker"
T = TypeVar("T")


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


@dataclass
class Preflight:
    """The checks of one command, in order, and the directory it would write (None if not known)."""

    command: str
    out_dir: Path | None = None
    resumes: bool = False
    checks: list[Check] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return any(c.status == BLOCKER for c in self.checks)

    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.checks.append(Check(name, status, detail, fix))

    def attempt(self, name: str, step: Callable[[], T], ok: str | Callable[[T], str]) -> tuple[bool, T | None]:
        """Run one of the API's own steps: (True, its value), or (False, None) with the error as a blocker."""
        try:
            value = step()
        except Lam3Error as exc:
            problem = exc.problem if isinstance(exc, UsageError) else str(exc)
            self.add(name, BLOCKER, problem, getattr(exc, "fix", None) or "")
            return False, None
        self.add(name, OK, ok(value) if callable(ok) else ok)
        return True, value

    def render(self) -> str:
        """The table of checks, where the command would write, and what to do next."""
        width = max([len(c.name) for c in self.checks] + [5])
        lines = [f"lam3 {self.command} --dry-run: nothing was loaded or created.", "",
                 f"{'check':<{width}}  {'status':<7}  detail"]
        for c in self.checks:
            lines.append(f"{c.name:<{width}}  {c.status:<7}  {c.detail}")
            if c.fix and c.status != OK:
                lines.append(f"{'':<{width}}  {'':<7}  fix: {c.fix}")
        if self.out_dir is not None:
            verb = "resume the run in" if self.resumes else "write"
            lines += ["", f"Would {verb}: {self.out_dir}"]
        blockers = sum(c.status == BLOCKER for c in self.checks)
        warnings = sum(c.status == WARNING for c in self.checks)
        lines.append(f"{blockers} blocker(s), {warnings} warning(s). " + (
            "Fix the blockers, then run the same command again." if blockers
            else "Next: the same command without --dry-run."))
        return "\n".join(lines)


def _check_output(pre: Preflight, rundir: RunDir) -> None:
    """The output directory: not a file or a foreign folder, writable, not being written by another process."""
    pre.out_dir = rundir.path.absolute()
    pre.resumes = rundir.is_run

    def check() -> str:
        rundir.check_writable_target()
        if rundir.is_run:
            if lock_held(rundir.path):
                raise UsageError(f"Another lam3 process is writing to {rundir.path}.",
                                 "Wait for it to finish, or use a different --out.")
            target = rundir.path
        else:
            target = rundir.path
            while not target.exists() and target != target.parent:
                target = target.parent
            if not target.is_dir():
                raise UsageError(f"--out {rundir.path} cannot be created: {target} is a file.",
                                 "Choose a --out whose parents are folders.")
        if not os.access(target, os.W_OK | os.X_OK):
            raise UsageError(f"{target} is not writable.", "Choose a writable --out directory.")
        return f"resumes the run in {rundir.path}" if rundir.is_run else f"creates {rundir.path}"

    pre.attempt("output directory", check, lambda text: text)


def _check_ready(pre: Preflight, kind: str, prepared: Prepared) -> None:
    pre.attempt(f"{kind} {prepared.name} ready", prepared.instance.check_ready,
                "check_ready passed: weights and API keys present where it needs them")


def _check_gpu(pre: Preflight, components: Mapping[str, Prepared]) -> None:
    """Each component's weights against the free memory of the GPUs (one component at a time, as a run loads them)."""
    loads_weights = [name for name, p in components.items() if isinstance(getattr(p.instance, "load_args", None),
                                                                          HFLoadArgs)]
    sized = {name: weights_size(components[name].instance) for name in loads_weights}
    sized = {name: size for name, size in sized.items() if size is not None}
    if not sized:
        unknown = ", ".join(loads_weights)
        pre.add("GPU memory", OK, f"not measured: the weights of {unknown} are not local" if unknown
                else "no component loads Hugging Face weights")
        return
    biggest_name, biggest = max(sized.items(), key=lambda item: item[1].bytes)
    device = getattr(components[biggest_name].instance.load_args, "device", None)
    need = f"{biggest_name}: {biggest.parameters / 1e9:.2f}B parameters, {gib(biggest.bytes)} as {biggest.loaded_as}"
    if device == "cpu":
        pre.add("GPU memory", OK, f"{need}; runs on the CPU (device=cpu)")
        return
    free = resources.free_gpu_memory()
    if free is None:
        pre.add("GPU memory", WARNING, f"{need}; no GPU is visible, so it would run on the CPU (slowly)",
                "Run on a machine with a GPU, or pass device=cpu to say the CPU is intended.")
        return
    available = max(free) if components[biggest_name].instance.load_args.device_map is None else sum(free)
    detail = f"{need}; {gib(available)} free on the GPU"
    if biggest.bytes > available:
        pre.add("GPU memory", BLOCKER, detail, "Free the GPU, use more GPUs (device_map=auto), or load it quantised "
                                               "(quantization=4bit).")
    elif biggest.bytes * RUNTIME_MARGIN > available:
        pre.add("GPU memory", WARNING, detail + f" (under {RUNTIME_MARGIN:g}x the weights: tight for activations)",
                "Use a smaller --batch-size if generation runs out of memory.")
    else:
        pre.add("GPU memory", OK, detail)


def _check_disk(pre: Preflight, records: int, attacked: int) -> None:
    if pre.out_dir is None:
        return
    need = disk_needed(records, attacked)
    folder, free = free_disk(pre.out_dir)
    detail = f"about {gib(need)} for {records} records; {gib(free)} free in {folder}"
    if free < need:
        pre.add("disk space", BLOCKER, detail, "Free some space or choose another --out.")
    elif free < 2 * need:
        pre.add("disk space", WARNING, detail + " (less than twice the estimate)", "Keep an eye on the free space.")
    else:
        pre.add("disk space", OK, detail)


def _check_resume(pre: Preflight, rundir: RunDir, cfg: RunConfig, attacks: Mapping[str, Prepared],
                  judges: Mapping[str, Prepared]) -> None:
    """Whether the run already in ``rundir`` can be resumed with these settings: the generation settings, each
    attack's arguments (when ``attacks`` are given: a generating command) and each judge's settings."""
    ok, found = pre.attempt("resume: records there",
                            lambda: (read_jsonl(rundir.file("generations")), read_jsonl(rundir.file("verdicts")),
                                     rundir.read_meta()),
                            lambda f: f"{len(f[0])} generations, {len(f[1])} verdicts")
    if not ok:
        return
    generations, verdicts, meta = found
    if attacks:
        pre.attempt("resume: generation settings",
                    lambda: check_generation_settings(rundir, meta.get("generation"), cfg.generation_part(),
                                                      bool(generations)),
                    "same settings as the generations there")
    for name, attack in attacks.items():
        pre.attempt(f"resume: attack {name}", lambda a=attack: check_attack_arguments(
            rundir, a, read_jsonl(rundir.attack_dir(a.name) / "samples.jsonl")), "same arguments as its attacked "
                                                                                 "samples there")
    for name, judge in judges.items():
        has = any(v["judge"] == name for v in verdicts)
        ok, again = pre.attempt(f"resume: judge {name}",
                                lambda j=judge: judged_by_other_code(rundir, meta.get("judges", {}), verdicts, j),
                                "same settings as its verdicts there" if has else "no verdicts there yet")
        if ok and again:
            pre.checks[-1] = Check(f"resume: judge {name}", WARNING,
                                   "its code changed since its verdicts there were made: they would be made again")


def generation_preflight(cfg: RunConfig, command: str, plugins: Plugins) -> Preflight:
    """The checks of ``lam3 eval`` (with judges) or ``lam3 generate``."""
    with_judges = command == "eval"
    pre = Preflight(command)
    ok, _ = pre.attempt("configuration", lambda: cfg.validate(need_model=True, need_judges=False),
                        "options consistent")
    if not ok:
        return pre
    rundir = RunDir(cfg.out) if cfg.out else None
    if rundir is None:
        pre.attempt("output directory", lambda: command_setup.output_dir(cfg), "")
    else:
        _check_output(pre, rundir)
    _, dataset = pre.attempt("dataset", lambda: load_dataset(plugins, cfg),
                              lambda d: f"{d.name}: {len(d.samples)} samples")
    if dataset is not None:
        cfg = command_setup.with_dataset_judges(cfg, dataset, with_judges)
    if with_judges and (dataset is not None or cfg.judges):
        pre.attempt("judges named", lambda: cfg.validate(need_model=True, need_judges=True),
                    lambda _: ", ".join(cfg.judges + ([f"arbiter {cfg.arbiter}"] if cfg.arbiter else [])))
    _, model = pre.attempt(f"model {cfg.model}", lambda: prepare(plugins, "model", str(cfg.model), cfg.model_args),
                           lambda p: f"{p.component.distribution} {p.component.version}: arguments accepted")
    attacks = {}
    for name in cfg.attacks or ["none"]:
        _, attack = pre.attempt(f"attack {name}",
                                lambda n=name: prepare_attack(plugins, cfg, n),
                                lambda p: f"{p.component.distribution} {p.component.version}: arguments accepted")
        if attack is not None:
            attacks[name] = attack
    judges = _prepare_judges(pre, plugins, cfg) if with_judges else {}
    metrics = {}
    if cfg.uncertainty:
        _, metrics = pre.attempt("uncertainty metrics", lambda: prepare_metrics(plugins, cfg),
                                 lambda m: f"{', '.join(m)}: arguments accepted")
    if model is not None:
        _check_model_can(pre, cfg, model, attacks)
    if dataset is not None and model is not None:
        n_images = sum(len(s.images) for s in dataset.samples)
        pre.attempt("images", lambda: check_images(dataset.samples, model.instance.reads_images),
                    f"{n_images} images readable" if model.instance.reads_images else "the model reads no images")
    if model is not None:
        _check_ready(pre, "model", model)
    for judge in judges.values():
        _check_ready(pre, "judge", judge)
    for metric in (metrics or {}).values():
        _check_ready(pre, "uncertainty metric", metric)
    _check_gpu(pre, {n: p for n, p in [(cfg.model, model), *judges.items()] if p is not None})
    if dataset is not None:
        n = len(dataset.samples)
        _check_disk(pre, n * len(cfg.attacks or ["none"]), n * len([a for a in cfg.attacks if a != "none"]))
    if rundir is not None and rundir.is_run:
        _check_resume(pre, rundir, cfg, attacks, judges)
    return pre


def _check_model_can(pre: Preflight, cfg: RunConfig, model: Prepared, attacks: Mapping[str, Prepared]) -> None:
    """What the run asks of its model (the run's own list of requirements), every failure listed."""
    for name, passing, check in model_requirements(cfg, model, dict(attacks)):
        pre.attempt(name, check, passing)


def _prepare_judges(pre: Preflight, plugins: Plugins, cfg: RunConfig) -> dict[str, Prepared]:
    judges = {}
    for name in [*cfg.judges, *([cfg.arbiter] if cfg.arbiter else [])]:
        _, judge = pre.attempt(f"judge {name}", lambda n=name: prepare_judge(plugins, n, cfg.judge_args.get(n, {})),
                               lambda p: f"{p.component.distribution} {p.component.version}: arguments accepted")
        if judge is not None:
            judges[name] = judge
    return judges


def _count_generations(generations_file: Path, rundir: RunDir) -> int:
    if generations_file.resolve() != rundir.file("generations").resolve():
        return len(read_foreign_generations(generations_file))
    return len(read_jsonl(generations_file))


def judge_preflight(source: str | Path | None, config: RunConfig | Mapping[str, Any], plugins: Plugins) -> Preflight:
    """The checks of ``lam3 judge SOURCE``."""
    pre = Preflight("judge")
    ok, setup = pre.attempt("source and configuration", lambda: command_setup.judge_setup(str(source or ""), config),
                            lambda s: f"scores {s[0]}")
    if not ok:
        return pre
    generations_file, cfg = setup
    rundir = RunDir(cfg.out)
    _check_output(pre, rundir)
    _, n = pre.attempt("generations", lambda: _count_generations(generations_file, rundir),
                       lambda count: f"{count} generations to score")
    judges = _prepare_judges(pre, plugins, cfg)
    for judge in judges.values():
        _check_ready(pre, "judge", judge)
    _check_gpu(pre, judges)
    if n is not None:
        _check_disk(pre, n, 0)
    if rundir.is_run:
        _check_resume(pre, rundir, cfg, {}, judges)
    return pre
