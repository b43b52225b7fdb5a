"""The `profanity` judge: alt-profanity-check's trained classifier, offline on CPU.

The model ships inside the alt-profanity-check wheel (a TF-IDF word vectoriser and a
calibrated linear SVM, loaded with joblib when ``profanity_check`` is imported), so the
import waits for the first ``score`` call. ``predict_prob`` takes a list of strings (a bare
string would be read character by character) and returns numpy floats, cast here to float.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata

from lam3_core import Judge, JudgeItem, Score, UsageError, run_batched
from lam3_core.kit.arguments import check_number

DISTRIBUTION = "alt-profanity-check"
PLUGIN = "lam3-judges-profanity"
EMPTY = "empty response: nothing to score"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _predict_prob():
    try:
        from profanity_check import predict_prob
    except ImportError as exc:
        raise UsageError(
            f"The profanity judge needs {DISTRIBUTION} ({exc}).",
            "Install it: pip install lam3-judges-profanity "
            "(it pins alt-profanity-check==1.9.1 with scikit-learn==1.9.1).",
        ) from exc
    return predict_prob


class ProfanityJudge(Judge):
    """P(offensive) of the response text; measures social toxicity, not policy risk."""

    name = "profanity"
    measures = "social_toxicity"

    def __init__(self, batch_size: int = 256):
        check_number("profanity", "batch_size", batch_size, positive=True, integer=True)
        self.batch_size = batch_size
        self.version = f"{DISTRIBUTION} {_version(DISTRIBUTION)}; {PLUGIN} {_version(PLUGIN)}"
        self._predict = None

    def score(self, items: Sequence[JudgeItem]) -> list[Score]:
        scores: list[Score | None] = [None] * len(items)
        todo: list[int] = []
        for i, item in enumerate(items):
            if not isinstance(item.response, str):
                scores[i] = Score.failed(f"response is not text ({type(item.response).__name__})")
            elif not item.response.strip():
                scores[i] = Score(0.0, categories={"profanity": 0.0}, notes=[EMPTY])
            else:
                todo.append(i)
        if todo:
            if self._predict is None:
                self._predict = _predict_prob()
            probs = run_batched(self._predict_batch, [items[i].response for i in todo], self.batch_size)
            for i, p in zip(todo, probs, strict=True):
                scores[i] = Score(
                    p, categories={"profanity": p}, flagged_categories=["profanity"] if p >= self.threshold else []
                )
        return scores

    def _predict_batch(self, texts: list[str]) -> list[float]:
        return [float(p) for p in self._predict(list(texts))]
