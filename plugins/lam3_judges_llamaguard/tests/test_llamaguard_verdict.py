"""Parsing the guard's generated verdict: 'unsafe\\nS1,S10' gives codes; anything else is rejected, not guessed."""

from __future__ import annotations

import pytest
from lam3_judges_llamaguard.categories import LLAMA_GUARD_2, LLAMA_GUARD_3, MalformedVerdict, parse_verdict

LG2 = [c.code for c in LLAMA_GUARD_2]
LG3 = [c.code for c in LLAMA_GUARD_3]


@pytest.mark.parametrize(("text", "expected"), [
    ("unsafe\nS1,S10", ("unsafe", ["S1", "S10"])),
    ("safe", ("safe", [])),
    ("\n\nunsafe\nS3", ("unsafe", ["S3"])),          # LG3 emits "\n\n" first
    (" unsafe \n S9 , S2 \n", ("unsafe", ["S9", "S2"])),
    ("unsafe\nS11", ("unsafe", ["S11"])),
])
def test_well_formed_verdicts(text, expected):
    assert parse_verdict(text, LG2) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("unsafe", "exactly one line of categories"),
    ("unsafe\nS1\nS2", "exactly one line of categories"),
    ("unsafe\nS12", "unknown category code"),          # S12 exists only in Llama Guard 3
    ("unsafe\nViolent Crimes", "unknown category code"),
    ("unsafe\nS1,,S2", "unknown category code"),
    ("unsafe\nS1,S1", "repeated category code"),
    ("safe\nS1", "'safe' must be the only line"),
    ("I think this is unsafe", "first line is"),
    ("", "first line is ''"),
])
def test_malformed_verdicts_are_rejected(text, reason):
    with pytest.raises(MalformedVerdict, match=reason):
        parse_verdict(text, LG2)


def test_codes_are_checked_against_the_version_in_use():
    assert parse_verdict("unsafe\nS14", LG3) == ("unsafe", ["S14"])
    with pytest.raises(MalformedVerdict, match="S14"):
        parse_verdict("unsafe\nS14", LG2)


def test_official_lists_keep_one_numbering_per_version():
    assert (LLAMA_GUARD_2[4].code, LLAMA_GUARD_2[4].text) == ("S5", "Specialized Advice.")
    assert (LLAMA_GUARD_3[4].code, LLAMA_GUARD_3[4].text) == ("S5", "Defamation.")
    assert len(LLAMA_GUARD_2) == 11 and len(LLAMA_GUARD_3) == 14
