"""The demo's safeguarding: one concern, raised by a partner and dealt with by the host trust's
safeguarding lead (appointed with the contracts, plan.py)."""

from __future__ import annotations

from datetime import timedelta

from pathways_demo.cast import BY_CODE, HOST_TRUST, coordinator
from pathways_demo.steps import Person, Step, _Builder


def concern_steps(b: _Builder, people: list[Person]) -> list[Step]:
    """One concern, raised by a partner and dealt with by the trust's safeguarding lead: made
    up, and sealed like everything a concern says (only the two of them can read it)."""
    person = next(p for p in people if p.enrolled)
    code, on = next(iter(person.enrolled.items()))
    partner, raised_on = BY_CODE[code], on + timedelta(days=20)
    lane, concern = "safeguarding", f"demo-sg-{code}-1"
    work = {"partner_id": partner.org, "concern_id": concern}
    return [
        b.step(partner.org, "registry", "RaiseConcern", {
            "concern_id": concern, "participant_id": person.pid, "category": "financial_or_material",
            "severity": "medium", "raised_on": raised_on,
            "what_happened": "Said a relative keeps the money for their bus fares; worried about getting to sessions."},
            "concern/raised", coordinator(partner), lane),
        b.step(HOST_TRUST, "registry", "RecordConcernAction", work | {
            "on": raised_on + timedelta(days=1), "escalated_to": "host_trust_safeguarding_team",
            "action": "Named nurse spoke with them; the ward's social worker is arranging their own bank account."},
            "concern/action", "demo-trust-safeguarding-lead", lane),
        b.step(HOST_TRUST, "registry", "CloseConcern", work | {
            "on": raised_on + timedelta(days=14), "outcome": "risk_removed",
            "summary": "Fares now paid from their own account; they come every week."},
            "concern/closed", "demo-trust-safeguarding-lead", lane),
    ]
