"""The evaluation HTTP read API: a programme's outcomes (pseudonymous), feedback,
co-production assessments, "you said, we did" tracker and reports, published with OpenAPI."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from pathways.access import Caller, caller
from pathways.accountability import record_reads_in_worker
from pathways.service import SessionDependency
from sqlmodel import Session

from pathways_evaluation import readmodel
from pathways_evaluation.readmodel import (
    CoProductionAssessment,
    DevelopmentItem,
    Feedback,
    OutcomePublic,
    Report,
)


def router(sessions: SessionDependency) -> APIRouter:
    api = APIRouter(tags=["evaluation"])

    @api.get("/programmes/{programme_id}/outcomes", response_model=list[OutcomePublic])
    def outcomes(
        request: Request,
        programme_id: str,
        partner_id: str | None = Query(None, description="Only this partner's participants"),
        instrument: Literal["WEMWBS", "SWEMWBS"] | None = Query(None),
        session: Session = Depends(sessions),
        who: Caller = Depends(caller),
    ) -> list[OutcomePublic]:
        """Participants' outcome measurements: signed in, and each read is recorded for audit."""
        found = readmodel.list_outcomes(
            session=session, programme_id=programme_id, partner_id=partner_id, instrument=instrument
        )
        record_reads_in_worker(request, who, programme_id, (o.participant_id for o in found), ("partner_id", "instrument"))
        return found

    @api.get("/programmes/{programme_id}/feedback", response_model=list[Feedback])
    def feedback(
        programme_id: str,
        partner_id: str | None = Query(None, description="Only feedback this partner gathered"),
        session: Session = Depends(sessions),
    ) -> list[Feedback]:
        return readmodel.list_feedback(
            session=session, programme_id=programme_id, partner_id=partner_id
        )

    @api.get(
        "/programmes/{programme_id}/co-production", response_model=list[CoProductionAssessment]
    )
    def co_production(
        programme_id: str,
        partner_id: str | None = Query(None, description="Only assessments of this partner"),
        session: Session = Depends(sessions),
    ) -> list[CoProductionAssessment]:
        return readmodel.list_co_production(
            session=session, programme_id=programme_id, partner_id=partner_id
        )

    @api.get("/programmes/{programme_id}/developments", response_model=list[DevelopmentItem])
    def developments(
        programme_id: str,
        status: Literal["red", "amber", "green"] | None = Query(None),
        session: Session = Depends(sessions),
    ) -> list[DevelopmentItem]:
        return readmodel.list_developments(
            session=session, programme_id=programme_id, status=status
        )

    @api.get("/programmes/{programme_id}/reports", response_model=list[Report])
    def reports(programme_id: str, session: Session = Depends(sessions)) -> list[Report]:
        return readmodel.list_reports(session=session, programme_id=programme_id)

    return api
