"""The plugin contract: every hook lam3 calls, when it fires, what it gets and returns.

Hook names and argument names are the public API. ``HOOKSPEC_VERSION`` changes when a
hook is added (minor) or changed incompatibly (major). A plugin that implements a hook
not listed here is rejected when it loads, with the unknown names in the message.

Registration hooks are called once per plugin when lam3 starts, each with a ``Registrar``
bound to one kind; they register cheap factories and return nothing. Lifecycle hooks are
for observers (loggers, trackers); an exception in an observer is logged as a warning
and never stops a run.
"""

from __future__ import annotations

import pluggy

HOOKSPEC_VERSION = "1.0"

hookspec = pluggy.HookspecMarker("lam3")
hookimpl = pluggy.HookimplMarker("lam3")


@hookspec
def lam3_register_models(registry):
    """Register model factories.

    Fires once per plugin at start-up. ``registry.add(name, factory, description)``, where
    ``factory(**model_args)`` returns a ``lam3_core.Model``. Returns nothing.
    """


@hookspec
def lam3_register_judges(registry):
    """Register judge factories.

    Fires once per plugin at start-up. ``factory(**judge_args)`` returns a ``lam3_core.Judge``.
    Returns nothing.
    """


@hookspec
def lam3_register_attacks(registry):
    """Register attack factories.

    Fires once per plugin at start-up. ``factory()`` returns a ``lam3_core.Attack``.
    Returns nothing.
    """


@hookspec
def lam3_register_uncertainty_metrics(registry):
    """Register uncertainty-metric factories.

    Fires once per plugin at start-up. ``factory(**args)`` returns a
    ``lam3_core.UncertaintyMetric``. Returns nothing.
    """


@hookspec
def lam3_register_datasets(registry):
    """Register dataset loaders.

    Fires once per plugin at start-up. ``factory(**dataset_args)`` returns an iterable of
    ``lam3_core.Sample``. Returns nothing.
    """


@hookspec
def lam3_run_started(run):
    """A command (eval, generate, judge) starts work on a run directory.

    Fires after meta.json is written and before the first record is produced. ``run`` is a
    ``lam3_core.RunInfo`` (out_dir, command, config, meta). Returns nothing.
    """


@hookspec
def lam3_records_written(run, kind, records):
    """Records were appended and flushed to the run directory.

    Fires after each batch. ``kind`` is "generations" or "verdicts"; ``records`` is the list
    of dicts exactly as written. Returns nothing.
    """


@hookspec
def lam3_run_finished(run, summary):
    """A command finished and summary.json was written.

    Fires once, last. ``summary`` is the dict written to summary.json (None for
    ``lam3 generate``, which computes no summary). Returns nothing.
    """
