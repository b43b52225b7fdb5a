"""generate -> judge -> aggregate, each stage resumable and usable on its own.

Records are appended and flushed batch by batch; a stage first reads what the run
directory already holds and only produces what is missing, so rerunning a command after a
crash (or with one more ``--judge``) continues instead of starting over.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lam3_core import __version__
from lam3_core.contract.hookspecs import HOOKSPEC_VERSION
from lam3_core.contract.manager import Plugins
from lam3_core.interfaces.components import SECRET_WORDS, Judge, Model
from lam3_core.interfaces.errors import UsageError
from lam3_core.interfaces.records import Completion, Generation, JudgeItem, Sample, Score, Verdict
from lam3_core.kit.batching import is_out_of_memory
from lam3_core.kit.images import check_image
from lam3_core.kit.tabular import SUFFIXES
from lam3_core.run.config import RunConfig
from lam3_core.run.environment import environment, now
from lam3_core.run.judgecache import JudgeCache, NoCache, config_hash, default_cache_path
from lam3_core.run.rundir import RunDir, RunInfo
from lam3_core.run.store import JsonlAppender, read_jsonl

log = logging.getLogger("lam3")


def redact_argv(argv: Sequence[str]) -> list[str]:
    """The command line with the value of any secret-looking ``k=v`` argument hidden."""
    out = []
    for arg in argv:
        key, sep, _ = arg.partition("=")
        out.append(f"{key}=***" if sep and any(w in key.lower() for w in SECRET_WORDS) else arg)
    return out


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="item", file=sys.stderr, disable=None, leave=False)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    import numpy as np

    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def load_samples(plugins: Plugins, cfg: RunConfig) -> list[Sample]:
    """The dataset's samples (first ``limit``), with unique ids and readable images."""
    name, args = cfg.dataset, dict(cfg.dataset_args)
    if Path(name).suffix.lower() in SUFFIXES or Path(name).exists():
        name, args = "file", {"path": cfg.dataset, **args}
    samples = []
    for sample in plugins.get("dataset", name).create(**args):
        samples.append(sample)
        if cfg.limit is not None and len(samples) >= cfg.limit:
            break
    if not samples:
        raise UsageError(f"The dataset {cfg.dataset!r} has no samples.", "Check the file or the dataset arguments.")
    seen: set[str] = set()
    for sample in samples:
        if sample.id in seen:
            raise UsageError(
                f"The dataset {cfg.dataset!r} has the sample id {sample.id!r} twice.", "Ids must be unique."
            )
        seen.add(sample.id)
        for image in sample.images:
            try:
                check_image(image)
            except UsageError as exc:
                raise UsageError(f"Sample {sample.id!r}: {exc.problem}", exc.fix) from None
    return samples


@dataclass
class Stage:
    """What a command shares between stages: plugins, config, run directory, observers."""

    plugins: Plugins
    cfg: RunConfig
    rundir: RunDir
    run: RunInfo
    meta: dict
    backoffs: list[dict] = field(default_factory=list)

    def written(self, kind: str, records: list[dict]) -> None:
        if records:
            self.plugins.notify("lam3_records_written", run=self.run, kind=kind, records=records)


def start(plugins: Plugins, cfg: RunConfig, rundir: RunDir, command: str, argv: Sequence[str]) -> Stage:
    """Lock the directory, check it belongs to this config, record the invocation in meta.json."""
    rundir.lock()
    meta = rundir.read_meta()
    if command in ("eval", "generate") and meta.get("generation") and meta["generation"] != cfg.generation_part():
        old, new = meta["generation"], cfg.generation_part()
        changed = ", ".join(k for k in new if old.get(k) != new.get(k))
        raise UsageError(
            f"{rundir} holds a run made with different generation settings ({changed}).",
            "Use a new --out for the new settings, or the same settings to resume.",
        )
    meta.setdefault("lam3_version", __version__)
    meta["hookspec_version"] = HOOKSPEC_VERSION
    meta["command"] = redact_argv(argv)
    meta["config"] = cfg.to_meta()
    meta["seed"] = cfg.seed
    if command in ("eval", "generate"):
        meta["generation"] = cfg.generation_part()
    meta["plugins"] = sorted(
        ({"distribution": d.name, "version": d.version} for d in plugins.distributions.values()),
        key=lambda d: d["distribution"],
    )
    meta.setdefault("started", now())
    meta["ended"] = None
    meta["environment"] = environment()
    meta.setdefault("invocations", []).append({"command": command, "argv": redact_argv(argv), "started": now()})
    rundir.write_meta(meta)
    run = RunInfo(rundir.path, command, cfg.to_meta(), meta)
    stage = Stage(plugins, cfg, rundir, run, meta)
    seed_everything(cfg.seed)
    plugins.notify("lam3_run_started", run=run)
    return stage


