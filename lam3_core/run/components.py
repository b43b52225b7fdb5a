"""Creating the run's components from the user's arguments, each with the identity that resume and the
judge cache compare: its resolved arguments (defaults included), its distribution and version, and —
for code installed from a local folder — a fingerprint of that code.

All of it happens before the run directory is touched, and missing weights of the model and of every
judge are reported together, each with the option that points lam3 at local weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lam3_core.contract.manager import Plugins
from lam3_core.contract.registry import Component, accepted_parameters, unknown_measure_warning
from lam3_core.interfaces.components import Attack, Judge, Model, UncertaintyMetric
from lam3_core.interfaces.errors import UsageError
from lam3_core.kit.hf import MissingWeights
from lam3_core.kit.secrets import is_secret, redact
from lam3_core.run.config import RunConfig
from lam3_core.run.fingerprints import code_fingerprint
from lam3_core.run.sampling import check_can_sample

log = logging.getLogger("lam3")


def _identity_hash(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Prepared:
    """A created component and what identifies it."""

    name: str
    component: Component
    instance: Any
    args: dict
    code: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def identity(self) -> dict:
        """What makes two runs of this component the same: secrets are left out, never hashed in."""
        return {
            "name": self.name,
            "distribution": self.component.distribution,
            "version": self.component.version,
            "args": {k: v for k, v in self.args.items() if not is_secret(k)},
            "code": self.code,
            **self.extra,
        }

    @property
    def identity_hash(self) -> str:
        return _identity_hash(self.identity)

    def meta(self) -> dict:
        """meta.json's entry: where it came from and how it was configured (secrets redacted)."""
        return {"name": self.name, "distribution": self.component.distribution, "version": self.component.version,
                "args": redact(self.args), "code_fingerprint": self.code, "identity": self.identity_hash, **self.extra}


def prepare(plugins: Plugins, kind: str, name: str, args: dict, fingerprint_code: bool = False) -> Prepared:
    component = plugins.get(kind, name)
    resolved = component.bind(args)
    instance = component.create(**args)
    return Prepared(name, component, instance, resolved, code_fingerprint(component) if fingerprint_code else None)


def prepare_judge(plugins: Plugins, name: str, args: dict) -> Prepared:
    """A judge with its identity: arguments, distribution, code, the judge's own version and config()."""
    prepared = prepare(plugins, "judge", name, args, fingerprint_code=True)
    judge: Judge = prepared.instance
    warning = unknown_measure_warning(prepared.component.distribution, name, str(judge.measures))
    if warning:
        log.warning("%s", warning)
    prepared.extra = {"judge_version": judge.version, "config": judge.config(), "measures": str(judge.measures),
                      "uses_request": bool(judge.uses_request)}
    return prepared


def prepare_judges(plugins: Plugins, cfg: RunConfig) -> dict[str, Prepared]:
    """Every selected judge and the arbiter, constructed cheaply (weights load on first use)."""
    names = [*cfg.judges, *([cfg.arbiter] if cfg.arbiter else [])]
    return {name: prepare_judge(plugins, name, cfg.judge_args.get(name, {})) for name in names}


def prepare_attack(plugins: Plugins, cfg: RunConfig, name: str) -> Prepared:
    """An attack with its identity: resolved arguments, distribution, and the attack's own config(). Its arguments
    are its ``--attack-arg`` values; an attack that takes a ``seed`` they do not set gets the run's ``--seed``
    (so that ``--seed`` seeds everything)."""
    args = dict(cfg.attack_args.get(name, {}))
    accepted, _ = accepted_parameters(plugins.get("attack", name).load())
    if "seed" in accepted and "seed" not in args:
        args["seed"] = cfg.seed
    item = prepare(plugins, "attack", name, args)
    attack: Attack = item.instance
    item.extra = {"config": attack.config()}
    return item


def prepare_attacks(plugins: Plugins, cfg: RunConfig) -> dict[str, Prepared]:
    """Every selected attack (``none`` when there is none), prepared by ``prepare_attack``."""
    return {name: prepare_attack(plugins, cfg, name) for name in cfg.attacks or ["none"]}


def check_ready(model: Prepared | None, judges: dict[str, Prepared],
                metrics: dict[str, Prepared] | None = None) -> None:
    """Run every component's ``check_ready`` and report all missing weights in one message."""
    missing: list[tuple[str, MissingWeights]] = []
    components = ([("model", model)] if model else []) + [("judge", j) for j in judges.values()]
    components += [("uncertainty metric", m) for m in (metrics or {}).values()]
    for kind, prepared in components:
        instance: Model | Judge | UncertaintyMetric = prepared.instance
        try:
            instance.check_ready()
        except MissingWeights as exc:
            missing.append((f"{kind} {prepared.name}", exc))
    if len(missing) == 1:
        raise missing[0][1]
    if missing:
        lines = "\n".join(f"- {owner}: {exc}" for owner, exc in missing)
        raise UsageError(f"Weights are missing for {len(missing)} components:\n{lines}",
                         "Each line says where lam3 looked and the option to pass.")


def model_requirements(cfg: RunConfig, model: Prepared,
                       attacks: dict[str, Prepared]) -> list[tuple[str, str, Callable]]:
    """What the run asks of its model, as (name, what passing means, check) triples: K sampled answers,
    attention maps, gradients for a white-box attack. A run calls every check and stops at the first
    failure; ``--dry-run`` calls them all and lists every failure. One list, so the two never drift."""
    checks: list[tuple[str, str, Callable]] = []
    if cfg.samples:
        checks.append(("sampling", f"the model draws {cfg.samples} sampled answers per record",
                       lambda: check_can_sample(model.instance, str(cfg.model), cfg.samples)))
    if cfg.gen_config().trace_attentions:
        checks.append(("attention maps", "the model traces its image attention", model.instance.check_image_attention))
    checks += [(f"attack {name} on model {cfg.model}", "the attack can run against this model",
                lambda a=attack: a.instance.check_model(model.instance)) for name, attack in attacks.items()]
    return checks
