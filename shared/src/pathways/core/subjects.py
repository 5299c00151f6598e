"""Subject names (DESIGN §2): one place that builds and parses them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pathways.core.ids import is_valid_id

STREAM_NAME = "PATHWAYS_EVENTS"
EVENTS_ROOT = "pathways.evt"
COMMANDS_ROOT = "pathways.cmd"
NO_PROGRAMME = "_"
ANY_ORGANISATION = "*"


@dataclass(frozen=True, slots=True)
class AggregateRef:
    """Where one aggregate's events live: its subject is its identity and its
    optimistic-concurrency scope."""

    context: str
    programme: str
    organisation: str
    aggregate_id: str

    @property
    def subject(self) -> str:
        return event_subject(self.programme, self.organisation, self.context, self.aggregate_id)


def event_subject(programme: str | None, organisation: str, context: str, aggregate_id: str) -> str:
    programme = programme or NO_PROGRAMME
    if organisation == ANY_ORGANISATION:  # read-only loads: "whoever owns it"
        organisation = "X"
        wildcard = True
    else:
        wildcard = False
    for token in (organisation, context, aggregate_id):
        if not is_valid_id(token):
            raise ValueError(f"not a valid id for a subject token: {token!r}")
    if programme != NO_PROGRAMME and not is_valid_id(programme):
        raise ValueError(f"not a valid programme id: {programme!r}")
    if wildcard:
        organisation = ANY_ORGANISATION
    return f"{EVENTS_ROOT}.{programme}.{organisation}.{context}.{aggregate_id}"


def command_subject(organisation: str, context: str, command: str) -> str:
    return f"{COMMANDS_ROOT}.{organisation}.{context}.{command}"


def command_wildcard(context: str) -> str:
    """The subscription a context's intake listens on: every sender, every command."""
    return f"{COMMANDS_ROOT}.*.{context}.*"


def parse_command_subject(subject: str) -> tuple[str, str, str]:
    """(organisation, context, command name) of a command subject."""
    parts = subject.split(".")
    if len(parts) != 5 or ".".join(parts[:2]) != COMMANDS_ROOT:
        raise ValueError(f"not a command subject: {subject!r}")
    return parts[2], parts[3], parts[4]


def matcher(patterns: Sequence[str]) -> Callable[[str], bool]:
    """A test for "matches any of these patterns", built once for a reader that checks every
    message: patterns that differ only in one literal token (a service's contexts, say)
    become one token lookup."""
    split = [p.split(".") for p in patterns]
    shapes = {tuple(t if i != 4 else "" for i, t in enumerate(p)) for p in split}
    if len(shapes) == 1 and all(len(p) == 6 and p[4] not in ("*", ">") for p in split):
        wanted = {p[4] for p in split}
        fixed = [(i, t) for i, t in enumerate(split[0]) if i != 4 and t != "*"]

        def in_contexts(subject: str) -> bool:
            have = subject.split(".")
            return len(have) == 6 and have[4] in wanted and all(have[i] == t for i, t in fixed)

        return in_contexts
    return lambda subject: any(subject_matches(p, subject) for p in patterns)


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, `>` the rest."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)
