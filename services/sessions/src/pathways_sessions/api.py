"""The sessions HTTP API: the session log of a programme, and register uploads."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from pathways.intake import CommandIntake
from pathways.service import SessionDependency, command_intake
from sqlmodel import Session

from pathways_sessions import readmodel
from pathways_sessions.readmodel import SessionPublic, ShowcaseRecord
from pathways_sessions.register_import import RegisterFormatError, import_register, read_register


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

    @api.post("/imports/attendance", tags=["imports"])
    async def import_attendance(
        programme_id: str = Query(..., alias="programme", description="The programme the sessions belong to"),
        organisation: str = Query(..., description="Your organisation id (the delivery partner)"),
        actor: str = Query("register-upload", description="Who is uploading, for the audit trail"),
        register: str = Body(..., media_type="text/csv", description="The register as CSV, one row per person at a session"),
        intake: CommandIntake = Depends(command_intake),
    ) -> dict[str, Any]:
        """Upload a register: the same import as `pathways import attendance`, with a verdict
        for every row. Uploading the same file again adds nothing."""
        try:
            planned, refused = read_register(register)
        except RegisterFormatError as err:
            raise HTTPException(422, str(err)) from None

        async def send(command: str, data: dict[str, Any], key: str) -> dict[str, Any]:
            body = {"idempotency_key": key, "organisation": organisation, "actor": actor, "data": data}
            reply = await intake.handle(organisation, command, json.dumps(body).encode())
            return reply.model_dump(mode="json")

        await import_register(programme_id, planned, send)
        rows = sorted([r for s in planned for r in s.rows] + refused, key=lambda r: r.line)
        return {
            "recorded": sum(r.status == "accepted" for r in rows),
            "rejected": sum(r.status != "accepted" for r in rows),
            "rows": [vars(r) for r in rows],
        }

    return api
