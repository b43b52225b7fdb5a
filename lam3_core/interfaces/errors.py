"""Errors a user can cause: one message that names the problem and the fix."""

from __future__ import annotations


class Lam3Error(Exception):
    """Base of every error lam3 raises on purpose."""


class UsageError(Lam3Error):
    """A problem the user can fix (bad option, missing file, unknown plugin, ...).

    The CLI prints ``str(error)`` without a traceback and exits with status 2.
    ``fix`` is appended as a second sentence so every message says what to do.
    """

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} {fix}".strip() if fix else problem)


class PluginError(UsageError):
    """A plugin broke the contract (duplicate name, unknown hook, bad registration)."""


class PluginFault(Lam3Error):
    """A plugin's own code failed where it should not (a factory raised): a bug to report to its
    authors, not something the user can fix with an option. Its cause keeps the traceback."""


class RunFailed(Lam3Error):
    """Too many records of a stage failed (see ``--max-error-rate``). Everything was written; the
    message gives the most common errors and their counts. ``outcome`` is what the command produced."""

    def __init__(self, message: str, outcome=None):
        super().__init__(message)
        self.outcome = outcome
