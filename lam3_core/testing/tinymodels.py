"""Tiny tokenizers for offline tests of Hugging Face based plugins (no downloads).

Plugin test suites build tiny random models with the real transformers classes on top of
these (config -> save_pretrained -> from_pretrained(local_files_only=True)). Importing
this module imports ``tokenizers`` and ``transformers``: use it from tests only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

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


TOXIC_BERT_LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
MNLI_LABELS = ["CONTRADICTION", "NEUTRAL", "ENTAILMENT"]


def build_tiny_classifier(out_dir: str | Path, labels: Sequence[str] = TOXIC_BERT_LABELS,
                          fixed_logits: Mapping[str, float] | None = None, seed: int = 0) -> Path:
    """Save a tiny ``BertForSequenceClassification`` + tokenizer with ``id2label`` = ``labels``.

    With ``fixed_logits`` the classification head ignores its input and always outputs
    these logits (label -> value), which makes the predicted class known in advance.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    out_dir = Path(out_dir)
    tok = build_bpe_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=512, initializer_range=0.5,
                        pad_token_id=tok.pad_token_id, id2label=dict(enumerate(labels)),
                        label2id={label: i for i, label in enumerate(labels)})
    model = BertForSequenceClassification(config).eval()
    if fixed_logits is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.copy_(torch.tensor([float(fixed_logits.get(label, 0.0)) for label in labels]))
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir
