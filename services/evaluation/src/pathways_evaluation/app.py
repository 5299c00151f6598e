"""Wiring: the evaluation service as the platform sees it (found through the entry point)."""

from __future__ import annotations

from fastapi import APIRouter
from pathways.core import surveys
from pathways.runtime.service import ServiceDefinition

from pathways_evaluation import api, survey_api, survey_page
from pathways_evaluation.domain.commands import schemas
from pathways_evaluation.handlers import CONTEXT, HANDLERS
from pathways_evaluation.readmodel import DIRECTORY, EVALUATION_RECORD

# Every survey definition is read now: a broken file stops the service at start, and no
# rule reads a file while it decides (pathways.core.surveys).
surveys.surveys()

# The read API and the survey routes (in OpenAPI), and the page people answer on (not in it).
routes = APIRouter()
for router in (api.router, survey_api.router, survey_page.router):
    routes.include_router(router)

service = ServiceDefinition(
    name=CONTEXT,
    description="Outcome measures (WEMWBS, SWEMWBS), feedback, co-production assessments, the "
    "you-said-we-did tracker and evaluation reports, and surveys people answer from one-time links.",
    schemas=schemas,
    handlers=HANDLERS,
    projections=[EVALUATION_RECORD],
    views=[DIRECTORY.projection],
    api=routes,
    http_port=8104,
)
