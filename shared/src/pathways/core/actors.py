"""Who acted, as one name however it was typed.

An actor is the person or system inside an organisation that sent a command
(`finance@harbourside`). Rules compare actors (no one approves their own claim), so two
spellings of one name must be one actor: `Finance@C`, ` finance@c ` and the full-width or
zero-width-joined forms of it are the same person. An actor is kept as Unicode NFKC,
case-folded, with every invisible character (zero-width spaces and joiners, direction
marks, variation selectors, Hangul fillers) removed and runs of white space made one
space; a name with control characters, or none left, is refused."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_ACTOR = 128


# Characters that show nothing, beyond the format characters (Cf): Unicode's default-ignorable
# code points that are not Cf (the combining grapheme joiner, Hangul fillers, Khmer and
# Mongolian vowel marks and selectors, variation selectors), and the blank Braille pattern.
_INVISIBLE = frozenset([0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0,
                        *range(0x180B, 0x1810), *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])


def _visible(text: str) -> str:
    return "".join(ch for ch in text if ord(ch) not in _INVISIBLE and unicodedata.category(ch) != "Cf")


def canonical_actor(name: str) -> str:
    """The one spelling of `name` that every comparison of actors uses. Invisible characters
    go first, so that what they separated composes (`jose` + ZWJ + U+0301 is `josé`), and the
    result is its own canonical spelling."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", _visible(name)).casefold())
    return " ".join(_visible(folded).split())


def _checked(name: str) -> str:
    if any(unicodedata.category(ch) == "Cc" and not ch.isspace() for ch in name):
        raise ValueError("an actor's name has no control characters")
    canonical = canonical_actor(name)
    if not canonical:
        raise ValueError("an actor is named: who in the organisation sent the command")
    if len(canonical) > MAX_ACTOR:
        raise ValueError(f"an actor's name is at most {MAX_ACTOR} characters")
    return canonical


# As a command envelope takes it: the canonical spelling, or a validation error.
Actor = Annotated[str, Field(min_length=1, max_length=MAX_ACTOR), AfterValidator(_checked)]
