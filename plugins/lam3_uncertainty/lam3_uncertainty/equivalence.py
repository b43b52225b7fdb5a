"""When two sampled answers mean the same: the pluggable test behind semantic clustering.

``NAME.equivalence=`` picks one: ``exact`` (normalised string match, no model), ``nli``
(bidirectional entailment under an MNLI model, as in Kuhn et al. 2023 / Farquhar et al. 2024)
or ``embedding`` (cosine similarity of sentence embeddings). Each takes only its own options; an
option that the chosen test would not use is refused rather than ignored.
"""

from __future__ import annotations

import difflib
import json
import string
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from lam3_core import UsageError
from lam3_core.kit.arguments import check_number
from lam3_core.kit.hf import HFLoadArgs, HFLoadOptions
from lam3_core.kit.hf_classifier import SequenceClassifier
from lam3_core.kit.nli import DEFAULT_NLI_MODEL, NLIEntailment
from lam3_uncertainty.encoder import SentenceEncoder

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
LOAD_OPTIONS = frozenset(HFLoadOptions.__annotations__)


class EquivalenceOptions(HFLoadOptions, total=False):
    """What a clustering metric accepts as ``--metric-arg NAME.k=v``, besides its own options."""

    equivalence: str
    strict: bool
    condition_on_question: bool
    threshold: float
    batch_size: int
    max_length: int


OPTIONS = {
    "exact": frozenset(),
    "nli": frozenset({"strict", "condition_on_question", "batch_size", "max_length"}) | LOAD_OPTIONS,
    "embedding": frozenset({"threshold", "batch_size", "max_length"}) | LOAD_OPTIONS,
}

_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalise_answer(text: str) -> str:
    """Lower-case, ASCII punctuation removed, runs of whitespace collapsed to one space, ends stripped."""
    return " ".join(text.lower().translate(_PUNCTUATION).split())


class Equivalence(ABC):
    """A symmetric test of whether two answers mean the same, batched over pairs.

    ``key`` names everything that can change an answer of the test, so clusterings made with
    equal keys can be shared. ``view`` is the text actually compared for an answer (the answer,
    or the question and the answer); identical views are equivalent without asking the test.
    """

    kind: str = "equivalence"
    needs_question: bool = False

    @property
    def key(self) -> str:
        return json.dumps({"kind": self.kind, **self.settings()}, sort_keys=True, default=str)

    def settings(self) -> dict[str, Any]:
        """Every setting that can change the test's answers (part of ``key``)."""
        return {}

    def view(self, question: str, answer: str) -> str:
        return answer

    def prepare(self, texts: Sequence[str]) -> None:
        """Called once with every text about to be compared (lets a test batch its own work)."""

    @abstractmethod
    def equivalent_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        """Whether each (a, b) pair means the same, in input order."""

    def describe(self) -> dict:
        """What the metric's summary records about this test."""
        return {"equivalence": self.kind}

    def check_ready(self) -> None:
        """Raise ``UsageError`` if the test cannot run (missing weights); loads nothing."""

    def close(self) -> None:
        """Release the model, if any."""


class ExactMatch(Equivalence):
    """Equal after ``normalise_answer``: for short answers (a name, a number, yes/no)."""

    kind = "exact"

    def equivalent_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        return [normalise_answer(a) == normalise_answer(b) for a, b in pairs]


class NLIEquivalence(Equivalence):
    """Bidirectional entailment: strict = both directions entail; non-strict = neither direction
    contradicts and not both are neutral (jlko ``get_semantic_ids``). With ``condition_on_question``
    each answer is compared as ``f"{question} {answer}"``, as jlko does with DeBERTa."""

    kind = "nli"

    def __init__(self, nli: NLIEntailment, strict: bool = True, condition_on_question: bool = False):
        self.nli = nli
        self.strict = strict
        self.needs_question = condition_on_question

    def settings(self) -> dict[str, Any]:
        classifier = self.nli.classifier
        return {**asdict(classifier.load_args), "max_length": classifier.max_length, "strict": self.strict,
                "condition_on_question": self.needs_question}

    def view(self, question: str, answer: str) -> str:
        return f"{question} {answer}" if self.needs_question else answer

    def equivalent_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        return self.nli.equivalent_pairs(pairs, strict=self.strict) if pairs else []

    def describe(self) -> dict:
        return {"equivalence": self.kind, "model": self.nli.classifier.version, "strict": self.strict,
                "condition_on_question": self.needs_question, "max_length": self.nli.classifier.max_length}

    def check_ready(self) -> None:
        self.nli.classifier.check_ready()

    def close(self) -> None:
        self.nli.close()


