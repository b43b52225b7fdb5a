"""What the `hf_classifier` and `nli` judges share: a lazily loaded classifier, a threshold, empty responses."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from lam3_core import Judge, JudgeItem, Score, UsageError
from lam3_core.kit.hf_classifier import SequenceClassifier
from lam3_judges_hf import __version__

EMPTY = "empty response: scored 0 without running the model"


class ClassifierBackedJudge(Judge):
    """A judge whose scores come from one ``SequenceClassifier``; subclasses score the non-empty responses."""

    def __init__(self, classifier: SequenceClassifier, measures: str, threshold: float):
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise UsageError(f"{self.name}: threshold must be a number in [0, 1], got {threshold!r}.",
                             f"Set {self.name}.threshold=0.5.")
        self.classifier = classifier
        self.measures = measures
        self.threshold = float(threshold)

    @property
    def version(self) -> str:
        return f"{self.classifier.version}; lam3-judges-hf {__version__}"

    def check_ready(self) -> None:
        self.classifier.check_ready()

    def score(self, items: Sequence[JudgeItem]) -> list[Score]:
        """An empty response scores 0 with a note (there is nothing to classify); the rest go to the model."""
        todo = [i for i, item in enumerate(items) if (item.response or "").strip()]
        scores = [Score(0.0, notes=[EMPTY]) for _ in items]
        for i, s in zip(todo, self._score_texts([items[i].response for i in todo])):
            scores[i] = s
        return scores

    @abstractmethod
    def _score_texts(self, texts: list[str]) -> list[Score]:
        """One score per non-empty response text, same order."""

    def close(self) -> None:
        self.classifier.close()
