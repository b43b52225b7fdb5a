"""The official way POPE answers are read: LLaVA's ``llava/eval/eval_pope.py``, reproduced exactly.

The rule: keep the text before the first '.', drop commas, split on single spaces; the answer is
"no" if one of the words is exactly ``No``, ``not`` or ``no``, and "yes" otherwise. So "Yes" and
"There is a dog" are yes; "No, there is none" and "It is not there" are no; "NO", "Nope" or "no\\n"
(a word glued to a line break) are yes, and so is an empty answer. POPE's own ``evaluate.py`` reads
answers the same way; this rule is behind the published LLaVA-1.5 figures.
"""

from __future__ import annotations

NO_WORDS = ("No", "not", "no")


def parse_answer(text: str) -> str:
    """``"yes"`` or ``"no"``: what LLaVA's eval_pope.py reads ``text`` as."""
    first_sentence = text.split(".")[0]
    words = first_sentence.replace(",", "").split(" ")
    return "no" if any(word in words for word in NO_WORDS) else "yes"
