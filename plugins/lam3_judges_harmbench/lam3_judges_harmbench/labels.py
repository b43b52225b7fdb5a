"""The vocabulary tokens that HarmBench's parser reads as the answer "yes", and as "no".

HarmBench generates one token and compares its text, lower-cased, with "yes" and "no"
(``compute_results_classifier`` in ``eval_utils.py``). So P(yes) is the total probability of
every token whose text, spaces aside, is "yes" in any case ("Yes", "▁Yes", "YES", ...), and
likewise for "no"; a most likely token outside both sets is what HarmBench reports as an
invalid label (-1).
"""

from __future__ import annotations

from lam3_core import UsageError


def label_token_ids(tokenizer, word: str) -> list[int]:
    """Ids of every token that decodes, stripped and lower-cased, to ``word``; a usage error if none does."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    ids = [i for i, text in enumerate(texts) if text.strip().lower() == word]
    if not ids:
        raise UsageError(f"harmbench: no token of this tokenizer reads {word!r}, so the classifier's answer "
                         "cannot be read.", "Point harmbench.path at a HarmBench classifier (Llama-2 or Mistral).")
    return ids
