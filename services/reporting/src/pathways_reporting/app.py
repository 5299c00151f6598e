"""Wiring: the reporting service as the platform sees it (found through the entry point).
It accepts no commands: it only reads the stream."""

from __future__ import annotations

from pathways.schemas import SchemaRegistry
from pathways.service import ServiceDefinition

from pathways_reporting import api
from pathways_reporting.readmodel import DIRECTORY, FACTS

service = ServiceDefinition(
    name="reporting",
    description="Partner and commissioner figures built from every context's events.",
    schemas=SchemaRegistry(),
    handlers={},
    projections=[DIRECTORY.projection, FACTS],
    api=api.router,
    http_port=8105,
)
