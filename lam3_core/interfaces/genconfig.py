"""Generation settings shared by every model plugin."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from lam3_core.interfaces.errors import UsageError


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_EXPECTED = {
    "int": (_integer, "an integer"),
    "int | None": (lambda v: v is None or _integer(v), "an integer"),
    "float": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
}
_EXAMPLES = {"max_new_tokens": 128, "min_new_tokens": 0, "do_sample": "true", "temperature": 0.7, "top_p": 0.9,
             "top_k": 50, "repetition_penalty": 1.1, "seed": 0, "trace_attentions": "true"}


@dataclass(frozen=True)
class GenConfig:
    """What a model must honour when it generates. Greedy decoding is the default.

    ``trace_attentions``: store, per answer, the attention of its tokens over the image patches
    (``Completion.info["image_attention"]``); a model that cannot refuses it in
    ``Model.check_image_attention``.
    """

    max_new_tokens: int = 128
    min_new_tokens: int = 0
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    seed: int | None = None
    trace_attentions: bool = False

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise UsageError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}.")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise UsageError(
                f"min_new_tokens must be between 0 and max_new_tokens ({self.max_new_tokens}), "
                f"got {self.min_new_tokens}."
            )
        if self.temperature <= 0:
            raise UsageError(
                f"temperature must be > 0, got {self.temperature}.", "Use do_sample=false for greedy decoding."
            )
        if not 0 < self.top_p <= 1:
            raise UsageError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.top_k < 0:
            raise UsageError(f"top_k must be >= 0 (0 = off), got {self.top_k}.")
        if self.repetition_penalty <= 0:
            raise UsageError(f"repetition_penalty must be > 0, got {self.repetition_penalty}.")

    @classmethod
    def from_dict(cls, values: dict) -> GenConfig:
        """Build from user input, rejecting unknown keys (listing the known ones) and values of the wrong type."""
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise UsageError(
                f"Unknown generation setting(s): {', '.join(unknown)}.",
                f"Known settings: {', '.join(sorted(known))}.",
            )
        for name, value in values.items():
            expected = _EXPECTED[known[name]]
            if not expected[0](value):
                raise UsageError(f"Generation setting {name} must be {expected[1]}, got {value!r}.",
                                 f"Example: --gen {name}={_EXAMPLES[name]}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)
