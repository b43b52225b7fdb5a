"""What plugins register: named factories of models, judges, attacks, metrics and datasets.

Each registration hook is handed a ``Registrar`` bound to one kind and one distribution
(the tox pattern), so a plugin adds factories instead of returning lists, and the core
knows which distribution provided every name. A ``Component`` checks the user's arguments
against its factory's signature before calling it (inspect_ai binds them the same way), so a
typo is a usage error and a bug inside the factory keeps its traceback.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lam3_core.contract.kinds import KINDS
from lam3_core.interfaces.errors import Lam3Error, PluginError, PluginFault, UsageError
from lam3_core.interfaces.measures import Measure, known_measure

T = TypeVar("T")
_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")
_UNSET = object()
# Import names whose distribution has another name, for "pip install ..." hints.
_PACKAGE_OF_MODULE = {
    "sklearn": "scikit-learn", "PIL": "Pillow", "yaml": "PyYAML", "cv2": "opencv-python",
    "googleapiclient": "google-api-python-client", "profanity_check": "alt-profanity-check",
}


def _unpacked_keys(function: Callable, var_keyword: str) -> list[str] | None:
    """The keys of ``**name: Unpack[SomeTypedDict]``, or None when the annotation says nothing."""
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception:  # an unresolvable annotation only means we cannot tell
        return None
    hint = hints.get(var_keyword)
    if typing.get_origin(hint) is typing.Unpack:
        return list(typing.get_type_hints(typing.get_args(hint)[0]))
    return None


def accepted_parameters(factory: Callable) -> tuple[dict[str, Any], bool]:
    """The keyword arguments ``factory`` accepts, name -> default (``_UNSET`` when required or not
    defaulted), and whether it also accepts any other name.

    ``**kwargs`` annotated ``Unpack[TypedDict]`` adds that dict's keys. In a class, bare
    ``**kwargs`` is taken to be forwarded to the base class, whose ``__init__`` is read next.
    """
    if inspect.isclass(factory):
        functions = [cls.__dict__["__init__"] for cls in factory.__mro__ if cls is not object
                     and "__init__" in cls.__dict__]
    else:
        functions = [factory]
    accepted: dict[str, Any] = {}
    for function in functions:
        try:
            parameters = list(inspect.signature(function).parameters.values())
        except (TypeError, ValueError):
            return accepted, True
        if inspect.isclass(factory):
            parameters = parameters[1:]
        var_keyword = None
        for p in parameters:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                accepted.setdefault(p.name, _UNSET if p.default is p.empty else p.default)
            elif p.kind is p.VAR_KEYWORD:
                var_keyword = p.name
        if var_keyword is None:
            return accepted, False
        keys = _unpacked_keys(function, var_keyword)
        if keys is not None:
            for key in keys:
                accepted.setdefault(key, _UNSET)
            return accepted, False
        if not inspect.isclass(factory):
            return accepted, True
    return accepted, bool(functions)


def _required(factory: Callable) -> list[str]:
    if inspect.isclass(factory):
        function = factory.__dict__.get("__init__") or next(
            (c.__dict__["__init__"] for c in factory.__mro__ if "__init__" in c.__dict__), None)
        skip = 1
    else:
        function, skip = factory, 0
    try:
        parameters = list(inspect.signature(function).parameters.values())[skip:]
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty]


@dataclass
class Component:
    """One registered name. ``factory`` is a callable or a lazy ``"module:attribute"`` string."""

    kind: str
    name: str
    description: str
    factory: Callable | str
    distribution: str
    version: str
    measures: str | None = None

    @property
    def module(self) -> str:
        """The module that defines the factory (for the code fingerprint and messages)."""
        if isinstance(self.factory, str):
            return self.factory.partition(":")[0]
        return getattr(self.factory, "__module__", "") or ""

    def load(self) -> Callable:
        """The factory, importing its module only now (heavy imports happen here)."""
        if callable(self.factory):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except ModuleNotFoundError as exc:
            raise self._missing_module(exc) from exc
        except (ImportError, AttributeError) as exc:
            raise PluginFault(
                f"The {self.kind} {self.name!r} from {self.distribution} {self.version} could not be loaded "
                f"({type(exc).__name__}: {exc}). Its code does not match what it registered, or it needs other "
                f"versions of its dependencies; reinstall it (pip install --force-reinstall {self.distribution}) "
                "or report it to its authors."
            ) from exc

    def _missing_module(self, exc: ModuleNotFoundError) -> UsageError:
        top = (exc.name or "").split(".")[0]
        if top and self.module.split(".")[0] == top:
            fix = f"Reinstall the distribution: pip install --force-reinstall {self.distribution}"
        else:
            fix = f"Install it: pip install {_PACKAGE_OF_MODULE.get(top, top)} (or reinstall {self.distribution})"
        return UsageError(f"The {self.kind} {self.name!r} from {self.distribution} needs the module {top!r}, "
                          "which is not installed.", fix)

    def bind(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The factory's arguments with the user's ``args`` applied and defaults filled in.

        An argument the factory does not take, or a required one missing, is a usage error
        naming it, the accepted ones and the option that sets them.
        """
        factory = self.load()
        accepted, open_ended = accepted_parameters(factory)
        kind = KINDS[self.kind]
        unknown = [k for k in args if k not in accepted] if not open_ended else []
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(accepted), n=1)
            hint = f"Did you mean {close[0]}? " if close else ""
            raise UsageError(
                f"The {self.kind.replace('_', ' ')} {self.name!r} has no argument {unknown[0]!r}.",
                f"{hint}It accepts: {', '.join(sorted(accepted)) or 'no arguments'} "
                f"(set with {kind.argument_hint(self.name)}).",
            )
        missing = [k for k in _required(factory) if k not in args]
        if missing:
            raise UsageError(f"The {self.kind.replace('_', ' ')} {self.name!r} needs the argument {missing[0]!r}.",
                             f"Pass {kind.argument_hint(self.name, missing[0])}.")
        resolved = {k: v for k, v in accepted.items() if v is not _UNSET}
        resolved.update(args)
        return resolved

    def create(self, **args: Any) -> Any:
        """Check ``args`` against the factory, call it, and check that it returned the kind's interface."""
        factory = self.load()
        self.bind(args)
        try:
            made = factory(**args)
        except Lam3Error:
            raise
        except ModuleNotFoundError as exc:
            raise self._missing_module(exc) from exc
        except Exception as exc:
            raise PluginFault(
                f"The {self.kind} {self.name!r} from {self.distribution} {self.version} failed while being created "
                f"({type(exc).__name__}: {exc}). This is a bug in {self.distribution}: report it to its authors "
                "with the traceback printed above."
            ) from exc
        interface = KINDS[self.kind].interface
        if not isinstance(made, interface) or (self.kind == "dataset" and isinstance(made, (str, bytes, Mapping))):
            raise PluginError(
                f"The {self.kind} factory {self.name!r} of {self.distribution} returned a {type(made).__name__}, "
                f"not a {getattr(interface, '__name__', interface)}.",
                "This is a bug in the plugin: report it to its authors.",
            )
        return made


