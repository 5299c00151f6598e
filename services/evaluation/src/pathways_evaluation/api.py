"""The evaluation HTTP read API: a programme's outcomes (pseudonymous), feedback,
co-production assessments, "you said, we did" tracker and reports, published with OpenAPI.
Every route is signed in and scoped (pathways.policy.scope): a partner sees its own rows only, a
commissioner its own programmes; each read of participants' outcomes is recorded for audit."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from pathways.policy.accountability import record_reads_in_worker
from pathways.policy.http import db_session
from pathways.policy.scope import Scope, scoped
from sqlmodel import Session

from pathways_evaluation import readmodel
from pathways_evaluation.readmodel import (
    DIRECTORY,
    CoProductionAssessment,
    DevelopmentItem,
    Feedback,
    OutcomePublic,
    Report,
)

router = APIRouter(prefix="/programmes/{programme_id}", tags=["evaluation"])
scope = scoped(DIRECTORY)

@router.get("/outcomes", response_model=list[OutcomePublic])
def outcomes(
    request: Request,
    instrument: Literal["WEMWBS", "SWEMWBS"] | None = Query(None),
    s: Scope = Depends(scope),
    session: Session = Depends(db_session),
) -> list[OutcomePublic]:
    """Participants' outcome measurements; each read is recorded for audit. An evaluator
    sees only people who consent to evaluation, a commissioner only those who consent to
    sharing with it (pathways.policy.consent), and, once the programme has data-sharing
    agreements, only of partners whose agreement with it covers outcomes; a partner sees its
    own participants'."""
    found = readmodel.list_outcomes(
        session=session, programme_id=s.programme_id, partner_id=s.partner_id, instrument=instrument,
        reader=s.reader("outcomes"),
    )
    record_reads_in_worker(request, s.caller, s.programme_id, (o.participant_id for o in found),
                           ("partner_id", "instrument"))
    return found

@router.get("/feedback", response_model=list[Feedback])
def feedback(s: Scope = Depends(scope), session: Session = Depends(db_session)) -> list[Feedback]:
    return readmodel.list_feedback(session=session, programme_id=s.programme_id, partner_id=s.partner_id)

@router.get("/co-production", response_model=list[CoProductionAssessment])
def co_production(s: Scope = Depends(scope), session: Session = Depends(db_session)) -> list[CoProductionAssessment]:
    return readmodel.list_co_production(session=session, programme_id=s.programme_id, partner_id=s.partner_id)

@router.get("/developments", response_model=list[DevelopmentItem])
def developments(
    status: Literal["red", "amber", "green"] | None = Query(None),
    s: Scope = Depends(scope),
    session: Session = Depends(db_session),
) -> list[DevelopmentItem]:
    items = readmodel.list_developments(session=session, programme_id=s.programme_id, status=status)
    return [d for d in items if s.partner_id in (None, d.proposed_by)]  # a partner: the ones it proposed

@router.get("/reports", response_model=list[Report])
def reports(s: Scope = Depends(scope), session: Session = Depends(db_session)) -> list[Report]:
    return readmodel.list_reports(session=session, programme_id=s.programme_id)

