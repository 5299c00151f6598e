"""What a service contributes to the platform, and how the platform finds it: each
service package registers a `ServiceDefinition` under the `pathways.services` entry-point
group, so the kernel runs and exports every service without importing any by name."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from pathways.core.commands import CommandHandler
from pathways.core.projection import Projection
from pathways.core.schemas import SchemaRegistry
from pathways.jetstream.durable import BackgroundTask, DurableConsumer
from pathways.runtime.accounts import NatsNeeds


@dataclass(frozen=True)
class ServiceDefinition:
    name: str  # also the bounded context: pathways.cmd.<org>.<name>.<Command>
    description: str
    schemas: SchemaRegistry
    handlers: Mapping[str, CommandHandler[Any, Any]]
    projections: Sequence[Projection] = ()  # read models, run by `serve --only projections`
    views: Sequence[Projection] = ()  # what the rules consult; run beside the intake
    api: APIRouter | None = None  # its read routes; they reach the database through `pathways.policy.http.db_session`
    http_port: int = 8100  # preferred; a free one is taken when it is busy
    background: Sequence[BackgroundTask] = ()  # run where the projections run
    consumers: Sequence[DurableConsumer] = ()  # durable consumers read where the projections run
    # Lines `pathways up` prints once the service runs, given its base URL and the home
    # (where the dashboard is, where the auditors' key lies).
    ready: Callable[[str, Path], Sequence[str]] | None = None
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
