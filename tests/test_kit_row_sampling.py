"""kit.row_sampling: draws follow softmax(logits / T) within top-k / top-p, depend only on (key, step), and the
same keys draw the same tokens in any batch."""

from __future__ import annotations

import math

import pytest
import torch

from lam3_core.interfaces.genconfig import GenConfig


@pytest.fixture(scope="module")
def rs():
    """kit.row_sampling, imported when the tests run: it imports transformers, which must not read the Hugging Face
    environment before the suite's fixtures set it."""
    import lam3_core.kit.row_sampling

    return lam3_core.kit.row_sampling


def _draw(processors, logits: torch.Tensor, steps: int) -> torch.Tensor:
    """(rows, steps) tokens drawn as greedy decoding over the processed scores would pick them."""
    ids = torch.zeros((logits.shape[0], 3), dtype=torch.long)
    drawn = []
    for _ in range(steps):
        scores = logits.clone()
        for processor in processors:
            scores = processor(ids, scores)
        token = scores.argmax(-1)
        drawn.append(token)
        ids = torch.cat([ids, token[:, None]], dim=1)
    return torch.stack(drawn, dim=1)


def test_frequencies_follow_the_tempered_softmax(rs):
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, 0.5]])
    gen = GenConfig(do_sample=True, temperature=0.7)
    tokens = _draw(rs.sampling_processors(gen, [rs.row_key(0, "a")]), logits, 6000)
    freq = torch.bincount(tokens.flatten(), minlength=5).double() / tokens.numel()
    expected = torch.softmax(logits[0].double() / 0.7, -1)
    assert torch.allclose(freq, expected, atol=0.02)


def test_top_k_and_top_p_restrict_the_draws_as_transformers_does(rs):
    logits = torch.tensor([[3.0, 2.5, 2.0, 0.0, -1.0]])
    top_k = _draw(rs.sampling_processors(GenConfig(do_sample=True, top_k=2), [1]), logits, 500)
    assert set(top_k.flatten().tolist()) == {0, 1}
    top_p = _draw(rs.sampling_processors(GenConfig(do_sample=True, top_p=0.5), [1]), logits, 500)
    assert set(top_p.flatten().tolist()) == {0, 1}  # softmax: 0.51, 0.31, ... -> the top two cover 0.5
    names = [type(p).__name__ for p in rs.sampling_processors(GenConfig(do_sample=True, temperature=2.0, top_k=3,
                                                                        top_p=0.9), [1])]
    assert names == ["TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper", "SeededRowSampler"]
    assert [type(p).__name__ for p in rs.sampling_processors(GenConfig(do_sample=True), [1])] == ["SeededRowSampler"]


def test_a_rows_draws_do_not_depend_on_its_batch(rs):
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0))
    keys = [rs.row_key(7, f"s{i}", "sample", 0) for i in range(4)]
    together = _draw([rs.SeededRowSampler(keys)], logits, 12)
    alone = torch.cat([_draw([rs.SeededRowSampler([k])], logits[i : i + 1], 12) for i, k in enumerate(keys)])
    reversed_batch = _draw([rs.SeededRowSampler(keys[::-1])], logits.flip(0), 12).flip(0)
    assert torch.equal(together, alone) and torch.equal(together, reversed_batch)
    other_seed = _draw([rs.SeededRowSampler([rs.row_key(8, f"s{i}", "sample", 0) for i in range(4)])], logits, 12)
    assert not torch.equal(together, other_seed)


def test_uniforms_are_open_unit_interval_and_a_pure_function(rs):
    keys = torch.tensor([rs.row_key(0, "x"), rs.row_key(0, "y"), -(2**63)], dtype=torch.int64)
    u = rs.uniforms(keys, 3, 1000)
    assert u.shape == (3, 1000) and u.dtype == torch.float64
    assert 0 < u.min().item() and u.max().item() < 1 and abs(u.mean().item() - 0.5) < 0.02
    assert torch.equal(u, rs.uniforms(keys, 3, 1000)) and not torch.equal(u, rs.uniforms(keys, 4, 1000))
    assert math.isfinite(-math.log(-math.log(u.min().item())))


@pytest.mark.parametrize("parts", [("s1", "sample", 0), ("s1", "sample", 1), ("s2", "sample", 0)])
def test_row_keys_differ_by_sample_and_answer(rs, parts):
    assert rs.row_key(0, *parts) == rs.row_key(0, *parts) != rs.row_key(1, *parts)
    assert -(2**63) <= rs.row_key(0, *parts) < 2**63


def test_greedy_rows_beside_sampled_rows_keep_their_scores(rs):
    logits = torch.randn(4, 30, generator=torch.Generator().manual_seed(1))
    gen = GenConfig(do_sample=True, temperature=0.7, top_k=5, top_p=0.9)
    keys = [rs.row_key(2, "s", "sample", j) for j in range(2)]
    mixed = _draw(rs.sampling_processors(gen, [None, keys[0], None, keys[1]]), logits, 20)
    alone = _draw(rs.sampling_processors(gen, keys), logits[[1, 3]], 20)
    assert torch.equal(mixed[[1, 3]], alone)  # the sampled rows draw what they draw without the greedy rows
    assert torch.equal(mixed[[0, 2]], logits[[0, 2]].argmax(-1, keepdim=True).expand(2, 20))  # greedy: untouched
    assert [type(p).__name__ for p in rs.sampling_processors(gen, [None, 1])] == ["SampledRowsOnly"]
