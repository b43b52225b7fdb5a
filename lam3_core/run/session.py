"""One command's hold on a run directory: the lock, the log, meta.json's invocation entry, both lifecycle hooks.

``with RunSession(...) as session:`` is the only place a run starts and ends: it creates and
locks the directory, attaches lam3.log, records the invocation (and marks an earlier one that
never recorded its end as killed), fires ``lam3_run_started``; on the way out it records the
status and the error, if any, fires ``lam3_run_finished`` with that error, and unlocks.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Sequence
from typing import Any

from lam3_core.contract.events import RunInfo, frozen
from lam3_core.contract.hookspecs import HOOKSPEC_VERSION
from lam3_core.contract.manager import Plugins
from lam3_core.interfaces.errors import Lam3Error, PluginFault
from lam3_core.kit.secrets import redact_argv
from lam3_core.run.config import RunConfig
from lam3_core.run.environment import environment, now
from lam3_core.run.rundir import RunDir
from lam3_core.version import __version__

log = logging.getLogger("lam3")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    import numpy as np

    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _status(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    return "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"


class RunSession:
    """The run directory while one command works on it. ``summary`` is set by the command when it has one."""

    def __init__(self, plugins: Plugins, cfg: RunConfig, rundir: RunDir, command: str, argv: Sequence[str]):
        self.plugins, self.cfg, self.rundir, self.command = plugins, cfg, rundir, command
        self.argv = redact_argv(argv)
        self.summary: dict | None = None
        self.meta: dict = {}
        self.info: RunInfo | None = None
        self._handler: logging.Handler | None = None

    def __enter__(self) -> RunSession:
        self.rundir.create()
        self.rundir.lock()
        try:
            self._handler = self.rundir.attach_log()
            self.meta = self._started_meta(self.rundir.read_meta())
            self.rundir.write_meta(self.meta)
        except BaseException:
            self._release()
            raise
        log.info("lam3 %s started: %s", self.command, " ".join(self.argv))
        self.info = RunInfo(self.rundir.path, self.command, frozen(self.cfg.to_meta()), frozen(self.meta))
        seed_everything(self.cfg.seed)
        self.plugins.run_started(self.info)
        return self

    def _started_meta(self, meta: dict) -> dict:
        for invocation in meta.get("invocations", []):
            if invocation.get("ended") is None and invocation.get("status") is None:
                invocation["status"] = "killed"
                invocation["error"] = "the process ended without recording an end (killed, or the machine stopped)"
        meta.setdefault("lam3_version", __version__)
        meta["hookspec_version"] = HOOKSPEC_VERSION
        meta["plugins"] = sorted(
            ({"distribution": d.name, "version": d.version} for d in self.plugins.distributions.values()),
            key=lambda d: d["distribution"],
        )
        meta.setdefault("started", now())
        meta["ended"] = None
        meta["environment"] = environment()
        meta.setdefault("invocations", []).append({"command": self.command, "argv": self.argv, "started": now(),
                                                   "config": self.cfg.to_meta()})
        return meta

    def commit_config(self) -> None:
        """Make this command's configuration the run's (``meta.json`` ``config``, ``command``, ``seed``), once its
        settings were found compatible with what the directory holds: a refused command changes nothing there."""
        self.meta.update(command=self.argv, config=self.cfg.to_meta(), seed=self.cfg.seed)
        self.rundir.write_meta(self.meta)

    def __exit__(self, exc_type, exc: BaseException | None, tb) -> None:
        status = _status(exc)
        if exc is not None and not isinstance(exc, KeyboardInterrupt):
            if isinstance(exc, Lam3Error) and not isinstance(exc, PluginFault):
                log.error("lam3 %s failed: %s", self.command, exc)
            else:
                log.error("lam3 %s failed", self.command, exc_info=(exc_type, exc, tb))
        try:
            self.meta["ended"] = now()
            entry = self.meta["invocations"][-1]
            entry.update({"ended": self.meta["ended"], "status": status})
            if exc is not None:
                entry["error"] = f"{type(exc).__name__}: {exc}" if not isinstance(exc, Lam3Error) else str(exc)
            self.rundir.write_meta(self.meta)
        except Exception as meta_error:  # never hide the run's own error behind a bookkeeping one
            if exc is None:
                raise
            log.error("could not record the end in meta.json: %s", meta_error)
        finally:
            if self.info is not None:
                self.plugins.run_finished(self.info, self.summary, exc)
            log.info("lam3 %s ended: %s", self.command, status)
            self._release()

    def _release(self) -> None:
        if self._handler is not None:
            RunDir.detach_log(self._handler)
            self._handler = None
        self.rundir.unlock()

    def written(self, kind: str, records: list[dict]) -> None:
        """Tell observers about records just flushed to ``kind`` (generations or verdicts)."""
        if self.info is not None:
            self.plugins.records_written(self.info, kind, records)

    def record(self, section: str, name: str | None, entry: Any) -> None:
        """Put ``entry`` into meta.json (under ``section``, or ``section.name``) and write it."""
        if name is None:
            self.meta[section] = entry
        else:
            self.meta.setdefault(section, {})[name] = entry
        self.rundir.write_meta(self.meta)
