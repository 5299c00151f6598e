"""The retention rule as the registry serves it: which enrolments' personal details the rule
would erase today (`GET /programmes/{p}/retention`, the dry run behind `pathways retention`),
for the programme's commissioner and the platform's operator. Only pseudonymous ids are
listed: whom it would erase, never who they are."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pathways.core.envelope import CloudEvent
from pathways.core.projection import Projection, Rows, Tables, upsert
from pathways.core.schemas import EventData
from pathways.policy.access import Caller, caller
from pathways.policy.accountability import record_reads
from pathways.policy.agreements import today as agreements_today
from pathways.policy.http import db_session
from pydantic import BaseModel
from sqlalchemy import Integer, String, Table, select
from sqlmodel import Field, Session, SQLModel

from pathways_registry.domain import events as e
from pathways_registry.domain.retention import due_on
from pathways_registry.identity import AGREEMENTS, IDENTITIES
from pathways_registry.readmodel import ENROLMENT, RosterProgramme

RETENTION_ROLES = ("commissioner", "operator")


class RetentionRule(SQLModel, table=True):
    __tablename__ = "registry_retention_rule"
    programme_id: str = Field(primary_key=True, sa_type=String(64))
    years_after_end: int = Field(sa_type=Integer)


RULES: Table = RetentionRule.__table__  # type: ignore[attr-defined]


def _rule_set(conn: Rows, t: Tables, _: CloudEvent, d: EventData, __: int) -> None:
    assert isinstance(d, e.RetentionRuleSet)
    upsert(conn, t[RULES.name], {"programme_id": d.programme_id, "years_after_end": d.years_after_end}, ["programme_id"])


RETENTION = Projection(name="registry_retention", tables=[RULES], handlers={e.RetentionRuleSet: _rule_set},
                       schemas=e.schemas)


class Erasable(BaseModel):
    partner_id: str
    participant_id: str


class RetentionDue(BaseModel):
    programme_id: str
    ends_on: date
    years_after_end: int | None  # None: no rule set
    erases_from: date | None
    due: bool  # today is on or after `erases_from`
    # Whose details the rule erases once due (every enrolment whose details are not yet erased).
    to_erase: list[Erasable]
    not_shown: int = 0  # erased too, but not the caller's to see by id (they do not share with it)


router = APIRouter(tags=["registry"])


@router.get("/programmes/{programme_id}/retention", response_model=RetentionDue,
            responses={403: {"description": "Not the commissioner or the operator"},
                       404: {"description": "Not a programme the caller commissions"}})
async def retention(request: Request, programme_id: str, who: Caller = Depends(caller),
                    session: Session = Depends(db_session)) -> Any:
    """The programme's retention rule, the day it erases from, and the enrolments whose
    personal details it would erase: a dry run that changes nothing. The commissioner is
    shown by id only the people who share their records with it, of partners whose agreements
    (once the programme has any) share their people with it (the others are counted);
    the operator, who applies the rule, every one. The ids shown are recorded as a read."""
    if who.role not in RETENTION_ROLES:
        raise HTTPException(403, f"The {who.role} role does not apply the retention rule.")
    programme = session.get(RosterProgramme, programme_id)
    if programme is None or (who.role == "commissioner" and programme.commissioner_id != who.organisation_id):
        raise HTTPException(404, f"There is no programme '{programme_id}' that you commission.")
    conn = session.connection()
    rule = conn.execute(select(RULES.c.years_after_end).where(RULES.c.programme_id == programme_id)).scalar()
    erases_from = due_on(programme.ends_on, rule)
    i, e = IDENTITIES, ENROLMENT
    rows = conn.execute(
        select(i.c.partner_id, i.c.participant_id, e.c.consent_sharing_with_commissioner.label("sharing"))
        .join(e, (e.c.programme_id == i.c.programme_id) & (e.c.partner_id == i.c.partner_id)
              & (e.c.participant_id == i.c.participant_id), isouter=True)
        .where(i.c.programme_id == programme_id, i.c.erased.is_(False))
        .order_by(i.c.partner_id, i.c.participant_id)).all()
    agreed = None if who.role == "operator" else AGREEMENTS.partners_sharing(
        conn, programme_id, who.organisation_id, "participants", agreements_today())
    shown = [r for r in rows if who.role == "operator" or (r.sharing and (agreed is None or r.partner_id in agreed))]
    if shown:
        await record_reads(request, who, programme_id, [r.participant_id for r in shown])
    return RetentionDue(programme_id=programme_id, ends_on=programme.ends_on, years_after_end=rule,
                        erases_from=erases_from, due=erases_from is not None and datetime.now(UTC).date() >= erases_from,
                        to_erase=[Erasable(partner_id=r.partner_id, participant_id=r.participant_id) for r in shown],
                        not_shown=len(rows) - len(shown))
