"""Finds plugins through the ``lam3`` entry-point group, loads them with pluggy, and calls their hooks.

Environment:
  LAM3_DISABLE_PLUGIN_AUTOLOAD=1  load no third-party distribution (the core's own built-ins still load)
  LAM3_PLUGINS=dist1,dist2        load only these distributions (names or entry-point names)
  LAM3_TRACE_PLUGINS=1            print every hook call and its result to stderr (pluggy's tracing)

pluggy validates every implementation and decides the call order (``tryfirst`` / ``trylast``).
lam3 calls one plugin at a time, in that order, so that each gets a registrar bound to its
own distribution and a failing plugin is isolated: a plugin that fails to import, implements
an unknown hook, takes an argument a hook does not have, reuses another distribution's
entry-point name or raises while registering is reported as a load failure naming its
distribution, and the others still load.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from lam3_core.contract import hookspecs
from lam3_core.contract.events import RunInfo, frozen
from lam3_core.contract.kinds import KINDS
from lam3_core.contract.registry import Component, Registrar, Registry
from lam3_core.interfaces.errors import UsageError

log = logging.getLogger("lam3")

ENTRY_POINT_GROUP = "lam3"
CORE_DISTRIBUTION = "lam3"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _switched_on(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Distribution:
    """An installed distribution that provides lam3 plugins."""

    name: str
    version: str
    plugins: list[str] = field(default_factory=list)


@dataclass
class LoadFailure:
    """A plugin (or one of its registrations) that could not be loaded, and why."""

    distribution: str
    plugin: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} from {self.distribution} failed to load: {self.error}"


@dataclass
class LoadWarning:
    """Something a plugin registered that loads but will not behave as its author probably meant."""

    distribution: str
    message: str

    def __str__(self) -> str:
        return f"{self.distribution}: {self.message}"


class Plugins:
    """The loaded plugins: their registry, load failures and warnings, and typed calls of the lifecycle hooks."""

    def __init__(self):
        self.pm = pluggy.PluginManager("lam3")
        self.pm.add_hookspecs(hookspecs)
        if _switched_on("LAM3_TRACE_PLUGINS"):
            self.pm.trace.root.setwriter(sys.stderr.write)
            self.pm.enable_tracing()
        self.registry = Registry()
        self.distributions: dict[str, Distribution] = {}
        self.failures: list[LoadFailure] = []
        self.warnings: list[LoadWarning] = []
        self._distribution_of: dict[str, str] = {}

    def register(self, plugin: object, name: str, distribution: str, version: str) -> bool:
        """Register one plugin object with pluggy; on any rejection record a load failure and return False."""
        owner = self._distribution_of.get(name)
        if owner is not None or self.pm.has_plugin(name):
            return self._fail(distribution, name, f"its entry-point name {name!r} is already used by "
                              f"{owner or 'another plugin'}; rename one of the two entry points")
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            return self._fail(distribution, name, f"{exc} (lam3 hookspec version {hookspecs.HOOKSPEC_VERSION}; "
                              "check the hook's arguments in docs/plugin-hooks.md)")
        unknown = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [] if not caller.has_spec())
        if unknown:
            self.pm.unregister(plugin)
            return self._fail(distribution, name, f"implements unknown hook(s) {', '.join(unknown)} "
                              f"(lam3 hookspec version {hookspecs.HOOKSPEC_VERSION}; check the names against "
                              "docs/plugin-hooks.md)")
        self._distribution_of[name] = distribution
        self.distributions.setdefault(distribution, Distribution(distribution, version)).plugins.append(name)
        return True

    def _fail(self, distribution: str, plugin: str, error: str) -> bool:
        self.failures.append(LoadFailure(distribution, plugin, error))
        return False

    def _call_one(self, hook: str, plugin: object, **kwargs: Any) -> Any:
        """Call ``hook`` on ``plugin`` alone, through pluggy (validation, argument subsets, tracing)."""
        others = [p for p in self.pm.get_plugins() if p is not plugin]
        return self.pm.subset_hook_caller(hook, others)(**kwargs)

    def _implementations(self, hook: str) -> list:
        """The hook's implementations in the order pluggy calls them (tryfirst first, trylast last)."""
        return list(reversed(getattr(self.pm.hook, hook).get_hookimpls()))

    def collect(self) -> None:
        """Call every registration hook, one plugin at a time, each with its own registrar."""
        for kind in KINDS.values():
            for impl in self._implementations(kind.hook):
                dist = self.distributions[self._distribution_of[impl.plugin_name]]
                registrar: Registrar = Registrar(kind.name, dist.name, dist.version)
                try:
                    self._call_one(kind.hook, impl.plugin, registry=registrar)
                except Exception as exc:
                    self._fail(dist.name, impl.plugin_name, f"{kind.hook} raised {type(exc).__name__}: {exc}")
                    continue
                for component in registrar.added:
                    conflict = self.registry.add(component)
                    if conflict is not None:
                        self._fail(dist.name, impl.plugin_name, str(conflict.error()))
                self.warnings += [LoadWarning(dist.name, w) for w in registrar.warnings]

    def get(self, kind: str, name: str) -> Component:
        try:
            return self.registry.get(kind, name)
        except UsageError as exc:
            if self.failures and (kind, name) not in self.registry.conflicts:
                broken = "; ".join(str(f) for f in self.failures)
                raise UsageError(exc.problem, f"{exc.fix} Note: {broken}.") from None
            raise

    def provides(self, distribution: str) -> list[Component]:
        return [c for c in self.registry.all() if c.distribution == distribution]

    # ----- lifecycle hooks: observers get read-only copies; an observer's exception is only a warning ----------

    def _notify(self, hook: str, **kwargs: Any) -> None:
        for impl in self._implementations(hook):
            try:
                self._call_one(hook, impl.plugin, **kwargs)
            except Exception as exc:  # an observer must never kill a long run
                log.warning("observer %s raised in %s: %s: %s", impl.plugin_name, hook, type(exc).__name__, exc)

    def run_started(self, run: RunInfo) -> None:
        self._notify("lam3_run_started", run=run)

    def records_written(self, run: RunInfo, kind: str, records: Sequence[Mapping[str, Any]]) -> None:
        if records and self._implementations("lam3_records_written"):
            self._notify("lam3_records_written", run=run, kind=kind, records=frozen(list(records)))

    def run_finished(self, run: RunInfo, summary: Mapping[str, Any] | None, error: BaseException | None) -> None:
        self._notify("lam3_run_finished", run=run, summary=frozen(summary) if summary is not None else None,
                     error=error)


def _allowlist() -> set[str] | None:
    raw = os.environ.get("LAM3_PLUGINS", "").strip()
    return {_normalise(n) for n in raw.split(",") if n.strip()} if raw else None


def load_plugins(extra: Sequence[tuple[str, object]] = ()) -> Plugins:
    """Load entry-point plugins (subject to the environment switches), then ``extra`` ones.

    ``extra`` is a list of (name, plugin object) registered in-process, as
    ``lam3_core.testing`` does; their distribution is reported as the name.
    """
    plugins = Plugins()
    autoload = not _switched_on("LAM3_DISABLE_PLUGIN_AUTOLOAD")
    allow = _allowlist()
    seen: set[str] = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist_name = ep.dist.name if ep.dist else ep.module
        version = ep.dist.version if ep.dist else "unknown"
        names = {_normalise(dist_name), _normalise(ep.name)}
        seen |= names
        if _normalise(dist_name) != CORE_DISTRIBUTION and (not autoload or (allow is not None and not names & allow)):
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
