"""The ``pope`` judge: is the model's yes/no answer the sample's label, read with LLaVA's eval_pope.py rule.

Score = 1.0 when the parsed answer equals the label, else 0.0 (measure: correctness, so flagged =
correct; correctness judges are reported beside the attack success rate, never in it). The parsed
answer is kept in the verdict's ``raw``. ``summarize`` gives POPE's figures per split (the sample's
category) and their mean, under ``summary.json["pope"]``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from lam3_core import Generation, Judge, JudgeItem, Measure, Score, Verdict
from lam3_datasets_pope.answers import parse_answer
from lam3_datasets_pope.figures import mean_figures, split_figures
from lam3_datasets_pope.files import LABELS

RULE = ("LLaVA eval_pope.py: first sentence (text before the first '.'), commas dropped, split on spaces; "
        "'no' if a word is No, not or no, else 'yes'")
EMPTY_NOTE = "empty answer: read as 'yes', as the official rule does"


class PopeJudge(Judge):
    """POPE correctness against the sample's ``yes``/``no`` label."""

    name = "pope"
    version = "pope-eval_pope-1"
    measures = Measure.CORRECTNESS
    summary_key = "pope"

    def score(self, items: Sequence[JudgeItem]) -> list[Score]:
        return [self._score(item) for item in items]

    @staticmethod
    def _score(item: JudgeItem) -> Score:
        if item.label not in LABELS:
            return Score.failed(f"the sample has no yes/no label (label = {item.label!r}); the pope judge scores "
                                "POPE-style samples only")
        answer = parse_answer(item.response)
        notes = [] if item.response.strip() else [EMPTY_NOTE]
        return Score(1.0 if answer == item.label else 0.0, raw={"answer": answer}, notes=notes)

    def summarize(self, scored: Sequence[tuple[Generation, Verdict]]) -> dict | None:
        """Per split: n, TP/FP/TN/FN, accuracy, precision, recall, F1, yes-ratio ("yes" positive) and the
        verdicts left out because they failed; then the mean of each figure over the splits."""
        pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
        failed: dict[str, int] = defaultdict(int)
        for generation, verdict in scored:
            split = generation.category or "all"
            if verdict.error is None and isinstance(verdict.raw, dict) and verdict.raw.get("answer") in LABELS:
                pairs[split].append((str(generation.label), verdict.raw["answer"]))
            else:
                failed[split] += 1
        if not pairs and not failed:
            return None
        splits = {split: {**split_figures(pairs.get(split, [])), "failed": failed.get(split, 0)}
                  for split in sorted({*pairs, *failed})}
        return {"rule": RULE, "positive": "yes", "splits": splits, "mean": mean_figures(splits)}
