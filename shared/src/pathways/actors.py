"""Who acted, as one name however it was typed.

An actor is the person or system inside an organisation that sent a command
(`finance@harbourside`). Rules compare actors (no one approves their own claim), so two
spellings of one name must be one actor: `Finance@C`, ` finance@c ` and the full-width or
zero-width-joined forms of it are the same person. An actor is kept as Unicode NFKC,
case-folded, with format characters (zero-width spaces and joiners, direction marks)
removed and runs of white space made one space; a name with control characters, or none
left, is refused."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_ACTOR = 128


def canonical_actor(name: str) -> str:
    """The one spelling of `name` that every comparison of actors uses."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return " ".join(visible.split())


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
