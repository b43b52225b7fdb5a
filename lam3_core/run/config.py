"""The resolved configuration of a run: YAML file first, command line on top."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from lam3_core.interfaces.components import redact
from lam3_core.interfaces.errors import UsageError
from lam3_core.interfaces.genconfig import GenConfig

STRATEGIES = ("any", "all", "majority", "mean", "weighted", "max")
GENERATION_KEYS = ("model", "model_args", "dataset", "dataset_args", "attacks", "gen", "seed")


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


def parse_judge_pairs(pairs: tuple[str, ...] | list[str], option: str = "--judge-arg") -> dict[str, dict]:
    """``["detoxify.variant=unbiased"]`` -> ``{"detoxify": {"variant": "unbiased"}}``."""
    result: dict[str, dict] = {}
    for pair in pairs:
        target, sep, value = pair.partition("=")
        judge, dot, key = target.partition(".")
        if not sep or not dot or not judge or not key:
            raise UsageError(
                f"{option} expects JUDGE.KEY=VALUE, got {pair!r}.", f"Example: {option} detoxify.variant=unbiased"
            )
        result.setdefault(judge, {})[key] = parse_value(value)
    return result


@dataclass
class RunConfig:
    model: str | None = None
    model_args: dict = field(default_factory=dict)
    judges: list[str] = field(default_factory=list)
    judge_args: dict[str, dict] = field(default_factory=dict)
    dataset: str | None = None
    dataset_args: dict = field(default_factory=dict)
    attacks: list[str] = field(default_factory=list)
    ensemble: str = "majority"
    ensemble_judges: list[str] = field(default_factory=list)
    judge_weights: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    arbiter: str | None = None
    limit: int | None = None
    batch_size: int = 8
    seed: int = 0
    gen: dict = field(default_factory=dict)
    out: str | None = None
    judge_cache: str | None = None
    no_judge_cache: bool = False

    def gen_config(self) -> GenConfig:
        return GenConfig.from_dict({"seed": self.seed, **self.gen})

    def to_meta(self) -> dict:
        """The config as recorded in meta.json: secrets redacted."""
        data = asdict(self)
        data["model_args"] = redact(self.model_args)
        data["judge_args"] = {j: redact(a) for j, a in self.judge_args.items()}
        return data

    def generation_part(self) -> dict:
        data = self.to_meta()
        data["gen"] = self.gen_config().to_dict()
        return {k: data[k] for k in GENERATION_KEYS}

    def validate(self, need_model: bool, need_judges: bool) -> None:
        if need_model and not self.model:
            raise UsageError("No model given.", "Pass --model NAME (see `lam3 plugins`).")
        if need_model and not self.dataset:
            raise UsageError(
                "No dataset given.", "Pass --dataset NAME or --dataset FILE.jsonl|csv (try --dataset mini)."
            )
        if need_judges and not self.judges:
            raise UsageError("No judge given.", "Pass at least one --judge NAME (try --judge refusal).")
        if len(set(self.judges)) != len(self.judges):
            raise UsageError(f"A judge is selected twice: {', '.join(self.judges)}.", "Pass each --judge once.")
        if self.ensemble not in STRATEGIES:
            raise UsageError(f"Unknown ensemble strategy {self.ensemble!r}.", f"Use one of: {', '.join(STRATEGIES)}.")
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
        stray = sorted(set(self.thresholds) - selected - {"ensemble"})
        if stray:
            raise UsageError(
                f"--threshold given for {', '.join(stray)}, which is not a selected judge.",
                "Use --threshold JUDGE=T for a selected judge, or --threshold ensemble=T.",
            )
        for name, value in {**self.thresholds, **self.judge_weights}.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise UsageError(f"The threshold/weight for {name} must be a number, got {value!r}.")
        for name, value in self.thresholds.items():
            if not 0 <= value <= 1:
                raise UsageError(f"The threshold for {name} must be in [0, 1], got {value}.")
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be >= 1, got {self.batch_size}.")
        if self.limit is not None and self.limit < 1:
            raise UsageError(f"--limit must be >= 1, got {self.limit}.")
        self.gen_config()


def load_yaml(path: str) -> dict:
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
    known = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"{p}: unknown key(s) {', '.join(unknown)}.", f"Known keys: {', '.join(sorted(known))}.")
    return data


def resolve(file_values: dict, cli_values: dict) -> RunConfig:
    """Merge: command-line scalars and lists replace the file's; dicts are merged key by key."""
    merged = dict(file_values)
    for key, value in cli_values.items():
        if value is None or value == () or value == [] or value == {}:
            continue
        if key == "judge_args":
            base = {j: dict(a) for j, a in (merged.get(key) or {}).items()}
            for judge, args in value.items():
                base.setdefault(judge, {}).update(args)
            merged[key] = base
        elif isinstance(value, dict):
            merged[key] = {**(merged.get(key) or {}), **value}
        else:
            merged[key] = list(value) if isinstance(value, tuple) else value
    try:
        return RunConfig(**merged)
    except TypeError as exc:
        raise UsageError(f"Bad configuration: {exc}.") from None
