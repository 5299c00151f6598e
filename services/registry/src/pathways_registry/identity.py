"""Who a participant is: their sealed personal details, opened only for the partner they
are enrolled with and the programme's commissioner, each opening recorded for audit.
Evaluators, auditors and the operator work with pseudonymous ids and never see identities.
After erasure the person's key is gone and the read model drops the ciphertext too."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pathways.access import Caller, caller
from pathways.accountability import record_reads
from pathways.envelope import CloudEvent
from pathways.personal import DetailsErased, PersonKeys, SealedDetails, unseal
from pathways.projection import Projection, Tables, update, upsert
from pathways.schemas import EventData
from pathways.service import SessionDependency
from sqlalchemy import Boolean, Column, Connection, MetaData, String, Table, Text, select
from sqlmodel import Session

from pathways_registry.domain import events as e
from pathways_registry.readmodel import RosterProgramme

IDENTITY_ROLES = ("partner", "commissioner")
meta = MetaData()
IDENTITIES = Table(
    "registry_identity", meta,
    Column("programme_id", String(64), primary_key=True), Column("partner_id", String(64), primary_key=True),
    Column("participant_id", String(64), primary_key=True),
    Column("sealed", Text),  # SealedDetails JSON; null once erased
    Column("erased", Boolean, nullable=False, default=False),
)


def _enrolled(conn: Connection, t: Tables, _: CloudEvent, d: EventData, __: int) -> None:
    assert isinstance(d, e.ParticipantEnrolled)
    if d.personal is not None:
        upsert(conn, t[IDENTITIES.name], {"programme_id": d.programme_id, "partner_id": d.partner_id,
                                          "participant_id": d.participant_id, "sealed": d.personal.model_dump_json(),
                                          "erased": False}, ["programme_id", "partner_id", "participant_id"])


def _erased(conn: Connection, t: Tables, _: CloudEvent, d: EventData, __: int) -> None:
    assert isinstance(d, e.ParticipantDataErased)
    # The key is for the person in the programme: every partner's copy goes with it.
    table = t[IDENTITIES.name]
    for row in conn.execute(select(table.c.partner_id).where(table.c.programme_id == d.programme_id,
                                                             table.c.participant_id == d.participant_id)).all():
        update(conn, table, {"programme_id": d.programme_id, "partner_id": row.partner_id, "participant_id": d.participant_id},
               sealed=None, erased=True)


IDENTITY = Projection(
    name="registry_identity",
    tables=[IDENTITIES],
    handlers={"pathways.registry.ParticipantEnrolled": _enrolled, "pathways.registry.ParticipantDataErased": _erased},
    schemas=e.schemas,
)


def router(sessions: SessionDependency) -> APIRouter:
    api = APIRouter(tags=["registry"])

    @api.get("/programmes/{programme_id}/participants/{participant_id}/identity")
    async def identity(request: Request, programme_id: str, participant_id: str, who: Caller = Depends(caller),
                       session: Session = Depends(sessions)) -> dict[str, Any]:
        """A participant's personal details, for the partner they are enrolled with or the
        programme's commissioner; the reading is recorded for audit."""
        if who.role not in IDENTITY_ROLES:
            raise HTTPException(403, f"The {who.role} role works with pseudonymous ids; identities are not shown to it.")
        programme = session.get(RosterProgramme, programme_id)
        query = select(IDENTITIES).where(IDENTITIES.c.programme_id == programme_id,
                                         IDENTITIES.c.participant_id == participant_id)
        if who.role == "partner":
            query = query.where(IDENTITIES.c.partner_id == who.organisation_id)
        rows = session.connection().execute(query).all()
        visible = programme is not None and (who.role == "partner" or programme.commissioner_id == who.organisation_id)
        if not rows or not visible:
            raise HTTPException(404, f"No personal details of '{participant_id}' that you can see.")
        sealed = next((r.sealed for r in rows if r.sealed), None)
        keys: PersonKeys | None = getattr(request.app.state, "person_keys", None)
        if sealed is None or keys is None:
            raise HTTPException(410, f"'{participant_id}''s personal details were erased.")
        try:
            key = await keys.existing(programme_id, participant_id)
        except DetailsErased:
            raise HTTPException(410, f"'{participant_id}''s personal details were erased.") from None
        details = unseal(key, programme_id, participant_id, SealedDetails.model_validate_json(sealed))
        await record_reads(request, who, programme_id, [participant_id])
        return {"participant_id": participant_id, **details.model_dump(mode="json")}

    return api
