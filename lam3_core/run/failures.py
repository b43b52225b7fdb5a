"""Deciding whether a command failed: any errors are reported; too many make it fail.

A stage (generation, or one judge) whose share of failed records is above ``--max-error-rate``
(default 0.5), or whose every record failed, makes the command exit non-zero after everything
has been written, with the most common error messages and their counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from lam3_core.analysis.errors import describe, tally
from lam3_core.interfaces.records import Generation


@dataclass(frozen=True)
class StageErrors:
    """The failed records of one stage."""

    stage: str
    tallied: dict
    total: int

    @property
    def text(self) -> str:
        return describe(self.stage, self.tallied, self.total)

    def fatal(self, max_error_rate: float) -> bool:
        count = self.tallied["count"]
        return count > 0 and (count == self.total or count / self.total > max_error_rate)


def generation_errors(gens: list[Generation]) -> StageErrors:
    return StageErrors("generation", tally(g.error for g in gens if g.error), len(gens))


def summary_errors(summary: dict) -> list[StageErrors]:
    """The generation and per-judge errors that summary.json counted."""
    errors = summary.get("errors") or {}
    stages = [StageErrors("generation", errors["generation"], errors["generation"]["of"])] if errors else []
    stages += [StageErrors(f"judge {name}", t, t["of"]) for name, t in (errors.get("judges") or {}).items()]
    return [s for s in stages if s.tallied["count"]]
