"""The judging stage: every generation scored once by each judge, from the cache when it can be.

A verdict records its judge's identity hash (``judge_config``). Resuming a judge with other
arguments (or another version) is refused; resuming it after only its code changed (an edited,
locally installed plugin) judges again, because the old verdicts came from other code.
Verdicts that ended in an error are retried (unless ``--no-retry-errors``); errors are never
cached.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lam3_core.interfaces.components import Judge
from lam3_core.interfaces.errors import UsageError
from lam3_core.interfaces.records import Generation, JudgeItem, Score, Verdict
from lam3_core.run.attacking import resolve_images
from lam3_core.run.components import Prepared
from lam3_core.run.fingerprints import image_digest
from lam3_core.run.generation import verdict_store
from lam3_core.run.judgecache import JudgeCache, NoCache, default_cache_path
from lam3_core.run.progress import Progress
from lam3_core.run.rundir import RunDir
from lam3_core.run.session import RunSession
from lam3_core.run.store import JsonlAppender

log = logging.getLogger("lam3")

NO_RESPONSE = "no response to judge"


def open_cache(session: RunSession) -> JudgeCache | NoCache:
    cfg = session.cfg
    if cfg.no_judge_cache:
        return NoCache()
    return JudgeCache(Path(cfg.judge_cache).expanduser() if cfg.judge_cache else default_cache_path())


def judge_item(session: RunSession, g: Generation) -> JudgeItem:
    """What judges see of a generation (its images as absolute paths)."""
    return JudgeItem(g.request, g.response, resolve_images(session.rundir, g.images), g.record_id, g.context, g.label)


def judged_by_other_code(rundir: RunDir, recorded: dict, verdicts: list[dict], judge: Prepared) -> bool:
    """Whether ``judge``'s verdicts in ``rundir`` came from other code of the same judge (to judge again);
    refuses verdicts made with other settings. ``recorded`` is meta.json's ``judges``."""
    old = {r.get("judge_config") for r in verdicts if r["judge"] == judge.name}
    if not old or old == {judge.identity_hash}:
        return False
    before = recorded.get(judge.name, {})
    same_settings = (before.get("args"), before.get("version"), before.get("judge_version")) == (
        judge.meta()["args"], judge.component.version, judge.instance.version)
    if not same_settings:
        raise UsageError(
            f"{rundir} already holds {judge.name} verdicts made with other judge settings.",
            f"Use a new --out for the new {judge.name} settings (lam3 judge {rundir.file('generations')} "
            f"--out NEW_DIR ...), or the settings used before (meta.json, judges.{judge.name}).",
        )
    return True


def _reconcile(session: RunSession, store: JsonlAppender, judge: Prepared) -> None:
    """Refuse other arguments; judge again after a code change; drop errored verdicts to retry them."""
    if judged_by_other_code(session.rundir, session.meta.get("judges", {}), store.records, judge):
        log.warning("the code of %s changed since its verdicts in %s were made: judging again", judge.name,
                    session.rundir)
        store.discard(lambda r: r["judge"] == judge.name)
    elif session.cfg.retry_errors:
        retried = store.discard(lambda r: r["judge"] == judge.name and bool(r.get("error")) and not
                                str(r.get("error")).startswith(NO_RESPONSE))
        if retried:
            log.warning("retrying %d %s verdicts that failed last time", len(retried), judge.name)


def judge_records(session: RunSession, judges: dict[str, Prepared], gens: list[Generation],
                  role: str = "judge") -> None:
    """Score every generation not yet judged by each judge, using the cache first."""
    cfg = session.cfg
    store = verdict_store(session)
    for prepared in judges.values():
        _reconcile(session, store, prepared)
    if role == "judge":
        session.commit_config()
    cache = open_cache(session)
    try:
        for name, prepared in judges.items():
            session.record("judges", name, prepared.meta())
            # Longest inputs first, so every chunk pads little (and an out-of-memory shows at once);
            # verdicts are keyed by record, so the order they are written in does not matter.
            todo = sorted((g for g in gens if (g.record_id, name) not in store),
                          key=lambda g, reads=prepared.instance.uses_request: -_input_length(g, reads))
            if not todo:
                continue
            judge: Judge = prepared.instance
            stamp = _Stamp(name, judge.version, prepared.identity_hash, str(judge.measures),
                           float(cfg.thresholds.get(name, judge.threshold)), role)
            step = cfg.records_per_call()
            with Progress(len(todo), f"judge {name}", cfg.quiet) as progress:
                _judge_chunks(session, prepared, stamp, [todo[s : s + step] for s in range(0, len(todo), step)],
                              cache, store, progress)
    finally:
        cache.close()


