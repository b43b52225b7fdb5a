"""The one table of component kinds: each with its registration hook, its interface and its user option.

Everything that lists kinds (the registry, the plugin manager, ``lam3 plugins``, error
messages) reads this table, so a new kind is added here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lam3_core.interfaces.components import Attack, Judge, Model, UncertaintyMetric


@dataclass(frozen=True)
class Kind:
    """One kind of component.

    ``interface`` is the class a factory must return (datasets return any iterable of
    samples). ``option`` is how users pass arguments to it; ``per_name`` options take
    ``NAME.KEY=VALUE`` because several components of the kind run together.
    """

    name: str
    hook: str
    interface: type
    option: str
    per_name: bool

    def argument_hint(self, component: str, key: str = "KEY", value: str = "VALUE") -> str:
        """How a user sets ``key`` for ``component``, e.g. ``--judge-arg detoxify.checkpoint=VALUE``."""
        return f"{self.option} {component}.{key}={value}" if self.per_name else f"{self.option} {key}={value}"


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("model", "lam3_register_models", Model, "--model-arg", per_name=False),
        Kind("judge", "lam3_register_judges", Judge, "--judge-arg", per_name=True),
        Kind("attack", "lam3_register_attacks", Attack, "--attack-arg", per_name=True),
        Kind("uncertainty_metric", "lam3_register_uncertainty_metrics", UncertaintyMetric, "--metric-arg",
             per_name=True),
        Kind("dataset", "lam3_register_datasets", Iterable, "--dataset-arg", per_name=False),
    )
}
