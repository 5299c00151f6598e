"""The sessions HTTP read API: the session log of a programme, published with OpenAPI."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pathways.service import SessionDependency
from sqlmodel import Session

from pathways_sessions import readmodel
from pathways_sessions.readmodel import SessionPublic, ShowcaseRecord


def router(sessions: SessionDependency) -> APIRouter:
    api = APIRouter(tags=["sessions"])

    @api.get("/programmes/{programme_id}/sessions", response_model=list[SessionPublic])
    def programme_sessions(
        programme_id: str,
        partner_id: str | None = Query(None, description="Only this partner's sessions"),
        session: Session = Depends(sessions),
    ) -> list[SessionPublic]:
        return readmodel.list_sessions(session=session, programme_id=programme_id, partner_id=partner_id)

    @api.get("/programmes/{programme_id}/showcases", response_model=list[ShowcaseRecord])
    def showcases(programme_id: str, session: Session = Depends(sessions)) -> list[ShowcaseRecord]:
        return readmodel.list_showcases(session=session, programme_id=programme_id)

    return api
