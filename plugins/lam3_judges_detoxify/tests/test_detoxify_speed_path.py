"""The fast scoring path: Detoxify.predict's numbers, one tokenisation per batch, reduced precision within tolerance."""

from __future__ import annotations

import random

import pytest
from lam3_judges_detoxify.judge import DetoxifyJudge
from lam3_judges_detoxify.testing import WORDS

from lam3_core import JudgeItem, UsageError

TEXTS = [" ".join(random.Random(i).choices(WORDS, k=3 + 7 * i)) for i in range(9)]  # 3 to 59 words
TOLERANCE = {"float16": 0.05, "bfloat16": 0.3}
"""Largest |score - fp32 score| on the tiny checkpoint (random weights of std 0.5, so logits are large and the
scores spread over (0, 1); measured: fp16 0.025, bf16 0.21 over 300 texts). The GPU benchmark reports the real-size
figure."""


def _items(texts):
    return [JudgeItem("q", t) for t in texts]


def test_scores_equal_detoxify_predict_one_batch_at_a_time(original_checkpoint):
    from detoxify import Detoxify

    reference = Detoxify(checkpoint=str(original_checkpoint))
    judge = DetoxifyJudge(checkpoint=str(original_checkpoint), batch_size=4)
    scores = judge.score(_items(TEXTS))
    longest_first = sorted(range(len(TEXTS)), key=lambda i: -len(TEXTS[i]))
    for start in range(0, len(TEXTS), 4):  # the judge's batches: length-sorted, 4 texts each
        batch = longest_first[start:start + 4]
        predicted = reference.predict([TEXTS[i] for i in batch])
        expected = {k: v if isinstance(v, list) else [v] for k, v in predicted.items()}  # one text: floats
        for j, i in enumerate(batch):
            assert scores[i].categories == pytest.approx({k: v[j] for k, v in expected.items()}, abs=1e-6)


class _Counting:
    """A tokenizers backend that records the size of each batch it encodes."""

    def __init__(self, backend):
        self.backend, self.batches = backend, []

    def encode_batch_fast(self, texts):
        self.batches.append(len(texts))
        return self.backend.encode_batch_fast(texts)


def test_each_batch_is_tokenised_once(original_checkpoint):
    judge = DetoxifyJudge(checkpoint=str(original_checkpoint), batch_size=4)
    judge.score(_items(TEXTS[:1]))
    judge._tokens._batch = counting = _Counting(judge._tokens._batch)
    judge.score(_items(TEXTS))
    assert counting.batches == [4, 4, 1]


def test_batch_tokens_equal_the_tokenizers_own_call(original_checkpoint):
    from lam3_judges_detoxify.batch_tokens import BatchTokens
    from transformers import BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(original_checkpoint.parent / "base")
    texts = [*TEXTS, " ".join(["hello"] * 70), "", "Unknown wörds, and PUNCTUATION!"]
    inputs, truncated = BatchTokens(tokenizer, "detoxify")(texts)
    expected = tokenizer(texts, truncation=True, padding=True, return_tensors="pt")
    assert set(inputs) == {"input_ids", "token_type_ids", "attention_mask"}
    for name, tensor in inputs.items():
        assert tensor.dtype == expected[name].dtype and tensor.tolist() == expected[name].tolist()
    assert truncated == [False] * len(TEXTS) + [True, False, False]


def test_only_texts_over_the_limit_get_the_truncation_note(original_checkpoint):
    """The tiny tokenizer's limit is 64 tokens: [CLS] + 62 words + [SEP] fills it exactly and is not cut."""
    exact, over = " ".join(["hello"] * 62), " ".join(["hello"] * 63)
    scores = DetoxifyJudge(checkpoint=str(original_checkpoint)).score(_items([exact, over, "hello"]))
    assert [s.notes for s in scores] == [[], ["response truncated to 64 tokens"], []]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_reduced_precision_stays_within_its_tolerance_of_fp32(original_checkpoint, dtype):
    texts = [" ".join(random.Random(100 + i).choices(WORDS, k=random.Random(i).randint(3, 40))) for i in range(64)]
    full = DetoxifyJudge(checkpoint=str(original_checkpoint)).score(_items(texts))
    judge = DetoxifyJudge(checkpoint=str(original_checkpoint), dtype=dtype)
    reduced = judge.score(_items(texts))
    assert str(next(judge._detoxify.model.parameters()).dtype) == f"torch.{dtype}"
    differences = [abs(a.score - b.score) for a, b in zip(full, reduced)]
    assert 0 < max(differences) <= TOLERANCE[dtype]
    assert judge.config()["dtype"] == dtype and "dtype" not in DetoxifyJudge(checkpoint="x.ckpt").config()


def test_defaults_by_device_and_a_bad_dtype(original_checkpoint):
    assert DetoxifyJudge(device="cpu")._batch_size == 32 and DetoxifyJudge(device="cuda")._batch_size == 256
    assert DetoxifyJudge(device="cuda", batch_size=8)._batch_size == 8
    assert str(DetoxifyJudge(device="cpu")._precision) == "torch.float32"
    assert str(DetoxifyJudge(device="cuda")._precision) == "torch.float16"
    judge = DetoxifyJudge(checkpoint=str(original_checkpoint))
    judge.score(_items(TEXTS[:1]))
    assert judge._detoxify.model.config._attn_implementation == "sdpa"
    with pytest.raises(UsageError, match="Unknown dtype 'fp8'"):
        DetoxifyJudge(dtype="fp8").config()
