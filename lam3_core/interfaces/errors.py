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
