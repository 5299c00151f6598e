"""Wiring: the audit service as the platform sees it (found through the entry point). It
accepts no commands: it keeps the ledger from the stream and signs checkpoints over it."""

from __future__ import annotations

from pathlib import Path

from pathways.policy.accountability import AUDIT_CONTEXT, AUDIT_SCHEMAS
from pathways.runtime.service import ServiceDefinition

from pathways_audit import api
from pathways_audit.ledger import LEDGER
from pathways_audit.records import RECORDS
from pathways_audit.signer import sign_checkpoints


def ready(base: str, home: Path) -> list[str]:
    return [f"Audit ledger    verifier key for auditors in {home / 'audit' / 'ledger.vkey'}  (pathways audit --help)"]


service = ServiceDefinition(
    name=AUDIT_CONTEXT,  # the audit trail's own context: the service keeps its ledger
    description="The tamper-evident ledger: RFC 6962 Merkle tree over every event, signed checkpoints, proofs, "
    "replay as of a date, and who looked at whose records.",
    schemas=AUDIT_SCHEMAS,
    handlers={},
    projections=[LEDGER, RECORDS],
    api=api.router,
    http_port=8106,
    background=[sign_checkpoints],
    ready=ready,
)
