"""Wiring: the payments service as the platform sees it (found through the entry point)."""

from __future__ import annotations

from pathways.runtime.service import ServiceDefinition

from pathways_payments import api
from pathways_payments.domain.events import schemas
from pathways_payments.handlers import CONTEXT, HANDLERS
from pathways_payments.ledger import LEDGER
from pathways_payments.views import DIRECTORY

service = ServiceDefinition(
    name=CONTEXT,
    description="Co-producer time and expenses, approvals, payment runs and partner invoices.",
    schemas=schemas,
    handlers=HANDLERS,
    # Both are consulted by the rules (the ledger for earnings and what is due), so both
    # run beside the intake; the API reads them too.
    views=[DIRECTORY.projection, LEDGER],
    api=api.router,
    http_port=8103,
)