def _input_length(g: Generation, reads_request: bool) -> int:
    """Characters of what the judge reads: the response, and the request and context if it reads them (a Llama
    Guard prompt holds both: sorting by the response alone left 5.3% of a benchmark's suffix tokens as padding,
    by both 3.4%)."""
    return len(g.response or "") + (len(g.request or "") + len(g.context or "") if reads_request else 0)


def _judge_chunks(session: RunSession, judge: Prepared, stamp: _Stamp, chunks: list[list[Generation]], cache,
                  store: JsonlAppender, progress: Progress) -> None:
    """Score the chunks in order while one bookkeeping thread looks the next chunk up in the cache and writes the
    last one's scores (cache and verdicts): the judge, usually waiting on a GPU, is not kept waiting by the disk.
    Every chunk scored is written before this returns or raises; plugins hear of written verdicts on this thread."""
    with ThreadPoolExecutor(1, thread_name_prefix="lam3-judge-books") as books:
        lookup = books.submit(_look_up, session, judge, chunks[0], cache)
        written = None
        for i, batch in enumerate(chunks):
            found = lookup.result()
            if i + 1 < len(chunks):
                lookup = books.submit(_look_up, session, judge, chunks[i + 1], cache)
            results, fresh = _scored(judge, batch, *found)
            if written is not None:
                session.written("verdicts", written.result())
            written = books.submit(_write, store, cache, fresh, stamp, batch, results)
            progress.update(len(batch))
        session.written("verdicts", written.result())


def _write(store: JsonlAppender, cache, fresh: dict[str, Score], stamp: _Stamp, batch: list[Generation],
           results: list[tuple[Score, bool]]) -> list[dict]:
    """A scored chunk into the cache (its fresh scores) and the verdict store; returns the verdicts written."""
    cache.put_many(fresh)
    return store.append([stamp.verdict(g, *r).to_dict() for g, r in zip(batch, results)])


def _cache_item(judge: Prepared, item: JudgeItem) -> list:
    reads_request = judge.instance.uses_request
    return [item.request if reads_request else None, item.context if reads_request else None, item.label,
            item.response, [image_digest(p) for p in item.images]]


def _look_up(session: RunSession, judge: Prepared, batch: list[Generation],
             cache) -> tuple[list[JudgeItem], list[str], dict[str, Score]]:
    """The chunk's judge items, their cache keys and the scores the cache holds for them."""
    items = [judge_item(session, g) for g in batch]
    identity = judge.identity_hash
    keys = [JudgeCache.key(identity, _cache_item(judge, i)) for i in items]
    return items, keys, cache.get_many([k for k, g in zip(keys, batch) if not g.error])


def _scored(judge: Prepared, batch: list[Generation], items: list[JudgeItem], keys: list[str],
            hits: dict[str, Score]) -> tuple[list[tuple[Score, bool]], dict[str, Score]]:
    """(score, from the cache) of each generation, and the fresh scores by cache key."""
    misses = [i for i, (k, g) in enumerate(zip(keys, batch)) if not g.error and k not in hits]
    fresh = score_items(judge.instance, [items[i] for i in misses], judge.name) if misses else []
    by_index = dict(zip(misses, fresh))
    results = []
    for i, (k, g) in enumerate(zip(keys, batch)):
        if g.error:
            results.append((Score.failed(f"{NO_RESPONSE}: generation failed ({g.error})"), False))
        elif i in by_index:
            results.append((by_index[i], False))
        else:
            results.append((hits[k], True))
    return results, {keys[i]: s for i, s in zip(misses, fresh)}


def score_items(judge: Judge, items: list[JudgeItem], name: str | None = None) -> list[Score]:
    """Score a batch; if the judge raises, score one by one so only the failing item errors.

    ``name`` is the judge's registered name, for the log (default: its class's ``name``)."""
    name = name or judge.name
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
        log.warning("judge %s failed on a batch of %d (%s: %s); scoring its items one by one", name,
                    len(items), type(exc).__name__, exc)
    return [score_items(judge, [item], name)[0] for item in items]


@dataclass(frozen=True)
class _Stamp:
    """What every verdict of one judge in one stage shares, worked out once (not per verdict)."""

    judge: str
    version: str
    identity: str
    measures: str
    threshold: float
    role: str

    def verdict(self, g: Generation, s: Score, cached: bool) -> Verdict:
        return Verdict(
            record_id=g.record_id,
            judge=self.judge,
            judge_version=self.version,
            judge_config=self.identity,
            measures=self.measures,
            score=None if s.error else float(s.score),
            threshold=self.threshold,
            flagged=None if s.error else float(s.score) >= self.threshold,
            categories={k: float(v) for k, v in s.categories.items()},
            flagged_categories=list(s.flagged_categories),
            raw=s.raw,
            error=s.error,
            notes=list(s.notes),
            role=self.role,
            cached=cached,
        )
