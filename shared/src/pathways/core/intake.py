"""Command intake: parse → validate → check the sender → load state → decide → append →
reply. Transport-free: the faststream subscriber and the HTTP endpoint both call
`CommandIntake.handle`, so a command behaves the same whichever way it arrives."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import Connection

from pathways.core import metrics, tracing
from pathways.core.aggregates import AggregateCache, Folded
from pathways.core.bodies import json_object
from pathways.core.commands import CommandContext, CommandEnvelope, CommandHandler, KeyKeeper, Load
from pathways.core.envelope import CloudEvent, utcnow
from pathways.core.eventstore.base import (
    AppendRequest,
    AppendResult,
    ConcurrencyConflict,
    DuplicateInBatch,
    EventStore,
    NewEvent,
)
from pathways.core.ids import event_ids_for
from pathways.core.loading import AggregateLoader
from pathways.core.logging import get_logger
from pathways.core.replies import Accepted, Rejected, Rejection, RejectionCode, Reply, reject
from pathways.core.schemas import EventData, SchemaRegistry
from pathways.core.views import LocalViews

log = get_logger("pathways.intake")

Appender = Callable[[AppendRequest], Any]  # an awaitable-returning append (store or group commit)


class RejectionTrail(Protocol):
    """Where refused commands are recorded: the platform's audit trail
    (pathways.policy.accountability.AuditTrail), given to the intake by the runtime."""

    async def command_rejected(self, context: str, sender: str, command: str, raw: bytes, reply: Rejected,
                               withheld: tuple[str, ...] = ()) -> None: ...


TARGET = "\0target"  # the target's place among the loads: no handler names a read so


@dataclass(frozen=True)
class Asked:
    """A command understood: its handler, envelope and validated data, who sent it, the
    aggregate it writes and the ones it reads."""

    handler: CommandHandler[Any, Any]
    envelope: CommandEnvelope
    cmd: Any
    ctx: CommandContext
    target: Load[Any]
    reads: dict[str, Load[Any]]

    @cached_property
    def first_id(self) -> str:
        return event_ids_for(self.ctx.organisation, self.ctx.command, self.envelope.idempotency_key, 1)[0]

    def retry_answer(self, held: Folded) -> Accepted | None:
        """If this command's events are already in the target's history, the same reply as
        the first time."""
        by_id = held.sequence_by_event_id
        if self.first_id not in by_id:
            return None
        metrics.commands_redelivered.add(1, {"pathways.command": self.ctx.command})
        ids: list[str] = []
        while True:
            candidate = event_ids_for(self.ctx.organisation, self.ctx.command, self.envelope.idempotency_key, len(ids) + 1)[-1]
            if candidate not in by_id:
                break
            ids.append(candidate)
        return Accepted(event_ids=ids, sequence=by_id[ids[-1]])


def outcome(reply: Reply) -> str:
    return "accepted" if isinstance(reply, Accepted) else reply.code.value


def unavailable() -> Rejected:
    return not_now().reply()


def not_now() -> Rejection:
    return reject(RejectionCode.UNAVAILABLE, "The platform could not process this command just now. Nothing was "
                  "recorded; send it again with the same idempotency key.")


def conflict(target: Load[Any]) -> Rejection:
    return reject(
        RejectionCode.CONFLICT,
        f"Another command changed {target.aggregate.name} '{target.ref.aggregate_id}' "
        "while this one was being decided. Nothing was recorded; read the current "
        "state and send the command again if it still applies.",
    )


class CommandIntake:
    def __init__(
        self,
        context: str,
        handlers: Mapping[str, CommandHandler[Any, Any]],
        store: EventStore,
        schemas: SchemaRegistry,
        *,
        append: Appender | None = None,
        views: LocalViews | None = None,
        clock: Callable[[], datetime] = utcnow,
        trail: RejectionTrail | None = None,
        person_keys: KeyKeeper = None,
        cache: AggregateCache | None = None,
    ) -> None:
        self.context = context
        self.trail = trail
        self.person_keys = person_keys
        self.handlers = handlers
        self.store = store
        self.schemas = schemas
        self.append: Appender = append or store.append
        self.views = views
        self._clock = clock
        self.loader = AggregateLoader(store, schemas, cache)
        metrics.watch_cache(context, self.loader.cache)

    async def handle(
        self, sender: str, command: str, raw: bytes, traceparent: str | None = None
    ) -> Reply:
        began = time.perf_counter()
        with tracing.span(
            f"command {command}", parent=traceparent, context=self.context, organisation=sender
        ):
            reply = await self.answer(sender, command, raw)
            if isinstance(reply, Rejected):
                await self.refused(sender, command, raw, reply)
            metrics.answered(self.context, command if command in self.handlers else "unknown", outcome(reply),
                             time.perf_counter() - began)
            return reply

    async def answer(self, sender: str, command: str, raw: bytes) -> Reply:
        """The command decided and, if accepted, stored: its reply (not yet recorded for
        the auditors if it is a rejection)."""
        try:
            return await self._handle(sender, command, raw)
        except Rejection as rejection:
            return rejection.reply()
        except Exception:
            log.exception("command failed", command=command, organisation=sender)
            return unavailable()

    async def refused(self, sender: str, command: str, raw: bytes, reply: Rejected) -> None:
        # Never the body: it may hold personal data.
        log.info("command rejected", command=command, organisation=sender, code=reply.code)
        if self.trail is not None:
            # Who tried what and why it was refused, for the auditors; a rejected command
            # records no domain event.
            handler = self.handlers.get(command)
            withheld = handler.model.withheld_from_records if handler is not None else ()
            await self.trail.command_rejected(self.context, sender, command, raw, reply, withheld)

    async def _handle(self, sender: str, command: str, raw: bytes) -> Reply:
        asked = self.understand(sender, command, json_object(raw))
        loads = {TARGET: asked.target, **asked.reads}
        folded, latest = await self.loader.load(loads, stream_position=asked.handler.consults is not None)
        held = folded.pop(TARGET)
        # A retry is answered from the target's history alone: the same answer as the first
        # time, whatever the views say now (or if they cannot say anything just now).
        retried = asked.retry_answer(held)
        if retried is not None:
            await self.after(asked)
            return retried
        # The views are brought up to where the stream stood as this command arrived.
        facts = await self._consult(asked, latest.stream) if asked.handler.consults else {}
        reads = {name: other.state for name, other in folded.items()} | dict(facts)
        decision, events = await self.decide(asked, held.state, reads)
        target = asked.target
        request = AppendRequest(
            [NewEvent.of(target.ref.subject, e) for e in events],
            {target.ref.subject: held.last_sequence},
        )
        try:
            result: AppendResult = await self.append(request)
        except (ConcurrencyConflict, DuplicateInBatch):
            # Either a concurrent retry of this very command got there first (then it is
            # the same answer) or another command changed the aggregate since this one
            # arrived (a conflict: it was decided on what is no longer the state).
            retried = asked.retry_answer(await self.loader.refresh(target, held))
            if retried is not None:
                return retried
            raise conflict(target) from None
        if result.duplicate:
            self.loader.forget(target)  # stored by an earlier attempt: what came after is not known here
        else:
            self.loader.appended(target, held, decision, [e.id for e in events], result.sequences)
        await self.after(asked)
        return Accepted(event_ids=[e.id for e in events], sequence=result.last_sequence)

    def understand(self, sender: str, command: str, body: Any) -> Asked:
        """The command as this context reads it, or a Rejection: one it does not know, a
        body that does not match, a sender that is not the organisation it claims."""
        handler = self.handlers.get(command)
        if handler is None:
            raise reject(
                RejectionCode.INVALID,
                f"There is no {self.context} command '{command}'. Known commands: "
                f"{', '.join(sorted(self.handlers))}.",
            )
        envelope = _envelope(body)
        if envelope.organisation != sender:
            raise reject(
                RejectionCode.FORBIDDEN,
                f"The body says it comes from organisation '{envelope.organisation}' but it "
                f"was sent on organisation '{sender}''s subject. An organisation may only send "
                "commands as itself.",
            )
        try:
            cmd = handler.model.model_validate(envelope.data)
        except ValidationError as err:
            raise invalid(f"The data of {command} does not match its schema.", err) from None
        ctx = CommandContext(sender, envelope.actor, command, self._clock())
        return Asked(handler, envelope, cmd, ctx, handler.target(cmd, ctx),
                     dict(handler.reads(cmd, ctx)) if handler.reads else {})

    async def decide(self, asked: Asked, state: Any, found: Mapping[str, Any]) -> tuple[Sequence[EventData], list[CloudEvent]]:
        """The decision on `state` and its events as they will be stored, or a Rejection.
        `found` holds the reads' states and the consulted facts by name."""
        handler, cmd = asked.handler, asked.cmd
        facts = handler.facts_of(found)
        if handler.prepare is not None:
            # `decide` is pure, so it can be asked twice: first with the command as sent, so
            # that one it refuses costs no I/O (no person's key is made for a refused
            # enrolment), then with the prepared command, whose decision is the one stored.
            refused = handler.decide(cmd, asked.ctx, state, facts)
            if isinstance(refused, Rejection):
                raise refused
            cmd = await handler.prepare(cmd, asked.ctx, self.person_keys)
        decision = handler.decide(cmd, asked.ctx, state, facts)
        if isinstance(decision, Rejection):
            raise decision
        return decision, self._envelopes(decision, asked.target, asked.ctx, asked.envelope)

    async def after(self, asked: Asked) -> None:
        """The follow-up of stored events. They are recorded whatever happens here, so a
        failure must not be answered as "nothing was recorded": the service finishes the
        follow-up from the stream (the registry's key shredder erases a key for every
        ParticipantDataErased), and a retry runs it again."""
        if asked.handler.after is None:
            return
        try:
            await asked.handler.after(asked.cmd, asked.ctx, self.person_keys)
        except Exception:
            log.exception("a command's follow-up failed after its events were stored; it is completed from the stream",
                          command=asked.ctx.command, organisation=asked.ctx.organisation)

    async def _consult(self, asked: Asked, stream_at: int | None) -> Mapping[str, Any]:
        (facts,) = await self.consult_views([asked], stream_at)
        if isinstance(facts, Rejection):
            raise facts
        return facts

    async def consult_views(self, asked: Sequence[Asked], stream_at: int | None) -> list[Mapping[str, Any] | Rejection]:
        """What each command's rules consult, in one read of the views once they have
        reached `stream_at`; a command whose consultation refuses it gets its Rejection."""
        if self.views is None:
            raise RuntimeError(f"{self.context} has rules that consult local views but runs none")

        def each(conn: Connection) -> list[Mapping[str, Any] | Rejection]:
            out: list[Mapping[str, Any] | Rejection] = []
            for a in asked:
                try:
                    out.append(a.handler.consults(a.cmd, a.ctx, conn) if a.handler.consults else {})
                except Rejection as refused:
                    out.append(refused)
                except Exception:  # this command cannot be decided just now; the others can
                    log.exception("a command's views could not be consulted", command=a.ctx.command)
                    out.append(not_now())
            return out

        return await self.views.consult(each, stream_at)

    def _envelopes(
        self,
        decision: Sequence[EventData],
        target: Load[Any],
        ctx: CommandContext,
        envelope: CommandEnvelope,
    ) -> list[CloudEvent]:
        ids = event_ids_for(ctx.organisation, ctx.command, envelope.idempotency_key, len(decision))
        command_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ctx.organisation}/{ctx.command}/{envelope.idempotency_key}"))
        traceparent = tracing.current_traceparent()
        out = []
        for event_id, data in zip(ids, decision, strict=True):
            schema = self.schemas.schema_for(f"pathways.{self.context}.{type(data).__name__}")
            out.append(
                CloudEvent(
                    id=event_id,
                    source=f"/pathways/{self.context}",
                    type=schema.type,
                    subject=target.ref.aggregate_id,
                    time=ctx.now,
                    dataschema=schema.uri,
                    programme=target.ref.programme,
                    organisation=ctx.organisation,
                    actor=ctx.actor,
                    correlationid=envelope.correlation_id or command_id,
                    causationid=command_id,
                    traceparent=traceparent,
                    data=data.model_dump(mode="json"),
                )
            )
        return out


def _envelope(body: Any) -> CommandEnvelope:
    if not isinstance(body, dict):
        raise reject(RejectionCode.INVALID, "The command must be a JSON object.")
    try:
        return CommandEnvelope.model_validate(body)
    except ValidationError as err:
        raise invalid(
            "The command envelope needs idempotency_key, organisation, actor and data.", err
        ) from None


def invalid(message: str, err: ValidationError) -> Rejection:
    details = [
        {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in err.errors()
    ]
    summary = "; ".join(f"{d['field'] or '(body)'}: {d['problem']}" for d in details[:5])
    return Rejection(RejectionCode.INVALID, f"{message} {summary}", details)
