"""How a bounded context declares its write side: aggregate types (initial state plus an
evolve function), and per command the aggregate it writes, the aggregates it only reads,
and a pure decide function. The intake does all the I/O around them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from pathways.core.actors import Actor
from pathways.core.ids import OPERATOR_ORGANISATION as OPERATOR_ORGANISATION  # defined with the ids; the rules use it from here
from pathways.core.ids import Id
from pathways.core.replies import Rejection
from pathways.core.schemas import CommandData, EventData
from pathways.core.subjects import AggregateRef

if TYPE_CHECKING:  # for the handler's hooks only: a domain's decide imports no database or NATS code
    from sqlalchemy import Connection

# The platform's keeper of personal-data keys (pathways.policy.personal.PersonKeys, a
# policy object): the core hands it to a handler's hooks without looking at it.
KeyKeeper = Any

S = TypeVar("S")

C = TypeVar("C", bound=CommandData)
F = TypeVar("F")


class CommandEnvelope(BaseModel):
    """What a partner system sends on pathways.cmd.<org>.<context>.<CommandName>."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: str = Field(min_length=1, max_length=128)
    organisation: Id
    actor: Actor  # canonical: however it was typed, one person is one actor (pathways.core.actors)
    correlation_id: str | None = Field(default=None, max_length=128)
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who sent the command and when it is being decided: the only facts beyond state
    that a decide function may use, so decisions replay the same way in tests."""

    organisation: str
    actor: str
    command: str
    now: datetime


@dataclass(frozen=True)
class AggregateType(Generic[S]):
    name: str
    initial: S
    evolve: Callable[[S, EventData], S]
    event_types: tuple[type[EventData], ...]

    def owns(self, data: EventData) -> bool:
        return isinstance(data, self.event_types)


@dataclass(frozen=True)
class Load(Generic[S]):
    """An aggregate to fold before deciding.

    `foreign`: the subject is another organisation's, and the sender chose its id (a lead
    acting on a partner's concern, a commissioner erasing a partner's enrolment). Events of
    other kinds of aggregate found there are then skipped, as for a wildcard load, instead of
    refused with "the id is already used by something else": that answer would tell a
    stranger what the other organisation holds under an id it guessed. The rule then sees
    nothing there, and refuses as it refuses an id that does not exist."""

    ref: AggregateRef
    aggregate: AggregateType[S]
    foreign: bool = False


Decision = Sequence[EventData] | Rejection


@dataclass(frozen=True, slots=True)
class NoFacts:
    """What a rule that consults nothing beyond its target is given."""


@dataclass(frozen=True)
class CommandHandler(Generic[C, F]):
    """One command of a context. `target` is the single aggregate the command appends to
    (its optimistic-concurrency scope); `reads` are other aggregates of this context whose
    current state the rules consult; `consults` queries the service's local views (facts
    learnt from other contexts' events) and returns named facts; `decide` is pure:
    (command, context, target state, facts) to events or a rejection.

    `facts` is the frozen dataclass `decide` is given: its fields are the names of the
    reads' states and the consulted facts together, so a rule reads `facts.programme`
    (typed, checked by mypy) rather than a string key that must match a lambda here."""

    model: type[C]
    target: Callable[[C, CommandContext], Load[Any]]
    decide: Callable[[C, CommandContext, Any, F], Decision]
    # mypy takes F from `decide` and checks this class against it; a handler without reads
    # or consultations is given NoFacts (the default cannot be typed as type[F]).
    facts: type[F] = NoFacts  # type: ignore[assignment]
    reads: Callable[[C, CommandContext], Mapping[str, Load[Any]]] | None = None
    consults: Callable[[C, CommandContext, Connection], Mapping[str, Any]] | None = None
    # I/O a command needs beyond the stream, kept out of `decide`: `prepare` turns the
    # command into what may be decided on (personal details sealed, so plain text never
    # reaches an event); `after` runs once its events are stored, and again on a retry, so
    # a step interrupted by a crash is completed (a person's key deleted on erasure).
    prepare: Callable[[C, CommandContext, KeyKeeper], Awaitable[C]] | None = None
    after: Callable[[C, CommandContext, KeyKeeper], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.facts, type) and is_dataclass(self.facts)):
            raise TypeError(f"{self.name}: facts must be a dataclass, not {self.facts!r}")

    @property
    def name(self) -> str:
        return self.model.__name__

    def facts_of(self, found: Mapping[str, Any]) -> F:
        """The reads' states and consulted facts as the rule's dataclass. A name that does
        not match its fields is a mistake in this handler, said as such (not a TypeError
        from deep inside the intake)."""
        wanted = {f.name for f in fields(self.facts)}  # type: ignore[arg-type]
        if wanted != found.keys():
            raise RuntimeError(
                f"{self.name}: its reads and consultations give {sorted(found)}, but "
                f"{self.facts.__name__} has the fields {sorted(wanted)}"
            )
        return self.facts(**found)


def handlers_by_name(*handlers: CommandHandler[Any, Any]) -> dict[str, CommandHandler[Any, Any]]:
    return {h.name: h for h in handlers}
