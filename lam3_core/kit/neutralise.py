"""Neutralising text a model wrote before it enters a judge's prompt.

A response under attack may contain chat-template markers (``[/INST]``, ``<|eot_id|>``,
``<end_of_utterance>``, ``<END CONVERSATION>``) or a blank line followed by a fake turn.
If they reached the judge verbatim they could close the judge's turn and inject a
verdict. Markers keep their letters (so auditors can still read them) but lose the exact
bracket characters that make them special tokens or template delimiters, and runs of
blank lines (the turn separator of Llama-Guard-style prompts) collapse to one newline.
"""

from __future__ import annotations

import re

_MARKERS = re.compile(
    r"<\|[^<>|\n]{1,40}\|>"  # <|eot_id|>, <|start_header_id|>, <|im_end|>, ...
    r"|\[/?INST\]|<</?SYS>>"  # Llama-2 style
    r"|</?s>|<unk>|<pad>"  # sentencepiece specials
    r"|<(?:BEGIN|END) [A-Z ]{3,40}>"  # Llama Guard section markers
    r"|<end_of_utterance>|<fake_token_around_image>|<image>|<\|?image\|?>"
    r"|<(?:start|end)_of_turn>",
    re.IGNORECASE,
)
_BRACKETS = str.maketrans({"<": "‹", ">": "›", "[": "(", "]": ")"})
_BLANK_LINES = re.compile(r"\n[ \t\r]*\n[\s]*")


def neutralise(text: str) -> str:
    """``text`` with chat-template markers defused and blank-line runs collapsed."""
    text = _MARKERS.sub(lambda m: m.group(0).translate(_BRACKETS), text)
    return _BLANK_LINES.sub("\n", text)


def defuse_special_tokens(text: str, tokenizer) -> tuple[str, list[str]]:
    """``text`` with every bracketed added token of ``tokenizer`` (``</s>``, ``<eos>``, ``[TOOL_CALLS]``, ...)
    that occurs in it turned into plain text, brackets replaced as ``neutralise`` replaces them; also which
    ones. For a judge whose tokenizer has special tokens that ``neutralise``'s patterns do not know."""
    found = sorted({t for t in tokenizer.get_added_vocab() if t in text and t.translate(_BRACKETS) != t},
                   key=len, reverse=True)
    for token in found:
        text = text.replace(token, token.translate(_BRACKETS))
    return text, found
