"""Finds plugins through the ``lam3`` entry-point group and collects what they register.

Environment:
  LAM3_DISABLE_PLUGIN_AUTOLOAD=1  load no third-party distribution (the core's own built-ins still load)
  LAM3_PLUGINS=dist1,dist2        load only these distributions (names or entry-point names)

A plugin that fails to import, or implements a hook lam3 does not know, is reported with
its distribution and the error, and the others still load.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from lam3_core.contract import hookspecs
from lam3_core.contract.registry import KINDS, Component, Registrar, Registry
from lam3_core.interfaces.errors import PluginError, UsageError

log = logging.getLogger("lam3")

ENTRY_POINT_GROUP = "lam3"
CORE_DISTRIBUTION = "lam3"
REGISTRATION_HOOKS = {
    "model": "lam3_register_models",
    "judge": "lam3_register_judges",
    "attack": "lam3_register_attacks",
    "uncertainty_metric": "lam3_register_uncertainty_metrics",
    "dataset": "lam3_register_datasets",
}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Distribution:
    """An installed distribution that provides lam3 plugins."""

    name: str
    version: str
    plugins: list[str] = field(default_factory=list)


@dataclass
class LoadFailure:
    distribution: str
    plugin: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} from {self.distribution} failed to load: {self.error}"


def _unknown_hooks(plugin: object) -> list[str]:
    known = {name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("lam3_")}
    found = []
    for name in dir(plugin):
        attr = getattr(plugin, name, None)
        if callable(attr) and hasattr(attr, "lam3_impl") and name not in known:
            found.append(name)
    return found


class Plugins:
    """The loaded plugins, their registry and the load failures."""

    def __init__(self):
        self.pm = pluggy.PluginManager("lam3")
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.distributions: dict[str, Distribution] = {}
        self.failures: list[LoadFailure] = []
        self._dist_of: dict[str, str] = {}

    def register(self, plugin: object, name: str, distribution: str, version: str) -> bool:
        """Register one plugin object; reject it (recording why) if it implements unknown hooks."""
        unknown = _unknown_hooks(plugin)
        if unknown:
            self.failures.append(
                LoadFailure(
                    distribution,
                    name,
                    f"implements unknown hook(s) {', '.join(unknown)} "
                    f"(lam3 hookspec version {hookspecs.HOOKSPEC_VERSION}; "
                    "check the names against lam3_core.contract.hookspecs)",
                )
            )
            return False
        self.pm.register(plugin, name=name)
        self._dist_of[name] = distribution
        self.distributions.setdefault(distribution, Distribution(distribution, version)).plugins.append(name)
        return True

    def collect(self) -> None:
        """Call every registration hook, one plugin at a time, each with its own registrar."""
        for kind in KINDS:
            caller = getattr(self.pm.hook, REGISTRATION_HOOKS[kind])
            for impl in caller.get_hookimpls():
                dist = self.distributions[self._dist_of[impl.plugin_name]]
                registrar = Registrar(self.registry, kind, dist.name, dist.version)
                try:
                    impl.function(registry=registrar)
                except PluginError:
                    raise
                except Exception as exc:
                    self.failures.append(
                        LoadFailure(
                            dist.name,
                            impl.plugin_name,
                            f"{REGISTRATION_HOOKS[kind]} raised {type(exc).__name__}: {exc}",
                        )
                    )

    def get(self, kind: str, name: str) -> Component:
        try:
            return self.registry.get(kind, name)
        except UsageError as exc:
            if self.failures:
                broken = "; ".join(str(f) for f in self.failures)
                raise UsageError(exc.problem, f"{exc.fix} Note: {broken}.") from None
            raise

    def provides(self, distribution: str) -> list[Component]:
        return [c for c in self.registry.all() if c.distribution == distribution]

    def notify(self, hook_name: str, **kwargs) -> None:
        """Call a lifecycle hook on every observer; an observer's exception is only a warning."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception as exc:  # an observer must never kill a long run
                log.warning("observer %s raised in %s: %s: %s", impl.plugin_name, hook_name, type(exc).__name__, exc)


def _allowlist() -> set[str] | None:
    raw = os.environ.get("LAM3_PLUGINS", "").strip()
    return {_normalise(n) for n in raw.split(",") if n.strip()} if raw else None


def load_plugins(extra: Sequence[tuple[str, object]] = ()) -> Plugins:
    """Load entry-point plugins (subject to the environment switches), then ``extra`` ones.

    ``extra`` is a list of (name, plugin object) registered in-process, as
    ``lam3_core.testing`` does; their distribution is reported as the name.
    """
    plugins = Plugins()
    autoload = os.environ.get("LAM3_DISABLE_PLUGIN_AUTOLOAD", "").strip() not in ("1", "true", "yes")
    allow = _allowlist()
    seen: set[str] = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist_name = ep.dist.name if ep.dist else ep.module
        version = ep.dist.version if ep.dist else "unknown"
        is_core = _normalise(dist_name) == CORE_DISTRIBUTION
        seen.update({_normalise(dist_name), _normalise(ep.name)})
        if not is_core and (
            not autoload or (allow is not None and not ({_normalise(dist_name), _normalise(ep.name)} & allow))
        ):
            continue
        if ep.name in plugins.pm.list_name_plugin() or plugins.pm.is_blocked(ep.name):
            continue
        try:
            module = ep.load()
        except Exception as exc:
            plugins.failures.append(LoadFailure(dist_name, ep.name, f"{type(exc).__name__}: {exc}"))
            continue
        plugins.register(module, ep.name, dist_name, version)
    if allow is not None:
        missing = sorted(allow - seen)
        if missing:
            raise UsageError(
                f"LAM3_PLUGINS names {', '.join(missing)}, which no installed distribution provides.",
                f"Installed plugin distributions: {', '.join(sorted(seen)) or 'none'}.",
            )
    for name, plugin in extra:
        plugins.register(plugin, name, name, getattr(plugin, "__version__", "0"))
    plugins.collect()
    for failure in plugins.failures:
        log.warning("%s", failure)
    return plugins
