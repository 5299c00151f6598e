"""The registry's HTTP read API (the roster), published with OpenAPI. Signed in, and the
kernel's rule of who sees what (pathways.policy.scope): a commissioner its own programmes, a
partner the programmes it is commissioned in with only its own line of the roster,
evaluators, auditors and the operator every programme."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from pathways.policy.access import Caller, caller
from pathways.policy.http import db_session
from pathways.policy.scope import WHOLE_PROGRAMME_ROLES
from sqlmodel import Session, select

from pathways_registry import concerns_api, identity, readmodel, retention, subject_access
from pathways_registry.readmodel import ProgrammeRosterPublic, RosterContract, RosterOrganisation, RosterProgramme


def _may_see(session: Session, who: Caller, programme: RosterProgramme) -> bool:
    if who.role == "commissioner":
        return programme.commissioner_id == who.organisation_id
    if who.role == "partner":
        contracts = select(RosterContract).where(RosterContract.programme_id == programme.programme_id,
                                                 RosterContract.partner_id == who.organisation_id)
        return session.exec(contracts).first() is not None
    return who.role in WHOLE_PROGRAMME_ROLES


router = APIRouter(tags=["registry"])

@router.get("/programmes", response_model=list[RosterProgramme])
def programmes(who: Caller = Depends(caller), session: Session = Depends(db_session)) -> list[RosterProgramme]:
    """The programmes the caller may see."""
    return [p for p in readmodel.list_programmes(session=session) if _may_see(session, who, p)]

@router.get("/programmes/{programme_id}", response_model=ProgrammeRosterPublic)
def programme(
    programme_id: str, who: Caller = Depends(caller), session: Session = Depends(db_session)
) -> ProgrammeRosterPublic:
    found = session.get(RosterProgramme, programme_id)
    if found is None or not _may_see(session, who, found):
        raise HTTPException(404, f"There is no programme '{programme_id}' that you can see.")
    # A partner sees its own line and its own totals: other partners' contracts and
    # participants are theirs, and programme-wide counts would tell them apart.
    roster = readmodel.programme_roster(session=session, programme_id=programme_id,
                                        partner_id=who.organisation_id if who.role == "partner" else None)
    assert roster is not None
    return roster

router.include_router(identity.router)
router.include_router(concerns_api.router)
router.include_router(subject_access.router)
router.include_router(retention.router)

@router.get("/organisations", response_model=list[RosterOrganisation])
def organisations(who: Caller = Depends(caller), session: Session = Depends(db_session)) -> list[RosterOrganisation]:
    """The organisations on the platform (names and numbers are public facts)."""
    return readmodel.list_organisations(session=session)

