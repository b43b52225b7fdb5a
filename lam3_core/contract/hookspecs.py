"""The plugin contract: every hook lam3 calls, when it fires, what it gets and returns.

Hook names and argument names are the public API; every type they name is importable from
``lam3_core``. ``HOOKSPEC_VERSION`` changes when a hook is added or gains an argument (minor:
implementations may take any subset of a hook's arguments, so existing plugins keep working)
or changes incompatibly (major). A plugin that implements a hook not listed here, or takes an
argument a hook does not have, is reported as a load failure naming it; the other plugins
still load.

pluggy calls the hooks, so ``@hookimpl(tryfirst=True)`` / ``trylast=True`` order them as
pluggy documents. Registration hooks are called once per plugin when lam3 starts, each with
a ``Registrar`` bound to one kind and to the plugin's distribution; they register cheap
factories and return nothing. Lifecycle hooks are for observers (loggers, trackers): they
receive read-only copies, and an exception in an observer is logged as a warning and never
stops a run.

Versions: 1.0 the five registration hooks and three lifecycle hooks; 1.1 ``lam3_run_finished``
receives ``error`` and fires for failed runs too; 1.2 attack factories receive the user's
``--attack-arg`` values, and attacks may return in-memory images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from lam3_core.contract.events import RunInfo
    from lam3_core.contract.registry import Registrar
    from lam3_core.interfaces.components import Attack, Judge, Model, UncertaintyMetric

HOOKSPEC_VERSION = "1.2"

hookspec = pluggy.HookspecMarker("lam3")
hookimpl = pluggy.HookimplMarker("lam3")


@hookspec
def lam3_register_models(registry: Registrar[Model]) -> None:
    """Register model factories.

    Fires once per plugin at start-up. ``registry.add(name, factory, description)``, where
    ``factory(**model_args)`` returns a ``lam3_core.Model`` and ``model_args`` are the user's
    ``--model-arg K=V`` values. Returns nothing.
    """


@hookspec
def lam3_register_judges(registry: Registrar[Judge]) -> None:
    """Register judge factories.

    Fires once per plugin at start-up. ``registry.add(name, factory, description, measures=...)``,
    where ``factory(**judge_args)`` returns a ``lam3_core.Judge`` and ``measures`` (a
    ``lam3_core.Measure``) lets ``lam3 plugins`` check the judge's vocabulary without importing it.
    Returns nothing.
    """


@hookspec
def lam3_register_attacks(registry: Registrar[Attack]) -> None:
    """Register attack factories.

    Fires once per plugin at start-up. ``factory(**attack_args)`` returns a ``lam3_core.Attack``;
    ``attack_args`` are the user's ``--attack-arg NAME.K=V`` values (since 1.2); a factory that takes a
    ``seed`` the user does not set gets the run's ``--seed``. Returns nothing.
    """


@hookspec
def lam3_register_uncertainty_metrics(registry: Registrar[UncertaintyMetric]) -> None:
    """Register uncertainty-metric factories.

    Fires once per plugin at start-up. ``factory(**metric_args)`` returns a
    ``lam3_core.UncertaintyMetric``; ``metric_args`` are the user's ``--metric-arg NAME.K=V``
    values. Returns nothing.
    """


@hookspec
def lam3_register_datasets(registry: Registrar[Any]) -> None:
    """Register dataset loaders.

    Fires once per plugin at start-up. ``factory(**dataset_args)`` returns an iterable of
    ``lam3_core.Sample`` (or a ``lam3_core.Dataset``, which also names the judges that score it
    when the user names none); ``dataset_args`` are the user's ``--dataset-arg K=V`` values.
    Returns nothing.
    """


@hookspec
def lam3_run_started(run: RunInfo) -> None:
    """A command (eval, generate, judge, report) starts work on a run directory.

    Fires after meta.json records the invocation and before the first record is produced.
    ``run`` is a ``lam3_core.RunInfo`` (out_dir, command, config, meta; read-only). Returns nothing.
    """


@hookspec
def lam3_records_written(run: RunInfo, kind: str, records: Sequence[Mapping[str, Any]]) -> None:
    """Records were appended and flushed to the run directory.

    Fires after each batch. ``kind`` is "generations" or "verdicts"; ``records`` are read-only
    copies of the records exactly as written. Returns nothing.
    """


@hookspec
def lam3_run_finished(run: RunInfo, summary: Mapping[str, Any] | None, error: BaseException | None) -> None:
    """A command finished, successfully or not.

    Fires once, last, whether the command succeeded, failed or was interrupted. ``summary``
    is a read-only copy of summary.json (None when the command computed none: ``lam3
    generate``, or a failure before the summary). ``error`` is the exception that ended the
    command (a ``lam3_core.RunFailed`` when too many records failed, ``KeyboardInterrupt``
    when interrupted), else None. Returns nothing.
    """
