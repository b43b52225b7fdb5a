"""Natural-language inference over (premise, hypothesis) pairs, and the bidirectional-entailment test
behind semantic entropy (Kuhn et al. 2023; Farquhar et al. 2024; jlko/semantic_uncertainty).

``NLIEntailment`` wraps an MNLI model (default ``facebook/roberta-large-mnli``). The
entailment, neutral and contradiction ids are read from ``config.label2id``, never assumed.
``equivalent(a, b)``: strict = both directions entail; non-strict = neither direction
contradicts and not both are neutral.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lam3_core.interfaces.errors import UsageError
from lam3_core.kit.hf_classifier import SequenceClassifier, activate

DEFAULT_NLI_MODEL = "facebook/roberta-large-mnli"
CLASSES = ("entailment", "neutral", "contradiction")


@dataclass
class NLIPrediction:
    """One (premise, hypothesis) pair: class probabilities, the argmax class, and whether the premise was cut."""

    probabilities: dict[str, float]
    label: str
    truncated: bool


class NLIEntailment:
    """Batched NLI over (premise, hypothesis) pairs, with the entailment label taken from the model config."""

    def __init__(self, classifier: SequenceClassifier):
        self.classifier = classifier
        self._classes: dict[int, str] | None = None

    @property
    def classes(self) -> dict[int, str]:
        """Label id -> "entailment" | "neutral" | "contradiction" (or the model's own name for other labels)."""
        if self._classes is None:
            names = self.classifier.id2label
            self._classes = {i: next((c for c in CLASSES if name.lower().startswith(c[:7])), name.lower())
                             for i, name in names.items()}
            if "entailment" not in self._classes.values():
                raise UsageError(f"{self.classifier.owner}: the model's labels {sorted(names.values())} have no "
                                 "entailment label.", "Use an NLI (MNLI-style) model.")
        return self._classes

    def predict(self, premises: Sequence[str], hypotheses: Sequence[str]) -> list[NLIPrediction]:
        if len(premises) != len(hypotheses):
            raise ValueError(f"{len(premises)} premises but {len(hypotheses)} hypotheses")
        classes = self.classes
        logits, truncated = self.classifier.logits(list(premises), list(hypotheses))
        out = []
        for row, cut in zip(logits, truncated):
            probs = {classes[i]: p for i, p in enumerate(activate(row, "softmax"))}
            out.append(NLIPrediction(probs, max(probs, key=probs.get), cut))
        return out

    def entails(self, premises: Sequence[str], hypotheses: Sequence[str]) -> list[bool]:
        """Whether each premise entails its hypothesis (argmax class is entailment)."""
        return [p.label == "entailment" for p in self.predict(premises, hypotheses)]

    def equivalent_pairs(self, pairs: Sequence[tuple[str, str]], strict: bool = True) -> list[bool]:
        """Bidirectional entailment for each (a, b), both directions in one batch."""
        forward = [a for a, _ in pairs] + [b for _, b in pairs]
        backward = [b for _, b in pairs] + [a for a, _ in pairs]
        labels = [p.label for p in self.predict(forward, backward)]
        n = len(pairs)
        if strict:
            return [labels[i] == labels[n + i] == "entailment" for i in range(n)]
        return [
            "contradiction" not in (labels[i], labels[n + i]) and (labels[i], labels[n + i]) != ("neutral", "neutral")
            for i in range(n)
        ]

    def equivalent(self, a: str, b: str, strict: bool = True) -> bool:
        """Whether ``a`` and ``b`` mean the same (see ``equivalent_pairs``)."""
        return self.equivalent_pairs([(a, b)], strict)[0]

    def close(self) -> None:
        self.classifier.close()
