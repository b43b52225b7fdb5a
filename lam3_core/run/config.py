"""The resolved configuration of a run: YAML file first, command line on top, every value type-checked.

A value that cannot be honoured is refused with one message naming where it came from (the
YAML key or the option) and what is expected — before any run directory is created.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from lam3_core.analysis.ensemble import STRATEGIES, VOTING_STRATEGIES, EnsemblePolicy
from lam3_core.interfaces.errors import UsageError
from lam3_core.interfaces.genconfig import GenConfig
from lam3_core.kit.secrets import redact
from lam3_core.run.sampling import sample_config

GENERATION_KEYS = ("model", "model_args", "dataset", "dataset_args", "gen", "seed")
"""Settings that decide every generation: changing them on a directory that holds records is refused. Attacks are
not among them: adding one adds records, and each attack's own arguments are checked on their own."""


def parse_value(text: str):
    """A ``k=v`` value: JSON scalars and lists (3, 0.5, true, null, [1,2]) are parsed, anything else is a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_pairs(pairs: tuple[str, ...] | list[str], option: str) -> dict:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``; a pair without '=' is a usage error naming the option."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} expects KEY=VALUE, got {pair!r}.", f"Example: {option} batch_size=8")
        result[key.strip()] = parse_value(value)
    return result


_EXAMPLES = {"--judge-arg": "detoxify.variant=unbiased", "--attack-arg": "template.family=role_play",
             "--metric-arg": "semantic_entropy.variant=2023"}


def parse_judge_pairs(pairs: tuple[str, ...] | list[str], option: str = "--judge-arg") -> dict[str, dict]:
    """``["detoxify.variant=unbiased"]`` -> ``{"detoxify": {"variant": "unbiased"}}``; also for --attack-arg and
    --metric-arg."""
    result: dict[str, dict] = {}
    for pair in pairs:
        target, sep, value = pair.partition("=")
        name, dot, key = target.partition(".")
        if not sep or not dot or not name or not key:
            raise UsageError(f"{option} expects NAME.KEY=VALUE, got {pair!r}.",
                             f"Example: {option} {_EXAMPLES[option]}")
        result.setdefault(name, {})[key] = parse_value(value)
    return result


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _names(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value)


def _mapping(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) for k in value)


def _per_name(value: Any) -> bool:
    return _mapping(value) and all(_mapping(v) for v in value.values())


def _numbers(value: Any) -> bool:
    return _mapping(value) and all(_is_number(v) for v in value.values())


# field -> (check, what is expected); None values are allowed for the optional fields.
_CHECKS: dict[str, tuple[Any, str]] = {
    "model": (lambda v: isinstance(v, str) and v, "a model name"),
    "model_args": (_mapping, "a mapping of argument names to values"),
    "judges": (_names, "a list of judge names, e.g. [refusal, detoxify]"),
    "judge_args": (_per_name, "a mapping judge -> {argument: value}"),
    "dataset": (lambda v: isinstance(v, str) and v, "a dataset name or file"),
    "dataset_args": (_mapping, "a mapping of argument names to values"),
    "attacks": (_names, "a list of attack names, e.g. [none, figstep]"),
    "attack_args": (_per_name, "a mapping attack -> {argument: value}"),
    "ensemble": (lambda v: v in STRATEGIES, f"one of {', '.join(STRATEGIES)}"),
    "ensemble_judges": (_names, "a list of judge names"),
    "judge_weights": (_numbers, "a mapping judge -> number"),
    "thresholds": (lambda v: _numbers(v) and all(0 <= x <= 1 for x in v.values()),
                   "a mapping judge (or 'ensemble') -> number in [0, 1]"),
    "arbiter": (lambda v: isinstance(v, str) and v, "a judge name"),
    "limit": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1"),
    "batch_size": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "gen": (_mapping, "a mapping of generation settings, e.g. {max_new_tokens: 64}"),
    "out": (lambda v: isinstance(v, str) and v, "a directory path"),
    "judge_cache": (lambda v: isinstance(v, str) and v, "a file path"),
    "no_judge_cache": (lambda v: isinstance(v, bool), "true or false"),
    "max_error_rate": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "retry_errors": (lambda v: isinstance(v, bool), "true or false"),
    "quiet": (lambda v: isinstance(v, bool), "true or false"),
    "samples": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                "an integer >= 0 (sampled answers per prompt; 0 = none)"),
    "sample_gen": (_mapping, "a mapping of generation settings for the samples, e.g. {temperature: 1.0}"),
    "uncertainty": (_names, "a list of uncertainty metric names, e.g. [semantic_entropy]"),
    "metric_args": (_per_name, "a mapping metric -> {argument: value}"),
}
_OPTIONAL = {"model", "dataset", "arbiter", "limit", "out", "judge_cache", "batch_size"}
RECORDS_PER_CALL = 256
"""Records handed to the model or a judge per call when --batch-size is not given. Large enough for it to fill its
own micro-batches (models size them from free memory, judges from their batch_size argument) and reuse an image's
prefix across the questions on it; small enough that records reach the disk often (a kill loses at most one call's)."""
SAMPLES_PER_ATTACK_CALL = 8
"""Samples handed to an attack per call when --batch-size is not given (a white-box attack's batch)."""


@dataclass
class RunConfig:
    """Everything a run is told. Field names are also the YAML keys and, with dashes, the options."""

    model: str | None = None
    model_args: dict = field(default_factory=dict)
    judges: list[str] = field(default_factory=list)
    judge_args: dict[str, dict] = field(default_factory=dict)
    dataset: str | None = None
    dataset_args: dict = field(default_factory=dict)
    attacks: list[str] = field(default_factory=list)
    attack_args: dict[str, dict] = field(default_factory=dict)
    ensemble: str = "majority"
    ensemble_judges: list[str] = field(default_factory=list)
    judge_weights: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    arbiter: str | None = None
    limit: int | None = None
    batch_size: int | None = None
    seed: int = 0
    gen: dict = field(default_factory=dict)
    out: str | None = None
    judge_cache: str | None = None
    no_judge_cache: bool = False
    max_error_rate: float = 0.5
    retry_errors: bool = True
    quiet: bool = False
    samples: int = 0
    sample_gen: dict = field(default_factory=dict)
    uncertainty: list[str] = field(default_factory=list)
    metric_args: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def from_values(cls, values: dict[str, Any], origin: str = "the configuration") -> RunConfig:
        """A config from plain values (a YAML mapping, or the Python API), every value checked.

        ``origin`` names where the values came from in messages (a file name, or "the command line").
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"{origin}: unknown key(s) {', '.join(unknown)}.",
                             f"Known keys: {', '.join(sorted(known))}.")
        for key, value in values.items():
            if value is None and key in _OPTIONAL:
                continue
            check, expected = _CHECKS[key]
            if not check(value):
                raise UsageError(f"{origin}: {key} must be {expected}, got {value!r}.",
                                 f"Fix {key} in {origin}.")
        cleaned = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        return cls(**cleaned)

    def records_per_call(self) -> int:
        """Records per call to the model or a judge: ``batch_size`` (an upper bound), else ``RECORDS_PER_CALL``."""
        return self.batch_size or RECORDS_PER_CALL

    def samples_per_attack_call(self) -> int:
        """Samples per call to an attack: ``batch_size``, else ``SAMPLES_PER_ATTACK_CALL``."""
        return self.batch_size or SAMPLES_PER_ATTACK_CALL

    def gen_config(self) -> GenConfig:
        return GenConfig.from_dict({"seed": self.seed, **self.gen})

    def to_meta(self) -> dict:
        """The config as recorded in meta.json: secrets redacted."""
        data = asdict(self)
        data["model_args"] = redact(self.model_args)
        data["dataset_args"] = redact(self.dataset_args)
        for key in ("judge_args", "attack_args", "metric_args"):
            data[key] = {name: redact(args) for name, args in getattr(self, key).items()}
        return data

    def generation_part(self) -> dict:
        """What decides the generations: changing any of it on an existing run directory is refused."""
        data = self.to_meta()
        data["gen"] = self.gen_config().to_dict()
        part = {k: data[k] for k in GENERATION_KEYS}
        if self.samples:
            part.update(samples=self.samples, sample_gen=self.sample_config().to_dict())
        return part

    def sample_config(self) -> GenConfig:
        """The settings of the ``--samples`` answers: ``--gen`` with sampling on, ``--sample-gen`` on top."""
        return sample_config(self.seed, self.gen, self.sample_gen)

    def ensemble_policy(self, measures: dict[str, str]) -> EnsemblePolicy:
        """How the judges' verdicts combine, given what each selected judge measures."""
        return EnsemblePolicy(
            strategy=self.ensemble, judges=tuple(self.judges), measures=dict(measures),
            chosen=tuple(self.ensemble_judges), weights=dict(self.judge_weights),
            threshold=float(self.thresholds.get("ensemble", 0.5)), arbiter=self.arbiter,
            thresholds={k: float(v) for k, v in self.thresholds.items() if k != "ensemble"},
        )

    def validate(self, need_model: bool, need_judges: bool) -> None:
        """Refuse what is missing, contradictory or would have no effect, before any work."""
        type(self).from_values({f.name: getattr(self, f.name) for f in fields(self)}, "the configuration")
        if need_model and not self.model:
            raise UsageError("No model given.", "Pass --model NAME (see `lam3 plugins`).")
        if need_model and not self.dataset:
            raise UsageError(
                "No dataset given.", "Pass --dataset NAME or --dataset FILE.jsonl|csv (try --dataset mini)."
            )
        if need_judges and not self.judges:
            raise UsageError("No judge given.", "Pass at least one --judge NAME (try --judge refusal).")
        for option, names in (("--judge", self.judges), ("--attack", self.attacks)):
            if len(set(names)) != len(names):
                raise UsageError(f"{option} names one twice: {', '.join(names)}.", f"Pass each {option} once.")
        if self.arbiter and self.arbiter in self.judges:
            raise UsageError(
                f"The arbiter {self.arbiter!r} is also one of the ensemble judges.",
                "Pick an arbiter that is not passed with --judge.",
            )
        stray = sorted(set(self.ensemble_judges) - set(self.judges))
        if stray:
            raise UsageError(
                f"--ensemble-judge {stray[0]} is not one of the selected judges.",
                f"Add --judge {stray[0]}, or choose among: {', '.join(self.judges)}.",
            )
        selected = set(self.judges) | ({self.arbiter} if self.arbiter else set())
        for option, names in (("--judge-arg", self.judge_args), ("--judge-weight", self.judge_weights)):
            stray = sorted(set(names) - selected)
            if stray:
                raise UsageError(
                    f"{option} given for {', '.join(stray)}, which is not a selected judge.",
                    f"Add --judge {stray[0]}, or remove the {option}. "
                    f"Selected: {', '.join(sorted(selected)) or 'none'}.",
                )
        stray = sorted(set(self.attack_args) - set(self.attacks or ["none"]))
        if stray:
            raise UsageError(f"--attack-arg given for {', '.join(stray)}, which is not a selected attack.",
                             f"Add --attack {stray[0]}, or remove the --attack-arg.")
        stray = sorted(set(self.thresholds) - selected - {"ensemble"})
        if stray:
            raise UsageError(
                f"--threshold given for {', '.join(stray)}, which is not a selected judge.",
                "Use --threshold JUDGE=T for a selected judge, or --threshold ensemble=T.",
            )
        self._refuse_settings_without_effect()
        self.gen_config()
        self._check_sampling_settings()

    def _check_sampling_settings(self) -> None:
        """Refuse sampling and uncertainty settings that contradict each other or would have no effect."""
        if self.sample_gen and not self.samples:
            raise UsageError("--sample-gen has no effect without --samples K.",
                             "Add --samples K (e.g. --samples 5), or remove --sample-gen.")
        if self.uncertainty and not self.samples:
            raise UsageError(f"--uncertainty {self.uncertainty[0]} needs sampled answers, and none are drawn.",
                             "Add --samples K (e.g. --samples 5 for five sampled answers per prompt).")
        twice = sorted(name for name, count in Counter(self.uncertainty).items() if count > 1)
        if twice:
            raise UsageError(f"--uncertainty {twice[0]} is given twice.", "Pass each --uncertainty once.")
        stray = sorted(set(self.metric_args) - set(self.uncertainty))
        if stray:
            raise UsageError(f"--metric-arg given for {', '.join(stray)}, which is not a selected metric.",
                             f"Add --uncertainty {stray[0]}, or remove that --metric-arg. "
                             f"Selected: {', '.join(self.uncertainty) or 'none'}.")
        if self.samples:
            self.sample_config()

    def _refuse_settings_without_effect(self) -> None:
        if "ensemble" in self.thresholds and self.ensemble in VOTING_STRATEGIES:
            raise UsageError(
                f"--threshold ensemble={self.thresholds['ensemble']} has no effect with --ensemble {self.ensemble}, "
                "which counts the judges' votes (each at its own threshold).",
                "Drop it, set per-judge thresholds (--threshold JUDGE=T), or use --ensemble mean|weighted|max.",
            )
        if self.ensemble == "weighted" and not self.judge_weights:
            raise UsageError("--ensemble weighted needs weights, and none were given.",
                             "Pass --judge-weight JUDGE=W for the judges (or use --ensemble mean).")
        if self.judge_weights and self.ensemble != "weighted":
            raise UsageError(f"--judge-weight has no effect with --ensemble {self.ensemble}.",
                             "Use --ensemble weighted, or drop the weights.")


def load_yaml(path: str) -> dict:
    """The mapping in a ``--config`` YAML file, each value type-checked (the file is named in messages)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"Config file not found: {p}.", "Check the --config path.")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{p} is not valid YAML: {exc}.") from None
    if not isinstance(data, dict):
        raise UsageError(f"{p} must hold a mapping of options, got {type(data).__name__}.")
    RunConfig.from_values(data, str(p))
    return data


def resolve(file_values: dict, cli_values: dict) -> RunConfig:
    """A config from the file's values with the command line's on top (see ``merge_values``)."""
    return RunConfig.from_values(merge_values(file_values, cli_values), "the command line and --config")


def merge_values(file_values: dict, cli_values: dict) -> dict:
    """Command-line scalars and lists replace the file's; mappings are merged key by key (per-judge and
    per-attack arguments one level deeper)."""
    merged = dict(file_values)
    for key, value in cli_values.items():
        if value is None or value == () or value == [] or value == {}:
            continue
        if key in ("judge_args", "attack_args", "metric_args"):
            base = {name: dict(args) for name, args in (merged.get(key) or {}).items()}
            for name, args in value.items():
                base.setdefault(name, {}).update(args)
            merged[key] = base
        elif isinstance(value, dict):
            merged[key] = {**(merged.get(key) or {}), **value}
        else:
            merged[key] = list(value) if isinstance(value, tuple) else value
    return merged
