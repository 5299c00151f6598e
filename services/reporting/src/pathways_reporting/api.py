"""The reporting HTTP API: a programme's headline figures, narrowed by date range,
partner and activity, published with OpenAPI."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pathways.service import SessionDependency
from sqlmodel import Session

from pathways_reporting import figures


def router(sessions: SessionDependency) -> APIRouter:
    api = APIRouter(tags=["reporting"])

    @api.get("/programmes/{programme_id}/summary")
    def summary(
        programme_id: str,
        date_from: date | None = Query(None, alias="from", description="First day to count (inclusive)"),
        date_to: date | None = Query(None, alias="to", description="Last day to count (inclusive)"),
        partner_id: str | None = Query(None, alias="partner", description="Only this delivery partner"),
        activity: str | None = Query(None, description="Only sessions of this activity"),
        session: Session = Depends(sessions),
    ) -> dict[str, Any]:
        """Participants, sessions, spend, outcome change, co-production and the tracker."""
        if date_from and date_to and date_from > date_to:
            raise HTTPException(422, "'from' must not be after 'to'.")
        found = figures.programme_summary(
            session.connection(), programme_id, figures.Filters(date_from, date_to, partner_id, activity)
        )
        if found is None:
            raise HTTPException(404, f"There is no programme '{programme_id}'.")
        return found

    return api
