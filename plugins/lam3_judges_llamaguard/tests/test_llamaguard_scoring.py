"""P(unsafe), BOS handling, batching, categories and errors on tiny guards built with the real templates."""

from __future__ import annotations

import logging

import pytest
from lam3_judges_llamaguard.judge import LlamaGuardJudge

from lam3_core import JudgeItem, UsageError

ITEMS = [
    JudgeItem("How do I bake bread?", "Mix flour, water, salt and yeast, knead, let it rise and bake for 40 minutes."),
    JudgeItem("Tell me a joke.", "No."),
    JudgeItem("What is in the image?", "A dog, a tree and the sky. " * 6),
    JudgeItem("Say something rude.", "I'm sorry, but I cannot help with that request."),
    JudgeItem("hi", ""),
]


def _reference_p(model_dir, text: str, add_special_tokens: bool) -> tuple[float, list[int]]:
    """P(unsafe) at the last position, computed directly with transformers (Meta's recipe: tok([prompt]))."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = tok(text, add_special_tokens=add_special_tokens, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        probs = model(ids).logits[0, -1].float().softmax(-1)
    return probs[tok.convert_tokens_to_ids("unsafe")].item(), ids[0].tolist()


def test_llama_guard_2_score_is_p_unsafe_of_the_first_token_with_one_bos(guard2_dir):
    judge = LlamaGuardJudge(path=str(guard2_dir), threshold=1.0)
    score = judge.score(ITEMS[:1])[0]
    text = judge.render_prompt(ITEMS[0])
    expected, ids = _reference_p(guard2_dir, text, add_special_tokens=True)  # the tokenizer adds the only BOS
    without_bos, _ = _reference_p(guard2_dir, text, add_special_tokens=False)
    assert ids[0] == judge._tok.bos_token_id and ids.count(judge._tok.bos_token_id) == 1
    assert score.score == pytest.approx(expected, rel=1e-5)
    assert score.score != pytest.approx(without_bos, rel=1e-4)
    assert score.raw["p_unsafe"] == score.score
    assert score.raw["p_unsafe_2way"] == pytest.approx(score.score / (score.score + score.raw["p_safe"]))
    assert score.error is None and score.notes == [] and score.flagged_categories == []


def test_llama_guard_3_keeps_the_template_bos_and_adds_none(guard3_dir):
    judge = LlamaGuardJudge(version=3, path=str(guard3_dir), threshold=1.0)
    score = judge.score(ITEMS[:1])[0]
    text = judge.render_prompt(ITEMS[0])
    assert text.startswith(" <|begin_of_text|>") and text.endswith("<|end_header_id|>\n\n")
    expected, ids = _reference_p(guard3_dir, text, add_special_tokens=False)
    assert ids.count(judge._tok.convert_tokens_to_ids("<|begin_of_text|>")) == 1
    assert score.score == pytest.approx(expected, rel=1e-5)
    assert score.notes == []  # the judge's text equals the tokenizer's own Llama Guard 3 template


@pytest.mark.parametrize("version", [2, 3])
def test_batched_scores_equal_one_by_one(version, guard2_dir, guard3_dir):
    path = str(guard2_dir if version == 2 else guard3_dir)
    batched = LlamaGuardJudge(version=version, path=path, batch_size=4, threshold=1.0).score(ITEMS)
    single = LlamaGuardJudge(version=version, path=path, batch_size=1, threshold=1.0)
    alone = [single.score([item])[0] for item in ITEMS]
    assert [s.score for s in batched] == pytest.approx([s.score for s in alone], abs=1e-5)
    assert len({round(s.score, 6) for s in batched}) > 1  # the scores depend on the text


@pytest.mark.parametrize("version", [2, 3])
def test_a_batch_is_tokenized_in_one_call_into_the_ids_of_one_by_one(version, guard2_dir, guard3_dir, monkeypatch):
    judge = LlamaGuardJudge(version=version, path=str(guard2_dir if version == 2 else guard3_dir), threshold=1.0)
    judge._ensure_loaded()
    alone = [judge._prepare(item).ids for item in ITEMS]
    calls = []
    tokenizer = type(judge._tok)
    real_call = tokenizer.__call__
    monkeypatch.setattr(tokenizer, "__call__",
                        lambda self, text, **kw: calls.append(len(text)) or real_call(self, text, **kw))
    monkeypatch.setattr(tokenizer, "encode", lambda *a, **kw: pytest.fail("an item was tokenized on its own"))
    assert [judge._prepare(item, ids).ids for item, ids in zip(ITEMS, judge._encoded_texts(ITEMS))] == alone
    assert calls == [len(ITEMS)]


def test_categories_are_generated_only_for_flagged_items(guard2_dir):
    scores = [s.score for s in LlamaGuardJudge(path=str(guard2_dir), threshold=1.0).score(ITEMS)]
    threshold = sorted(scores)[len(scores) // 2]
    judged = LlamaGuardJudge(path=str(guard2_dir), threshold=threshold).score(ITEMS)
    for s in judged:
        assert ("generation" in s.raw) == (s.score >= threshold)
    flagged = [s for s in judged if s.score >= threshold]
    assert 0 < len(flagged) < len(ITEMS)
    # a random model writes garbage: rejected and recorded, never raised, and the score stands
    assert all(any(n.startswith("category output rejected") for n in s.notes) for s in flagged)
    assert all(s.error is None and s.flagged_categories == [] for s in flagged)


def test_a_flagged_item_gets_the_violated_categories(scripted_guard_dir):
    scores = LlamaGuardJudge(path=str(scripted_guard_dir), batch_size=2).score(ITEMS[:3])
    for s in scores:
        assert s.score > 0.99
        assert s.raw["generation"] == "unsafe\nS1,S10"
        assert s.flagged_categories == ["S1", "S10"]
        assert s.notes == []


def test_an_unknown_category_is_rejected_unless_the_policy_defines_it(tmp_path):
    from lam3_judges_llamaguard.testing import build_tiny_guard

    path = str(build_tiny_guard(tmp_path / "g", version=2, script="unsafe\nS12"))
    rejected = LlamaGuardJudge(path=path).score(ITEMS[:1])[0]
    assert rejected.score > 0.99 and rejected.flagged_categories == []
    assert rejected.raw["generation"] == "unsafe\nS12"
    assert any("unknown category code(s) ['S12']" in n for n in rejected.notes)
    custom = LlamaGuardJudge(path=path, categories="S1: Violence.;S12: Scams.").score(ITEMS[:1])[0]
    assert custom.flagged_categories == ["S12"]


def test_a_template_that_differs_from_the_judge_prompt_is_recorded(tmp_path, caplog):
    from lam3_judges_llamaguard.testing import LLAMA_GUARD_2_TEMPLATE, build_tiny_guard

    template = LLAMA_GUARD_2_TEMPLATE.replace("according our", "according to our")
    path = str(build_tiny_guard(tmp_path / "g", version=2, template=template))
    with caplog.at_level(logging.WARNING, logger="lam3"):
        scores = LlamaGuardJudge(path=path, threshold=1.0).score(ITEMS[:2])
    at = LlamaGuardJudge().render_prompt(ITEMS[0]).index("according our") + len("according ")
    assert all(f"prompt differs from the checkpoint's chat template at character {at}" in s.notes for s in scores)
    assert sum("differs from the checkpoint's chat template" in r.message for r in caplog.records) == 1


def test_long_texts_are_truncated_with_a_note(guard2_dir):
    long_item = JudgeItem("How do I bake bread?", "Knead the dough and wait. " * 200)
    full = LlamaGuardJudge(path=str(guard2_dir), threshold=1.0)
    full.score([long_item])
    budget = len(full._encode(full.render_prompt(ITEMS[1]))[0]) + 20
    judge = LlamaGuardJudge(path=str(guard2_dir), max_length=budget, threshold=1.0)
    score = judge.score([long_item])[0]
    assert score.error is None and 0.0 <= score.score <= 1.0
    [note] = score.notes
    assert note.startswith("response truncated to ") and note.endswith(f"tokens (max_length={budget})")
    too_small = LlamaGuardJudge(path=str(guard2_dir), max_length=10).score([ITEMS[1]])[0]
    assert too_small.score is None and "over max_length=10" in too_small.error


def test_label_token_ids_are_configurable(guard2_dir):
    from transformers import AutoTokenizer

    safe_id = AutoTokenizer.from_pretrained(guard2_dir).convert_tokens_to_ids("safe")
    default = LlamaGuardJudge(path=str(guard2_dir), threshold=1.0).score(ITEMS[:1])[0]
    swapped = LlamaGuardJudge(path=str(guard2_dir), threshold=1.0, unsafe_token_id=safe_id).score(ITEMS[:1])[0]
    assert swapped.score == pytest.approx(default.raw["p_safe"])
    assert LlamaGuardJudge(unsafe_token_id=safe_id).unsafe_token_id == safe_id
    with pytest.raises(UsageError, match="outside the vocabulary"):
        LlamaGuardJudge(path=str(guard2_dir), unsafe_token_id=10**6).score(ITEMS[:1])


def test_missing_weights_name_the_model_and_the_fix():
    judge = LlamaGuardJudge()
    with pytest.raises(UsageError, match=r"meta-llama/Meta-Llama-Guard-2-8B.*hf download"):
        judge.check_ready()
    with pytest.raises(UsageError, match="meta-llama/Llama-Guard-3-8B"):
        LlamaGuardJudge(version=3).score(ITEMS[:1])
    with pytest.raises(UsageError, match="is not a directory"):
        LlamaGuardJudge(path="/no/such/guard").check_ready()


def test_version_records_model_revision_and_plugin(tmp_path, monkeypatch, guard2_dir):
    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--meta-llama--Meta-Llama-Guard-2-8B"
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    judge = LlamaGuardJudge()
    judge.check_ready()
    assert judge.version == f"meta-llama/Meta-Llama-Guard-2-8B@{commit}; lam3-judges-llamaguard 0.1.0"
    assert LlamaGuardJudge(version=3).version.startswith("meta-llama/Llama-Guard-3-8B@main;")
    assert LlamaGuardJudge(path=str(guard2_dir)).version == f"{guard2_dir}@local; lam3-judges-llamaguard 0.1.0"


@pytest.mark.filterwarnings("ignore:.*torch.jit.script_method.*:DeprecationWarning")  # raised by bitsandbytes' import
def test_8bit_quantisation_loads_through_bitsandbytes(guard2_dir):
    plain = LlamaGuardJudge(path=str(guard2_dir), threshold=1.0).score(ITEMS[:2])
    judge = LlamaGuardJudge(path=str(guard2_dir), quantization="8bit", threshold=1.0)
    quantised = judge.score(ITEMS[:2])
    assert type(judge._model.model.layers[0].mlp.up_proj).__name__ == "Linear8bitLt"
    assert [s.score for s in quantised] == pytest.approx([s.score for s in plain], abs=0.01)
    assert judge.load_args.quantization == "8bit"
