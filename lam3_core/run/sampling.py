"""K sampled answers per prompt (``--samples K``), the input of the uncertainty metrics.

Each generation record holds the greedy answer (``--gen``; with its token log-probs, as
``generate(trace=True)`` gives it) and, in ``samples``, K answers as the model's ``sample()`` draws them,
both from one ``generate_with_samples`` call per chunk of records (the Hugging Face models prefill each
prompt once and decode its answer and its K samples together, each sample drawn with its own seed):
``[{"text": ..., "token_logprobs": [...]}, ...]``. A record
is written once, with all of it, so a record that holds its K samples is never sampled again on
resume; a record whose sampling failed carries the error and is produced again (unless
``--no-retry-errors``).

Settings of the samples: ``--gen`` with ``do_sample`` forced on, then ``--sample-gen`` on top.
Left at lam3's defaults this is jlko/semantic_uncertainty's recipe: a greedy answer, and samples
at temperature 1.0 with top_p 1.0 and top_k 0 (off), i.e. the model's own distribution.
``--gen temperature=0.7 do_sample=true`` would also apply to the samples unless ``--sample-gen``
sets them apart (e.g. ``--sample-gen temperature=1.0``). K and the samples' settings are
generation settings: changing them on an existing run directory is refused.
"""

from __future__ import annotations

import json

from lam3_core.interfaces.components import Model
from lam3_core.interfaces.errors import UsageError
from lam3_core.interfaces.genconfig import GenConfig
from lam3_core.interfaces.records import Completion, Generation, Sample
from lam3_core.kit.batching import item_by_item_on_failure

FORCED = {"do_sample": True, "trace_attentions": False}
"""What the samples' settings always are, whatever ``--gen`` says: sampled, without attention maps."""
WHY_FORCED = {
    "do_sample": "samples are always drawn with sampling on",
    "trace_attentions": "attention maps are traced for the greedy answer only (--gen trace_attentions=true)",
}


def sample_config(seed: int, gen: dict, sample_gen: dict) -> GenConfig:
    """``--gen`` with ``FORCED`` applied, then ``--sample-gen`` on top (which cannot undo ``FORCED``)."""
    for key, value in FORCED.items():
        if key in sample_gen and sample_gen[key] != value:
            raise UsageError(f"--sample-gen {key}={json.dumps(sample_gen[key])} cannot be honoured: {WHY_FORCED[key]}.",
                             f"Remove --sample-gen {key}.")
    try:
        return GenConfig.from_dict({"seed": seed, **gen, **FORCED, **sample_gen})
    except UsageError as exc:  # --gen was checked on its own first: the problem is in --sample-gen
        raise UsageError(f"--sample-gen: {exc.problem}", (exc.fix or "").replace("--gen ", "--sample-gen ")) from None


def can_sample(model: Model) -> bool:
    """Whether ``model`` implements ``sample()`` (the base class only raises)."""
    return type(model).sample is not Model.sample


def check_can_sample(model: Model, name: str, k: int) -> None:
    """Refuse ``--samples K`` for a model without ``sample()``, before any work."""
    if k and not can_sample(model):
        raise UsageError(f"--samples {k}: the model {name!r} cannot draw sampled answers (it has no sample()).",
                         "Use a model that samples (e.g. llava15, idefics2), or drop --samples and --uncertainty.")


def generate_with_samples(model: Model, batch: list[Sample], gen: GenConfig, k: int,
                          sample_gen: GenConfig) -> list[tuple[Completion, list[Completion]]]:
    """Per sample, its traced answer and K sampled answers (``Model.generate_with_samples``: llava15 and idefics2
    decode all k + 1 from one prefill). A failing batch is retried one sample at a time, so only the failing sample
    gets an error (in its answer, with no samples); out-of-memory and usage errors stop the run."""
    def call(part: list[Sample]) -> list[tuple[Completion, list[Completion]]]:
        answered = model.generate_with_samples(part, k, gen, sample_gen)
        if any(len(drawn) != k for _, drawn in answered):
            raise RuntimeError(f"model returned {[len(d) for _, d in answered]} sampled answers, {k} per sample "
                               "expected")
        return answered

    return item_by_item_on_failure(call, batch, lambda message: (Completion(text="", error=message), []),
                                   "generation with samples")


def attach_samples(record: Generation, drawn: list[Completion]) -> None:
    """Give ``record`` its sampled answers, or the error of the first that failed; a record whose answer failed
    keeps its own error."""
    if record.error:
        return
    failed = next((c.error for c in drawn if c.error), None)
    if failed:
        record.error = f"sampling failed: {failed}"
    else:
        record.samples = [{"text": c.text, "token_logprobs": c.token_logprobs} for c in drawn]
