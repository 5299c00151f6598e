"""What a service contributes to the platform, and how the platform finds it: each
service package registers a `ServiceDefinition` under the `pathways.services` entry-point
group, so the kernel runs and exports every service without importing any by name."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from nats.aio.client import Client
from nats.aio.msg import Msg
from sqlalchemy import Engine
from sqlmodel import Session

from pathways.commands import CommandHandler
from pathways.eventstore.base import EventStore
from pathways.intake import CommandIntake
from pathways.projection import Projection
from pathways.runtime.accounts import NatsNeeds
from pathways.schemas import SchemaRegistry


@dataclass(frozen=True)
class BackgroundContext:
    """What a service's background task works with (the host's own connections)."""

    nc: Client
    engine: Engine
    store: EventStore
    stop: asyncio.Event


# A long-running task beside the projections, such as the audit ledger's checkpoint
# signer; it returns when `stop` is set.
BackgroundTask = Callable[[BackgroundContext], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class DurableConsumer:
    """A durable consumer of the event stream that a service reads where its projections
    run (runtime/durable.py wires it to faststream's JetStream pull subscriber). Each
    message is acknowledged only once `handle` has returned, so work a crash interrupted is
    done again on restart: `handle` must be idempotent. Instances of the service share the
    consumer (each message goes to one of them)."""

    name: str  # fixed, and in the service's `NatsNeeds.own_consumers`: no other user may touch it
    subject: str  # the stream subjects it reads (a filter)
    handle: Callable[[BackgroundContext, Msg], Coroutine[Any, Any, None]]
    batch: int = 256  # messages per pull request, and unacknowledged at most four times that
    ack_wait: float = 60.0  # seconds before the server delivers an unacknowledged message again
    retry_after: float = 1.0  # seconds before a message whose `handle` failed comes again


def unprocessable(message: str, *where: str) -> HTTPException:
    """A 422 shaped as FastAPI documents every 422 (`HTTPValidationError`: a list of
    problems, each with where, what and a type), so a client reads one shape whichever
    check refused the request."""
    return HTTPException(422, [{"loc": list(where), "msg": message, "type": "value_error"}])


# What a read route of a service can answer besides its result (and FastAPI's own 422).
READ_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No token (Authorization: Bearer, or the dashboard's cookie), or one that is not valid"},
    403: {"description": "The caller's role may not read this, or a partner asked for another partner's rows"},
    404: {"description": "No such programme (or record) that the caller can see"},
}


def db_session(request: Request) -> Iterator[Session]:
    """FastAPI dependency: a session on the read models of the service serving the request
    (the engine its host put on the app: runtime/host.py)."""
    with Session(request.app.state.engine) as session:
        yield session


def command_intake(request: Request) -> CommandIntake:
    """FastAPI dependency: the service's command intake, for endpoints that turn an
    upload into commands."""
    intake: CommandIntake | None = getattr(request.app.state, "intake", None)
    if intake is None:
        raise HTTPException(503, "This instance does not accept commands (it runs projections only).")
    return intake


@dataclass(frozen=True)
class ServiceDefinition:
    name: str  # also the bounded context: pathways.cmd.<org>.<name>.<Command>
    description: str
    schemas: SchemaRegistry
    handlers: Mapping[str, CommandHandler[Any, Any]]
    projections: Sequence[Projection] = ()  # read models, run by `serve --only projections`
    views: Sequence[Projection] = ()  # what the rules consult; run beside the intake
    api: APIRouter | None = None  # its read routes; they reach the database through `db_session`
    http_port: int = 8100  # preferred; a free one is taken when it is busy
    background: Sequence[BackgroundTask] = ()  # run where the projections run
    consumers: Sequence[DurableConsumer] = ()  # durable consumers read where the projections run
    nats: NatsNeeds = field(default_factory=NatsNeeds)  # what its NATS user needs beyond every service's rights

    @property
    def all_projections(self) -> tuple[Projection, ...]:
        return (*self.views, *self.projections)


def _load(ep: EntryPoint) -> ServiceDefinition:
    service = ep.load()
    if not isinstance(service, ServiceDefinition):
        raise TypeError(f"entry point {ep.name} is not a ServiceDefinition")
    return service


def each_service() -> Iterator[ServiceDefinition]:
    """Every service, in the order of their entry points' names, each imported only when it
    is reached: a caller looking for one can stop there (importing a service takes a while)."""
    for ep in sorted(entry_points(group="pathways.services"), key=lambda e: e.name):
        yield _load(ep)


def discover() -> dict[str, ServiceDefinition]:
    return {service.name: service for service in each_service()}


def find_service(name: str) -> ServiceDefinition | None:
    """One service, importing only it when its entry point is named after it (every
    service's is); otherwise it is looked for among them all."""
    for ep in entry_points(group="pathways.services", name=name):
        service = _load(ep)
        if service.name == name:
            return service
    return discover().get(name)


def all_schemas(services: Mapping[str, ServiceDefinition]) -> SchemaRegistry:
    merged = SchemaRegistry()
    for service in services.values():
        merged.merge(service.schemas)
    return merged
