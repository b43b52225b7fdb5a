"""Tiny tokenizers for offline tests of Hugging Face based plugins (no downloads).

Plugin test suites build tiny random models with the real transformers classes on top of
these (config -> save_pretrained -> from_pretrained(local_files_only=True)). Importing
this module imports ``tokenizers`` and ``transformers``: use it from tests only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

DEFAULT_CORPUS = (
    "USER: what is in the image ? ASSISTANT: a cat on a red mat .",
    "Tell me how to bake bread at home, step by step.",
    "I'm sorry, but I cannot help with that request.",
    "Sure, here is a short answer with numbers 0 1 2 3 4 5 6 7 8 9.",
    "The user asked for something unsafe; the agent response is safe.",
    "Describe the picture: a dog, a tree, the sky, some water and a boat.",
    "unsafe\nS1,S10\nsafe\nUser: Agent: [INST] [/INST]",
)


def build_bpe_tokenizer(
    corpus: Iterable[str] = DEFAULT_CORPUS,
    specials: Sequence[str] = (),
    vocab_size: int = 400,
    chat_template: str | None = None,
    add_bos: bool = True,
):
    """A byte-level BPE ``PreTrainedTokenizerFast`` that can encode any text.

    Always has ``<s>``, ``</s>``, ``<unk>``, ``<pad>`` and ``<image>``; ``specials`` are
    added as extra special tokens that never split. Pads on the left (set in the
    constructor, so it survives save/reload).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    base = ["<s>", "</s>", "<unk>", "<pad>", "<image>"]
    extra = [s for s in specials if s not in base]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=base + extra,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(list(corpus), trainer)
    if add_bos:
        bos = tok.token_to_id("<s>")
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_special_tokens=["<image>", *extra],
        chat_template=chat_template,
        padding_side="left",
    )
