"""The sessions HTTP API: the session log of a programme, and register uploads. Signed in
and scoped (pathways.policy.scope): a partner sees its own sessions and uploads registers only as
itself."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from pathways.core.batch_wire import batch_body, replies_of
from pathways.core.intake import CommandIntake
from pathways.jetstream.batch import handle_batch
from pathways.policy.access import Caller, sender
from pathways.policy.http import command_intake, db_session, unprocessable
from pathways.policy.roles import refusals_for
from pathways.policy.scope import Scope, scoped
from sqlmodel import Session

from pathways_sessions import readmodel
from pathways_sessions.readmodel import DIRECTORY, SessionPublic, ShowcaseRecord
from pathways_sessions.register_import import Command, RegisterFormatError, import_register, read_register

router = APIRouter(tags=["sessions"])
scope = scoped(DIRECTORY)

@router.get("/programmes/{programme_id}/sessions", response_model=list[SessionPublic])
def programme_sessions(s: Scope = Depends(scope), session: Session = Depends(db_session)) -> list[SessionPublic]:
    return readmodel.list_sessions(session=session, programme_id=s.programme_id, partner_id=s.partner_id)

@router.get("/programmes/{programme_id}/showcases", response_model=list[ShowcaseRecord])
def showcases(s: Scope = Depends(scope), session: Session = Depends(db_session)) -> list[ShowcaseRecord]:
    held = readmodel.list_showcases(session=session, programme_id=s.programme_id)
    return [h for h in held if s.partner_id in (None, h.partner_id)]

@router.post("/imports/attendance", tags=["imports"])
async def import_attendance(
    programme_id: str = Query(..., alias="programme", description="The programme the sessions belong to"),
    actor: str = Query("register-upload", description="Who is uploading, for the audit trail"),
    register: str = Body(..., media_type="text/csv", description="The register as CSV, one row per person at a session"),
    intake: CommandIntake = Depends(command_intake),
    who: Caller = Depends(sender),
) -> dict[str, Any]:
    """Upload a register: the same import as `pathways import attendance`, with a verdict
    for every row. Uploading the same file again adds nothing. The commands are sent as
    the organisation the token belongs to (`organisation` must name it)."""
    organisation = who.organisation_id
    try:
        planned, refused = read_register(register)
    except RegisterFormatError as err:
        raise unprocessable(str(err), "body") from None

    async def send(commands: list[Command]) -> list[dict[str, Any]]:
        answer = await handle_batch(intake, organisation, batch_body(organisation, actor, commands),
                                    refusal=refusals_for(who.role))
        return replies_of(answer.model_dump(mode="json"), len(commands))

    await import_register(programme_id, planned, send)
    rows = sorted([r for s in planned for r in s.rows] + refused, key=lambda r: r.line)
    return {
        "recorded": sum(r.status == "accepted" for r in rows),
        "rejected": sum(r.status != "accepted" for r in rows),
        "rows": [vars(r) for r in rows],
    }

