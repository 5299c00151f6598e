"""The registry's HTTP read API (the roster), published with OpenAPI."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from pathways.service import SessionDependency
from sqlmodel import Session

from pathways_registry import readmodel
from pathways_registry.readmodel import ProgrammeRosterPublic, RosterOrganisation, RosterProgramme


def router(sessions: SessionDependency) -> APIRouter:
    api = APIRouter(tags=["registry"])

    @api.get("/programmes", response_model=list[RosterProgramme])
    def programmes(session: Session = Depends(sessions)) -> list[RosterProgramme]:
        return readmodel.list_programmes(session=session)

    @api.get("/programmes/{programme_id}", response_model=ProgrammeRosterPublic)
    def programme(programme_id: str, session: Session = Depends(sessions)) -> ProgrammeRosterPublic:
        roster = readmodel.programme_roster(session=session, programme_id=programme_id)
        if roster is None:
            raise HTTPException(404, f"There is no programme '{programme_id}'.")
        return roster

    @api.get("/organisations", response_model=list[RosterOrganisation])
    def organisations(session: Session = Depends(sessions)) -> list[RosterOrganisation]:
        return readmodel.list_organisations(session=session)

    return api
