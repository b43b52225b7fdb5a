"""What plugins register: named factories of models, judges, attacks, metrics and datasets.

Each registration hook is handed a ``Registrar`` bound to one kind and one distribution
(the tox pattern), so a plugin adds factories instead of returning lists, and the core
knows which distribution provided every name.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from lam3_core.interfaces.errors import PluginError, UsageError

KINDS = ("model", "judge", "attack", "uncertainty_metric", "dataset")
_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")


@dataclass
class Component:
    """One registered name. ``factory`` is a callable or a lazy ``"module:attribute"`` string."""

    kind: str
    name: str
    description: str
    factory: Callable | str
    distribution: str
    version: str

    def load(self) -> Callable:
        """The factory, importing its module only now (heavy imports happen here)."""
        if callable(self.factory):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        try:
            module = importlib.import_module(module_name)
            return getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            raise UsageError(
                f"The {self.kind} {self.name!r} from {self.distribution} could not be loaded "
                f"({type(exc).__name__}: {exc}).",
                f"Reinstall it: pip install --force-reinstall {self.distribution}",
            ) from exc

    def create(self, **args):
        """Call the factory with the user's arguments; a wrong argument is a usage error."""
        factory = self.load()
        try:
            return factory(**args)
        except TypeError as exc:
            if "argument" not in str(exc):
                raise
            raise UsageError(
                f"Bad argument for {self.kind} {self.name!r}: {exc}.",
                f"Check the --{self.kind.replace('_', '-')}-arg values.",
            ) from exc


class Registry:
    """Every component of every kind, by name, with the distribution that registered it."""

    def __init__(self):
        self._components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}

    def add(self, component: Component) -> None:
        existing = self._components[component.kind].get(component.name)
        if existing is not None:
            raise PluginError(
                f"The {component.kind} name {component.name!r} is registered twice: by "
                f"{existing.distribution} and by {component.distribution}.",
                "Uninstall one of the two distributions, or disable one with LAM3_PLUGINS.",
            )
        self._components[component.kind][component.name] = component

    def names(self, kind: str) -> list[str]:
        return sorted(self._components[kind])

    def all(self) -> list[Component]:
        return [c for kind in KINDS for c in self._components[kind].values()]

    def get(self, kind: str, name: str) -> Component:
        try:
            return self._components[kind][name]
        except KeyError:
            known = self.names(kind)
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f"Did you mean {', '.join(close)}? " if close else ""
            flag = kind.replace("_", "-")
            raise UsageError(
                f"Unknown {kind} {name!r}.",
                f"{hint}Installed: {', '.join(known) or 'none'}. "
                f"`lam3 plugins` lists what each installed distribution provides; install the plugin "
                f"that provides this {flag} (pip install ...).",
            ) from None


class Registrar:
    """Handed to a plugin's registration hook: ``registry.add(name, factory, description)``."""

    def __init__(self, registry: Registry, kind: str, distribution: str, version: str):
        self._registry = registry
        self.kind = kind
        self.distribution = distribution
        self.version = version

    def add(self, name: str, factory: Callable | str, description: str) -> None:
        """Register ``name``. ``factory`` may be ``"module:attr"`` so nothing heavy is imported yet."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise PluginError(
                f"{self.distribution} registered an invalid {self.kind} name {name!r}.",
                "Names are lower-case letters, digits, '_', '-' and '.', starting with a letter.",
            )
        if not isinstance(description, str) or not description.strip() or "\n" in description.strip():
            raise PluginError(
                f"{self.distribution} registered {self.kind} {name!r} without a one-line description.",
            )
        if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
            raise PluginError(
                f"{self.distribution} registered {self.kind} {name!r} with factory {factory!r}.",
                "Pass a callable or a 'module:attribute' string.",
            )
        self._registry.add(Component(self.kind, name, description.strip(), factory, self.distribution, self.version))
