"""Which records the HTML report shows: flagged, wrong and disputed ones, the first N of each kind per attack.

*Flagged*: the ensemble flagged the record, or a judge reported side by side did (toxicity,
say). *Wrong*: a correctness judge (POPE) says the answer is wrong — its flag means "correct",
so a correct answer is not an example. *Disputed*: the ensemble's judges disagree on it. The
cap keeps a 10,000-record run's report small; how many were left out, per attack, is kept so
the report can say so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from lam3_core.interfaces.measures import Measure
from lam3_core.interfaces.records import EnsembleVerdict, Generation, Verdict

DEFAULT_PER_ATTACK = 20
KINDS = ("flagged", "wrong", "disputed")


@dataclass
class Example:
    """One record to show, with every judge's verdict (in judge order) and the judges that flagged it (or, for a
    correctness judge, found it wrong)."""

    generation: Generation
    ensemble: EnsembleVerdict | None
    verdicts: list[Verdict]
    kinds: list[str]
    flagged_by: list[str]


@dataclass
class ExampleSelection:
    examples: list[Example]
    per_attack: int
    candidates: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def total_left_out(self) -> int:
        return sum(self.left_out.values())


def _kinds(e: EnsembleVerdict | None, verdicts: list[Verdict]) -> tuple[list[str], list[str]]:
    """(the record's kinds, the judges behind them)."""
    scored = [v for v in verdicts if v.error is None]
    unsafe = [v.judge for v in scored if v.flagged and v.measures != Measure.CORRECTNESS]
    wrong = [v.judge for v in scored if v.flagged is False and v.measures == Measure.CORRECTNESS]
    ensemble_unsafe = bool(e and e.flagged) and any(v.measures != Measure.CORRECTNESS for v in scored)
    present = {"flagged": ensemble_unsafe or bool(unsafe), "wrong": bool(wrong), "disputed": bool(e and e.disagreement)}
    return [k for k in KINDS if present[k]], unsafe + wrong


def select_examples(gens: list[Generation], table: dict[str, dict[str, Verdict]],
                    ensemble: dict[str, EnsembleVerdict], per_attack: int = DEFAULT_PER_ATTACK) -> ExampleSelection:
    """The first ``per_attack`` records of each kind (flagged, wrong, disputed) of every attack, in the order of
    the generations file (a record of several kinds counts towards each)."""
    judges = list(table)
    shown: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    candidates: dict[str, int] = defaultdict(int)
    examples = []
    for g in gens:
        e = ensemble.get(g.record_id)
        verdicts = [table[j][g.record_id] for j in judges if g.record_id in table[j]]
        kinds, flagged_by = _kinds(e, verdicts)
        if not kinds:
            continue
        candidates[g.attack] += 1
        room = [k for k in kinds if shown[g.attack][k] < per_attack]
        if not room:
            continue
        for kind in room:
            shown[g.attack][kind] += 1
        examples.append(Example(g, e, verdicts, kinds, flagged_by))
    shown_per_attack: dict[str, int] = defaultdict(int)
    for example in examples:
        shown_per_attack[example.generation.attack] += 1
    left_out = {a: n - shown_per_attack[a] for a, n in candidates.items() if n > shown_per_attack[a]}
    return ExampleSelection(examples, per_attack, dict(candidates), left_out)
