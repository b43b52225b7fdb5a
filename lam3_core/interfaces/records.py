"""The plain records that flow through a run and are written as JSON lines.

``Sample`` comes from a dataset, ``Completion`` from a model, ``Score`` from a judge;
the core wraps them into ``Generation`` and ``Verdict`` records that carry the keys
(record id, judge) used for resume and for tracing every number to its inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    """A record class's field names, looked up once (``fields`` is slow, and records are written by the thousand)."""
    return tuple(f.name for f in fields(cls))


def _shallow(record) -> dict:
    """A record's fields as a dict without ``asdict``'s deep copy (records are written at once, not kept)."""
    return {name: getattr(record, name) for name in _field_names(type(record))}


def _from_dict(cls, data: dict):
    names = _field_names(cls)
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Sample:
    """One request from a dataset. ``harmful`` says whether the request itself is harmful.

    ``images`` are paths or in-memory PIL images. ``meta`` is free-form for datasets; keys the
    core reads: ``target`` (an affirmative target continuation, for white-box attacks),
    ``context`` (a context string the judges see, e.g. HarmBench's contextual behaviours),
    ``request`` (the request itself, for judges, when ``prompt`` wraps it in a context),
    and, on attacked samples, ``variant`` (which of several attacked versions of one sample:
    an int or a short name) and ``attack_info`` (a dict the core stores in the generation
    record, e.g. a PGD attack's final loss). ``missing_images`` lists images the sample needs but
    the user did not provide (e.g. no image folder given): a run refuses such samples unless its
    model does not read images (``replay``).
    """

    id: str
    prompt: str
    images: list[Any] = field(default_factory=list)
    category: str | None = None
    label: str | None = None
    harmful: bool | None = None
    meta: dict = field(default_factory=dict)


@dataclass
class Completion:
    """What a model returns for one sample (or one of its K samples)."""

    text: str
    prompt_sent: str | None = None
    token_logprobs: list[float] | None = None
    tokens: list[str] | None = None
    finish_reason: str | None = None
    trace: Any = None
    info: dict = field(default_factory=dict)
    error: str | None = None


@dataclass
class Generation:
    """A model's answer to one (sample, attack, variant), as written to generations.jsonl.

    ``request`` is the sample's prompt as the dataset wrote it, ``prompt`` what was sent after the
    attack, ``images`` the images the model was shown (an attack's images live in the run
    directory, relative paths from it). ``attack_args`` are the attack's resolved arguments,
    ``attack_info`` what the attack recorded (e.g. a PGD loss), ``sample_hash`` the hash of the
    sample's content when it was answered (a changed sample is answered again on resume).
    """

    record_id: str
    sample_id: str
    attack: str
    model: str
    request: str
    prompt: str
    response: str
    variant: int | str = 0
    images: list[str] = field(default_factory=list)
    category: str | None = None
    harmful: bool | None = None
    label: str | None = None
    prompt_sent: str | None = None
    token_logprobs: list[float] | None = None
    finish_reason: str | None = None
    samples: list[dict] | None = None
    error: str | None = None
    info: dict = field(default_factory=dict)
    context: str | None = None
    attack_args: dict = field(default_factory=dict)
    attack_info: dict = field(default_factory=dict)
    sample_hash: str | None = None

    @staticmethod
    def make_id(sample_id: str, attack: str, variant: int | str = 0) -> str:
        return f"{sample_id}::{attack}::{variant}"

    def to_dict(self) -> dict:
        return _shallow(self)

    @classmethod
    def from_dict(cls, data: dict) -> Generation:
        return _from_dict(cls, data)


@dataclass
class JudgeItem:
    """What a judge sees: the user's request, the model's response and the images.

    ``images`` are the paths of the images the model was shown (the dataset's, or the
    attack's when an attack drew one). ``context`` is the sample's context string when the
    dataset has one (HarmBench's contextual behaviours). ``label`` is the reference answer
    when the dataset has one (for judges that score correctness).
    """

    request: str
    response: str
    images: list[str] = field(default_factory=list)
    record_id: str | None = None
    context: str | None = None
    label: str | None = None


@dataclass
class Score:
    """A judge's answer for one item. ``score`` is P(unsafe/toxic/complied) in [0, 1].

    A judge that cannot score an item returns ``Score.failed(reason)``: an error is
    recorded for that item, never a silent 0.
    """

    score: float | None
    categories: dict[str, float] = field(default_factory=dict)
    flagged_categories: list[str] = field(default_factory=list)
    raw: Any = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def failed(cls, error: str, raw: Any = None) -> Score:
        return cls(score=None, error=error, raw=raw)

    def checked(self) -> Score:
        """Return self, or an error score if ``score`` is missing, NaN or outside [0, 1]."""
        if self.error:
            return self
        if self.score is None or not isinstance(self.score, (int, float)) or math.isnan(self.score):
            return Score.failed(f"judge returned no valid score ({self.score!r})", raw=self.raw)
        if not 0.0 <= float(self.score) <= 1.0:
            return Score.failed(f"judge returned a score outside [0, 1] ({self.score!r})", raw=self.raw)
        return self


@dataclass
class Verdict:
    """One judge's verdict on one generation, as written to verdicts.jsonl.

    ``score`` is the judge's raw score. ``threshold`` and ``flagged`` are as judged: summary.json
    applies the thresholds of the command that built it (``lam3 report --threshold`` changes them
    without rewriting verdicts) and records them under ``thresholds``. ``judge_config`` is the
    hash of the judge's identity (arguments, distribution, code) that resume compares.
    """

    record_id: str
    judge: str
    judge_version: str
    judge_config: str
    measures: str
    score: float | None
    threshold: float
    flagged: bool | None
    categories: dict[str, float] = field(default_factory=dict)
    flagged_categories: list[str] = field(default_factory=list)
    raw: Any = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    role: str = "judge"
    cached: bool = False

    def to_dict(self) -> dict:
        return _shallow(self)

    @classmethod
    def from_dict(cls, data: dict) -> Verdict:
        return _from_dict(cls, data)


@dataclass
class EnsembleVerdict:
    """The judges' combined verdict on one generation."""

    record_id: str
    strategy: str
    score: float | None
    flagged: bool | None
    votes: dict[str, bool | None]
    disagreement: bool
    arbitrated: bool = False
    error: str | None = None

    def to_dict(self) -> dict:
        return _shallow(self)


@dataclass(frozen=True)
class SampledAnswer:
    """One answer drawn from a model with the natural-log probability of each of its tokens."""

    text: str
    token_logprobs: tuple[float, ...] = ()


@dataclass(frozen=True)
class UncertaintyItem:
    """What an uncertainty metric sees for one prompt.

    ``samples`` are the K sampled answers; ``greedy`` is the greedy (or low-temperature)
    answer whose correctness is judged, when there is one; ``correct`` says whether it was
    right, when that is known (a dataset label or a judge).
    """

    id: str
    question: str
    samples: tuple[SampledAnswer, ...]
    greedy: SampledAnswer | None = None
    correct: bool | None = None
