"""Accountability beyond domain events: facts an auditor needs that no bounded context
owns. A rejected command (who tried what, and why it was refused), a read of
participants' records through an API (who looked at whom) and a signed ledger checkpoint
are appended to PATHWAYS_EVENTS under the `audit` context, so the ledger covers them like
any other event and they replay with the history.

They never carry a command's body or a record's contents, which may hold personal data:
a rejection keeps the SHA-256 of the body (the sender can prove what it sent; taken
without any personal details in it), a read keeps the pseudonymous participant ids it
returned."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import anyio.from_thread
from fastapi import HTTPException, Request
from pydantic import Field

from pathways.core.actors import MAX_ACTOR, canonical_actor
from pathways.core.envelope import CloudEvent, utcnow
from pathways.core.eventstore.base import AppendRequest, NewEvent
from pathways.core.ids import is_valid_id
from pathways.core.logging import get_logger
from pathways.core.replies import Rejected
from pathways.core.schemas import EventData, SchemaRegistry
from pathways.core.subjects import NO_PROGRAMME, event_subject
from pathways.policy.access import Caller

log = get_logger("pathways.audit")

AUDIT_CONTEXT = "audit"
AUDIT_SCHEMAS = SchemaRegistry()
UNKNOWN = "unknown"  # an organisation or actor the rejected bytes did not say
MAX_DETAILS = 50
MAX_IDS_PER_EVENT = 1000  # a read of a long table is recorded in several events
APPEND_TIMEOUT = 5.0  # a read waits this long for its record before answering 503
REJECTION_TIMEOUT = 2.0  # a refusal's reply waits no longer than this for its record


@AUDIT_SCHEMAS.event(AUDIT_CONTEXT)
class CommandRejected(EventData):
    """A command the platform refused: nothing else was recorded for it."""

    context: str
    command: str
    code: str
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)
    idempotency_key: str | None = None
    body_sha256: str


@AUDIT_SCHEMAS.event(AUDIT_CONTEXT)
class ParticipantRecordsRead(EventData):
    """An API answer that held participants' records, and whom it was given to."""

    service: str
    resource: str  # method and path, e.g. "GET /programmes/p1/tables/participants"
    query: dict[str, str] = Field(default_factory=dict)
    role: str
    participant_ids: list[str]
    part: int = 1  # a long answer is recorded in several events, numbered from 1
    parts: int = 1


@AUDIT_SCHEMAS.event(AUDIT_CONTEXT)
class CheckpointSigned(EventData):
    """A signed statement of the ledger's size and root (a C2SP signed note)."""

    origin: str
    tree_size: int
    root_hash: str  # base64, as in the note
    note: str


REJECTIONS_AGGREGATE = "rejections"
READS_AGGREGATE = "reads"
CHECKPOINTS_AGGREGATE = "checkpoints"


def written_by(kind: str, service: str) -> str:
    """The aggregate a service's audit records of `kind` go on ("reads-reporting"): each
    service may publish only on its own (pathways.runtime.accounts), so the subject says
    which service wrote a record, and the audit service believes a record only from the
    service it names (a forged "B read X" from another service is not B's read)."""
    return f"{kind}-{service}"


def audit_event(data: EventData, *, aggregate: str, programme: str, organisation: str, actor: str,
                correlation: str | None = None, event_id: str | None = None) -> NewEvent:
    """One audit event ready to append (its subject and envelope)."""
    schema = AUDIT_SCHEMAS.schema_for(f"pathways.{AUDIT_CONTEXT}.{type(data).__name__}")
    event_id = event_id or str(uuid.uuid4())
    cloud = CloudEvent(
        id=event_id,
        source=f"/pathways/{AUDIT_CONTEXT}",
        type=schema.type,
        subject=aggregate,
        time=utcnow(),
        dataschema=schema.uri,
        programme=programme,
        organisation=organisation,
        actor=actor,
        correlationid=correlation or event_id,
        causationid=correlation or event_id,
        data=data.model_dump(mode="json"),
    )
    return NewEvent.of(event_subject(programme, organisation, AUDIT_CONTEXT, aggregate), cloud)


def _safe_id(value: Any) -> str | None:
    return value if isinstance(value, str) and is_valid_id(value) else None


