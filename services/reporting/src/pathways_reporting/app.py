"""Wiring: the reporting service as the platform sees it (found through the entry point).
It accepts no commands: it only reads the stream."""

from __future__ import annotations

from fastapi import APIRouter
from pathways.schemas import SchemaRegistry
from pathways.service import ServiceDefinition

from pathways_reporting import api, dashboard
from pathways_reporting.readmodel import DIRECTORY, FACTS

# The JSON API (in OpenAPI) and the dashboard pages (not in it).
routes = APIRouter()
routes.include_router(api.router)
routes.include_router(dashboard.router)


service = ServiceDefinition(
    name="reporting",
    description="Partner and commissioner figures built from every context's events.",
    schemas=SchemaRegistry(),
    handlers={},
    projections=[DIRECTORY.projection, FACTS],
    api=routes,
    http_port=8105,
)
