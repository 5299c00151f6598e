"""Reading safeguarding concerns: the partner that raised one, and the programme's
safeguarding leads (with a token issued for the safeguarding_lead role), and no one else.

Every other caller is answered as if there were no concern: 403 for a role that never reads
one (the commissioner's everyday token included), 404 for a partner asking for another's.
Each answer is recorded for audit before it is sent, in the reads log under each concern's
opaque reference (`concern:<partner>:<concern>`, `ConcernRef.reference`) in place of a
person's id: the record of a read must not tell an auditor whom a concern is about."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pathways.core.logging import get_logger
from pathways.policy.access import Caller, caller
from pathways.policy.accountability import AuditTrail
from pathways.policy.http import db_session
from pathways.policy.personal import PersonKeys
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Session

from pathways_registry.concerns import CONCERNS, ENTRIES, LEADS, ConcernRef, open_part

READERS = ("partner", "safeguarding_lead")
log = get_logger("pathways.registry.concerns")


class ConcernSummary(BaseModel):
    partner_id: str
    concern_id: str
    raised_on: date
    closed: bool
    # Opened from the sealed record; all None once the concern's key is gone.
    participant_id: str | None
    category: str | None
    severity: str | None


class ConcernEntryOpened(BaseModel):
    part: str  # raised | action | closed
    by_organisation: str
    on: date
    opened: dict[str, Any] | None  # what was sealed, or None once the key is gone


class ConcernOpened(ConcernSummary):
    entries: list[ConcernEntryOpened]


router = APIRouter(tags=["safeguarding"])


def _leads_on(session: Session, programme_id: str, organisation_id: str) -> bool:
    found = session.connection().execute(select(LEADS.c.active).where(
        LEADS.c.programme_id == programme_id, LEADS.c.organisation_id == organisation_id)).first()
    return bool(found and found.active)


def _readable(session: Session, who: Caller, programme_id: str) -> str | None:
    """The only partner whose concerns the caller may read (None: every partner's), or an error."""
    if who.role not in READERS:
        raise HTTPException(403, f"The {who.role} role has no access to safeguarding concerns.")
    if who.role == "partner":
        return who.organisation_id
    if not _leads_on(session, programme_id, who.organisation_id):
        raise HTTPException(404, f"There is no programme '{programme_id}' whose safeguarding you lead.")
    return None


def _keys(request: Request) -> PersonKeys:
    keys: PersonKeys | None = getattr(request.app.state, "person_keys", None)
    if keys is None:
        raise HTTPException(503, "Concerns cannot be opened on this instance.")
    return keys


async def _record(request: Request, who: Caller, programme_id: str, read: list[ConcernRef]) -> None:
    """`record_reads`, by the concerns' references instead of the people they are about."""
    trail: AuditTrail | None = getattr(request.app.state, "audit_trail", None)
    try:
        if trail is None:
            raise RuntimeError("no audit trail")
        await trail.participants_read(who, programme=programme_id, resource=f"{request.method} {request.url.path}",
                                      query={}, participant_ids=[ref.reference for ref in read])
    except Exception as err:
        log.warning("could not record a read of safeguarding concerns", path=request.url.path,
                    error=err.__class__.__name__)
        raise HTTPException(503, "Safeguarding concerns are shown only once their reading is recorded for audit, and "
                            "it could not be just now; try again shortly.") from None


async def _summary(keys: PersonKeys, row: Any, raised_sealed: str) -> ConcernSummary:
    opened = await open_part(keys, ConcernRef(row.programme_id, row.partner_id, row.concern_id), "raised", raised_sealed)
    fields = opened.model_dump(mode="json") if opened is not None else {}
    return ConcernSummary(partner_id=row.partner_id, concern_id=row.concern_id, raised_on=row.raised_on,
                          closed=row.closed, participant_id=fields.get("participant_id"),
                          category=fields.get("category"), severity=fields.get("severity"))


@router.get("/programmes/{programme_id}/concerns", response_model=list[ConcernSummary],
            responses={403: {"description": "A role that never reads concerns"},
                       404: {"description": "Not a programme whose safeguarding the caller leads"}})
async def list_concerns(request: Request, programme_id: str, open_only: bool = False, who: Caller = Depends(caller),
                        session: Session = Depends(db_session)) -> list[ConcernSummary]:
    """The concerns raised in the programme: a partner's own, or every partner's for a
    safeguarding lead. Whom each is about, its category and severity are opened for the
    answer, and the reading is recorded."""
    only_partner = _readable(session, who, programme_id)
    c, x = CONCERNS, ENTRIES
    query = (select(c, x.c.sealed).join(x, (x.c.programme_id == c.c.programme_id) & (x.c.partner_id == c.c.partner_id)
                                      & (x.c.concern_id == c.c.concern_id) & (x.c.part == "raised"))
             .where(c.c.programme_id == programme_id).order_by(c.c.raised_on, c.c.partner_id, c.c.concern_id))
    if only_partner is not None:
        query = query.where(c.c.partner_id == only_partner)
    if open_only:
        query = query.where(c.c.closed.is_(False))
    rows = session.connection().execute(query).all()
    if not rows:
        return []
    keys = _keys(request)
    await _record(request, who, programme_id, [ConcernRef(programme_id, r.partner_id, r.concern_id) for r in rows])
    return [await _summary(keys, row, row.sealed) for row in rows]


@router.get("/programmes/{programme_id}/concerns/{partner_id}/{concern_id}", response_model=ConcernOpened,
            responses={403: {"description": "A role that never reads concerns"},
                       404: {"description": "No such concern that the caller may read"}})
async def one_concern(request: Request, programme_id: str, partner_id: str, concern_id: str,
                      who: Caller = Depends(caller), session: Session = Depends(db_session)) -> ConcernOpened:
    """One concern, everything recorded on it opened: what happened, each action and
    escalation, and the outcome. The reading is recorded."""
    only_partner = _readable(session, who, programme_id)
    missing = HTTPException(404, f"There is no concern '{concern_id}' of '{partner_id}' that you can read.")
    if only_partner not in (None, partner_id):
        raise missing
    key = {"programme_id": programme_id, "partner_id": partner_id, "concern_id": concern_id}
    conn = session.connection()
    row = conn.execute(select(CONCERNS).filter_by(**key)).first()
    if row is None:
        raise missing
    entries = conn.execute(select(ENTRIES).filter_by(**key).order_by(ENTRIES.c.sequence)).all()
    keys = _keys(request)
    ref = ConcernRef(programme_id, partner_id, concern_id)
    await _record(request, who, programme_id, [ref])
    opened = [ConcernEntryOpened(part=entry.part, by_organisation=entry.by_organisation, on=entry.on,
                                 opened=_dumped(await open_part(keys, ref, entry.part, entry.sealed)))
              for entry in entries]
    raised = next((e.opened or {} for e in opened if e.part == "raised"), {})
    return ConcernOpened(partner_id=partner_id, concern_id=concern_id, raised_on=row.raised_on, closed=row.closed,
                         participant_id=raised.get("participant_id"), category=raised.get("category"),
                         severity=raised.get("severity"), entries=opened)


def _dumped(model: BaseModel | None) -> dict[str, Any] | None:
    return model.model_dump(mode="json") if model is not None else None
