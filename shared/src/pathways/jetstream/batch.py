"""A batch of commands from one sender in one request: how bulk paths (a register import,
the demo) reach the speed of the store's atomic batch instead of one round trip, one view
read and one fsync per command.

Sent on `pathways.cmd.<org>.<context>.batch` (or `POST /commands/<org>/batch`) as
`{"commands": [{"command": "ScheduleSession", <the command's usual body>}, ...]}`; the reply
is `{"replies": [...]}`, one ordinary reply per command, in order.

Each command is decided exactly as if it had been sent alone, in the batch's order: a
later command sees the state an earlier one in the same batch leaves (schedule a session,
then record it delivered). What changes is the I/O around the decisions:
- where every aggregate stands is asked once, and the views are read once, in one
  transaction, at the stream position the batch arrived at. A command that needs what an
  earlier one stores first (a programme read whoever owns it, just launched in the batch;
  payment facts from a ledger the batch's own approvals change) starts a new round: what
  is decided so far is stored, and the rest is read again after it;
- the accepted commands' events go to the store in atomic batches of up to the server's
  limit, split only between commands, each carrying the expected sequence of every
  aggregate it writes. A command's events are stored all or none, as always; the batch as a
  whole is not all-or-nothing (a refused command does not stop the others).
- if the store refuses a chunk (another writer changed an aggregate, or a retry of the same
  command raced this one), nothing of that chunk is stored, and its commands and every
  later one are sent down the single-command path one by one, which answers each exactly
  (a retry, a conflict, or stored).
Idempotency is per command, as ever: a batch sent again is answered from history."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError

from pathways.core import metrics, tracing
from pathways.core.aggregates import Folded
from pathways.core.batch_wire import BATCH, MAX_COMMANDS
from pathways.core.bodies import json_object
from pathways.core.eventstore.base import AppendRequest, ConcurrencyConflict, DuplicateInBatch, NewEvent
from pathways.core.intake import Asked, CommandIntake, invalid, not_now, outcome, unavailable
from pathways.core.logging import get_logger
from pathways.core.replies import Accepted, Rejected, Rejection, RejectionCode, Reply, reject
from pathways.core.subjects import subject_matches
from pathways.jetstream.store import MAX_BATCH_MESSAGES

if TYPE_CHECKING:
    from pathways.core.commands import Load
    from pathways.core.envelope import CloudEvent
    from pathways.core.schemas import CommandData, EventData

log = get_logger("pathways.batch")



class BatchReply(BaseModel):
    replies: list[Reply]


class _Body(BaseModel):
    commands: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_COMMANDS)


@dataclass
class _Item:
    command: str
    body: dict[str, Any]  # the command's usual body: the item without its "command"
    asked: Asked | None = None
    reply: Reply | None = None
    same_as: _Item | None = None  # the same command earlier in this batch: its reply is this one's
    before: Folded | None = None  # the target as this command decided on it
    decision: list[EventData] = field(default_factory=list)
    events: list[CloudEvent] = field(default_factory=list)

    @property
    def raw(self) -> bytes:
        return json.dumps(self.body).encode()


def _key(load: Load[Any]) -> str:
    # A load as foreign folds the subject another way than a strict one: never one for the other.
    return f"{load.aggregate.name}\0{load.ref.subject}\0{load.foreign}"


async def handle_batch(intake: CommandIntake, sender: str, raw: bytes, traceparent: str | None = None,
                       refusal: Callable[[str, type[CommandData]], str | None] | None = None) -> BatchReply | Rejected:
    """Every command of the batch answered, or one rejection if the request is no batch.
    `refusal` (command name, its model) says why the sender may not send one, if so (over HTTP,
    the token's role: pathways.policy.roles.refusal_to_send)."""
    began = time.perf_counter()
    with tracing.span("command batch", parent=traceparent, context=intake.context, organisation=sender) as span:
        try:
            items = _items(raw)
        except Rejection as refused:
            await intake.refused(sender, BATCH, raw, refused.reply())
            return refused.reply()
        span.set_attribute("pathways.commands", len(items))
        try:
            await _decide_and_store(intake, sender, items, refusal)
        except Exception:
            log.exception("a command batch failed", organisation=sender, commands=len(items))
        replies = [item.reply or unavailable() for item in items]  # what was not stored: send it again
        for item, reply in zip(items, replies, strict=True):
            metrics.answered(intake.context, item.command if item.asked else "unknown", outcome(reply))
        metrics.answered(intake.context, BATCH, "answered", time.perf_counter() - began)
        # Each refusal recorded for the auditors; together, so a slow store costs one wait, not one per command.
        await asyncio.gather(*(intake.refused(sender, item.command or BATCH, item.raw, reply)
                               for item, reply in zip(items, replies, strict=True) if isinstance(reply, Rejected)))
        return BatchReply(replies=replies)


def _items(raw: bytes) -> list[_Item]:
    try:
        body = _Body.model_validate(json_object(raw, "batch"))
    except ValidationError as err:
        raise invalid(f"A batch is {{\"commands\": [...]}} with 1 to {MAX_COMMANDS} commands.", err) from None
    out = []
    for each in body.commands:
        command = each.get("command")
        item = _Item(command if isinstance(command, str) else "", {k: v for k, v in each.items() if k != "command"})
        if not item.command:
            item.reply = reject(RejectionCode.INVALID, 'Each command of a batch names itself: "command": "…".').reply()
        out.append(item)
    return out


async def _decide_and_store(intake: CommandIntake, sender: str, items: list[_Item],
                            refusal: Callable[[str, type[CommandData]], str | None] | None = None) -> None:
    asked: list[_Item] = []
    for item in items:
        handler = intake.handlers.get(item.command)
        why = refusal(item.command, handler.model) if refusal is not None and handler is not None else None
        if item.reply is None and why is not None:
            item.reply = reject(RejectionCode.FORBIDDEN, why).reply()
        if item.reply is None:
            try:
                item.asked = intake.understand(sender, item.command, item.body)
                asked.append(item)
            except Rejection as refused:
                item.reply = refused.reply()
            except Exception:
                log.exception("a command of a batch could not be read", command=item.command, organisation=sender)
                item.reply = unavailable()
    while asked:
        cut = _round_end(intake, asked)
        try:
            await _round(intake, sender, asked[:cut])
        finally:
            for item in asked[:cut]:
                if item.same_as is not None and item.reply is None:
                    item.reply = item.same_as.reply
        asked = asked[cut:]


def _round_end(intake: CommandIntake, asked: list[_Item]) -> int:
    """How many of `asked` can be decided on one read of the store and the views: up to
    the first command that would need what an earlier one in the round stores first.
    - A read of an aggregate by id whoever owns it (a wildcard) that an earlier command
      writes: the store must hold that write before the wildcard is read again.
    - Facts from views that learn from this context's own events (the payments ledger),
      after a command that may have stored such events: the views must have applied them.
    - An aggregate whose subject an earlier command writes as another kind of aggregate (ids
      of two kinds in one context can collide): the store must say the id is taken."""
    written: dict[str, str] = {}  # subject -> the kind of aggregate written there
    for n, item in enumerate(asked):
        a = item.asked
        assert a is not None
        if n and a.handler.consults is not None and intake.views is not None and intake.views.learn_from_own_events:
            return n
        loads = (a.target, *a.reads.values())
        wildcards = [load.ref.subject for load in loads if "*" in load.ref.subject]
        if any(subject_matches(w, s) for w in wildcards for s in written):
            return n
        if any(written.get(load.ref.subject, load.aggregate.name) != load.aggregate.name for load in loads):
            return n
        written[a.target.ref.subject] = a.target.aggregate.name
    return len(asked)


async def _round(intake: CommandIntake, sender: str, asked: list[_Item]) -> None:
    """Decide each command of the round in order on one read, then store the accepted ones."""
    loads = {_key(load): load for item in asked if item.asked for load in (item.asked.target, *item.asked.reads.values())}
    consulting = [item for item in asked if item.asked and item.asked.handler.consults is not None]
    try:
        folded, latest = await intake.loader.load(loads, stream_position=bool(consulting))
    except Rejection:  # an id taken by another kind of aggregate, say: each answered on its own
        await _one_by_one(intake, sender, asked)
        return
    facts: dict[int, Mapping[str, Any] | Rejection] = {}
    if consulting:
        try:
            found = await intake.consult_views([i.asked for i in consulting if i.asked], latest.stream)
        except Rejection as refused:  # the views could not catch up: every consulting command
            found = [refused] * len(consulting)
        except Exception:
            log.exception("the views could not be consulted for a batch", organisation=sender)
            found = [not_now()] * len(consulting)
        facts = {id(item): f for item, f in zip(consulting, found, strict=True)}
    held = dict(folded)  # each aggregate as the next command in the batch will see it
    first: dict[str, _Item] = {}
    for item in asked:
        a = item.asked
        assert a is not None
        if a.first_id in first:
            item.same_as = first[a.first_id]
            continue
        target = _key(a.target)
        retried = a.retry_answer(held[target])
        if retried is not None:
            item.reply = retried
            await intake.after(a)
            continue
        consulted = facts.get(id(item), {})
        if isinstance(consulted, Rejection):
            item.reply = consulted.reply()
            continue
        reads = {name: held[_key(load)].state for name, load in a.reads.items()} | dict(consulted)
        try:
            decision, events = await intake.decide(a, held[target].state, reads)
        except Rejection as refused:
            item.reply = refused.reply()
            continue
        except Exception:
            log.exception("a command of a batch could not be decided", command=item.command, organisation=sender)
            item.reply = unavailable()
            continue
        item.before, item.decision, item.events = held[target], list(decision), events
        state = item.before.state
        for data in decision:
            state = a.target.aggregate.evolve(state, data)
        held[target] = Folded(state, item.before.last_sequence, item.before.sequence_by_event_id, True)
        first[a.first_id] = item
    await _store(intake, sender, asked, {k: f.last_sequence for k, f in folded.items()})


async def _store(intake: CommandIntake, sender: str, asked: list[_Item], last: dict[str, int]) -> None:
    """The decided commands' events in atomic chunks of whole commands, each chunk carrying
    the expected sequence of every aggregate it writes (as the batch found it, or as the
    chunk before left it)."""
    chunks: list[list[_Item]] = [[]]
    for item in asked:
        if not item.events:
            continue
        if chunks[-1] and sum(len(i.events) for i in chunks[-1]) + len(item.events) > MAX_BATCH_MESSAGES:
            chunks.append([])
        chunks[-1].append(item)
    for chunk in chunks:
        targets = [(i, i.asked.target) for i in chunk if i.asked is not None]
        events = [NewEvent.of(t.ref.subject, e) for i, t in targets for e in i.events]
        expected = {t.ref.subject: last[_key(t)] for _, t in targets}
        if not events:
            return
        try:
            result = await intake.append(AppendRequest(events, expected))
        except (ConcurrencyConflict, DuplicateInBatch):
            # Nothing of this chunk is stored, and every later command of the round was
            # decided on it (a refusal too: "already enrolled" by a command not stored). From
            # the chunk's first command on, each goes the single-command way, which tells a
            # retry (the same answer) from a conflict, or stores it.
            rest = asked[asked.index(chunk[0]):]
            for item in rest:
                item.reply, item.same_as = None, None
            await _one_by_one(intake, sender, rest)
            return
        except BaseException:
            # The store failed for its own reasons: this chunk may or may not be stored, and every
            # later answer of the round (a refusal too) was decided on it. None of them stands: each
            # is told to send again, and a resend is answered as a retry or decided afresh.
            for item in asked[asked.index(chunk[0]):]:
                item.reply, item.same_as = None, None
            raise
        sequences = iter(result.sequences)
        for item, target in targets:
            assert item.before is not None and item.asked is not None
            mine = [next(sequences) for _ in item.events]
            if result.duplicate:
                intake.loader.forget(target)
            else:
                intake.loader.appended(target, item.before, item.decision, [e.id for e in item.events], mine)
            last[_key(target)] = mine[-1]
            item.reply = Accepted(event_ids=[e.id for e in item.events], sequence=mine[-1])
            await intake.after(item.asked)


async def _one_by_one(intake: CommandIntake, sender: str, items: list[_Item]) -> None:
    for item in items:
        if item.asked is not None:
            intake.loader.forget(item.asked.target)
        item.reply = await intake.answer(sender, item.command, item.raw)
