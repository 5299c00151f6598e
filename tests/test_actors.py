"""An actor is one canonical spelling (pathways.core.actors): the rules that compare actors
(separation of duties) cannot be walked round by typing a name differently."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pathways.core.actors import canonical_actor
from pathways.core.commands import CommandEnvelope
from pydantic import ValidationError


@given(st.text(max_size=60))
def test_the_canonical_spelling_is_its_own_canonical_spelling(name: str) -> None:
    once = canonical_actor(name)
    assert canonical_actor(once) == once
    assert once == once.strip() and "  " not in once


@given(st.from_regex(r"[a-zA-Z][a-zA-Z0-9.@_-]{0,30}", fullmatch=True), st.sampled_from(["\u200b", "\u200d", "\u2060", "\ufeff"]),
       st.integers(min_value=0, max_value=30))
def test_case_width_white_space_and_invisible_characters_do_not_make_another_actor(name: str, invisible: str, at: int) -> None:
    at = min(at, len(name))
    variants = [name.upper(), name.lower(), f"  {name}\t", name[:at] + invisible + name[at:],
                "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)]  # full width forms
    assert {canonical_actor(v) for v in variants} == {canonical_actor(name)}


def envelope(actor: str) -> CommandEnvelope:
    return CommandEnvelope.model_validate({"idempotency_key": "k", "organisation": "org-a", "actor": actor, "data": {}})


def test_invisible_characters_of_every_kind_are_not_part_of_a_name() -> None:
    """(found by a review) the combining grapheme joiner, variation selectors, Hangul fillers
    and the blank Braille pattern show nothing; and what an invisible character separated
    composes, so the canonical spelling is its own."""
    for hidden in ["\u034f", "\ufe0f", "\u3164", "\uffa0", "\u2800", "\u180b", "\U000e0100", "\u200b\u034f"]:
        assert canonical_actor(f"fin{hidden}ance@c") == "finance@c", repr(hidden)
    once = canonical_actor("jose\u200d\u0301@c")
    assert once == canonical_actor(once) == canonical_actor("josé@c")


def test_the_envelope_keeps_the_canonical_spelling_and_refuses_names_that_are_not_one() -> None:
    assert envelope(" Finance@Harbourside ").actor == "finance@harbourside"
    for bad in ["", "   ", "\u200b\u200d", "alex\x00", "alex\x1b[2J", "x" * 129]:
        with pytest.raises(ValidationError):
            envelope(bad)
