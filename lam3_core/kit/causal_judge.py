"""A judge that reads its verdict from a causal language model's next tokens.

HarmBench's classifier, WildGuard and StrongREJECT differ in their prompts and in how they read
the model's answer, and in nothing else: loading the weights when first needed, a scorer with
the prompts' shared beginning cached once, items prepared one by one (an item that cannot be
prepared gets its error score), the rest scored in batches longest first with out-of-memory
back-off. ``CausalLMJudge`` is that shared part; a judge adds ``_prepare`` and ``_score_batch``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lam3_core.interfaces.components import Judge
from lam3_core.interfaces.records import JudgeItem, Score
from lam3_core.kit.batching import run_batched
from lam3_core.kit.causal_scoring import CausalScorer, load_causal_lm, pad_token_id
from lam3_core.kit.hf import HFLoadArgs
from lam3_core.kit.neutralise import defuse_special_tokens, neutralise


@dataclass
class CausalPrompt:
    """One item ready for the model: its token ids and the notes its preparation produced."""

    ids: list[int]
    notes: list[str] = field(default_factory=list)


class CausalLMJudge(Judge):
    """The loading, response clean-up and batched scoring of a judge built on a causal language model.

    A subclass calls ``_init_causal`` from its constructor and implements ``_prepare`` (an item to a
    ``CausalPrompt``, or a failed ``Score``) and ``_score_batch`` (prompts to scores, through
    ``self._scorer``). It may override ``_loaded`` (checks on the tokenizer; returns the shared
    prefixes to cache) and ``_load`` (a benchmark hands in its own model)."""

    def _init_causal(self, load_args: HFLoadArgs, batch_size: int, verbatim: bool, prefix_cache: bool = False) -> None:
        self.load_args = load_args
        self.batch_size = batch_size
        self.verbatim = verbatim
        self.prefix_cache = prefix_cache
        self.backoffs: list[dict] = []
        self._tok: Any = None
        self._model: Any = None
        self._scorer: CausalScorer | None = None

    def check_ready(self) -> None:
        self.load_args.check_available(f"--judge-arg {self.name}.path=DIR")

    def _load(self) -> tuple[Any, Any]:
        """(tokenizer, model) from ``path`` or the hub id."""
        self.check_ready()
        return load_causal_lm(self.load_args)

    def _loaded(self, tok: Any, model: Any) -> list[list[int]]:
        """Called once the weights are in (``self._tok`` is set): the token prefixes every prompt shares."""
        return []

    def _ensure_loaded(self) -> None:
        if self._model is not None:
            return
        tok, model = self._load()
        self._tok = tok
        prefixes = self._loaded(tok, model)  # may refuse the weights: then nothing counts as loaded
        self._model = model
        self._scorer = CausalScorer(model, pad_token_id(tok), prefixes if self.prefix_cache else [])

    def _model_response(self, item: JudgeItem, defuse: bool = True) -> tuple[str, list[str]]:
        """The response as the judge's model reads it, and notes: a model wrote it, so it is neutralised and (with
        ``defuse``) the tokenizer's special-token strings in it are made plain, unless ``verbatim``."""
        response = item.response or ""
        if self.verbatim:
            return response, []
        response = neutralise(response)
        if not defuse:
            return response, []
        response, found = defuse_special_tokens(response, self._tok)
        return response, [f"special-token text in the response made plain: {', '.join(found)}"] if found else []

    def _prepare(self, item: JudgeItem) -> CausalPrompt | Score:
        raise NotImplementedError

    def _score_batch(self, batch: list[CausalPrompt]) -> list[Score]:
        raise NotImplementedError

    def score(self, items: Sequence[JudgeItem]) -> list[Score]:
        self._ensure_loaded()
        prepared: list[CausalPrompt | Score] = [self._prepare(item) for item in items]
        todo = [i for i, p in enumerate(prepared) if isinstance(p, CausalPrompt)]
        fresh = run_batched(self._score_batch, [prepared[i] for i in todo], self.batch_size,
                            key=lambda p: len(p.ids), backoffs=self.backoffs)
        for i, s in zip(todo, fresh):
            prepared[i] = s
        return prepared

    def close(self) -> None:
        self._model = None
        self._tok = None
        self._scorer = None