def finish(stage: Stage, status: str = "ok") -> None:
    stage.meta["ended"] = now()
    stage.meta["invocations"][-1].update({"ended": stage.meta["ended"], "status": status})
    if stage.backoffs:
        stage.meta.setdefault("batch_backoffs", []).extend(stage.backoffs)
    stage.rundir.write_meta(stage.meta)


def _component_meta(stage: Stage, kind: str, name: str, extra: dict) -> None:
    comp = stage.plugins.get(kind, name)
    entry = {"name": name, "distribution": comp.distribution, "version": comp.version, **extra}
    if kind == "model":
        stage.meta["model"] = entry
    else:
        stage.meta.setdefault("judges", {})[name] = entry
    stage.rundir.write_meta(stage.meta)


def create_judges(plugins: Plugins, cfg: RunConfig) -> dict[str, Judge]:
    """Every selected judge (and the arbiter), constructed cheaply and checked ready before any work."""
    judges = {}
    for name in [*cfg.judges, *([cfg.arbiter] if cfg.arbiter else [])]:
        judge = plugins.get("judge", name).create(**cfg.judge_args.get(name, {}))
        judge.check_ready()
        judges[name] = judge
    return judges


def _generate_items(model: Model, batch: list[Sample], gen_config) -> list[Completion]:
    """Generate a batch; if it fails for a reason other than memory, retry one by one so that
    only the failing sample gets an error record."""
    try:
        completions = model.generate(batch, gen_config)
        if len(completions) != len(batch):
            raise RuntimeError(f"model returned {len(completions)} completions for {len(batch)} samples")
        return completions
    except UsageError:
        raise
    except Exception as exc:
        if is_out_of_memory(exc):
            raise
        if len(batch) == 1:
            return [Completion(text="", error=f"{type(exc).__name__}: {exc}")]
    return [_generate_items(model, [s], gen_config)[0] for s in batch]


def generate(stage: Stage, samples: list[Sample], model_factory: Callable[[], Model]) -> list[Generation]:
    """Produce the generations missing from generations.jsonl, one flushed batch at a time."""
    cfg = stage.cfg
    store = JsonlAppender(stage.rundir.file("generations"), key=lambda r: r["record_id"])
    model: Model | None = None
    attacks = cfg.attacks or ["none"]
    gen_config = cfg.gen_config()
    todo: list[tuple[str, int, Sample]] = []
    for attack_name in attacks:
        attack = stage.plugins.get("attack", attack_name).create()
        if attack.needs_model and model is None:
            model = model_factory()
        for s in attack.apply(samples, model if attack.needs_model else None):
            variant = int(s.meta.get("variant", 0))
            if Generation.make_id(s.id, attack_name, variant) not in store:
                todo.append((attack_name, variant, s))
    originals = {s.id: s for s in samples}
    if todo:
        model = model or model_factory()
        _component_meta(stage, "model", cfg.model, {"info": model.info()})
        log.info("generating %d records with %s (%d already done)", len(todo), cfg.model, len(store.records))
        bar = _progress(len(todo), "generate")
        try:
            for start_at in range(0, len(todo), cfg.batch_size):
                batch = todo[start_at : start_at + cfg.batch_size]
                completions = _generate_items(model, [s for _, _, s in batch], gen_config)
                records = [
                    _generation(cfg.model, attack, variant, originals[s.id], s, c).to_dict()
                    for (attack, variant, s), c in zip(batch, completions)
                ]
                stage.written("generations", store.append(records))
                bar.update(len(batch))
        finally:
            bar.close()
            _component_meta(stage, "model", cfg.model, {"info": model.info()})
            model.close()
    wanted = {Generation.make_id(s.id, a, v) for a, v, s in todo} | {
        r["record_id"] for r in store.records if r.get("sample_id") in originals and r.get("attack") in attacks
    }
    return [Generation.from_dict(r) for r in store.records if r["record_id"] in wanted]


def _generation(model: str, attack: str, variant: int, original: Sample, sent: Sample, c: Completion) -> Generation:
    return Generation(
        record_id=Generation.make_id(original.id, attack, variant),
        sample_id=original.id,
        attack=attack,
        variant=variant,
        model=model,
        request=original.prompt,
        prompt=sent.prompt,
        response=c.text,
        images=[str(i) for i in sent.images if isinstance(i, (str, Path))],
        category=original.category,
        harmful=original.harmful,
        label=original.label,
        prompt_sent=c.prompt_sent,
        token_logprobs=c.token_logprobs,
        finish_reason=c.finish_reason,
        error=c.error,
        info=c.info,
    )