class EmbeddingEquivalence(Equivalence):
    """Cosine similarity of unit-length sentence embeddings at least ``threshold``."""

    kind = "embedding"

    def __init__(self, encoder: SentenceEncoder, threshold: float = 0.9):
        self.encoder = encoder
        self.threshold = threshold
        self._vectors: dict[str, list[float]] = {}

    def settings(self) -> dict[str, Any]:
        return {**asdict(self.encoder.load_args), "max_length": self.encoder.max_length, "threshold": self.threshold}

    def prepare(self, texts: Sequence[str]) -> None:
        """Embed every distinct text in one batched pass; kept until the next ``prepare``."""
        unique = list(dict.fromkeys(texts))
        self._vectors = dict(zip(unique, self.encoder.encode(unique))) if unique else {}

    def equivalent_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        missing = list(dict.fromkeys(t for pair in pairs for t in pair if t not in self._vectors))
        if missing:
            self._vectors.update(zip(missing, self.encoder.encode(missing)))
        return [self.cosine(a, b) >= self.threshold for a, b in pairs]

    def cosine(self, a: str, b: str) -> float:
        return sum(x * y for x, y in zip(self._vectors[a], self._vectors[b]))

    def describe(self) -> dict:
        return {"equivalence": self.kind, **self.encoder.describe(), "threshold": self.threshold}

    def check_ready(self) -> None:
        self.encoder.check_ready()

    def close(self) -> None:
        self.encoder.close()
        self._vectors = {}


def build_equivalence(owner: str, options: EquivalenceOptions | dict,
                      metric_options: Sequence[str] = ()) -> Equivalence:
    """The equivalence test named by ``options['equivalence']`` (default exact), configured by the rest.

    ``owner`` is the metric name the user wrote the options for, used in every message;
    ``metric_options`` are the metric's own argument names, listed when an argument is unknown.
    """
    options = dict(options)
    kind = options.pop("equivalence", "exact")
    if not isinstance(kind, str) or kind not in OPTIONS:
        raise UsageError(f"Unknown {owner}.equivalence {kind!r}.", f"Use one of: {', '.join(OPTIONS)}.")
    unknown = sorted(set(options) - set(EquivalenceOptions.__annotations__))
    if unknown:
        known = sorted({*EquivalenceOptions.__annotations__, *metric_options})
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"Did you mean {close[0]}? " if close else ""
        raise UsageError(f"Unknown argument {owner}.{unknown[0]}.", f"{hint}{owner} takes: {', '.join(known)}.")
    stray = sorted(set(options) - OPTIONS[kind])
    if stray:
        users = [k for k in OPTIONS if stray[0] in OPTIONS[k]]
        raise UsageError(f"{owner}.{stray[0]} applies to equivalence={' or '.join(users)}, not {kind}.",
                         f"Remove it, or set {owner}.equivalence={users[0]}.")
    for flag in ("strict", "condition_on_question"):
        if flag in options and not isinstance(options[flag], bool):
            raise UsageError(f"Bad {owner}.{flag}: {options[flag]!r}.", "Give true or false.")
    sizes = {k: options.pop(k) for k in ("batch_size", "max_length") if k in options}
    option = f"--metric-arg {owner}.path=DIR"
    if kind == "nli":
        strict = options.pop("strict", True)
        conditioned = options.pop("condition_on_question", False)
        load = HFLoadArgs.from_options(options, model=DEFAULT_NLI_MODEL)
        classifier = SequenceClassifier(owner, load, option=option, **sizes)
        return NLIEquivalence(NLIEntailment(classifier), strict=strict, condition_on_question=conditioned)
    if kind == "embedding":
        threshold = options.pop("threshold", 0.9)
        check_number(owner, "threshold", threshold, positive=True, at_most=1.0)
        load = HFLoadArgs.from_options(options, model=DEFAULT_EMBEDDING_MODEL)
        return EmbeddingEquivalence(SentenceEncoder(owner, load, option, **sizes), threshold=float(threshold))
    return ExactMatch()
