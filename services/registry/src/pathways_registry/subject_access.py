"""Subject access (UK GDPR article 15): everything the platform holds on one person in one
programme, for the partner that enrolled them, the programme's commissioner (the data
controller) or the platform's operator acting for it (`pathways participant export`).

It is read from the stream, not from any read model, so it holds every event that names the
person in every service, as stored: their enrolment, consents, referrals, attendance and
absences, showcases they featured in, outcomes and questionnaires. With it come their
personal details, opened where the asker may open them (a partner its own record, the
commissioner those the person shares with it, the operator none), and the log of who read
their records. Each export is itself recorded as an access, before it is sent.

Left out, and said so in the export: safeguarding concerns (they name no one outside their
ciphertext, and are released, if at all, by the safeguarding leads: the law lets a controller
withhold what would put someone at risk, DPA 2018 schedule 3) and any other person's records.

A partner's export holds its own records of the person (its own subjects, its own reads), as
its roster does. The commissioner's holds those of every partner whose enrolment of the person
shares with it (consent by purpose, as every commissioner's read of people's records), and
none if no enrolment does. The operator's holds every partner's, without personal details:
it is how the platform answers a request the controller has received and logged."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pathways.core.eventstore.base import StoredEvent
from pathways.core.ids import OPERATOR_ORGANISATION
from pathways.core.subjects import EVENTS_ROOT
from pathways.policy.access import Caller, caller
from pathways.policy.accountability import record_reads
from pathways.policy.agreements import today as agreements_today
from pathways.policy.http import db_session
from sqlalchemy import select
from sqlmodel import Session

from pathways_registry.identity import AGREEMENTS, opened, visible_rows
from pathways_registry.readmodel import ENROLMENT, RosterProgramme

EXPORT_ROLES = ("partner", "commissioner", "operator")
# Where an event's data names participants: the registry's and evaluation's `participant_id`,
# sessions' attendees, absences and featured participants, the audit trail's reads. These are
# the other contexts' published language, read here as plain JSON (test_subject_access keeps
# the list honest against every service's events).
NAMING_FIELDS = ("participant_id", "participant_ids", "attendees", "featured_participants")
READS_TYPE = "pathways.audit.ParticipantRecordsRead"
LEFT_OUT = ("Safeguarding concerns are not part of this export: they are released, if at all, by the programme's "
            "safeguarding leads. Other people's records are not part of it either.")
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def names(data: Any, participant_id: str) -> bool:
    """Whether the event's data names the person in one of the fields that name people."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in NAMING_FIELDS and (value == participant_id or (isinstance(value, list) and participant_id in value)):
                return True
            if isinstance(value, dict | list) and names(value, participant_id):
                return True
    elif isinstance(data, list):
        return any(names(item, participant_id) for item in data)
    return False


def only_them(value: Any, participant_id: str, key: str | None = None) -> Any:
    """The data with every other person taken out: a session's other attendees, their
    absences. What is left names only the person (and no one, where it named no one)."""
    if isinstance(value, dict):
        return {k: only_them(v, participant_id, k) for k, v in value.items()}
    if isinstance(value, list):
        if key in NAMING_FIELDS:
            return [v for v in value if v == participant_id]
        return [only_them(v, participant_id) for v in value
                if not (isinstance(v, dict) and NAMING_FIELDS_SET & v.keys() and not names(v, participant_id))]
    return value


NAMING_FIELDS_SET = frozenset(NAMING_FIELDS)


READS = "reads"  # whose reads of the person's records an export lists: kept as a kind of its own
# The kind of record (pathways.policy.agreements) each context's events about a person are.
KIND_OF_CONTEXT = {"registry": "participants", "sessions": "attendance", "evaluation": "outcomes"}


@dataclass(frozen=True)
class Reach:
    """Whose records an export may hold, by kind: every organisation's (None, the operator),
    or for each kind the organisations allowed: a partner its own, the commissioner those of
    partners whose enrolment of the person shares with it and whose agreements, once the
    programme has any, cover that kind. The same rule as every other read of people's records."""

    allowed: dict[str, frozenset[str]] | None = None

    def holds(self, organisation: str, kind: str) -> bool:
        return self.allowed is None or organisation in self.allowed.get(kind, frozenset())

    def kind_of(self, event_type: str) -> str:
        return KIND_OF_CONTEXT.get(event_type.split(".")[1] if event_type.count(".") >= 2 else "", "participants")


async def about(stored: AsyncIterable[StoredEvent], participant_id: str,
                reach: Reach) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the events naming the person, the records of reads of their records), from a
    programme's stored events in stream order, read as they come (never all held at once).
    An event counts for the organisation whose subject it is on, a read for its reader."""
    quoted = json.dumps(participant_id).encode()
    events, reads = [], []
    async for one in stored:
        if quoted not in one.payload:  # most events: no need to decode them
            continue
        event = json.loads(one.payload)
        if not names(event.get("data"), participant_id):
            continue
        if event.get("type") == READS_TYPE:
            if reach.holds(event["organisation"], READS):
                d = event["data"]
                reads.append({"sequence": one.sequence, "read_at": event["time"], "organisation": event["organisation"],
                              "role": d.get("role"), "service": d.get("service"), "resource": d.get("resource")})
        elif not event.get("type", "").startswith("pathways.audit.") and reach.holds(_owner(one.subject),
                                                                                     reach.kind_of(event.get("type", ""))):
            events.append({"sequence": one.sequence, "stored_at": one.stored_at.isoformat(), "type": event["type"],
                           "recorded_by": event["organisation"], "actor": event["actor"], "time": event["time"],
                           "data": only_them(event["data"], participant_id)})
    return events, reads


def _owner(subject: str) -> str:
    """The organisation whose subject an event is on (pathways.evt.<programme>.<organisation>.…):
    a partner's own records, whoever wrote them there (an erasure under the retention rule, say)."""
    return subject.split(".")[3]


