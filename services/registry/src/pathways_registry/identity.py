"""Who a participant is: their sealed personal details, opened only for the partner they
are enrolled with and the programme's commissioner, each opening recorded for audit.
Evaluators, auditors and the operator work with pseudonymous ids and never see identities.
After erasure the person's key is gone and the read model drops the ciphertext too."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pathways.core.envelope import CloudEvent
from pathways.core.projection import Projection, Rows, Tables, update, upsert
from pathways.core.schemas import EventData
from pathways.policy.access import Caller, caller
from pathways.policy.accountability import record_reads
from pathways.policy.agreements import SharingAgreements
from pathways.policy.agreements import today as agreements_today
from pathways.policy.http import db_session
from pathways.policy.personal import DetailsErased, EnrolmentRef, NotAKey, PersonKeys, SealedDetails, unseal
from sqlalchemy import MetaData, String, Table, Text, select
from sqlmodel import Field, Session, SQLModel

from pathways_registry.domain import events as e
from pathways_registry.readmodel import ENROLMENT, RosterProgramme

IDENTITY_ROLES = ("partner", "commissioner")


class Identity(SQLModel, table=True):
    __tablename__ = "registry_identity"
    programme_id: str = Field(primary_key=True, sa_type=String(64))
    partner_id: str = Field(primary_key=True, sa_type=String(64))
    participant_id: str = Field(primary_key=True, sa_type=String(64))
    sealed: str | None = Field(default=None, sa_type=Text)  # SealedDetails JSON; null once erased
    erased: bool = False


IDENTITIES: Table = Identity.__table__  # type: ignore[attr-defined]


def _enrolled(conn: Rows, t: Tables, _: CloudEvent, d: EventData, __: int) -> None:
    assert isinstance(d, e.ParticipantEnrolled)
    if d.personal is not None:
        upsert(conn, t[IDENTITIES.name], {"programme_id": d.programme_id, "partner_id": d.partner_id,
                                          "participant_id": d.participant_id, "sealed": d.personal.model_dump_json(),
                                          "erased": False}, ["programme_id", "partner_id", "participant_id"])


def _erased(conn: Rows, t: Tables, _: CloudEvent, d: EventData, __: int) -> None:
    assert isinstance(d, e.ParticipantDataErased)
    # The key is the enrolment's: another partner's record of the same person stays.
    update(conn, t[IDENTITIES.name], {"programme_id": d.programme_id, "partner_id": d.partner_id,
                                      "participant_id": d.participant_id}, sealed=None, erased=True)


IDENTITY = Projection(
    name="registry_identity",
    tables=[IDENTITIES],
    handlers={e.ParticipantEnrolled: _enrolled, e.ParticipantDataErased: _erased},
    schemas=e.schemas,
)
# The programme's data-sharing agreements, read as every other service reads them: whether a
# partner shares its people's identities with the commissioner (pathways.policy.agreements).
AGREEMENTS = SharingAgreements(MetaData(), "registry")
AGREEMENT_RECORDS = Projection(name="registry_agreements", tables=[AGREEMENTS.table], handlers=AGREEMENTS.handlers)


router = APIRouter(tags=["registry"])

def visible_rows(session: Session, who: Caller, programme_id: str, participant_id: str) -> list[Any]:
    """The enrolling partners' records of the person that the caller may open: a partner its
    own, the programme's commissioner those of enrolments whose person shares them with it."""
    if who.role not in IDENTITY_ROLES:
        return []
    programme = session.get(RosterProgramme, programme_id)
    if programme is None or (who.role == "commissioner" and programme.commissioner_id != who.organisation_id):
        return []
    query = select(IDENTITIES).where(IDENTITIES.c.programme_id == programme_id,
                                     IDENTITIES.c.participant_id == participant_id)
    if who.role == "partner":
        query = query.where(IDENTITIES.c.partner_id == who.organisation_id)
    rows = session.connection().execute(query).all()
    if who.role == "commissioner":
        # Only the records of enrolments whose person shares them with it, of partners whose
        # agreements share identities with it.
        e = ENROLMENT
        sharing = {r.partner_id for r in session.connection().execute(select(e.c.partner_id).where(
            e.c.programme_id == programme_id, e.c.participant_id == participant_id,
            e.c.consent_sharing_with_commissioner.is_(True)))}
        agreed = AGREEMENTS.partners_sharing(session.connection(), programme_id, who.organisation_id, "identities",
                                             agreements_today())
        rows = [row for row in rows if row.partner_id in sharing and (agreed is None or row.partner_id in agreed)]
    return list(rows)


async def opened(keys: PersonKeys | None, programme_id: str, participant_id: str, rows: list[Any]) -> list[dict[str, Any]]:
    """Each record, with its `state`: "opened" (its fields beside), "erased" (its key is gone:
    no one can open it again), or "unopened" (this instance holds no key store, or the entry
    under its key name is not a key the platform made: nothing was sealed with that)."""
    records: list[dict[str, Any]] = []
    for row in rows:
        enrolment = EnrolmentRef(programme_id, row.partner_id, participant_id)
        if row.sealed is None:
            records.append({"partner_id": row.partner_id, "state": "erased"})
            continue
        sealed = SealedDetails.model_validate_json(row.sealed)
        try:
            if keys is None:
                raise NotAKey("no key store here")
            key = await keys.existing(enrolment, sealed)
        except DetailsErased:
            records.append({"partner_id": row.partner_id, "state": "erased"})
            continue
        except NotAKey:
            records.append({"partner_id": row.partner_id, "state": "unopened"})
            continue
        details = unseal(key, enrolment, sealed)
        records.append({"partner_id": row.partner_id, "state": "opened", **details.model_dump(mode="json")})
    return records


@router.get("/programmes/{programme_id}/participants/{participant_id}/identity")
async def identity(request: Request, programme_id: str, participant_id: str, who: Caller = Depends(caller),
                   session: Session = Depends(db_session)) -> dict[str, Any]:
    """A participant's personal details, for the partner they are enrolled with or the
    programme's commissioner; the reading is recorded for audit."""
    if who.role not in IDENTITY_ROLES:
        raise HTTPException(403, f"The {who.role} role works with pseudonymous ids; identities are not shown to it.")
    rows = visible_rows(session, who, programme_id, participant_id)
    if not rows:
        raise HTTPException(404, f"No personal details of '{participant_id}' that you can see.")
    records = [{k: v for k, v in r.items() if k != "state"}
               for r in await opened(getattr(request.app.state, "person_keys", None), programme_id, participant_id, rows)
               if r["state"] == "opened"]  # each enrolling partner's record of the person that can still be opened
    if not records:
        raise HTTPException(410, f"'{participant_id}''s personal details were erased.")
    await record_reads(request, who, programme_id, [participant_id])
    # The first record's fields at the top level (one enrolling partner is the usual
    # case); every partner's record under `records` for the commissioner.
    return {"participant_id": participant_id, **records[0], "records": records}
