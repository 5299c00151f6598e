"""Wiring: the sessions service as the platform sees it (found through the entry point)."""

from __future__ import annotations

from pathways.runtime.service import ServiceDefinition

from pathways_sessions import api
from pathways_sessions.domain.events import schemas
from pathways_sessions.handlers import CONTEXT, HANDLERS
from pathways_sessions.readmodel import DIRECTORY, SESSION_LOG

service = ServiceDefinition(
    name=CONTEXT,
    description="Scheduled and delivered sessions, attendance, cancellations and showcases.",
    schemas=schemas,
    handlers=HANDLERS,
    projections=[SESSION_LOG],
    views=[DIRECTORY.projection],
    api=api.router,
    http_port=8102,
)
