"""The vocabulary tokens that WildGuard's parser reads as "yes", and as "no".

The wildguard package compares each answer, stripped and lower-cased, with "yes" and "no"
(``parse_model_generation_to_output``). So P(yes) at an answer is the total probability of
every token whose text, spaces aside, is "yes" in any case ("▁yes", "Yes", ...), and likewise
for "no".
"""

from __future__ import annotations

from lam3_core import UsageError


def label_token_ids(tokenizer, word: str) -> list[int]:
    """Ids of every token that decodes, stripped and lower-cased, to ``word``; a usage error if none does."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    ids = [i for i, text in enumerate(texts) if text.strip().lower() == word]
    if not ids:
        raise UsageError(f"wildguard: no token of this tokenizer reads {word!r}, so the classifier's answer "
                         "cannot be read.", "Point wildguard.path at allenai/wildguard.")
    return ids