@dataclass
class Conflict:
    """A name registered by several distributions: unusable until one of them goes."""

    kind: str
    name: str
    distributions: list[str] = field(default_factory=list)

    def error(self) -> UsageError:
        return UsageError(
            f"The {self.kind} name {self.name!r} is registered by {' and '.join(self.distributions)}.",
            f"Uninstall one of them, or load only one with LAM3_PLUGINS={self.distributions[0]}.",
        )


class Registry:
    """Every component of every kind, by name, with the distribution that registered it."""

    def __init__(self):
        self._components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}
        self.conflicts: dict[tuple[str, str], Conflict] = {}

    def add(self, component: Component) -> Conflict | None:
        """Add ``component``; a name another distribution registered becomes a conflict (returned)."""
        existing = self._components[component.kind].get(component.name)
        if existing is None:
            self._components[component.kind][component.name] = component
            return None
        key = (component.kind, component.name)
        conflict = self.conflicts.setdefault(key, Conflict(*key, [existing.distribution]))
        conflict.distributions.append(component.distribution)
        return conflict

    def names(self, kind: str) -> list[str]:
        return sorted(self._components[kind])

    def all(self) -> list[Component]:
        return [c for kind in KINDS for c in self._components[kind].values()]

    def get(self, kind: str, name: str) -> Component:
        conflict = self.conflicts.get((kind, name))
        if conflict is not None:
            raise conflict.error()
        try:
            return self._components[kind][name]
        except KeyError:
            known = self.names(kind)
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f"Did you mean {', '.join(close)}? " if close else ""
            raise UsageError(
                f"Unknown {kind.replace('_', ' ')} {name!r}.",
                f"{hint}Installed: {', '.join(known) or 'none'}. "
                f"`lam3 plugins` lists what each installed distribution provides; install the plugin "
                f"that provides this {kind.replace('_', ' ')} (pip install ...).",
            ) from None


class Registrar(Generic[T]):
    """Handed to a plugin's registration hook: ``registry.add(name, factory, description)``.

    Bound to one kind (``T`` is its interface) and one distribution. What a plugin adds is
    kept only if its hook returns normally, so a hook that fails halfway registers nothing.
    """

    def __init__(self, kind: str, distribution: str, version: str):
        self.kind = kind
        self.distribution = distribution
        self.version = version
        self.added: list[Component] = []
        self.warnings: list[str] = []

    def add(self, name: str, factory: Callable[..., T] | str, description: str, *, measures: str | None = None) -> None:
        """Register ``name``. ``factory`` may be ``"module:attr"`` so nothing heavy is imported yet.

        Judges may declare ``measures`` (a ``lam3_core.Measure``) so it is checked at load time.
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise PluginError(
                f"{self.distribution} registered an invalid {self.kind} name {name!r}.",
                "Names are lower-case letters, digits, '_', '-' and '.', starting with a letter.",
            )
        if not isinstance(description, str) or not description.strip() or "\n" in description.strip():
            raise PluginError(f"{self.distribution} registered {self.kind} {name!r} without a one-line description.")
        if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
            raise PluginError(
                f"{self.distribution} registered {self.kind} {name!r} with factory {factory!r}.",
                "Pass a callable or a 'module:attribute' string.",
            )
        if measures is not None and self.kind != "judge":
            raise PluginError(f"{self.distribution} gave measures= for the {self.kind} {name!r}; only judges measure.")
        warning = None if measures is None else unknown_measure_warning(self.distribution, name, measures)
        if warning:
            self.warnings.append(warning)
        self.added.append(
            Component(self.kind, name, description.strip(), factory, self.distribution, self.version, measures))


def unknown_measure_warning(distribution: str, judge: str, measures: str) -> str | None:
    """The warning for a judge whose ``measures`` is outside the vocabulary, else None."""
    if known_measure(measures) is not None:
        return None
    close = difflib.get_close_matches(measures, [m.value for m in Measure], n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return (f"the judge {judge!r} of {distribution} measures {measures!r}, which is not a lam3 measure{hint}; "
            f"its verdicts are reported side by side and kept out of the attack success rate. "
            f"Known: {', '.join(m.value for m in Measure)}")
