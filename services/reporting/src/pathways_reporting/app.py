"""Wiring: the reporting service as the platform sees it (found through the entry point).
It accepts no commands: it only reads the stream."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from pathways.core.schemas import SchemaRegistry
from pathways.runtime.service import ServiceDefinition

from pathways_reporting import api, dashboard
from pathways_reporting.readmodel import DIRECTORY, FACTS

# The JSON API (in OpenAPI) and the dashboard pages (not in it).
routes = APIRouter()
routes.include_router(api.router)
routes.include_router(dashboard.router)


def ready(base: str, home: Path) -> list[str]:
    tokens = home / "demo-tokens.json"
    how = f"demo organisations' tokens in {tokens}" if tokens.exists() else "sign in with a token: pathways tokens issue"
    return [f"Dashboard       {base}/  ({how})"]


service = ServiceDefinition(
    name="reporting",
    description="Partner and commissioner figures built from every context's events.",
    schemas=SchemaRegistry(),
    handlers={},
    projections=[DIRECTORY.projection, FACTS],
    api=routes,
    http_port=8105,
    ready=ready,
)
