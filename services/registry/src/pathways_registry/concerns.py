"""Safeguarding concerns as the registry keeps them: sealed before they are decided on for
good (each concern under a key of its own in the people's keys bucket, beside the enrolments'
keys), and a read model that holds only ciphertext and the opaque facts around it (who
raised it, when, who acted, whether it is closed). Only concerns_api.py opens them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pathways.core.commands import CommandContext
from pathways.core.envelope import CloudEvent
from pathways.core.logging import get_logger
from pathways.core.projection import Apply, Projection, Rows, Tables, update, upsert
from pathways.core.replies import RejectionCode, reject
from pathways.core.schemas import EventData
from pathways.policy.personal import DetailsErased, NotAKey, PersonKeys, SealedDetails, open_bytes, seal_bytes
from pydantic import BaseModel
from sqlalchemy import Boolean, Integer, String, Table, Text
from sqlmodel import Field, SQLModel

from pathways_registry.domain import events as e
from pathways_registry.domain import safeguarding as s

log = get_logger("pathways.registry.concerns")


@dataclass(frozen=True)
class ConcernRef:
    """One concern's key: it belongs to the concern, not to the person, so erasing a person's
    details does not take the record of a concern about them with it (a safeguarding record
    is the safeguarding leads' to keep or release)."""

    programme_id: str
    partner_id: str
    concern_id: str

    @property
    def key_name(self) -> str:
        # Four tokens: never an enrolment's key name (three) or the earlier scheme's (two).
        return f"safeguarding.{self.programme_id}.{self.partner_id}.{self.concern_id}"

    @property
    def owner(self) -> str:
        return f"concern {self.concern_id}"

    @property
    def reference(self) -> str:
        """How records of reading it name it: opaque, never a person's id, and one path
        segment (an auditor asks `/audit/participants/<reference>/reads` for it)."""
        return f"concern:{self.partner_id}:{self.concern_id}"

    def associated_data(self, part: str) -> bytes:
        """Binds a sealed part (raised, action, closed) to this concern, so it cannot be
        passed off as another concern's or as another part."""
        return f"pathways/safeguarding/{self.programme_id}/{self.partner_id}/{self.concern_id}/{part}".encode()


def _refuse_sealed_from_sender(cmd: s.RaiseConcern | s.LeadsWork) -> None:
    if cmd.sealed is not None:
        raise reject(RejectionCode.INVALID, "sealed is set by the platform; send the concern's fields as they are.",
                     field="sealed")


def _needs_keys(keys: PersonKeys | None) -> PersonKeys:
    if keys is None:
        raise RuntimeError("a safeguarding concern was sent but this registry has no key store")
    return keys


async def seal_raised(cmd: s.RaiseConcern, ctx: CommandContext, keys: PersonKeys | None) -> s.RaiseConcern:
    """Whom the concern is about and what it says leave here sealed under its own new key."""
    _refuse_sealed_from_sender(cmd)
    ref = ConcernRef(cmd.programme_id, ctx.organisation, cmd.concern_id)
    try:
        key = await _needs_keys(keys).key_for(ref)
    except NotAKey:
        raise reject(RejectionCode.RULE_VIOLATION, f"Concern '{cmd.concern_id}' cannot be recorded under this reference; "
                     "raise it under a new one, and tell the platform's operator.", field="concern_id") from None
    details = s.ConcernDetails(participant_id=cmd.participant_id, category=cmd.category, severity=cmd.severity,
                               what_happened=cmd.what_happened)
    return cmd.model_copy(update={"sealed": seal_bytes(key, ref.associated_data("raised"),
                                                         details.model_dump_json().encode())})


async def _seal_leads_work(cmd: s.LeadsWork, keys: PersonKeys | None, part: str, body: BaseModel) -> SealedDetails:
    _refuse_sealed_from_sender(cmd)
    ref = ConcernRef(cmd.programme_id, cmd.partner_id, cmd.concern_id)
    try:
        key = await _needs_keys(keys).existing(ref)
    except (DetailsErased, NotAKey):
        raise reject(RejectionCode.RULE_VIOLATION, f"Concern '{cmd.concern_id}' can no longer be added to: its key is "
                     "gone.", field="concern_id") from None
    return seal_bytes(key, ref.associated_data(part), body.model_dump_json().encode())


async def seal_action(cmd: s.RecordConcernAction, _: CommandContext, keys: PersonKeys | None) -> s.RecordConcernAction:
    body = s.ConcernAction(action=cmd.action, escalated_to=cmd.escalated_to)
    return cmd.model_copy(update={"sealed": await _seal_leads_work(cmd, keys, "action", body)})


async def seal_closure(cmd: s.CloseConcern, _: CommandContext, keys: PersonKeys | None) -> s.CloseConcern:
    body = s.ConcernOutcome(outcome=cmd.outcome, summary=cmd.summary)
    return cmd.model_copy(update={"sealed": await _seal_leads_work(cmd, keys, "closed", body)})


PART_MODELS: dict[str, type[BaseModel]] = {"raised": s.ConcernDetails, "action": s.ConcernAction,
                                           "closed": s.ConcernOutcome}


async def open_part(keys: PersonKeys, ref: ConcernRef, part: str, sealed_json: str) -> BaseModel | None:
    """One sealed part, opened; None once the concern's key is gone (or if the part does not
    open with it, which the platform never writes: said in the log, never shown)."""
    try:
        key = await keys.existing(ref)
    except (DetailsErased, NotAKey):
        return None
    sealed = SealedDetails.model_validate_json(sealed_json)
    try:
        return PART_MODELS[part].model_validate_json(open_bytes(key, ref.associated_data(part), sealed))
    except ValueError:
        log.error("a part of a concern does not open with its key", concern=ref.reference, part=part)
        return None


class SafeguardingLead(SQLModel, table=True):
    __tablename__ = "registry_safeguarding_lead"
    programme_id: str = Field(primary_key=True, sa_type=String(64))
    organisation_id: str = Field(primary_key=True, sa_type=String(64))
    active: bool = Field(sa_type=Boolean)


class ConcernRow(SQLModel, table=True):
    __tablename__ = "registry_concern"
    programme_id: str = Field(primary_key=True, sa_type=String(64))
    partner_id: str = Field(primary_key=True, sa_type=String(64))
    concern_id: str = Field(primary_key=True, sa_type=String(64))
    raised_on: date
    closed: bool = Field(default=False, sa_type=Boolean)


class ConcernEntry(SQLModel, table=True):
    """Each sealed part of a concern, in the order it was recorded."""

    __tablename__ = "registry_concern_entry"
    programme_id: str = Field(primary_key=True, sa_type=String(64))
    partner_id: str = Field(primary_key=True, sa_type=String(64))
    concern_id: str = Field(primary_key=True, sa_type=String(64))
    sequence: int = Field(primary_key=True, sa_type=Integer)
    part: str = Field(sa_type=String(16))  # raised | action | closed
    by_organisation: str = Field(sa_type=String(64))
    on: date
    sealed: str = Field(sa_type=Text)  # SealedDetails JSON: ciphertext only


LEADS: Table = SafeguardingLead.__table__  # type: ignore[attr-defined]
CONCERNS: Table = ConcernRow.__table__  # type: ignore[attr-defined]
ENTRIES: Table = ConcernEntry.__table__  # type: ignore[attr-defined]
_CONCERN_KEY = ["programme_id", "partner_id", "concern_id"]


def _lead(active: bool) -> Apply:
    def handler(conn: Rows, t: Tables, _: CloudEvent, d: EventData, __: int) -> None:
        assert isinstance(d, e.SafeguardingLeadAppointed | e.SafeguardingLeadStoodDown)
        upsert(conn, t[LEADS.name], {"programme_id": d.programme_id, "organisation_id": d.organisation_id,
                                     "active": active}, ["programme_id", "organisation_id"])
    return handler


def _entry(conn: Rows, t: Tables, key: dict[str, str], sequence: int, part: str, by: str, on: object,
           sealed: SealedDetails) -> None:
    upsert(conn, t[ENTRIES.name], {**key, "sequence": sequence, "part": part, "by_organisation": by, "on": on,
                                   "sealed": sealed.model_dump_json()}, [*_CONCERN_KEY, "sequence"])


def _raised(conn: Rows, t: Tables, _: CloudEvent, d: EventData, sequence: int) -> None:
    assert isinstance(d, e.ConcernRaised)
    key = {"programme_id": d.programme_id, "partner_id": d.partner_id, "concern_id": d.concern_id}
    upsert(conn, t[CONCERNS.name], {**key, "raised_on": d.raised_on, "closed": False}, _CONCERN_KEY)
    _entry(conn, t, key, sequence, "raised", d.partner_id, d.raised_on, d.sealed)


def _acted(conn: Rows, t: Tables, _: CloudEvent, d: EventData, sequence: int) -> None:
    assert isinstance(d, e.ConcernActionRecorded | e.ConcernClosed)
    key = {"programme_id": d.programme_id, "partner_id": d.partner_id, "concern_id": d.concern_id}
    closing = isinstance(d, e.ConcernClosed)
    _entry(conn, t, key, sequence, "closed" if closing else "action", d.lead_id, d.on, d.sealed)
    if closing:
        update(conn, t[CONCERNS.name], key, closed=True)


CONCERN_RECORDS = Projection(
    name="registry_concerns",
    tables=[LEADS, CONCERNS, ENTRIES],
    handlers={e.SafeguardingLeadAppointed: _lead(True), e.SafeguardingLeadStoodDown: _lead(False),
              e.ConcernRaised: _raised, e.ConcernActionRecorded: _acted, e.ConcernClosed: _acted},
    schemas=e.schemas,
)
