"""The ``echo`` model: answers with the prompt, so the pipeline can be checked without weights."""

from __future__ import annotations

from lam3_core.interfaces.components import Model
from lam3_core.interfaces.records import Completion


class EchoModel(Model):
    name = "echo"

    def __init__(self, prefix: str = ""):
        self.prefix = prefix

    def _complete(self, prompt: str, trace: bool) -> Completion:
        text = f"{self.prefix}{prompt}"
        words = text.split()
        return Completion(
            text=text,
            prompt_sent=prompt,
            tokens=words if trace else None,
            token_logprobs=[0.0] * len(words) if trace else None,
            finish_reason="stop",
        )

    def generate(self, samples, gen_config, trace=False):
        return [self._complete(s.prompt, trace) for s in samples]

    def sample(self, samples, k, gen_config):
        return [[self._complete(s.prompt, True) for _ in range(k)] for s in samples]

    def info(self):
        return {"prefix": self.prefix}
