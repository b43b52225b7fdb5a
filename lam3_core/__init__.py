"""lam3: a plugin-based harness for the safety evaluation of multimodal LLMs.

This is the public API: what plugins import (the contract, the interfaces and records, the
errors) and what notebooks call (``evaluate``, ``generate``, ``judge``, ``report`` with a
``RunConfig``). Importing it never imports torch; the run API loads on first use.
"""

from importlib import import_module

from lam3_core.contract.events import RunInfo
from lam3_core.contract.hookspecs import HOOKSPEC_VERSION, hookimpl
from lam3_core.contract.registry import Registrar
from lam3_core.interfaces.components import Attack, Dataset, Judge, Model, UncertaintyMetric
from lam3_core.interfaces.errors import Lam3Error, PluginError, PluginFault, RunFailed, UsageError
from lam3_core.interfaces.genconfig import GenConfig
from lam3_core.interfaces.measures import Measure
from lam3_core.interfaces.records import (
    Completion,
    EnsembleVerdict,
    Generation,
    JudgeItem,
    Sample,
    SampledAnswer,
    Score,
    UncertaintyItem,
    Verdict,
)
from lam3_core.kit.batching import is_out_of_memory, run_batched
from lam3_core.kit.images import check_image, load_image
from lam3_core.kit.neutralise import neutralise
from lam3_core.version import __version__ as __version__

_RUN_API = {
    "evaluate": "lam3_core.run.api",
    "generate": "lam3_core.run.api",
    "judge": "lam3_core.run.api",
    "report": "lam3_core.run.api",
    "RunOutcome": "lam3_core.run.api",
    "RunConfig": "lam3_core.run.config",
    "preflight": "lam3_core.run.api",
}


def __getattr__(name: str):
    """The run API (``evaluate``, ``RunConfig``, ...), imported on first use to keep plugin imports light."""
    if name in _RUN_API:
        return getattr(import_module(_RUN_API[name]), name)
    raise AttributeError(f"module 'lam3_core' has no attribute {name!r}")


__all__ = [
    "HOOKSPEC_VERSION",
    "Attack",
    "Completion",
    "Dataset",
    "EnsembleVerdict",
    "GenConfig",
    "Generation",
    "Judge",
    "JudgeItem",
    "Lam3Error",
    "Measure",
    "Model",
    "PluginError",
    "PluginFault",
    "Registrar",
    "RunConfig",
    "RunFailed",
    "RunInfo",
    "RunOutcome",
    "Sample",
    "SampledAnswer",
    "Score",
    "UncertaintyItem",
    "UncertaintyMetric",
    "UsageError",
    "Verdict",
    "check_image",
    "evaluate",
    "generate",
    "hookimpl",
    "is_out_of_memory",
    "judge",
    "load_image",
    "neutralise",
    "preflight",
    "report",
    "run_batched",
]