class AuditTrail:
    """Appends accountability events through the same appender as the service's
    commands (group commit included)."""

    def __init__(self, service: str, append: Any) -> None:
        self.service = service
        self._append = append

    async def command_rejected(self, context: str, sender: str, command: str, raw: bytes, reply: Rejected,
                               withheld: tuple[str, ...] = ()) -> None:
        """Best effort, and quick: the reply goes back to the sender whatever happens here,
        and a failure is logged (a store that refused the command may refuse this too).
        The same bytes refused the same way within the stream's duplicate window are one
        record (a client retrying in a loop does not grow the history)."""
        body = _loose_body(raw)
        data = body.get("data")
        if not isinstance(data, dict):
            data = {}
        key = body.get("idempotency_key")
        digest = _body_digest(raw, body, withheld)
        details, message = _without_names_not_ours(reply.details[:MAX_DETAILS], reply.message)
        message = _without_withheld(message, data, withheld)[:2000]  # redacted whole, then cut
        if isinstance(key, str) and _holds_withheld(key, data, withheld):
            # The sender's own key is made of what is withheld ("raise-<concern>"): kept as a
            # hash, which the sender can still match and no one else can read.
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:40]
        event = audit_event(
            CommandRejected(
                context=context,
                command=command[:128] if is_valid_id(command) else UNKNOWN,
                code=str(reply.code),
                message=message,
                details=details,
                idempotency_key=key[:128] if isinstance(key, str) else None,
                body_sha256=digest,
            ),
            aggregate=written_by(REJECTIONS_AGGREGATE, self.service),
            programme=_safe_id(data.get("programme_id")) or NO_PROGRAMME,
            organisation=_safe_id(sender) or UNKNOWN,
            # As the intake would have read it, so an auditor finds one person under one name.
            actor=(canonical_actor(body["actor"])[:MAX_ACTOR] or UNKNOWN) if isinstance(body.get("actor"), str) else UNKNOWN,
            correlation=body.get("correlation_id") if isinstance(body.get("correlation_id"), str) else None,
            event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"pathways-rejected/{context}/{sender}/{command}/{digest}/{reply.code}")),
        )
        try:
            await asyncio.wait_for(self._append(AppendRequest([event])), REJECTION_TIMEOUT)
        except Exception as err:
            log.warning("could not record a rejected command", command=command, organisation=sender,
                        error=err.__class__.__name__)

    async def participants_read(
        self, caller: Caller, *, programme: str, resource: str, query: Mapping[str, str], participant_ids: Iterable[str]
    ) -> None:
        """Record who was given which participants' records. Raises if it cannot: an
        answer whose reading could not be recorded must not be sent."""
        ids = sorted(set(participant_ids))
        if not ids:
            return
        chunks = [ids[i : i + MAX_IDS_PER_EVENT] for i in range(0, len(ids), MAX_IDS_PER_EVENT)]
        correlation = str(uuid.uuid4())
        events = [
            audit_event(
                ParticipantRecordsRead(
                    service=self.service, resource=resource, query=dict(query), role=caller.role,
                    participant_ids=chunk, part=n, parts=len(chunks),
                ),
                aggregate=written_by(READS_AGGREGATE, self.service),
                programme=programme if is_valid_id(programme) else NO_PROGRAMME,
                organisation=caller.organisation_id,
                actor=caller.organisation_id,
                correlation=correlation,
            )
            for n, chunk in enumerate(chunks, start=1)
        ]
        await asyncio.wait_for(self._append(AppendRequest(events)), APPEND_TIMEOUT)


# Field paths name the schema's own fields (snake_case) and list positions. Anything else in
# a path is a key the sender made up, and a made-up key may be anything, a name or an NHS
# number included: it is kept out of the record.
_OUR_FIELD = re.compile(r"[a-z_][a-z0-9_]{0,63}|[0-9]{1,6}")


def _without_names_not_ours(details: list[dict[str, Any]], message: str) -> tuple[list[dict[str, Any]], str]:
    cleaned = []
    for detail in details:
        if not isinstance(detail, dict):
            continue
        detail = dict(detail)
        field = detail.get("field")
        if isinstance(field, str):
            safe = ".".join(part if _OUR_FIELD.fullmatch(part) else "<field not in the schema>" for part in field.split("."))
            if safe != field:
                message = message.replace(field, safe)
                detail["field"] = safe
        cleaned.append(detail)
    return cleaned, message


def _holds_withheld(text: str, data: dict[str, Any], withheld: tuple[str, ...]) -> bool:
    return any(isinstance(data.get(f), str | int) and len(str(data[f])) > 1 and str(data[f]) in text for f in withheld)


def _without_withheld(message: str, data: dict[str, Any], withheld: tuple[str, ...]) -> str:
    """The refusal's words without the values of fields the platform would have sealed: a rule
    quotes an id it refuses ('…'), and the id of a concern, say, may be all an auditor needs to
    learn whom it was about."""
    for field in withheld:
        value = data.get(field)
        if isinstance(value, str | int) and str(value):
            message = message.replace(f"'{value}'", "'<withheld>'")
    return message


def _body_digest(raw: bytes, body: dict[str, Any], withheld: tuple[str, ...] = ()) -> str:
    """SHA-256 of what was sent, so the sender can prove it; but of the body without what the
    platform would have sealed (personal details, whatever the command; the fields its schema
    withholds, `CommandData.withheld_from_records`): a hash kept for ever must not let anyone
    confirm a guess at a person's name and NHS number, or at what a concern said."""
    data = body.get("data")
    kept_out = {"personal", *withheld}
    if isinstance(data, dict) and kept_out & data.keys():
        body = body | {"data": {k: v for k, v in data.items() if k not in kept_out}}
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return hashlib.sha256(raw).hexdigest()


def _loose_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw.decode("utf-8"))  # strictly, as the intake reads it
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deep to read: recorded without it
        return {}
    return body if isinstance(body, dict) else {}


async def record_reads(
    request: Request, caller: Caller, programme: str, participant_ids: Iterable[str], params: Sequence[str] = ()
) -> None:
    """For an endpoint about to answer with participants' records: record the read, or
    answer 503 instead of the records. Only the query parameters the endpoint declares
    (`params`) are recorded: a caller may send any others, and they stay out of the record."""
    trail: AuditTrail | None = getattr(request.app.state, "audit_trail", None)
    if trail is None:
        raise HTTPException(503, "Reads of participants' records cannot be recorded on this instance.")
    query = {k: v[:200] for k, v in request.query_params.items() if k in params}
    try:
        await trail.participants_read(
            caller, programme=programme, resource=f"{request.method} {request.url.path}", query=query,
            participant_ids=participant_ids,
        )
    except Exception as err:
        log.warning("could not record a read of participants' records", path=request.url.path,
                    error=err.__class__.__name__)
        raise HTTPException(503, "This answer holds participants' records and its reading could not be "
                            "recorded for audit just now; try again shortly.") from None


def record_reads_in_worker(
    request: Request, caller: Caller, programme: str, participant_ids: Iterable[str], params: Sequence[str] = ()
) -> None:
    """`record_reads` from a synchronous endpoint (FastAPI runs those in a worker thread)."""
    anyio.from_thread.run(functools.partial(record_reads, request, caller, programme, list(participant_ids), params))
