"""The interfaces a plugin implements. Every call is batched: a list in, a list out, same order.

A registered factory is called with the user's ``k=v`` arguments and returns one of these.
Factories must be cheap: load weights on first use, so that ``lam3 judge-prompt`` and
start-up checks never pay for them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence

from lam3_core.interfaces.errors import UsageError
from lam3_core.interfaces.genconfig import GenConfig
from lam3_core.interfaces.records import Completion, Generation, JudgeItem, Sample, Score, UncertaintyItem, Verdict


class Model(ABC):
    """A multimodal LLM: image(s) + text in, text out.

    ``reads_images`` is False for models that never look at images (answers replayed from a
    file): their runs need no image files.
    """

    name: str = "model"
    reads_images: bool = True

    @abstractmethod
    def generate(self, samples: Sequence[Sample], gen_config: GenConfig, trace: bool = False) -> list[Completion]:
        """One completion per sample. With ``trace=True`` fill ``token_logprobs`` (and ``trace``)."""

    def sample(self, samples: Sequence[Sample], k: int, gen_config: GenConfig) -> list[list[Completion]]:
        """K sampled completions per sample, each with its token log-probs."""
        raise NotImplementedError(f"model {self.name!r} does not support sampling")

    def generate_with_samples(self, samples: Sequence[Sample], k: int, gen_config: GenConfig,
                              sample_config: GenConfig) -> list[tuple[Completion, list[Completion]]]:
        """Per sample, what ``generate(trace=True)`` under ``gen_config`` and ``sample(k)`` under ``sample_config``
        return (``--samples K``). Override it to share the work between the k + 1 answers (one prefill); the
        default makes the two calls."""
        answers = self.generate(samples, gen_config, trace=True)
        return list(zip(answers, self.sample(samples, k, sample_config)))

    def prepare_next(self, samples: Sequence[Sample], gen_config: GenConfig, k: int = 0,
                     sample_config: GenConfig | None = None) -> None:
        """A hint, given before a ``generate`` call: the samples and settings of the call after it
        (``generate_with_samples`` with ``k`` and ``sample_config`` when ``k`` > 0), so that the model can
        prepare their inputs (decode images, tokenise) while it answers the current ones. Results must not
        depend on it; ignoring it, the default, is always correct."""

    def info(self) -> dict:
        """What meta.json records about this model: id, resolved revision, dtype, device, ..."""
        return {}

    def check_ready(self) -> None:
        """Raise ``UsageError`` (``MissingWeights`` for absent weights) if the model cannot run; called
        before any work, without loading weights."""

    def check_image_attention(self) -> None:
        """Raise ``UsageError`` unless the model stores its answers' attention over image patches when
        ``GenConfig.trace_attentions`` is set (``Completion.info["image_attention"]``); called before any work."""
        raise UsageError(f"The model {self.name!r} cannot trace its attention over image patches.",
                         "Remove --gen trace_attentions=true, or use a model that can (e.g. llava15).")

    def close(self) -> None:
        """Release memory (GPU) when the run ends."""


class Judge(ABC):
    """Scores responses. ``measures`` (a ``Measure``) says what the score is a probability of.

    ``uses_request``: the judge reads the request as well as the response (part of the cache
    key). ``check_ready()`` runs before any generation: raise ``UsageError`` (or ``MissingWeights``)
    for what would make the judge fail later. ``config()`` adds derived settings to the cache key
    (the core already keys on every constructor argument and on the plugin's code).
    """

    name: str = "judge"
    version: str = "0"
    measures: str = "other"
    threshold: float = 0.5
    uses_request: bool = False

    @abstractmethod
    def score(self, items: Sequence[JudgeItem]) -> list[Score]:
        """One ``Score`` per item; ``Score.failed(reason)`` for an item it could not score."""

    def config(self) -> dict:
        """Derived settings that change scores and are not constructor arguments (e.g. the text of a
        categories file); part of the judge-cache key (never include secrets)."""
        return {}

    def summarize(self, scored: Sequence[tuple[Generation, Verdict]]) -> dict | None:
        """Figures of this judge's own for summary.json (e.g. POPE's F1 per split), computed from every
        generation it scored and its verdict; None for none. Stored under ``summary[summary_key]``."""
        return None

    summary_key: str | None = None

    def render_prompt(self, item: JudgeItem) -> str:
        """The exact text a prompt-based judge feeds its model (for `lam3 judge-prompt`)."""
        raise NotImplementedError(f"judge {self.name!r} is not prompt-based")

    def check_ready(self) -> None:
        """Raise ``UsageError`` if the judge cannot run (missing API key, ...); called before generation."""

    def close(self) -> None:
        """Release resources when the run ends."""


class Attack(ABC):
    """Turns samples into attacked samples (one or more per input sample).

    The factory receives the user's ``--attack-arg NAME.k=v`` values. ``apply`` is called only
    on samples that have no attacked version in the run directory yet, so an expensive attack
    is never recomputed on resume.
    """

    name: str = "attack"
    needs_model: bool = False

    @abstractmethod
    def apply(self, samples: Sequence[Sample], model: Model | None = None) -> list[Sample]:
        """Attacked samples, in input order. Each keeps the original ``id``; several versions of
        one sample set distinct ``meta['variant']`` values. ``images`` may hold in-memory PIL
        images: the core writes them as lossless PNG into the run directory. ``meta['attack_info']``
        (a dict) is stored in the generation record."""

    def check_model(self, model: Model) -> None:
        """Raise ``UsageError`` if the attack cannot run against ``model`` (a white-box attack and a model
        without gradients); called before any work, so it must not load weights."""

    def config(self) -> dict:
        """What the attack read besides its arguments and that changes its output (the text of a
        templates file, a font's digest); part of the attack's identity, so a changed file is never
        served attacked samples made from the old one."""
        return {}


class UncertaintyMetric(ABC):
    """Uncertainty of a model's answer from K sampled responses and their log-probs."""

    name: str = "uncertainty"

    @abstractmethod
    def compute(self, items: Sequence[UncertaintyItem]) -> list[float]:
        """One value per item, higher = more uncertain; NaN where the item lacks what the metric
        needs (say why in the log)."""

    def check_ready(self) -> None:
        """Raise ``UsageError`` (``MissingWeights``) if the metric cannot run (its equivalence model's weights)."""

    def info(self) -> dict:
        """What the run records about this metric's settings (e.g. its equivalence test)."""
        return {}

    def close(self) -> None:
        """Release what the metric loaded."""


class Dataset:
    """What a dataset factory may return instead of a plain iterable of samples: the samples and the
    judges that score them when the user names none (POPE is scored against its own labels)."""

    def __init__(self, samples: Iterable[Sample], judges: Sequence[str] = ()):
        self.samples = samples
        self.judges = tuple(judges)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)
