"""What the judge benchmarks share: timing a judge through ``lam3 judge``'s own code, and comparing scores.

``lam3_judge`` writes the items as a generations file and scores it with
``lam3_core.run.api.judge`` (what the ``lam3 judge`` command calls): the registry creates the
judge from its arguments, and the run imports the generations, runs its judging stage (batches,
the judge cache, verdicts.jsonl) and writes summary.json and the report. It times the judging
stage (``lam3_core.run.judging.judge_records``, as the run calls it) and the whole command.
``keep_weights`` makes a judge class load its weights once, so that a warm-up run loads them and
the timed runs that follow do not.
"""

from __future__ import annotations

import json
import platform
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

import lam3_core.run.api
from lam3_core import JudgeItem
from lam3_core.run.store import read_jsonl

WORDS = ("the a to of and in is it you that for on with as are this be at or have from by not but what all were "
         "when we there can an your which their if do will each about how up out them then she many some so these "
         "would other into has more her two like him see time could no make than first been its who now people my "
         "made over did down only way find use may water long little very after words called just where most know "
         "get through back much before go good new write our used me man too any day same right look think also "
         "around another came come work three word must because does part even place well such here take why help "
         "put different away again off went old number great tell men say small every found still between name "
         "should home big give air line set own under read last never us left end along while might next sound "
         "below saw something thought both few those always show large often together asked house world going want "
         "school important until form food keep children feet land side without boy once animal life enough took "
         "chemical weapon knife bomb steal password hack poison drug attack kill hate idiot stupid recipe bread "
         "cake oven flour sugar step instructions mix heat minutes safety illegal dangerous harmful code script "
         "server letter article essay neighbour bank account Yes No").split()
REFUSALS = ("I'm sorry, but I cannot help with that request.",
            "I can't assist with that. If you are in danger, please contact local emergency services.")


def synthetic_items(n: int, seed: int = 0) -> list[JudgeItem]:
    """Requests of 5-40 words and responses of realistic length (log-normal words, 10-400), 15% refusals."""
    rng = random.Random(seed)

    def text(k: int) -> str:
        sentences, left = [], k
        while left > 0:
            m = min(left, rng.randint(6, 20))
            sentences.append(" ".join(rng.choice(WORDS) for _ in range(m)).capitalize() + ".")
            left -= m
        return " ".join(sentences)

    items = []
    for _ in range(n):
        request = text(rng.randint(5, 40))
        words = int(min(400, max(10, rng.lognormvariate(4.4, 0.8))))
        response = rng.choice(REFUSALS) if rng.random() < 0.15 else text(words)
        items.append(JudgeItem(request=request, response=response))
    return items


def exact_length_items(tok, n: int, response_tokens: int, seed: int = 0) -> list[JudgeItem]:
    """Requests of 5-40 words and responses of exactly ``response_tokens`` tokens of ``tok``."""
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        request = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40))).capitalize() + "."
        text = " ".join(rng.choice(WORDS) for _ in range(response_tokens * 2))
        ids = tok.encode(text, add_special_tokens=False)[:response_tokens]
        items.append(JudgeItem(request=request, response=tok.decode(ids)))
    return items


def device_name() -> str:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu"


def say(text: str) -> None:
    print(text, flush=True)


def timed(fn: Callable, *args, **kwargs) -> tuple[float, object]:
    """(seconds, result), the GPU's queued work included."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


@contextmanager
def keep_weights(judge_class: type, key: Callable[[object], object]) -> Iterator[None]:
    """Within the block, judges of ``judge_class`` with the same ``key(judge)`` load their weights once."""
    original = judge_class._load
    loaded: dict = {}

    def _load(self):
        if key(self) not in loaded:
            loaded[key(self)] = original(self)
        return loaded[key(self)]

    judge_class._load = _load
    try:
        yield
    finally:
        judge_class._load = original


def write_generations(items: Sequence[JudgeItem], path: Path) -> Path:
    """A generations file ``lam3 judge`` accepts: one JSON line per item."""
    with open(path, "w", encoding="utf-8") as fh:
        for i, item in enumerate(items):
            fh.write(json.dumps({"id": f"item{i:06d}", "request": item.request, "response": item.response}) + "\n")
    return path


def lam3_judge(generations: Path, out: Path, name: str, args: dict, batch_size: int,
               judge_cache: bool = True) -> tuple[dict, list[dict]]:
    """({"stage_s": the judging stage's seconds, "command_s": the whole command's}, verdicts in item order) of
    ``lam3 judge GENERATIONS --judge NAME`` with ``args`` as its ``--judge-arg`` values and ``--batch-size``;
    a fresh output folder and judge cache (or ``--no-judge-cache``)."""
    config = {"judges": [name], "judge_args": {name: args}, "batch_size": batch_size, "out": str(out),
              "judge_cache": str(out.with_name(out.name + "-cache.sqlite")), "no_judge_cache": not judge_cache,
              "quiet": True}
    stage = lam3_core.run.api.judge_records
    seconds = {"stage_s": 0.0}

    def timed_stage(*a, **k):
        elapsed, _ = timed(stage, *a, **k)
        seconds["stage_s"] += elapsed

    lam3_core.run.api.judge_records = timed_stage
    try:
        seconds["command_s"], _ = timed(lam3_core.run.api.judge, generations, config)
    finally:
        lam3_core.run.api.judge_records = stage
    verdicts = {v["record_id"].split("::")[0]: v for v in read_jsonl(out / "verdicts.jsonl")}
    return seconds, [verdicts[json.loads(line)["id"]] for line in generations.read_text().splitlines()]


def agreement(scores: Sequence[float | None], reference: Sequence[float | None], threshold: float = 0.5) -> dict:
    """Largest |score - reference| and the share of items flagged alike (score >= threshold) by both."""
    pairs = [(a, b) for a, b in zip(scores, reference) if a is not None and b is not None]
    if not pairs:
        return {"compared": 0, "max_abs_diff": None, "same_flag_share": None}
    return {"compared": len(pairs), "max_abs_diff": max(abs(a - b) for a, b in pairs),
            "same_flag_share": sum((a >= threshold) == (b >= threshold) for a, b in pairs) / len(pairs)}


def write_json(result: dict, out: Path | None, name: str) -> None:
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(json.dumps(result, indent=2))
        say(f"wrote {out / name}")
