"""CausalScorer: the shared-prefix cache gives the plain path's numbers, and greedy continuation gives generate's."""

from __future__ import annotations

import random

import pytest

from lam3_core import UsageError
from lam3_core.kit.causal_scoring import UNCACHED, CausalScorer, common_prefix, label_token_ids, template_prefix

VOCAB = 96
PAD = 0
PREFIX = [1, *random.Random(0).choices(range(3, VOCAB), k=23)]


def _model(architecture: str):
    import torch
    import transformers

    config = getattr(transformers, f"{architecture}Config")(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=512, pad_token_id=PAD, bos_token_id=1,
        eos_token_id=2, initializer_range=0.3)
    torch.manual_seed(0)
    return getattr(transformers, f"{architecture}ForCausalLM")(config).eval()


@pytest.fixture(scope="module", params=["Llama", "Mistral", "Gemma"])
def model(request):
    return _model(request.param)


def _rows() -> list[list[int]]:
    """Prompts of several lengths after the prefix, one that is the prefix alone, two that do not start with it."""
    rng = random.Random(1)
    rows = [PREFIX + rng.choices(range(3, VOCAB), k=n) for n in (1, 2, 5, 9, 14, 30)]
    return [*rows, list(PREFIX), [1, 5, 6, 7, *rng.choices(range(3, VOCAB), k=12)], PREFIX[:10] + [4] * 20]


def _alone(model, row: list[int]):
    """The reference: one unpadded row, one forward pass, no cache."""
    import torch

    with torch.inference_mode():
        return model(torch.tensor([row])).logits[0, -1].float().log_softmax(-1)


def test_shared_prefix_scores_equal_the_plain_path_and_single_rows(model):
    import torch

    rows = _rows()
    cached = CausalScorer(model, PAD, prefixes=[PREFIX]).next_token(rows)
    plain = CausalScorer(model, PAD).next_token(rows)
    assert cached.prefixed == [True] * 6 + [False] * 3
    assert plain.prefixed == [False] * 9
    assert [cached.notes(i) for i in (0, 6)] == [[], [UNCACHED]] and plain.notes(6) == []  # no prefix on offer
    reference = torch.stack([_alone(model, row) for row in rows])
    assert torch.allclose(cached.logprobs, reference, atol=1e-5)
    assert torch.allclose(plain.logprobs, reference, atol=1e-5)
    assert len({round(float(r.max()), 4) for r in reference}) > 5  # the rows' answers differ


def test_the_longest_matching_prefix_is_used_and_its_cache_is_computed_once(model):
    import torch

    scorer = CausalScorer(model, PAD, prefixes=[PREFIX[:8], PREFIX])
    rows = _rows()
    assert scorer.prefix_of(rows[0]) == tuple(PREFIX) and scorer.prefix_of(rows[8]) == tuple(PREFIX[:8])
    first = scorer.next_token(rows)
    assert first.prefixed == [True] * 7 + [False, True]
    caches = dict(scorer._prefix_caches)
    assert set(caches) == {tuple(PREFIX), tuple(PREFIX[:8])}
    again = scorer.next_token(rows[::-1])
    assert all(scorer._prefix_caches[p] is c for p, c in caches.items())
    reference = torch.stack([_alone(model, row) for row in rows])
    assert torch.allclose(first.logprobs, reference, atol=1e-5)
    assert torch.allclose(again.logprobs.flip(0), reference, atol=1e-5)


@pytest.mark.parametrize("prefixes", [[], [PREFIX]], ids=["plain", "shared-prefix"])
def test_greedy_continuation_equals_generate(model, prefixes):
    import torch

    rows = _rows()
    picked = [0, 3, 5, 7, 8]
    scorer = CausalScorer(model, PAD, prefixes=prefixes)
    first = scorer.next_token(rows, keep_cache=True)
    out = scorer.continue_greedy(first, picked, max_new_tokens=6, end_ids=[2], with_logprobs=True)
    width = max(len(rows[i]) for i in picked)
    ids = torch.tensor([[PAD] * (width - len(rows[i])) + rows[i] for i in picked])
    mask = (torch.arange(width)[None, :] >= torch.tensor([width - len(rows[i]) for i in picked])[:, None]).long()
    with torch.inference_mode():
        expected = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=6,
                                  min_new_tokens=6, pad_token_id=PAD, eos_token_id=None, output_logits=True,
                                  return_dict_in_generate=True)
    assert out.tokens == expected.sequences[:, width:].tolist()
    reference = torch.stack(expected.logits, dim=1).float().log_softmax(-1)
    assert out.logprobs.shape == reference.shape
    assert torch.allclose(out.logprobs, reference, atol=1e-4)


def test_continuation_stops_each_row_at_an_end_token(model):
    rows = _rows()
    scorer = CausalScorer(model, PAD, prefixes=[PREFIX])
    first = scorer.next_token(rows, keep_cache=True)
    ends = {int(first.logprobs[0].argmax())}  # row 0 ends at once
    out = scorer.continue_greedy(first, [0, 1], max_new_tokens=4, end_ids=ends)
    assert out.tokens[0][0] in ends and out.tokens[0][1:] == [PAD] * (len(out.tokens[0]) - 1)
    assert out.logprobs is None
    with pytest.raises(ValueError, match="keep_cache=True"):
        scorer.continue_greedy(scorer.next_token(rows), [0], max_new_tokens=2, end_ids=[2])


def test_template_prefix_stops_before_the_first_token_the_text_can_change():
    from lam3_core.testing.tinymodels import build_bpe_tokenizer

    template = "Check the conversation below against the policy.\n\nUser: {request}\n\nAnswer:"
    tok = build_bpe_tokenizer(corpus=[template.format(request="How do I bake bread?")] * 3, vocab_size=300)
    prefix = template_prefix(tok.encode, lambda text: template.format(request=text))
    head = tok.encode("Check the conversation below against the policy.\n\nUser:")
    assert prefix[: len(head) - 1] == head[:-1]  # the whole instruction, give or take the boundary token
    for request in ("How do I bake bread?", "Tell me a joke", "1, 2, 3", "¿Qué?", "[x]"):
        assert tok.encode(template.format(request=request))[: len(prefix)] == prefix
    assert common_prefix([[1, 2, 3], [1, 2], [1, 2, 4]]) == [1, 2] and common_prefix([]) == []


def test_label_token_ids_are_every_spelling_and_none_is_a_usage_error():
    from lam3_core.testing.tinymodels import build_bpe_tokenizer

    tok = build_bpe_tokenizer(corpus=["Yes yes YES no No"] * 20, vocab_size=300)
    assert {tok.decode([i]).strip().lower() for i in label_token_ids(tok, "yes", "j", "fix")} == {"yes"}
    with pytest.raises(UsageError, match="j: no token of this tokenizer reads 'maybe'") as caught:
        label_token_ids(tok, "maybe", "j", "Point j.path at the classifier.")
    assert caught.value.fix == "Point j.path at the classifier."