def _score_items(judge: Judge, items: list[JudgeItem]) -> list[Score]:
    """Score a batch; if the judge raises, score one by one so only the failing item errors."""
    try:
        scores = judge.score(items)
        if len(scores) != len(items):
            raise RuntimeError(f"judge returned {len(scores)} scores for {len(items)} items")
        return [s.checked() for s in scores]
    except UsageError:
        raise
    except Exception as exc:
        if len(items) == 1:
            return [Score.failed(f"{type(exc).__name__}: {exc}")]
    return [_score_items(judge, [item])[0] for item in items]


def open_cache(cfg: RunConfig):
    if cfg.no_judge_cache:
        return NoCache()
    return JudgeCache(Path(cfg.judge_cache).expanduser() if cfg.judge_cache else default_cache_path())


def judge_records(stage: Stage, judges: dict[str, Judge], gens: list[Generation], role: str = "judge") -> None:
    """Score every generation not yet judged by each judge, using the cache first."""
    cfg = stage.cfg
    store = JsonlAppender(stage.rundir.file("verdicts"), key=lambda r: (r["record_id"], r["judge"]))
    cache = open_cache(cfg)
    try:
        for name, judge in judges.items():
            judge_cfg = config_hash(judge.config())
            _check_same_config(stage, store, name, judge_cfg)
            todo = [g for g in gens if (g.record_id, name) not in store]
            _component_meta(
                stage,
                "judge",
                name,
                {
                    "judge_version": judge.version,
                    "config": judge.config(),
                    "config_hash": judge_cfg,
                    "measures": judge.measures,
                },
            )
            if not todo:
                continue
            log.info("judging %d records with %s", len(todo), name)
            threshold = float(cfg.thresholds.get(name, judge.threshold))
            bar = _progress(len(todo), name)
            try:
                for start_at in range(0, len(todo), cfg.batch_size):
                    batch = todo[start_at : start_at + cfg.batch_size]
                    scores = _cached_scores(judge, name, judge_cfg, batch, cache)
                    records = [
                        _verdict(g, name, judge, judge_cfg, threshold, s, cached, role).to_dict()
                        for g, (s, cached) in zip(batch, scores)
                    ]
                    stage.written("verdicts", store.append(records))
                    bar.update(len(batch))
            finally:
                bar.close()
    finally:
        cache.close()


def _check_same_config(stage: Stage, store: JsonlAppender, name: str, judge_cfg: str) -> None:
    old = {r.get("judge_config") for r in store.records if r["judge"] == name}
    if old and old != {judge_cfg}:
        raise UsageError(
            f"{stage.rundir} already holds {name} verdicts made with other judge settings.",
            f"Use a new --out for the new {name} settings (lam3 judge {stage.rundir.file('generations')} "
            f"--out NEW_DIR ...), or the settings used before.",
        )


def _cached_scores(judge: Judge, name: str, judge_cfg: str, batch: list[Generation], cache) -> list[tuple[Score, bool]]:
    keys = [cache_key(name, judge, judge_cfg, g) for g in batch]
    hits = cache.get_many([k for k, g in zip(keys, batch) if not g.error])
    misses = [i for i, (k, g) in enumerate(zip(keys, batch)) if not g.error and k not in hits]
    fresh = (
        _score_items(
            judge, [JudgeItem(batch[i].request, batch[i].response, batch[i].images, batch[i].record_id) for i in misses]
        )
        if misses
        else []
    )
    cache.put_many({keys[i]: s for i, s in zip(misses, fresh)})
    by_index = dict(zip(misses, fresh))
    results = []
    for i, (k, g) in enumerate(zip(keys, batch)):
        if g.error:
            results.append((Score.failed(f"no response to judge: generation failed ({g.error})"), False))
        elif i in by_index:
            results.append((by_index[i], False))
        else:
            results.append((hits[k], True))
    return results


def cache_key(name: str, judge: Judge, judge_cfg: str, g: Generation) -> str:
    return JudgeCache.key(name, judge.version, judge_cfg, g.request if judge.uses_request else None, g.response)


def _verdict(
    g: Generation, name: str, judge: Judge, judge_cfg: str, threshold: float, s: Score, cached: bool, role: str
) -> Verdict:
    return Verdict(
        record_id=g.record_id,
        judge=name,
        judge_version=judge.version,
        judge_config=judge_cfg,
        measures=judge.measures,
        score=None if s.error else float(s.score),
        threshold=threshold,
        flagged=None if s.error else float(s.score) >= threshold,
        categories={k: float(v) for k, v in s.categories.items()},
        flagged_categories=list(s.flagged_categories),
        raw=s.raw,
        error=s.error,
        notes=list(s.notes),
        role=role,
        cached=cached,
    )


def read_generations(rundir: RunDir) -> list[Generation]:
    return [Generation.from_dict(r) for r in read_jsonl(rundir.file("generations"))]


def read_verdicts(rundir: RunDir) -> list[Verdict]:
    return [Verdict.from_dict(r) for r in read_jsonl(rundir.file("verdicts"))]
