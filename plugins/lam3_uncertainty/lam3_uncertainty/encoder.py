"""Sentence embeddings from a transformers encoder, as sentence-transformers computes them for MiniLM-style
models: mean of the last hidden states over the attention mask, then L2-normalised.

torch and transformers are imported on first use, so building an encoder loads nothing.
"""

from __future__ import annotations

import logging

from lam3_core.kit.arguments import check_number
from lam3_core.kit.batching import run_batched
from lam3_core.kit.hf import HFLoadArgs
from lam3_core.kit.inference import inference

log = logging.getLogger("lam3")


class SentenceEncoder:
    """Tokenizer + ``AutoModel``; ``encode`` returns one unit-length vector per text, in input order.

    ``max_length`` caps the tokens read per text (256 is what sentence-transformers uses for
    all-MiniLM-L6-v2); a longer text is cut and the cut is logged. ``option`` is what the user
    passes to point at local weights, for the missing-weights message.
    """

    def __init__(self, owner: str, load: HFLoadArgs, option: str, batch_size: int = 32, max_length: int = 256):
        check_number(owner, "batch_size", batch_size, positive=True, integer=True)
        check_number(owner, "max_length", max_length, positive=True, integer=True)
        self.owner = owner
        self.load_args = load
        self.option = option
        self.batch_size = batch_size
        self.max_length = max_length
        self.backoffs: list[dict] = []
        self._tok = None
        self._model = None

    def check_ready(self) -> None:
        self.load_args.check_available(self.option)

    def load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer

        self.check_ready()
        tok = self.load_args.load_processor(AutoTokenizer)
        tok.padding_side = "right"
        self._tok, self._model = tok, self.load_args.load_model(AutoModel)
        self.limit = min(self.max_length, tok.model_max_length)

    def encode(self, texts: list[str]) -> list[list[float]]:
        self.load()
        out = run_batched(self._forward, texts, self.batch_size, key=len, backoffs=self.backoffs)
        cut = sum(1 for _, truncated in out if truncated)
        if cut:
            log.warning("%s: %d of %d answers were longer than %d tokens and cut before embedding",
                        self.owner, cut, len(texts), self.limit)
        return [vector for vector, _ in out]

    def _forward(self, batch: list[str]) -> list[tuple[list[float], bool]]:
        import torch

        lengths = [len(ids) for ids in self._tok(batch, verbose=False)["input_ids"]]
        enc = self._tok(batch, truncation=True, max_length=self.limit, padding=True,
                        return_tensors="pt").to(self._model.device)
        with inference():
            hidden = self._model(**enc).last_hidden_state.float()
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        vectors = torch.nn.functional.normalize(pooled, p=2, dim=1).cpu().tolist()
        return [(v, n > self.limit) for v, n in zip(vectors, lengths)]

    def describe(self) -> dict:
        return {"model": self.load_args.weights_source(), "max_length": self.max_length}

    def close(self) -> None:
        self._model = None
        self._tok = None
