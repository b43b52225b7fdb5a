"""A Hugging Face sequence-classification model, loaded on first use and run in batches.

Behind the `hf_classifier` and `nli` judges and ``NLIEntailment`` (semantic equivalence for
uncertainty metrics). The forward pass
is done here rather than through ``pipeline("text-classification")``, whose activation
depends on ``config.problem_type`` (softmax for toxic-bert, which is multi-label) and
whose output is sorted by score; callers get raw logits in label-id order.
"""

from __future__ import annotations

import math

from lam3_core.kit.arguments import check_number
from lam3_core.kit.batching import run_batched
from lam3_core.kit.hf import HFLoadArgs
from lam3_core.kit.inference import inference

ACTIVATIONS = ("sigmoid", "softmax")


def activate(logits: list[float], activation: str) -> list[float]:
    """Per-label sigmoid (multi-label models) or softmax over the labels (single-label models)."""
    if activation == "sigmoid":
        return [1.0 / (1.0 + math.exp(-x)) for x in logits]
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return [e / total for e in exps]


class SequenceClassifier:
    """Tokenizer + ``AutoModelForSequenceClassification``; ``logits`` keeps label-id order and flags truncation.

    ``owner`` names the judge or metric whose ``--*-arg`` options configure it, for messages.
    """

    def __init__(self, owner: str, load: HFLoadArgs, batch_size: int = 32, max_length: int = 512,
                 option: str | None = None):
        check_number(owner, "batch_size", batch_size, positive=True, integer=True)
        check_number(owner, "max_length", max_length, positive=True, integer=True)
        self.owner = owner
        self.load_args = load
        self.option = option or f"--judge-arg {owner}.path=DIR"
        self.batch_size = batch_size
        self.max_length = max_length
        self.backoffs: list[dict] = []
        self._tok = None
        self._model = None

    @property
    def version(self) -> str:
        return self.load_args.weights_source()

    def check_ready(self) -> None:
        self.load_args.check_available(self.option)

    @property
    def id2label(self) -> dict[int, str]:
        self.load()
        return {int(i): str(label) for i, label in self._model.config.id2label.items()}

    def load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.check_ready()
        tok = self.load_args.load_processor(AutoTokenizer)
        tok.padding_side = "right"  # encoders with absolute positions expect it; a saved "left" would shift them
        self._tok, self._model = tok, self.load_args.load_model(AutoModelForSequenceClassification)
        self.limit = min(self.max_length, tok.model_max_length)

    def logits(self, texts: list[str], pairs: list[str] | None = None) -> tuple[list[list[float]], list[bool]]:
        """Logits per text (or per (text, pair)), and whether the text had to be cut to ``max_length`` tokens.

        With pairs only the first text is cut, so a hypothesis is always read whole.
        """
        self.load()
        rows = list(range(len(texts)))
        out = run_batched(lambda idx: self._forward(idx, texts, pairs), rows, self.batch_size,
                          key=lambda i: len(texts[i]), backoffs=self.backoffs)
        return [o[0] for o in out], [o[1] for o in out]

    def _forward(self, idx: list[int], texts: list[str], pairs: list[str] | None) -> list[tuple[list[float], bool]]:
        first = [texts[i] for i in idx]
        second = [pairs[i] for i in idx] if pairs is not None else None
        full = self._tok(first, second, verbose=False)["input_ids"]
        enc = self._tok(first, second, truncation="only_first" if second else True, max_length=self.limit,
                        padding=True, return_tensors="pt").to(self._model.device)
        with inference():
            logits = self._model(**enc).logits.float().cpu().tolist()
        return [(row, len(ids) > self.limit) for row, ids in zip(logits, full)]

    def close(self) -> None:
        self._model = None
        self._tok = None
