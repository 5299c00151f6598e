"""Wiring: the evaluation service as the platform sees it (found through the entry point)."""

from __future__ import annotations

from pathways.runtime.service import ServiceDefinition

from pathways_evaluation import api
from pathways_evaluation.domain.commands import schemas
from pathways_evaluation.handlers import CONTEXT, HANDLERS
from pathways_evaluation.readmodel import DIRECTORY, EVALUATION_RECORD

service = ServiceDefinition(
    name=CONTEXT,
    description="Outcome measures (WEMWBS, SWEMWBS), feedback, co-production assessments, the "
    "you-said-we-did tracker and evaluation reports.",
    schemas=schemas,
    handlers=HANDLERS,
    projections=[EVALUATION_RECORD],
    views=[DIRECTORY.projection],
    api=api.router,
    http_port=8104,
)
