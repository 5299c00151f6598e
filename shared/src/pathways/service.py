"""What a service contributes to the platform, and how the platform finds it: each
service package registers a `ServiceDefinition` under the `pathways.services` entry-point
group, so the kernel runs and exports every service without importing any by name."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import typer
from fastapi import APIRouter, HTTPException, Request
from nats.aio.client import Client
from sqlalchemy import Engine
from sqlmodel import Session

from pathways.commands import CommandHandler
from pathways.eventstore.base import EventStore
from pathways.intake import CommandIntake
from pathways.projection import Projection
from pathways.schemas import SchemaRegistry

SessionDependency = Callable[[], Iterator[Session]]


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
    handlers: Mapping[str, CommandHandler[Any]]
    projections: Sequence[Projection] = ()  # read models, run by `serve --only projections`
    views: Sequence[Projection] = ()  # what the rules consult; run beside the intake
    api: Callable[[SessionDependency], APIRouter] | None = None
    cli: Mapping[str, typer.Typer] = field(default_factory=dict)  # mounted as `pathways <key>`
    http_port: int = 8100  # preferred; a free one is taken when it is busy
    background: Sequence[BackgroundTask] = ()  # run where the projections run

    @property
    def all_projections(self) -> tuple[Projection, ...]:
        return (*self.views, *self.projections)


def discover() -> dict[str, ServiceDefinition]:
    found: dict[str, ServiceDefinition] = {}
    for ep in sorted(entry_points(group="pathways.services"), key=lambda e: e.name):
        service = ep.load()
        if not isinstance(service, ServiceDefinition):
            raise TypeError(f"entry point {ep.name} is not a ServiceDefinition")
        found[service.name] = service
    return found


def all_schemas(services: Mapping[str, ServiceDefinition]) -> SchemaRegistry:
    merged = SchemaRegistry()
    for service in services.values():
        merged.merge(service.schemas)
    return merged
