"""The generation stage: every (sample, attack, variant) answered once, flushed chunk by chunk, resumable.

On resume it first drops what must be redone: records of samples whose content changed since
they were answered, and (unless ``--no-retry-errors``) records that ended in an error — with the
verdicts made from them. Then it produces only what is missing.

The model is handed a chunk of pending records at a time (``RECORDS_PER_CALL``, or ``--batch-size``
when given) and splits it into the micro-batches its memory holds; each chunk's records are
flushed as soon as it is done, so a kill loses at most one chunk. Before each call the model is
told which chunk follows (``Model.prepare_next``), so that it can prepare it during the call.
"""

from __future__ import annotations

import logging

from lam3_core.interfaces.components import Model
from lam3_core.interfaces.errors import UsageError
from lam3_core.interfaces.records import Completion, Generation, Sample
from lam3_core.kit.batching import item_by_item_on_failure
from lam3_core.run.attacking import Attacked, AttackStore
from lam3_core.run.components import Prepared
from lam3_core.run.progress import Progress
from lam3_core.run.rundir import RunDir
from lam3_core.run.samples import LoadedDataset
from lam3_core.run.sampling import attach_samples, generate_with_samples
from lam3_core.run.session import RunSession
from lam3_core.run.store import JsonlAppender

log = logging.getLogger("lam3")


def generation_store(session: RunSession) -> JsonlAppender:
    return JsonlAppender(session.rundir.file("generations"), key=lambda r: r["record_id"])


def verdict_store(session: RunSession) -> JsonlAppender:
    return JsonlAppender(session.rundir.file("verdicts"), key=lambda r: (r["record_id"], r["judge"]))


def check_generation_settings(rundir: RunDir, old: dict | None, new: dict, has_generations: bool) -> None:
    """Refuse new generation settings (``new``) on a directory that holds generations made with others (``old``)."""
    if has_generations and old and old != new:
        changed = ", ".join(k for k in new if old.get(k) != new.get(k))
        raise UsageError(
            f"{rundir} holds a run made with different generation settings ({changed}).",
            "Use a new --out for the new settings, or the same settings to resume.",
        )


def _check_same_settings(session: RunSession, store: JsonlAppender) -> None:
    new = session.cfg.generation_part()
    check_generation_settings(session.rundir, session.meta.get("generation"), new, bool(store.records))
    session.record("generation", None, new)
    session.commit_config()


def _drop_stale(session: RunSession, store: JsonlAppender, dataset: LoadedDataset) -> None:
    """Remove records to redo (changed samples; failed ones unless told to keep them) and their verdicts."""
    hashes = dataset.hashes
    changed = store.discard(lambda r: r["sample_id"] in hashes and r.get("sample_hash") != hashes[r["sample_id"]])
    failed = store.discard(lambda r: r["sample_id"] in hashes and bool(r.get("error"))) \
        if session.cfg.retry_errors else []
    if changed:
        log.warning("%d records answer samples whose content changed since (prompt, image, label or meta): "
                    "answering and judging them again", len(changed))
    if failed:
        log.warning("retrying %d records that failed last time (--no-retry-errors keeps them)", len(failed))
    redo = {r["record_id"] for r in changed + failed}
    if redo:
        verdict_store(session).discard(lambda v: v["record_id"] in redo)


def run_generation(session: RunSession, dataset: LoadedDataset, model: Prepared,
                   attacks: dict[str, Prepared]) -> list[Generation]:
    """Produce the generations missing from generations.jsonl; return every generation of this run's samples."""
    cfg = session.cfg
    store = generation_store(session)
    _check_same_settings(session, store)
    session.record("dataset", None, dataset.fingerprint())
    stores = {name: AttackStore(session.rundir, prepared) for name, prepared in attacks.items()}
    for attack_store in stores.values():
        attack_store.check_same_arguments()
    _drop_stale(session, store, dataset)
    for name, prepared in attacks.items():
        session.record("attacks", name, prepared.meta())
    instance: Model = model.instance
    versions: list[tuple[str, Attacked]] = []
    for name, attack_store in stores.items():
        found = attack_store.versions(dataset.samples, dataset.hashes, cfg.samples_per_attack_call(), lambda: instance,
                                      cfg.quiet)
        versions += [(name, v) for v in found]
    todo = [(name, v) for name, v in versions if Generation.make_id(v.original.id, name, v.variant) not in store]
    if todo:
        session.record("model", None, {**model.meta(), "info": instance.info()})
        log.info("generating %d records with %s (%d already done)", len(todo), cfg.model, len(store.records))
        gen_config = cfg.gen_config()
        sample_gen = cfg.sample_config() if cfg.samples else None
        chunk = cfg.records_per_call()
        try:
            with Progress(len(todo), "generate", cfg.quiet) as progress:
                for start in range(0, len(todo), chunk):
                    batch = todo[start : start + chunk]
                    sent = [v.sent for _, v in batch]
                    following = [v.sent for _, v in todo[start + chunk : start + 2 * chunk]]
                    if following:  # the model may prepare them while it answers this chunk
                        instance.prepare_next(following, gen_config, cfg.samples, sample_gen)
                    if sample_gen is None:
                        answered = [(c, None) for c in _generate_items(instance, sent, gen_config)]
                    else:
                        answered = generate_with_samples(instance, sent, gen_config, cfg.samples, sample_gen)
                    records = [_generation(cfg.model, name, attacks[name], v, c, dataset.hashes[v.original.id])
                               for (name, v), (c, _) in zip(batch, answered)]
                    for record, (_, drawn) in zip(records, answered):
                        if drawn is not None:
                            attach_samples(record, drawn)
                    session.written("generations", store.append([r.to_dict() for r in records]))
                    progress.update(len(batch))
        finally:
            session.record("model", None, {**model.meta(), "info": instance.info()})
            instance.close()
    wanted = {Generation.make_id(v.original.id, name, v.variant) for name, v in versions}
    return [Generation.from_dict(r) for r in store.records if r["record_id"] in wanted]


def _generate_items(model: Model, batch: list[Sample], gen_config) -> list[Completion]:
    """Generate a batch; if it fails for a reason other than memory, retry one by one so that only the failing
    sample gets an error record."""
    return item_by_item_on_failure(lambda part: model.generate(part, gen_config), batch,
                                   lambda message: Completion(text="", error=message), "generation")


def _generation(model: str, attack: str, prepared: Prepared, version: Attacked, c: Completion,
                sample_hash: str) -> Generation:
    original, sent = version.original, version.sent
    return Generation(
        record_id=Generation.make_id(original.id, attack, version.variant),
        sample_id=original.id,
        attack=attack,
        variant=version.variant,
        model=model,
        request=str(original.meta.get("request", original.prompt)),
        prompt=sent.prompt,
        response=c.text,
        images=version.images,
        category=original.category,
        harmful=original.harmful,
        label=original.label,
        prompt_sent=c.prompt_sent,
        token_logprobs=c.token_logprobs,
        finish_reason=c.finish_reason,
        error=c.error,
        info=c.info,
        context=original.meta.get("context"),
        attack_args=prepared.meta()["args"],
        attack_info=version.info,
        sample_hash=sample_hash,
    )
