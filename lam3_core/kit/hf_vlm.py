"""What every Hugging Face vision-language model plugin shares: loading, batching, generation, traces, gradients.

A plugin subclasses ``HFVisionLanguageModel`` and sets a few hooks: the default model id,
how a batch's images are passed to its processor (a flat list for LLaVA, one list per
sample for Idefics2), its extra stop tokens and turn markers, and processor settings such
as Idefics2's image splitting. Everything else lives here once, so the plugins stay small
and behave the same way.

Generation takes whatever the pipeline hands it and runs it in micro-batches sized from free
GPU memory (``kit.micro_batches``; ``batch_size`` caps them), prepares the next micro-batch's
tensors on worker threads while the GPU runs this one (``kit.prefetch``, ``kit.vlm_inputs``),
prefills each image's prefix once for every question and sampled answer that shares it
(``kit.vlm_prefix``), draws sampled answers with per-row seeds (``kit.row_sampling``) and, for
long answers on a GPU, decodes from a static cache with a compiled step (CUDA graphs).

torch and transformers are imported inside methods only: importing this module is free.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import sys
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Unpack

from lam3_core.interfaces.components import Model
from lam3_core.interfaces.errors import UsageError
from lam3_core.interfaces.genconfig import GenConfig
from lam3_core.interfaces.records import Completion, Sample
from lam3_core.kit.arguments import check_number
from lam3_core.kit.batching import is_out_of_memory, run_batched
from lam3_core.kit.hf import HFLoadArgs, HFLoadOptions, cached_revision
from lam3_core.kit.images import image_key
from lam3_core.kit.inference import inference
from lam3_core.kit.micro_batches import (
    RowBudget,
    equal_micro_batches,
    free_bytes,
    row_bytes,
    rows_that_fit,
    shared_prefix_tokens,
)
from lam3_core.kit.prefetch import Prefetcher, default_workers, worker_pool
from lam3_core.kit.vlm_inputs import ThreadProcessors, decoded_images, image_inputs_of, pinned

if TYPE_CHECKING:
    from lam3_core.kit.vlm_prefix import PrefixPlan

log = logging.getLogger("lam3")

LOGPROBS_DEFINITION = (
    "log-softmax of the raw model logits (before temperature, top-k/top-p and repetition penalty) "
    "at each generated token, up to and including the first stop token"
)
IMAGE_LENGTH_WEIGHT = 256  # characters an image counts for when batches are sorted by length
DECODE_CACHES = ("auto", "dynamic", "static", "compiled")
"""How the KV cache is kept while decoding: ``dynamic`` grows it every step (transformers' default); ``static``
preallocates it (no per-step copy of the whole cache); ``compiled`` preallocates it and runs each decoding step as a
compiled graph (torch.compile, mode reduce-overhead: CUDA graphs; CUDA only); ``auto`` picks ``compiled`` on a GPU
for answers of ``COMPILED_AUTO_MIN_NEW_TOKENS`` or more tokens, ``static`` on a GPU for shorter ones (and for a
quantised model or one with ``compile_layers``), ``dynamic`` on the CPU."""
COMPILED_AUTO_MIN_NEW_TOKENS = 128
"""Below this many new tokens (POPE's yes/no answers) decoding takes less time than compiling and capturing graphs
would save."""
IMAGE_ATTENTION_DEFINITION = (
    "attention weight on each image patch token, averaged over every head of every layer of the language model "
    "and over the queries that produced the generated tokens (stop token included); one map per image, row-major "
    "over the patch grid; its sum is the share of attention the answer paid to that image"
)


def generation_kwargs(gen: GenConfig) -> dict[str, Any]:
    """``generate()`` keyword arguments for ``gen``, every field explicit.

    Decoding is always greedy as far as transformers is concerned: sampling (``gen.do_sample``)
    is done by ``kit.row_sampling``'s processors, which apply ``gen``'s temperature, top-k
    and top-p and nothing else, so neither transformers' own defaults (top_k=50) nor the
    checkpoint's generation_config ever apply silently.
    """
    return {
        "max_new_tokens": gen.max_new_tokens,
        "min_new_tokens": gen.min_new_tokens,
        "do_sample": False,
        "repetition_penalty": gen.repetition_penalty,
    }


def generated_lengths(tokens, stop_ids: Sequence[int]):
    """Per row of ``tokens`` (N, T): how many tokens count, up to and including the first stop token."""
    import torch

    is_stop = torch.isin(tokens, torch.as_tensor(list(stop_ids), device=tokens.device))
    first = is_stop.int().argmax(dim=1)
    return torch.where(is_stop.any(dim=1), first + 1, torch.full_like(first, tokens.shape[1]))


def token_logprobs(step_logits: Sequence, tokens, lengths):
    """Log-probabilities (N, T) of the chosen ``tokens`` under the raw ``step_logits`` (T tensors of (N, V)).

    Positions after each row's length (after its first stop token, where generate pads)
    are masked to NaN, so a sum over a row that forgets the length fails loudly.
    """
    import torch

    columns = [
        torch.log_softmax(logits.float(), dim=-1).gather(1, tokens[:, t : t + 1]).squeeze(1)
        for t, logits in enumerate(step_logits)
    ]
    logprobs = torch.stack(columns, dim=1)
    positions = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)
    return logprobs.masked_fill(positions >= lengths.unsqueeze(1), float("nan"))


def clean_response(text: str, role_prefixes: Sequence[str], turn_markers: Sequence[str]) -> tuple[str, bool]:
    """``text`` without a leading role prefix and cut at the next turn marker; True if it was cut."""
    text = text.strip()
    for prefix in role_prefixes:
        if text.startswith(prefix):
            text = text[len(prefix) :].lstrip()
    cuts = [i for i in (text.find(marker) for marker in turn_markers) if i >= 0]
    if cuts:
        return text[: min(cuts)].rstrip(), True
    return text, False


@dataclass
class _Prepared:
    """One micro-batch as the worker threads hand it over: its samples and rendered prompts, the model inputs
    (processor outputs; with ``plan``, only the image inputs of each prefix group's sample) and the prefix-reuse
    layout, or None for the plain path."""

    samples: list[Sample]
    prompts: list[str]
    inputs: dict
    plan: PrefixPlan | None


class HFVisionLanguageModel(Model):
    """A transformers image-text-to-text model (LLaVA-1.5, Idefics2, ...) behind the lam3 ``Model`` API.

    Model arguments (all optional): the loading options every Hugging Face plugin shares
    (``HFLoadOptions``: ``model``, ``path``, ``revision``, ``local_files_only``, ``dtype``,
    ``device``, ``device_map``, ``attn_implementation`` (sdpa), ``quantization``,
    ``compute_dtype``, ``double_quant``, ``compile_layers``), plus ``batch_size`` (the most rows decoded together;
    default: as many as free GPU memory holds, 8 on a CPU), ``system_prompt``, ``prefix_reuse``
    (true: one prefill per image prefix and per sampled prompt), ``decode_cache`` (auto, dynamic,
    static or compiled: ``DECODE_CACHES``), ``preprocess_workers`` (threads preparing the next
    micro-batches, and as many decoding and processing their images; 0: none),
    ``trace_attentions`` and ``trace_hidden_states`` (what ``generate(trace=True)`` puts in
    ``Completion.trace``). Weights load on first use.
    """

    name = "hf_vlm"
    default_model_id = ""
    stop_tokens: tuple[str, ...] = ()
    role_prefixes: tuple[str, ...] = ()
    turn_markers: tuple[str, ...] = ()

    def __init__(
        self,
        batch_size: int | None = None,
        system_prompt: str | None = None,
        trace_attentions: bool = False,
        trace_hidden_states: bool = False,
        prefix_reuse: bool = True,
        decode_cache: str = "auto",
        preprocess_workers: int | None = None,
        **load: Unpack[HFLoadOptions],
    ):
        if batch_size is not None:
            check_number(self.name, "batch_size", batch_size, positive=True, integer=True)
        if preprocess_workers is not None:
            check_number(self.name, "preprocess_workers", preprocess_workers, integer=True, at_most=64)
        if decode_cache not in DECODE_CACHES:
            raise UsageError(f"Bad {self.name}.decode_cache: {decode_cache!r}.",
                             f"Give one of: {', '.join(DECODE_CACHES)}.")
        self.load_args = HFLoadArgs.from_options(load, model=self.default_model_id, attn_implementation="sdpa")
        if self.load_args.compile_layers and decode_cache == "compiled":
            raise UsageError(f"{self.name}: compile_layers=true with decode_cache=compiled would compile the layers "
                             "inside a compiled decoding step, which lam3 has not verified.",
                             "Keep one: decode_cache=compiled (CUDA graphs, for long answers) or compile_layers=true "
                             "(fused layers for every forward pass, for short answers and prefills).")
        if trace_attentions and self.load_args.attn_implementation != "eager":
            log.info("trace_attentions needs eager attention; %s will load with attn_implementation=eager", self.name)
            self.load_args = dataclasses.replace(self.load_args, attn_implementation="eager")
        self.batch_size = None if batch_size is None else int(batch_size)
        self.system_prompt = system_prompt or None
        self.trace_attentions = bool(trace_attentions)
        self.trace_hidden_states = bool(trace_hidden_states)
        self.prefix_reuse = bool(prefix_reuse)
        self.decode_cache = decode_cache
        self.preprocess_workers = default_workers() if preprocess_workers is None else int(preprocess_workers)
        self.backoffs: list[dict] = []
        self.micro_batches: dict[str, dict] = {}
        self.rows_by_path: Counter = Counter()
        self.compiled_decode_failure: str | None = None
        self.prefix_reuse_unavailable: str | None = None
        self.model: Any = None
        self.processor: Any = None
        self._processors: ThreadProcessors | None = None
        self._image_pool: Any = None
        self._static: tuple[tuple[int, int], Any] | None = None
        self.prepared_ahead: Counter = Counter()  # the next call's first micro-batch: used, or not (mismatched)
        self._ahead_pool: Any = None
        self._next: tuple[list[Sample], GenConfig, int, bool] | None = None  # (samples, gen, k, trace)
        self._ahead: tuple[tuple, Future] | None = None  # (what was prepared, its preparation)

    @property
    def model_id(self) -> str:
        return self.load_args.source

    # ----- hooks a plugin may override -------------------------------------------------------------

    def images_argument(self, images: list[list[Any]]) -> Any:
        """The processor's ``images=`` for a batch, given each sample's RGB images (LLaVA: one flat list)."""
        flat = [image for sample_images in images for image in sample_images]
        return flat or None

    def configure_processor(self, processor: Any) -> None:
        """Set processor options once after loading (never per call)."""

    # ----- loading ---------------------------------------------------------------------------------

    def check_ready(self) -> None:
        """Before a run: the weights are there, and no raw-trace argument asks for what a run never stores."""
        raw = [name for name in ("trace_attentions", "trace_hidden_states") if getattr(self, name)]
        if raw:
            raise UsageError(
                f"The model argument {raw[0]}=true keeps raw per-step tensors in Completion.trace for Python callers "
                "of generate(trace=True); a lam3 run does not store them.",
                f"Remove --model-arg {raw[0]}. For attention maps over the image in a run, use "
                "--gen trace_attentions=true (then `lam3 attention RUN_DIR`).")
        self.load_args.check_available("--model-arg path=DIR")

    def check_image_attention(self) -> None:
        """Supported: each image is a square grid of patch tokens in the prompt (checked again once loaded)."""

    def load(self) -> None:
        """Load the processor and the weights (once); called by every method that needs them."""
        if self.model is not None:
            return
        from transformers import AutoModelForImageTextToText, AutoProcessor

        processor = self.load_args.load_processor(AutoProcessor)
        model = self.load_args.load_model(AutoModelForImageTextToText)
        model.requires_grad_(False)
        self._dtype = self.load_args.torch_dtype(self.load_args.resolved_device())
        processor.tokenizer.padding_side = "left"
        self.configure_processor(processor)
        self.processor, self.model = processor, model
        self._image_pool = worker_pool(self.preprocess_workers, "lam3-images")
        self._ahead_pool = worker_pool(min(1, self.preprocess_workers), "lam3-ahead")
        self._processors = ThreadProcessors(processor, self._image_pool, self.preprocess_workers)
        if self.prefix_reuse:
            from lam3_core.kit.vlm_prefix import cache_api_problem

            self.prefix_reuse_unavailable = cache_api_problem(model)
            if self.prefix_reuse_unavailable:
                log.warning("%s decodes every prompt on its own (no prefix reuse): %s", self.name,
                            self.prefix_reuse_unavailable)
        tok = processor.tokenizer
        configured = model.generation_config.eos_token_id
        configured = configured if isinstance(configured, list) else [configured]
        extra = [i for i in (tok.convert_tokens_to_ids(t) for t in self.stop_tokens) if i != tok.unk_token_id]
        self._stop_ids = list(dict.fromkeys(i for i in [tok.eos_token_id, *configured, *extra] if i is not None))
        self._pad_id = tok.pad_token_id if tok.pad_token_id is not None else self._stop_ids[0]

    @property
    def input_device(self):
        """Where inputs go: the device of the first parameter (the embeddings), also under a device_map."""
        return self.model.device

    def info(self) -> dict:
        load = self.load_args.describe()
        info = {
            "model_id": load.pop("model"),
            **load,
            "batch_size": self.batch_size,
            "micro_batches": dict(self.micro_batches),
            "batch_backoffs": list(self.backoffs),
            "prefix_reuse": self.prefix_reuse,
            "prefix_reuse_unavailable": self.prefix_reuse_unavailable,
            "decode_cache": self.decode_cache,
            "compiled_decode_failure": self.compiled_decode_failure,
            "preprocess_workers": self.preprocess_workers,
            "rows_by_path": dict(self.rows_by_path),
            "prepared_during_previous_call": dict(self.prepared_ahead),
            "system_prompt": self.system_prompt,
            "logprobs": LOGPROBS_DEFINITION,
            "loaded": self.model is not None,
        }
        try:
            self.check_image_attention()
            info["image_attention"] = IMAGE_ATTENTION_DEFINITION
        except UsageError:
            pass  # this model maps no attention onto its images
        if self.model is not None:
            import transformers

            info.update(
                resolved_revision=cached_revision(self.model_id, self.load_args.revision),
                dtype=str(self._dtype).removeprefix("torch."),
                device=str(self.input_device),
                device_map=getattr(self.model, "hf_device_map", None),
                model_class=type(self.model).__name__,
                image_processor=type(self.processor.image_processor).__name__,
                stop_token_ids=self._stop_ids,
                transformers_version=transformers.__version__,
            )
        return info

    def close(self) -> None:
        for pool in (self._ahead_pool, self._image_pool):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self.model = self.processor = self._processors = self._static = self._image_pool = None
        self._ahead_pool = self._next = self._ahead = None
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    # ----- prompting -------------------------------------------------------------------------------

    def messages(self, sample: Sample) -> list[dict]:
        """The chat for ``sample``: optional system turn, then the user's images and text."""
        content: list[dict] = [{"type": "image"} for _ in sample.images]
        if sample.prompt.strip():
            content.append({"type": "text", "text": sample.prompt})
        chat = [{"role": "user", "content": content}]
        if self.system_prompt:
            chat.insert(0, {"role": "system", "content": [{"type": "text", "text": self.system_prompt}]})
        return chat

    @staticmethod
    def check_samples(samples: Sequence[Sample]) -> None:
        """Reject a sample that asks nothing (empty prompt and no image) before any work is done.

        An empty prompt with an image is a valid request (the image carries it, as in
        typographic attacks); the chat then holds the image alone.
        """
        for sample in samples:
            if not sample.prompt.strip() and not sample.images:
                raise UsageError(
                    f"Sample {sample.id!r} has an empty prompt and no image: there is nothing to ask the model.",
                    "Fix or drop this sample in the dataset.",
                )

    @staticmethod
    def sample_images(sample: Sample) -> list:
        """The sample's images as PIL RGB; a missing or unreadable one is a UsageError naming the sample."""
        return decoded_images([sample])[0]

    def encode(self, samples: Sequence[Sample]):
        """Processor outputs for a batch (left-padded, on the input device, pixel values in float32) and the prompts."""
        self.load()
        prompts = [self.processor.apply_chat_template(self.messages(s), add_generation_prompt=True) for s in samples]
        images = self.images_argument([self.sample_images(s) for s in samples])
        enc = self.processor(text=prompts, images=images, return_tensors="pt", padding=True)
        return enc.to(self.input_device), prompts

    def image_normalization(self) -> tuple[list[float], list[float]]:
        """Per-channel (mean, std) that the processor applied: pixel_values = (rgb/255 - mean) / std."""
        self.load()
        ip = self.processor.image_processor
        return list(ip.image_mean), list(ip.image_std)

    # ----- generation ------------------------------------------------------------------------------

    def generate(self, samples: Sequence[Sample], gen_config: GenConfig, trace: bool = False) -> list[Completion]:
        self.check_samples(samples)
        if gen_config.trace_attentions:
            self._use_eager_attention()
        return [group[0] for group in self._answer(samples, gen_config, 1, trace, "generate")]

    def sample(self, samples: Sequence[Sample], k: int, gen_config: GenConfig) -> list[list[Completion]]:
        """K sampled completions per sample, each with its token log-probs.

        Sampling is forced on (``do_sample=True``). With ``prefix_reuse`` the prompt (and an image
        prefix shared with other prompts) is prefilled once and its cache copied to the K rows,
        which decode together; without it every row is prefilled. Each answer's draws depend only
        on (seed, sample id, its index), not on the batch it is decoded in (``kit.row_sampling``).
        ``batch_size`` bounds the rows (prompts x K) decoded together.
        """
        if k < 1:
            raise UsageError(f"k must be >= 1, got {k}.")
        self.check_samples(samples)
        gen = dataclasses.replace(gen_config, do_sample=True, trace_attentions=False)
        return self._answer(samples, gen, k, True, "sample")

    def generate_with_samples(self, samples: Sequence[Sample], k: int, gen_config: GenConfig,
                              sample_config: GenConfig) -> list[tuple[Completion, list[Completion]]]:
        """The traced greedy answer and K samples of each prompt from one call: k + 1 rows share the prompt's prefill
        and decode together, the greedy row untouched by the sampler (``kit.row_sampling.SampledRowsOnly``). The
        answer is the one ``generate(trace=True)`` gives, the samples those ``sample()`` draws. Settings under which
        the two decode differently (other lengths or repetition penalty, a sampled answer, attention maps, raw
        traces) make the two calls."""
        if k < 1:
            raise UsageError(f"k must be >= 1, got {k}.")
        self.check_samples(samples)
        gen = self._decoding_together(gen_config, sample_config)
        if gen is None:
            return super().generate_with_samples(samples, k, gen_config, sample_config)
        groups = self._answer(samples, gen, k + 1, True, "generate_with_samples", greedy_first=True)
        return [(group[0], group[1:]) for group in groups]

    def _decoding_together(self, gen_config: GenConfig, sample_config: GenConfig) -> GenConfig | None:
        """The settings the greedy answer and the samples decode under together, or None when they must not."""
        gen = dataclasses.replace(sample_config, do_sample=True, trace_attentions=False)
        decoding = ("max_new_tokens", "min_new_tokens", "repetition_penalty")
        together = not gen_config.do_sample and not gen_config.trace_attentions and not (
            self.trace_attentions or self.trace_hidden_states) and all(
            getattr(gen_config, name) == getattr(gen, name) for name in decoding)
        return gen if together else None

    def prepare_next(self, samples: Sequence[Sample], gen_config: GenConfig, k: int = 0,
                     sample_config: GenConfig | None = None) -> None:
        """Remembers the next call (``Model.prepare_next``): once the current call's first micro-batch is prepared,
        a thread of its own prepares the next call's first one, which that call then takes if it asks for exactly
        those samples and settings (``prepared_during_previous_call`` in info counts both outcomes)."""
        if k == 0:
            self._next = (list(samples), gen_config, 1, False)
            return
        gen = self._decoding_together(gen_config, sample_config) if sample_config is not None else None
        self._next = (list(samples), gen, k + 1, True) if gen is not None else None

    @staticmethod
    def _length_key(sample: Sample) -> int:
        return len(sample.prompt) + IMAGE_LENGTH_WEIGHT * len(sample.images)

    def _answer(self, samples: Sequence[Sample], gen: GenConfig, k: int, trace: bool, call: str,
                greedy_first: bool = False) -> list[list[Completion]]:
        """``k`` completions per sample (``greedy_first``: the first greedy, the others sampled), in micro-batches
        prepared ahead on worker threads; the micro-batches are as large as the row budget allows and of (nearly)
        equal size."""
        if not samples:
            return []
        self.load()
        order = self._order(samples)
        ordered = [samples[i] for i in order]
        reuse = self._reuses_prefixes(gen, trace)
        budget = self._row_budget(ordered, gen, k, trace, reuse)
        seed = gen.seed if gen.seed is not None else random.getrandbits(62)

        def prepare(start: int, size: int) -> _Prepared:
            return self._prepare(ordered[start : start + size], k, reuse, gen)

        per_batch = equal_micro_batches(len(ordered), max(1, budget.rows // k))
        self.micro_batches[call] = {**budget.describe(), "answers_per_prompt": k, "prompts_per_micro_batch": per_batch}
        before = Counter(self.rows_by_path)

        def take(prefetcher: Prefetcher, idx: list[int]) -> _Prepared:
            prepared = prefetcher.take(idx[0], len(idx))
            if idx[0] == 0:  # the critical first preparation is done: the next call's may start
                self._prepare_ahead(budget.rows)
            return prepared

        try:
            ready = self._ready_from_previous_call(ordered[:per_batch], k, reuse, gen)
            with Prefetcher(prepare, len(ordered), self.preprocess_workers, ready=ready) as prefetcher:
                answers = run_batched(
                    lambda idx: self._run(take(prefetcher, idx), gen, k, trace, seed, call, greedy_first),
                    list(range(len(ordered))), per_batch, backoffs=self.backoffs,
                )
        finally:
            self._static = None  # its memory goes back to the next call's budget
        paths = ", ".join(f"{path} {n}" for path, n in (self.rows_by_path - before).items())
        log.info("%s %s: %d prompts x %d answers, micro-batches of %d prompts (%d rows: %s); rows by path: %s",
                 self.name, call, len(ordered), k, per_batch, budget.rows, budget.source, paths)
        results: list = [None] * len(samples)
        for position, group in zip(order, answers):
            results[position] = group
        return results

    def _reuses_prefixes(self, gen: GenConfig, trace: bool) -> bool:
        """Whether a call under ``gen`` (``trace``) prefills shared image prefixes once (``kit.vlm_prefix``)."""
        return self.prefix_reuse and not self.prefix_reuse_unavailable and not gen.trace_attentions \
            and not (trace and (self.trace_attentions or self.trace_hidden_states))

    def _prepare_ahead(self, rows: int) -> None:
        """Start preparing the first micro-batch of the call ``prepare_next`` announced, sized as this call's row
        budget (``rows``) would size it; a call whose own budget sizes it otherwise prepares its own."""
        if self._next is None or self._ahead_pool is None:
            return
        samples, gen, k, trace = self._next
        self._next = None
        ordered = [samples[i] for i in self._order(samples)]
        first = ordered[: equal_micro_batches(len(ordered), max(1, rows // k))]
        reuse = self._reuses_prefixes(gen, trace)
        self._ahead = ((first, k, reuse, gen), self._ahead_pool.submit(self._prepare, first, k, reuse, gen))

    def _ready_from_previous_call(self, first: list[Sample], k: int, reuse: bool, gen: GenConfig) -> dict | None:
        """The Prefetcher's ``ready`` entry for this call's first micro-batch when the previous call prepared exactly
        it (same samples, answers per prompt, prefix reuse and settings); otherwise the preparation is dropped."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        what, future = ahead
        if what == (first, k, reuse, gen):
            self.prepared_ahead["used"] += 1
            return {(0, len(first)): future}
        future.cancel()
        self.prepared_ahead["not used"] += 1
        return None

    def _order(self, samples: Sequence[Sample]) -> list[int]:
        """Sample indices, samples that share their images next to each other (so one micro-batch can reuse their
        prefix), groups with the longest prompt first (an out-of-memory error shows in the first micro-batch),
        text-only samples last."""
        keys = [tuple(image_key(ref) for ref in s.images) for s in samples]
        longest: dict[tuple, int] = {}
        first: dict[tuple, int] = {}
        for i, (sample, key) in enumerate(zip(samples, keys)):
            longest[key] = max(longest.get(key, 0), self._length_key(sample))
            first.setdefault(key, i)
        return sorted(range(len(samples)), key=lambda i: (
            not samples[i].images, -longest[keys[i]], first[keys[i]], -self._length_key(samples[i])))

    def _row_budget(self, ordered: list[Sample], gen: GenConfig, k: int, trace: bool, reuse: bool) -> RowBudget:
        """Rows per micro-batch, from free GPU memory and the longest prompt's length (``kit.micro_batches``)."""
        import torch

        from lam3_core.kit.vlm_prefix import static_length

        free = free_bytes(self.input_device)
        if free is None:
            return rows_that_fit(None, 0, 0, self.batch_size)
        prompt_tokens = int(self.encode(ordered[:1])[0]["input_ids"].shape[1])
        shared = 0
        if reuse:
            prefixes = len({tuple(image_key(r) for r in s.images) for s in ordered if s.images})
            prefixes += sum(1 for s in ordered if not s.images)
            shared = shared_prefix_tokens(prompt_tokens, prefixes, len(ordered) * k)
        cache = self._decode_cache(gen, self._raw_trace(gen, trace))
        per_row = row_bytes(self.model.config.get_text_config(), torch.finfo(self._dtype).bits // 8, prompt_tokens,
                            gen.max_new_tokens, trace, shared,
                            static_length(prompt_tokens + gen.max_new_tokens, cache == "compiled")
                            if cache != "dynamic" else None)
        return rows_that_fit(free, per_row, prompt_tokens, self.batch_size)

    def _prepare(self, samples: list[Sample], k: int, reuse: bool, gen: GenConfig) -> _Prepared:
        """The CPU side of a micro-batch (on a worker thread): prompts, decoded images, processor outputs and, when
        prompts share prefixes (or K > 1), the prefix-reuse layout; tensors pinned when the model is on a GPU."""
        from lam3_core.kit.vlm_prefix import plan_prefixes

        processor = self._processors.get()
        prompts = [processor.apply_chat_template(self.messages(s), add_generation_prompt=True) for s in samples]
        images = decoded_images(samples, self._image_pool)
        enc = processor(text=prompts, images=self.images_argument(images), return_tensors="pt", padding=True)
        counts = [len(i) for i in images]
        plan = None
        if reuse:
            keep = enc["attention_mask"].bool()
            rows = [enc["input_ids"][r][keep[r]].tolist() for r in range(len(samples))]
            keys = [tuple(image_key(ref) for ref in s.images) for s in samples]
            plan = plan_prefixes(rows, keys, self.model.config.image_token_id, self._pad_id, k)
            if plan.groups == plan.rows or self._beyond_sliding_window(plan.input_ids.shape[1] + gen.max_new_tokens):
                plan = None
        inputs = image_inputs_of(enc, plan.group_samples, counts) if plan is not None else None
        if inputs is None:
            plan = None
            inputs = dict(enc) if k == 1 else self._repeated(processor, enc, prompts, images, counts, k)
        if self.input_device.type == "cuda":
            inputs = pinned(inputs)
            plan = plan.pin() if plan is not None else None
        return _Prepared(samples, prompts, inputs, plan)

    def _repeated(self, processor: Any, enc: Any, prompts: list[str], images: list[list], counts: list[int],
                  k: int) -> dict:
        """Processor outputs with each sample's row repeated ``k`` times (its answers adjacent)."""
        rows = [i for i in range(len(prompts)) for _ in range(k)]
        image_inputs = image_inputs_of(enc, rows, counts)
        if image_inputs is None:
            repeated = self.images_argument([images[i] for i in rows])
            return dict(processor(text=[prompts[i] for i in rows], images=repeated, return_tensors="pt", padding=True))
        return {"input_ids": enc["input_ids"][rows], "attention_mask": enc["attention_mask"][rows], **image_inputs}

    def _beyond_sliding_window(self, length: int) -> bool:
        """True when ``length`` tokens exceed the language model's sliding attention window (prefix copies need
        every token kept)."""
        window = getattr(self.model.config.get_text_config(), "sliding_window", None)
        return bool(window) and length > window

    def _raw_trace(self, gen: GenConfig, trace: bool) -> bool:
        """Whether the call keeps raw per-step traces (attentions or hidden states)."""
        return bool(trace and (self.trace_attentions or self.trace_hidden_states) or gen.trace_attentions)

    def _decode_cache(self, gen: GenConfig, raw: bool) -> str:
        """The cache to decode from (``DECODE_CACHES``): raw traces always decode eagerly from a dynamic cache; ``auto``
        compiles on a GPU for long answers of an unquantised model without compiled layers and preallocates for the
        others, until compiling failed once (dynamic from then on)."""
        if raw:
            return "dynamic"
        if self.decode_cache == "compiled" and self.input_device.type != "cuda":
            raise UsageError(f"{self.name}.decode_cache=compiled needs a CUDA GPU; the model is on "
                             f"{self.input_device}.", "Use decode_cache=static or dynamic on this device.")
        if self.decode_cache != "auto":
            return self.decode_cache
        if self.input_device.type != "cuda" or self.compiled_decode_failure is not None:
            return "dynamic"
        compiled = gen.max_new_tokens >= COMPILED_AUTO_MIN_NEW_TOKENS and not self.load_args.quantization \
            and not self.load_args.compile_layers
        return "compiled" if compiled else "static"

    def _run(self, prepared: _Prepared, gen: GenConfig, k: int, trace: bool, seed: int, call: str,
             greedy_first: bool) -> list[list[Completion]]:
        """The GPU side of a micro-batch. ``decode_cache=auto`` falls back to a dynamic cache, once and for the
        rest of the run, if compiled decoding fails for a reason other than memory (logged, and recorded in info)."""
        cache = self._decode_cache(gen, self._raw_trace(gen, trace))
        try:
            return self._decode(prepared, gen, k, trace, seed, call, greedy_first, cache)
        except Exception as exc:
            if cache != "compiled" or self.decode_cache != "auto" or is_out_of_memory(exc) \
                    or isinstance(exc, UsageError):
                raise
            self.compiled_decode_failure = f"{type(exc).__name__}: {exc}"
            log.warning("compiled decoding failed (%s); %s decodes from a dynamic cache from now on",
                        self.compiled_decode_failure, self.name)
        return self._decode(prepared, gen, k, trace, seed, call, greedy_first, "dynamic")

    def _decode(self, prepared: _Prepared, gen: GenConfig, k: int, trace: bool, seed: int, call: str,
                greedy_first: bool, cache: str) -> list[list[Completion]]:
        import torch

        from lam3_core.kit.vlm_prefix import cache_keyword, new_cache, prefilled_cache

        samples, plan = prepared.samples, prepared.plan
        device = self.input_device
        inputs = {key: value.to(device, non_blocking=True) for key, value in prepared.inputs.items()}
        inputs = {key: value.to(self._dtype) if value.is_floating_point() else value for key, value in inputs.items()}
        trace_attentions = trace and self.trace_attentions
        trace_hidden = trace and self.trace_hidden_states
        image_maps = gen.trace_attentions and k == 1
        kwargs = {**generation_kwargs(gen), "eos_token_id": self._stop_ids, "pad_token_id": self._pad_id}
        if gen.do_sample:
            kwargs["logits_processor"] = self._sampling_processors(gen, seed, call, samples, k, greedy_first)
        if trace or trace_attentions or trace_hidden or image_maps:
            kwargs.update(return_dict_in_generate=True, output_logits=trace,
                          output_attentions=trace_attentions or image_maps, output_hidden_states=trace_hidden)
        keyword = cache_keyword(self.model)
        static = cache != "dynamic"
        if cache == "static":
            kwargs["disable_compile"] = True
        with inference(cudnn_attention=cache == "compiled"):  # compiled: one shape, cuDNN builds once (kit.inference)
            if plan is None:
                ids, mask = inputs.pop("input_ids"), inputs.pop("attention_mask")
                if static:
                    kwargs[keyword] = self._static_cache(ids.shape[0], ids.shape[1] + gen.max_new_tokens, cache)
                self.rows_by_path["plain"] += ids.shape[0]
            else:
                plan = plan.to(device)
                ids, mask = plan.input_ids, plan.attention_mask
                target = self._static_cache(plan.rows, ids.shape[1] + gen.max_new_tokens, cache) if static \
                    else new_cache(self.model)
                kwargs[keyword] = prefilled_cache(self.model, plan, inputs, target)
                self.rows_by_path["prefix_reuse"] += plan.rows
                self.rows_by_path["prefix_prefills"] += plan.groups
                if plan.questions_shared:
                    self.rows_by_path["question_prefills"] += plan.rows // plan.copies
                inputs = {}
            if static:
                self.rows_by_path[f"{cache}_decode"] += ids.shape[0]
            out = self.model.generate(input_ids=ids, attention_mask=mask, **inputs, **kwargs)
        sequences = out if isinstance(out, torch.Tensor) else out.sequences
        tokens = sequences[:, ids.shape[1] :]
        lengths = generated_lengths(tokens, self._stop_ids)
        logprobs = token_logprobs(out.logits, tokens, lengths).cpu() if trace else None
        pad_lengths = (mask == 0).sum(dim=1).tolist()
        lengths, tokens = lengths.tolist(), tokens.cpu()
        completions = []
        for row in range(tokens.shape[0]):
            sample_index = row // k
            extra = {}
            if trace_hidden:
                extra["hidden_states"] = _row_hidden_states(out.hidden_states, row, lengths[row])
            if trace_attentions:
                extra["attentions"] = _row_attentions(out.attentions, row, lengths[row], pad_lengths[row])
            completion = self._completion(
                tokens[row, : lengths[row]].tolist(), prepared.prompts[sample_index],
                None if logprobs is None else logprobs[row, : lengths[row]].tolist(), extra or None,
            )
            if image_maps:
                completion.info["image_attention"] = self._image_attention(
                    out.attentions, row, lengths[row], ids[row], len(samples[sample_index].images))
            completions.append(completion)
        return [completions[i * k : (i + 1) * k] for i in range(len(samples))]

    def _static_cache(self, rows: int, tokens: int, cache: str):
        """An empty static cache of ``rows`` that holds ``tokens`` (``cache``: static or compiled): the previous
        micro-batch's, reset, when it has the same shape (compiled decoding replays its CUDA graphs only on the same
        tensors), else a new one."""
        from lam3_core.kit.vlm_prefix import new_cache, static_length

        shape = (rows, static_length(tokens, cache == "compiled"))
        if self._static is not None and self._static[0] == shape:
            self._static[1].reset()
            return self._static[1]
        self._static = None  # free the old one before allocating
        self._static = (shape, new_cache(self.model, shape[1]))
        return self._static[1]

    @staticmethod
    def _sampling_processors(gen: GenConfig, seed: int, call: str, samples: list[Sample], k: int,
                             greedy_first: bool):
        """Per-row seeded sampling: row (sample, j) draws from the stream (seed, sample id, call, j). With
        ``greedy_first`` each sample's first row is greedy and the others draw ``sample()``'s streams."""
        from transformers import LogitsProcessorList

        from lam3_core.kit.row_sampling import row_key, sampling_processors

        stream, first = ("sample", 1) if greedy_first else (call, 0)
        keys = [None if j < first else row_key(seed, sample.id, stream, j - first) for sample in samples
                for j in range(k)]
        return LogitsProcessorList(sampling_processors(gen, keys))

    def _completion(self, ids: list[int], prompt: str, logprobs: list[float] | None, trace: Any) -> Completion:
        tok = self.processor.tokenizer
        stopped = bool(ids) and ids[-1] in self._stop_ids
        text_ids = ids[:-1] if stopped else ids
        raw = tok.decode(text_ids, skip_special_tokens=True)
        text, cut = clean_response(raw, self.role_prefixes, self.turn_markers)
        return Completion(
            text=text,
            prompt_sent=prompt,
            token_logprobs=logprobs,
            tokens=tok.batch_decode([[i] for i in ids]) if logprobs is not None else None,
            finish_reason="stop" if stopped or cut else "length",
            trace=trace,
            info={"token_ids": ids} if logprobs is not None else {},
        )

    # ----- attention over the image (--gen trace_attentions=true) ----------------------------------------

    def _use_eager_attention(self) -> None:
        """Attention weights need eager attention (SDPA and flash attention return none)."""
        if self.model is None and self.load_args.attn_implementation != "eager":
            log.info("trace_attentions needs eager attention; %s will load with attn_implementation=eager", self.name)
            self.load_args = dataclasses.replace(self.load_args, attn_implementation="eager")
        elif self.model is not None and self.model.config._attn_implementation != "eager":
            self.model.set_attn_implementation("eager")
            self.load_args = dataclasses.replace(self.load_args, attn_implementation="eager")

    def patch_grid(self) -> tuple[int, int]:
        """(rows, columns) of the patch tokens one image becomes: the vision tower's image size over its patch size."""
        vision = self.model.config.vision_config
        side = vision.image_size // vision.patch_size
        return side, side

    def image_view(self) -> dict | None:
        """How the processor turns an image into the model's view, for drawing attention maps over it:
        ``{"shortest_edge": S, "crop": [H, W]}`` (resize, then centre crop: CLIP) or ``{"resize": [H, W]}``."""
        ip = self.processor.image_processor
        size, crop = ip.size, getattr(ip, "crop_size", None)
        if getattr(size, "shortest_edge", None) and getattr(ip, "do_center_crop", False) and crop is not None:
            return {"shortest_edge": int(size.shortest_edge), "crop": [int(crop.height), int(crop.width)]}
        if getattr(size, "height", None) and getattr(size, "width", None):
            return {"resize": [int(size.height), int(size.width)]}
        return None

    def _image_attention(self, steps: Sequence, row: int, length: int, input_ids, n_images: int) -> dict:
        """The attention map of one answer over each of its images (``Completion.info["image_attention"]``)."""
        image_token = self.model.config.image_token_id
        positions = (input_ids == image_token).nonzero().flatten()
        rows, cols = self.patch_grid()
        if n_images == 0 or len(positions) != n_images * rows * cols:
            raise UsageError(
                f"{self.name} cannot map attention onto image patches here: the prompt holds {len(positions)} image "
                f"tokens for {n_images} image(s) of {rows}x{cols} patches.",
                "Remove --gen trace_attentions=true for this model or these samples.")
        mean = image_attention(steps, row, length, positions).tolist()
        size = rows * cols
        return {
            "grid": [rows, cols],
            "maps": [[round(v, 7) for v in mean[i * size : (i + 1) * size]] for i in range(n_images)],
            "image_share": round(sum(mean), 6),
            "view": self.image_view(),
            "layers": len(steps[0]),
            "tokens": length,
        }

    # ----- gradients (white-box attacks) -----------------------------------------------------------

    def preprocess(self, sample: Sample) -> dict:
        """The model inputs for one sample (``input_ids``, ``attention_mask``, float32 ``pixel_values``, ...)."""
        self.check_samples([sample])
        enc, _ = self.encode([sample])
        return dict(enc)

    def target_loss(self, sample: Sample, target: str, pixel_values=None):
        """Mean cross-entropy of ``target`` as the model's answer to ``sample``, differentiable in the pixels.

        ``pixel_values`` (shaped like ``preprocess(sample)["pixel_values"]``, in the
        processor's normalised space) default to the sample's own. Returns ``(loss,
        pixel_values)``: the tensor the loss depends on, a leaf with ``requires_grad`` unless
        the one you passed already tracked gradients; ``loss.backward()`` fills its ``.grad``.
        The target is tokenised on its own (no BOS) and appended after the generation prompt.
        """
        import torch

        inputs = self.preprocess(sample)
        if "pixel_values" not in inputs:
            raise UsageError(f"Sample {sample.id!r} has no image: there are no pixels to differentiate.")
        target_ids = self.processor.tokenizer(target, add_special_tokens=False, return_tensors="pt")["input_ids"]
        if target_ids.numel() == 0:
            raise UsageError("The target continuation is empty.", "Pass a non-empty target text.")
        target_ids = target_ids.to(self.input_device)
        own_pixels = inputs.pop("pixel_values")
        pv = own_pixels.float() if pixel_values is None else pixel_values.to(self.input_device)
        if not pv.requires_grad:
            pv = pv.detach().clone().requires_grad_(True)
        input_ids = torch.cat([inputs.pop("input_ids"), target_ids], dim=1)
        attention_mask = torch.cat([inputs.pop("attention_mask"), torch.ones_like(target_ids)], dim=1)
        labels = torch.full_like(input_ids, -100)
        labels[:, -target_ids.shape[1] :] = target_ids
        with torch.enable_grad():
            out = self.model(
                **inputs, input_ids=input_ids, attention_mask=attention_mask,
                pixel_values=pv.to(self._dtype), labels=labels,
            )
        return out.loss, pv

    # ----- batched target losses and prompt-to-image attention (white-box attacks) ------------------

    def target_batch(self, samples: Sequence[Sample], targets: Sequence[str]) -> dict:
        """Model inputs for the loss of ``targets[i]`` as the answer to ``samples[i]``, for ``target_losses``.

        Each row is the sample's prompt as generation renders it, then its target tokenised on its
        own (no BOS, as in ``target_loss``), then padding on the right. No padding sits between a
        prompt and its target and every row starts at position 0, so a row's loss is the same in
        any batch. ``labels`` hold the target ids (-100 elsewhere); ``pixel_values`` are float32 in
        the processor's normalised space.
        """
        if len(targets) != len(samples):
            raise ValueError(f"{len(targets)} targets for {len(samples)} samples")
        self.check_samples(samples)
        enc, _ = self.encode(samples)
        tails = []
        for sample, target in zip(samples, targets):
            ids = self.processor.tokenizer(target, add_special_tokens=False)["input_ids"]
            if not ids:
                raise UsageError(f"Sample {sample.id!r}: the target continuation is empty.",
                                 "Pass a non-empty target text.")
            tails.append(ids)
        return self._right_padded(enc, tails)

    def _right_padded(self, enc, tails: Sequence[Sequence[int]]) -> dict:
        """``enc`` (left-padded by the processor) re-laid as prompt + tail + right padding, with ``labels``.

        Other per-token tensors of the processor (shaped like ``input_ids``) move with their tokens
        and are 0 on the tails.
        """
        import torch

        ids, keep = enc["input_ids"], enc["attention_mask"].bool()
        per_token = [k for k, v in enc.items() if k not in ("input_ids", "attention_mask")
                     and isinstance(v, torch.Tensor) and v.shape == ids.shape]
        lengths = [int(keep[i].sum()) + len(tail) for i, tail in enumerate(tails)]
        width = max(lengths)
        batch = {k: v for k, v in enc.items() if k not in ("input_ids", "attention_mask")}
        batch["input_ids"] = torch.full((len(tails), width), self._pad_id, dtype=ids.dtype, device=ids.device)
        batch["attention_mask"] = torch.zeros((len(tails), width), dtype=enc["attention_mask"].dtype, device=ids.device)
        batch["labels"] = torch.full((len(tails), width), -100, dtype=ids.dtype, device=ids.device)
        for key in per_token:
            batch[key] = torch.zeros((len(tails), width), dtype=enc[key].dtype, device=ids.device)
        for row, (tail, length) in enumerate(zip(tails, lengths)):
            prompt = int(keep[row].sum())
            tail_ids = torch.as_tensor(list(tail), dtype=ids.dtype, device=ids.device)
            batch["input_ids"][row, :length] = torch.cat([ids[row][keep[row]], tail_ids])
            batch["attention_mask"][row, :length] = 1
            batch["labels"][row, prompt:length] = tail_ids
            for key in per_token:
                batch[key][row, :prompt] = enc[key][row][keep[row]]
        if "pixel_values" in batch:
            batch["pixel_values"] = batch["pixel_values"].float()
        return batch

    def target_losses(self, batch: dict, pixel_values=None):
        """Per-row mean cross-entropy (a tensor of B) of the target tokens of ``batch`` (``target_batch``).

        One forward pass for the whole batch, differentiable in ``pixel_values`` (shaped like
        ``batch["pixel_values"]``, normalised; the batch's own when None): ``losses.sum().backward()``
        gives every row its own gradient, since rows do not interact. Logits are computed only from
        the first target position on.
        """
        import torch

        labels = batch["labels"]
        first = int((labels != -100).int().argmax(dim=1).min())
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "pixel_values")}
        pixels = batch.get("pixel_values") if pixel_values is None else pixel_values
        if pixels is not None:
            inputs["pixel_values"] = pixels.to(self.input_device).to(self._dtype)
        with torch.enable_grad():
            out = self.model(**inputs, logits_to_keep=labels.shape[1] - first + 1)
        predicted = labels[:, first:]
        token_losses = torch.nn.functional.cross_entropy(
            out.logits[:, :-1].float().transpose(1, 2), predicted, ignore_index=-100, reduction="none"
        )
        return token_losses.sum(dim=1) / (predicted != -100).sum(dim=1)

    def image_patch_size(self) -> int:
        """The side in pixels of one patch of the vision encoder, at the processed resolution."""
        self.load()
        return int(self.model.config.vision_config.patch_size)

    def image_tokens_are_patches(self) -> bool:
        """True when each image token the language model reads stands for one patch of the vision encoder
        (LLaVA), so attention to it points at a place in the image; False when a resampler pools every
        patch into a few latents (Idefics2's perceiver: 64 latents, each a mixture of the whole image)."""
        self.load()
        return getattr(self.model.config, "perceiver_config", None) is None

    def prompt_image_attention(self, samples: Sequence[Sample]) -> list:
        """Per sample, the attention its prompt's text pays to each patch of its image at the prefill.

        A (rows, cols) float32 CPU tensor over the vision encoder's patch grid at the processed
        resolution: the attention weights from every text token after the image to each image token,
        averaged over those tokens, the heads and the layers. One image per sample. Computed with
        eager attention, switched on for this call only. Refused (``UsageError``) for models whose
        image tokens are not patches (``image_tokens_are_patches``).
        """
        import torch

        self.check_samples(samples)
        if not self.image_tokens_are_patches():
            raise UsageError(f"{self.name}'s image tokens are not image patches: a resampler pools every patch into "
                             "a few latents, so attention to an image token cannot be traced to a place in the image.",
                             "Rank patches another way (e.g. by the gradient of a loss), or use a model whose image "
                             "tokens are patches (llava15).")
        for sample in samples:
            if len(sample.images) != 1:
                raise UsageError(f"Sample {sample.id!r} has {len(sample.images)} images; prompt-to-image attention "
                                 "is measured for exactly one.", "Give the sample one image.")
        enc, _ = self.encode(samples)
        batch = self._right_padded(enc, [[] for _ in samples])
        del batch["labels"]
        batch["pixel_values"] = batch["pixel_values"].to(self._dtype)
        with torch.no_grad(), self._eager_attention():
            out = self.model(**batch, output_attentions=True, logits_to_keep=1)
        attention = sum(layer.float().mean(dim=1) for layer in out.attentions) / len(out.attentions)
        patch = self.image_patch_size()
        rows, cols = batch["pixel_values"].shape[-2] // patch, batch["pixel_values"].shape[-1] // patch
        image_token = self.model.config.image_token_id
        grids = []
        for row, sample in enumerate(samples):
            ids = batch["input_ids"][row]
            positions = (ids == image_token).nonzero().flatten()
            if len(positions) == rows * cols + 1:  # a leading CLS feature ("full" feature selection)
                positions = positions[1:]
            if len(positions) != rows * cols:
                raise UsageError(f"Sample {sample.id!r}: {len(positions)} image tokens for a {rows}x{cols} patch grid; "
                                 f"{self.name}'s image tokens do not map one-to-one to patches.",
                                 "Rank patches another way (e.g. by the gradient of a loss).")
            text = batch["attention_mask"][row].bool() & (ids != image_token)
            text[: int(positions.max()) + 1] = False
            weights = attention[row][text][:, positions].mean(dim=0)
            grids.append(weights.reshape(rows, cols).cpu())
        return grids

    @contextmanager
    def _eager_attention(self):
        """Eager attention (the one that returns attention weights) inside the block, the loaded one after."""
        config = self.model.config
        before = {"": config._attn_implementation}
        before.update({key: getattr(config, key)._attn_implementation for key in config.sub_configs
                       if getattr(config, key, None) is not None})
        if set(before.values()) == {"eager"}:
            yield
            return
        self.model.set_attn_implementation("eager")
        try:
            yield
        finally:
            self.model.set_attn_implementation(before)


def image_attention(steps: Sequence, row: int, length: int, positions):
    """(P,) float32 on the CPU: the attention that ``row``'s first ``length`` generated tokens paid to the prompt
    ``positions`` (absolute indices in the padded sequence), averaged over layers, heads and tokens.

    Step t's attentions are the query that produced token t: the last prompt token, then each
    generated token but the last; every key up to it is present, so prompt positions keep their index.
    """
    import torch

    per_step = [torch.stack([layer[row, :, -1, positions] for layer in step]).float().mean(dim=(0, 1))
                for step in steps[:length]]
    return torch.stack(per_step).mean(dim=0).cpu()


def _row_hidden_states(steps: Sequence, row: int, length: int):
    """(layers + 1, T, hidden) float32 on the CPU: each layer's state at each generated token of ``row``."""
    import torch

    per_step = [torch.stack([layer[row, -1] for layer in step]) for step in steps[:length]]
    return torch.stack(per_step, dim=1).float().cpu()


def _row_attentions(steps: Sequence, row: int, length: int, pad: int):
    """(layers, heads, T, S) float32 on the CPU: the attention of the query that produced each generated token.

    That query is the last prompt token, then each generated token but the last, so S is
    the unpadded prompt length plus T - 1; left padding is dropped, not-yet-seen keys are 0.
    """
    import torch

    total = steps[-1][0].shape[-1]
    per_step = []
    for step in steps[:length]:
        att = torch.stack([layer[row, :, -1] for layer in step])
        per_step.append(torch.nn.functional.pad(att, (0, total - att.shape[-1])))
    return torch.stack(per_step, dim=2)[..., pad : total - (len(steps) - length)].float().cpu()
