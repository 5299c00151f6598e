"""Wiring: the registry as the platform sees it (found through the entry point)."""

from __future__ import annotations

from pathways.core.projection import merged
from pathways.runtime.accounts import NatsNeeds
from pathways.runtime.service import ServiceDefinition

from pathways_registry import api
from pathways_registry.concerns import CONCERN_RECORDS
from pathways_registry.domain.events import schemas
from pathways_registry.handlers import CONTEXT, HANDLERS
from pathways_registry.identity import AGREEMENT_RECORDS, IDENTITY
from pathways_registry.readmodel import ROSTER
from pathways_registry.retention import RETENTION
from pathways_registry.shredder import KEY_SHREDDER

service = ServiceDefinition(
    name=CONTEXT,
    description="Organisations, programmes, commissioned partners, participants, co-producers and safeguarding.",
    schemas=schemas,
    handlers=HANDLERS,
    # Safeguarding, retention and agreements in one read model: each runner reads every registry event.
    projections=[ROSTER, IDENTITY, merged("registry_governance", CONCERN_RECORDS, RETENTION, AGREEMENT_RECORDS)],
    api=api.router,
    http_port=8101,
    consumers=[KEY_SHREDDER],
    # It seals, opens and erases people's keys, and its key shredder is its own alone.
    nats=NatsNeeds(keeps_person_keys=True, own_consumers=(KEY_SHREDDER.name,)),
)