router = APIRouter(tags=["registry"])


def _reach(session: Session, who: Caller, programme_id: str, participant_id: str) -> tuple[Reach, set[str]]:
    """Whose records of the person the caller's export holds, and the partners it names as
    having enrolled them; a 403 or 404 instead if it holds none."""
    if who.role not in EXPORT_ROLES:
        raise HTTPException(403, f"The {who.role} role does not answer subject access requests.")
    programme = session.get(RosterProgramme, programme_id)
    e = ENROLMENT
    enrolments = session.connection().execute(select(e.c.partner_id, e.c.consent_sharing_with_commissioner).where(
        e.c.programme_id == programme_id, e.c.participant_id == participant_id)).all()
    enrolled_with = {r.partner_id for r in enrolments}
    sharing = {r.partner_id for r in enrolments if r.consent_sharing_with_commissioner}
    missing = HTTPException(404, f"No one '{participant_id}' in '{programme_id}' whose records you hold.")
    if programme is None or not enrolled_with:
        raise missing
    kinds = set(KIND_OF_CONTEXT.values())
    if who.role == "partner":
        if who.organisation_id not in enrolled_with:
            raise missing
        return Reach(dict.fromkeys([*kinds, READS], frozenset({who.organisation_id}))), {who.organisation_id}
    if who.role == "commissioner":
        if programme.commissioner_id != who.organisation_id:
            raise missing
        allowed = {}
        for kind in kinds:  # an allow-list: a partner that only declined a referral holds nothing for it
            agreed = AGREEMENTS.partners_sharing(session.connection(), programme_id, who.organisation_id, kind,
                                                 agreements_today())
            allowed[kind] = frozenset((sharing if agreed is None else sharing & agreed) | {who.organisation_id})
        if allowed["participants"] == {who.organisation_id}:  # no partner's record of the person is its to read
            raise missing
        # Reads by the partners it may read, itself, and the platform's operator (who answers for it).
        allowed[READS] = allowed["participants"] | {OPERATOR_ORGANISATION}
        return Reach(allowed), set(allowed["participants"]) - {who.organisation_id}
    return Reach(), enrolled_with  # the operator, acting on a request it has logged


async def _export(request: Request, programme_id: str, participant_id: str, who: Caller, session: Session) -> dict[str, Any]:
    reach, enrolled_with = _reach(session, who, programme_id, participant_id)
    store = request.app.state.store
    events, reads = await about(store.read_all(1, subjects=[f"{EVENTS_ROOT}.{programme_id}.>"]), participant_id, reach)
    keys = getattr(request.app.state, "person_keys", None)
    details = await opened(keys, programme_id, participant_id, visible_rows(session, who, programme_id, participant_id))
    await record_reads(request, who, programme_id, [participant_id])  # this export is an access too
    return {"participant_id": participant_id, "programme_id": programme_id,
            "produced_at": datetime.now(UTC).isoformat(), "produced_for": {"organisation": who.organisation_id,
                                                                              "role": who.role},
            "enrolled_with": sorted(enrolled_with), "personal_details": details, "events": events, "reads": reads,
            "left_out": LEFT_OUT}


@router.get("/programmes/{programme_id}/participants/{participant_id}/export",
            responses={403: {"description": "A role that does not answer subject access requests"},
                       404: {"description": "No such person whose records the caller holds"}})
async def export(request: Request, programme_id: str, participant_id: str, who: Caller = Depends(caller),
                 session: Session = Depends(db_session)) -> dict[str, Any]:
    """Everything held on the person in the programme, as JSON (subject access): every event
    naming them, their personal details where you may open them, and who read their records.
    The export is recorded as an access."""
    return await _export(request, programme_id, participant_id, who, session)


@router.get("/programmes/{programme_id}/participants/{participant_id}/export.html", response_class=HTMLResponse,
            responses={403: {"description": "A role that does not answer subject access requests"},
                       404: {"description": "No such person whose records the caller holds"}})
async def export_page(request: Request, programme_id: str, participant_id: str, who: Caller = Depends(caller),
                      session: Session = Depends(db_session)) -> HTMLResponse:
    """The same export as a page a person can read (and print)."""
    return HTMLResponse(page(await _export(request, programme_id, participant_id, who, session)))


def page(found: dict[str, Any]) -> str:
    """The export as a page (autoescaped: every value in it came from a sender)."""
    return templates.env.get_template("subject_access.html").render(export=found, describe=describe)


def describe(event: dict[str, Any]) -> str:
    """One line on an event, in words: its type, and its data without what names no one."""
    kind = event["type"].rsplit(".", 1)[-1]
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in kind).strip().capitalize()
    shown = {k: v for k, v in event["data"].items() if k not in ("programme_id", "sealed_personal", "personal")}
    return f"{words}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in shown.items())
