"""The registry of versioned event and command schemas.

Every event type is a frozen pydantic model registered under (context, name, version);
its JSON Schema is what partners writing in other languages code against. Old versions
stay registered and are upcast on read, never rewritten in the stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from pathways.core.ids import ID_PATTERN


class EventData(BaseModel):
    """Base of every event's `data`: immutable, and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    # "pathways.<context>.<Name>", set when the class is registered (`SchemaRegistry.event`):
    # code that names an event by its class (a projection's handlers) gets the type
    # written on the wire from the one place that writes it.
    event_type: ClassVar[str]


class CommandData(BaseModel):
    """Base of every command's `data`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    # Fields the platform seals on arrival (personal details, a safeguarding concern): a
    # refused command's record hashes the body without them, so a digest kept for ever cannot
    # confirm a guess at what they said.
    withheld_from_records: ClassVar[tuple[str, ...]] = ()
    # The one role whose token sends it over HTTP (a safeguarding lead's work, say); None: an
    # organisation's ordinary tokens (pathways.policy.roles.refusal_to_send says which).
    sent_with_role: ClassVar[str | None] = None


E = TypeVar("E", bound=type[EventData])
C = TypeVar("C", bound=type[CommandData])
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class EventSchema:
    context: str
    name: str
    version: int
    model: type[EventData]

    @property
    def type(self) -> str:
        return f"pathways.{self.context}.{self.name}"

    @property
    def uri(self) -> str:
        return schema_uri("event", self.context, self.name, self.version)


@dataclass(frozen=True)
class CommandSchema:
    context: str
    name: str
    version: int
    model: type[CommandData]

    @property
    def uri(self) -> str:
        return schema_uri("command", self.context, self.name, self.version)


def schema_uri(kind: str, context: str, name: str, version: int) -> str:
    return f"urn:pathways:schema:{kind}:{context}.{name}:v{version}"


@dataclass
class SchemaRegistry:
    events: dict[str, EventSchema] = field(default_factory=dict)  # by type, latest version
    commands: dict[tuple[str, str], CommandSchema] = field(default_factory=dict)
    _upcasters: dict[tuple[str, int], Upcaster] = field(default_factory=dict)

    def event(self, context: str, version: int = 1) -> Callable[[E], E]:
        def register(model: E) -> E:
            schema = EventSchema(context, model.__name__, version, model)
            existing = self.events.get(schema.type)
            if existing is not None and existing.model is not model:
                raise ValueError(f"event type {schema.type} registered twice")
            self.events[schema.type] = schema
            model.event_type = schema.type
            return model

        return register

    def command(self, context: str, version: int = 1) -> Callable[[C], C]:
        def register(model: C) -> C:
            self.commands[(context, model.__name__)] = CommandSchema(
                context, model.__name__, version, model
            )
            return model

        return register

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register how to lift `data` of `event_type` from `from_version` to the next."""

        def register(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return register

    def schema_for(self, event_type: str) -> EventSchema:
        try:
            return self.events[event_type]
        except KeyError:
            raise KeyError(f"unknown event type {event_type!r}") from None

    def decode(self, event_type: str, dataschema: str, data: dict[str, Any]) -> EventData:
        """Validate stored `data`, upcasting it first when it was written by an older
        version of the schema."""
        schema = self.schema_for(event_type)
        version = version_of(dataschema)
        if version > schema.version:
            raise UnknownSchemaVersion(f"{event_type} v{version} is newer than this service reads (v{schema.version}): "
                                       "upgrade it before it reads this stream")
        while version < schema.version:
            upcast = self._upcasters.get((event_type, version))
            if upcast is None:
                raise UnknownSchemaVersion(f"{event_type} v{version} has no upcaster to v{version + 1}")
            data = upcast(data)
            version += 1
        return schema.model.model_validate(data)

    def merge(self, other: SchemaRegistry) -> None:
        self.events.update(other.events)
        self.commands.update(other.commands)
        self._upcasters.update(other._upcasters)


class UnknownSchemaVersion(Exception):
    """An event stored under a version of its schema this code cannot read (written by a
    newer release, or one with no upcaster). Deliberately not a ValueError: a reader must
    stop on it rather than skip it as a message that is no event, or it would decide on a
    history with a fact missing (a consent withdrawal, say)."""


def version_of(dataschema: str) -> int:
    tail = dataschema.rsplit(":", 1)[-1]
    if not tail.startswith("v") or not tail[1:].isdigit():
        raise ValueError(f"dataschema has no version: {dataschema!r}")
    return int(tail[1:])


def command_request_schema(schema: CommandSchema) -> dict[str, Any]:
    """The whole request body a partner sends for a command, as JSON Schema."""
    data_schema = schema.model.model_json_schema()
    defs = data_schema.pop("$defs", {})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema.uri,
        "title": f"{schema.name} command",
        "description": (
            f"Send as a NATS request on pathways.cmd.<your organisation id>.{schema.context}."
            f"{schema.name}. {schema.model.__doc__ or ''}".strip()
        ),
        "type": "object",
        "required": ["idempotency_key", "organisation", "actor", "data"],
        "additionalProperties": False,
        "properties": {
            "idempotency_key": {
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "description": "Unique per command you mean to send once; resend the same key "
                "to retry safely.",
            },
            "organisation": {
                "type": "string",
                "pattern": ID_PATTERN,
                "description": "Your organisation id; must equal the <org> token of the subject.",
            },
            "actor": {"type": "string", "minLength": 1, "maxLength": 128},
            "correlation_id": {"type": "string", "maxLength": 128},
            "data": data_schema,
        },
        "$defs": defs,
    }


def event_envelope_schema(schema: EventSchema) -> dict[str, Any]:
    data_schema = schema.model.model_json_schema()
    defs = data_schema.pop("$defs", {})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema.uri,
        "title": f"{schema.name} event (CloudEvents 1.0, structured JSON)",
        "description": schema.model.__doc__ or "",
        "type": "object",
        "required": ["specversion", "id", "source", "type", "subject", "time", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid"},
            "source": {"const": f"/pathways/{schema.context}"},
            "type": {"const": schema.type},
            "subject": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"const": schema.uri},
            "programme": {"type": "string"},
            "organisation": {"type": "string"},
            "actor": {"type": "string"},
            "correlationid": {"type": "string"},
            "causationid": {"type": "string"},
            "traceparent": {"type": ["string", "null"]},
            "data": data_schema,
        },
        "$defs": defs,
    }


def reply_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A reply's JSON Schema as it is on the wire: a reply is sent whole (`model_dump_json`,
    defaults included), so every field is required, `status` among them, which a sender
    reads first to tell Accepted from Rejected."""
    schema = model.model_json_schema()
    schema["required"] = list(schema["properties"])
    return schema
