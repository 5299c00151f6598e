"""The event store over JetStream stream PATHWAYS_EVENTS.

- Appends carry `Nats-Msg-Id` (the event id, for de-duplication) and, on the first
  event of each subject, `Nats-Expected-Last-Subject-Sequence` (optimistic concurrency).
- A command's several events go in one atomic batch (ADR-50): all stored or none.
- One aggregate's history is read with batched Direct Get (one request, streamed back).
- The whole stream is read with an ordered push consumer, the fastest replay path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from pathways.core import metrics, tracing
from pathways.core.eventstore.base import (
    AppendRequest,
    AppendResult,
    ConcurrencyConflict,
    DuplicateInBatch,
    Latest,
    NewEvent,
    StoredEvent,
)
from pathways.core.subjects import EVENTS_ROOT, STREAM_NAME, matcher
from pathways.jetstream.direct import DirectGets
from pathways.jetstream.pull import is_stored

# JetStream error codes this store turns into domain outcomes.
WRONG_LAST_SEQUENCE = 10071
BATCH_WRONG_LAST_SEQUENCE = 10164
BATCH_DUPLICATE_MSG_ID = 10201
MAX_BATCH_MESSAGES = 1000  # the server's limit per atomic batch
SENT_TO = {**metrics.NATS, "messaging.operation.name": "publish", "messaging.destination.name": STREAM_NAME}

DUPLICATE_WINDOW_SECONDS = 24 * 3600.0
READ_AHEAD = 4096  # messages buffered ahead of a whole-stream reader
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def stream_config(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=STREAM_NAME,
        description="Pathways domain events: the source of truth",
        subjects=[f"{EVENTS_ROOT}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        deny_delete=True,
        deny_purge=True,
        allow_direct=True,
        allow_atomic=True,
    )


async def ensure_stream(nc: Client, replicas: int = 1) -> None:
    """Create PATHWAYS_EVENTS, or check that the existing one keeps the guarantees."""
    js = nc.jetstream()
    try:
        info = await js.stream_info(STREAM_NAME)
    except nats.js.errors.NotFoundError:
        await js.add_stream(stream_config(replicas))
        return
    cfg = info.config
    if not (cfg.deny_delete and cfg.deny_purge and cfg.allow_direct and cfg.allow_atomic):
        await js.update_stream(stream_config(cfg.num_replicas or replicas))


class JetStreamEventStore:
    def __init__(self, nc: Client, *, timeout: float = 10.0, by_direct_get: bool = False) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=timeout)
        self._timeout = timeout
        self._direct = DirectGets(nc, timeout)
        # Read the history by batched Direct Get, with no consumer (what an auditor may do).
        self._by_direct_get = by_direct_get
        self.reads = 0  # requests that read aggregates: what a test counts

    @property
    def bytes_read(self) -> int:
        """Payload bytes of the stored events its Direct Gets have returned."""
        return self._direct.bytes_read

    # -- append -------------------------------------------------------------------------

    async def append(self, request: AppendRequest) -> AppendResult:
        with tracing.span("eventstore.append", events=len(request.events)):
            messages = _messages(request)
            if len(messages) == 1:
                result = await self._publish_one(*messages[0])
            else:
                result = await self.publish_batch(messages)
            metrics.sent.add(len(messages), SENT_TO)
            metrics.append_batch.record(len(messages), SENT_TO)
            return result

    async def _publish_one(self, subject: str, payload: bytes, headers: dict[str, str]) -> AppendResult:
        try:
            ack = await self._js.publish(subject, payload, headers=headers, timeout=self._timeout)
        except nats.js.errors.APIError as err:
            raise _translate(err.err_code, err.description) from err
        return AppendResult([ack.seq], duplicate=bool(ack.duplicate))

    async def publish_batch(self, messages: Sequence[tuple[str, bytes, dict[str, str]]]) -> AppendResult:
        """One atomic batch: every message but the last is a plain publish, the commit is a
        request whose PubAck (or error, for the whole batch) ends it. The server checks
        each message's expectations and ids as the batch arrives and stores none of it
        unless all of it holds."""
        if len(messages) > MAX_BATCH_MESSAGES:
            raise ValueError(f"an atomic batch holds at most {MAX_BATCH_MESSAGES} events")
        batch_id = uuid.uuid4().hex
        last = len(messages)
        reply: Msg | None = None
        for index, (subject, payload, headers) in enumerate(messages, start=1):
            h = {**headers, "Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(index)}
            if index == last:
                h["Nats-Batch-Commit"] = "1"
                reply = await self._nc.request(subject, payload, headers=h, timeout=self._timeout)
            else:
                await self._nc.publish(subject, payload, headers=h)
        assert reply is not None
        ack = json.loads(reply.data)
        _raise_for_ack(ack)
        end = int(ack["seq"])
        count = int(ack.get("count", last))
        return AppendResult(list(range(end - count + 1, end + 1)))

    # -- read ---------------------------------------------------------------------------

    async def read_subject(self, subject: str, after: int = 0) -> list[StoredEvent]:
        """One aggregate's events after sequence `after`, with batched Direct Get."""
        with tracing.span("eventstore.read_subject"):
            self.reads += 1
            return await self._direct.subject(subject, after)

    async def latest(self, subjects: Sequence[str]) -> Latest:
        """Each subject's last sequence and the stream's, in one Direct Get (multi_last)."""
        self.reads += 1
        return await self._direct.latest(subjects)

    async def next_matching(self, subject: str, after: int) -> int | None:
        """The sequence of the first message on `subject` (a wildcard) after `after`, or None."""
        return await self._direct.next_matching(subject, after)

    async def read_all(
        self, from_sequence: int = 1, until: int | None = None, subjects: Sequence[str] | None = None
    ) -> AsyncGenerator[StoredEvent, None]:
        """Every event from `from_sequence` to `until` (default: the last one stored when
        the read began), in stream order; with `subjects`, only those on them. Stops early if
        the stream holds no more (events at the end deleted): the caller sees the last
        sequence it got.

        A consumer of its own (no acks) is pulled in batches of READ_AHEAD into a plain
        subscription's callback: at most two batches are asked for at once, so a slow
        reader holds at most that many messages, and no message waits on a timer of its
        own (`next_msg` per message cost more than three times the reading itself)."""
        end = until if until is not None else await self.last_sequence()
        if end < from_sequence:
            return
        filters, wanted_here = list(subjects or [f"{EVENTS_ROOT}.>"]), None
        if len(filters) > 1:
            # nats-server reads history through a consumer with several filters at a small
            # fraction of its speed when the stream holds many subjects (one per aggregate
            # here: 2,000 events/s and as much server CPU, against 30,000/s for one filter;
            # nats-server#5040). One filter for everything and the choice made here is faster.
            filters, wanted_here = [f"{EVENTS_ROOT}.>"], matcher(filters)
        if self._by_direct_get:
            async for found in self._direct.range(max(from_sequence, 1), end, filters[0]):
                if wanted_here is None or wanted_here(found.subject):
                    yield found
            return
        consumer = f"read_{uuid.uuid4().hex[:16]}"
        await self._js.add_consumer(STREAM_NAME, config=ConsumerConfig(
            name=consumer, filter_subjects=filters,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(from_sequence, 1), ack_policy=AckPolicy.NONE, inactive_threshold=120.0,
            mem_storage=True,
        ))
        pull = _Puller(self._nc, consumer, self._timeout)
        await pull.start()
        try:
            wanted = end - max(from_sequence, 1) + 1  # at most: deleted events are skipped
            while True:
                stored = await pull.next(wanted)
                if stored is None:
                    if await self._nothing_left(consumer):
                        return
                    continue
                if stored.sequence > end:  # read with a filter: the next one it matched is later
                    return
                if wanted_here is None or wanted_here(stored.subject):
                    yield stored
                if stored.sequence >= end:
                    return
        finally:
            await pull.stop()
            with contextlib.suppress(Exception):
                await self._js.delete_consumer(STREAM_NAME, consumer)

    async def _nothing_left(self, consumer: str) -> bool:
        info = await self._js.consumer_info(STREAM_NAME, consumer)
        return int(info.num_pending or 0) == 0

    async def last_sequence(self) -> int:
        info = await self._js.stream_info(STREAM_NAME)
        return int(info.state.last_seq)

    async def get(self, sequence: int) -> StoredEvent | None:
        """The message stored at one sequence (Direct Get), or None."""
        return await self._direct.at(sequence)

    async def sequence_at(self, moment: datetime) -> int:
        """The last sequence stored at or before `moment` (0 if none): where the history
        stood then. Times are compared to the microsecond."""
        if moment.tzinfo is None:
            raise ValueError("a moment in history needs a time zone")
        # Direct Get by start time answers the first message stored at or after it.
        after = (moment + timedelta(microseconds=1)).astimezone(UTC).isoformat().replace("+00:00", "Z")
        reply = await self._nc.request(
            f"$JS.API.DIRECT.GET.{STREAM_NAME}", json.dumps({"start_time": after}).encode(), timeout=self._timeout
        )
        headers = reply.headers or {}
        status = headers.get("Status")
        if status == "404":
            return await self.last_sequence()  # nothing stored since: all of it
        if status is not None:
            raise RuntimeError(f"direct get by time failed: {status} {headers}")
        return int(headers["Nats-Sequence"]) - 1


# A reader's pull answered "503 no responders" (a cluster electing its consumer's leader) is
# asked again this many times, this far apart, before the read fails: about 5 s in all.
UNAVAILABLE_RETRIES, UNAVAILABLE_PAUSE = 20, 0.25


class _Puller:
    """One reader's pull requests (one at a time, `no_wait`: the events asked for are all
    stored already), answered into a callback's buffer. The next batch is asked for as
    soon as the last has arrived, so the reader never waits idle, and the buffer never
    holds more than two batches however slow the reader is."""

    def __init__(self, nc: Client, consumer: str, timeout: float) -> None:
        self._nc, self._consumer, self._timeout = nc, consumer, timeout
        self._buffer: deque[Msg] = deque()
        self._arrived = asyncio.Event()
        self._asked = self._received = 0
        self._ended = False  # the server answered "no more": fewer were stored than asked for
        self._failed: str | None = None
        self._unavailable = 0  # 503s answered so far: the consumer's leader is not there yet
        self._ask_again = False  # the last request was answered 503: ask again after a pause
        self._inbox = nc.new_inbox()
        self._sub: Any = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(self._inbox, cb=self._deliver)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()

    async def _deliver(self, msg: Msg) -> None:
        headers = msg.headers or {}
        status = None if is_stored(msg) else headers.get("Status")
        if status is None:
            self._buffer.append(msg)
            self._received += 1
        elif status in ("404", "408"):
            self._ended = True
            self._asked = self._received  # that request is over
        elif status == "503" and self._unavailable < UNAVAILABLE_RETRIES:
            # In a cluster, just after a node is lost, the reader's new consumer may have no
            # leader yet: the request is over, and asked again after a pause (`next`).
            self._unavailable += 1
            self._asked = self._received
            self._ask_again = True
        elif status != "100":  # 100 is a heartbeat
            self._failed = f"{status} {headers.get('Description', '')}".strip()
        self._arrived.set()

    async def next(self, wanted: int) -> StoredEvent | None:
        """The next message; None when the server had no more of what was asked for."""
        if self._ask_again:
            self._ask_again = False
            await asyncio.sleep(UNAVAILABLE_PAUSE)
        if (not self._ended and self._received == self._asked and self._asked < wanted
                and len(self._buffer) < READ_AHEAD):
            batch = min(READ_AHEAD, wanted - self._asked)
            self._asked += batch
            await self._nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{STREAM_NAME}.{self._consumer}",
                                   json.dumps({"batch": batch, "no_wait": True}).encode(), reply=self._inbox)
        while not self._buffer:
            if self._failed:
                raise RuntimeError(f"reading the stream failed: {self._failed}")
            if self._ended:
                self._ended = False
                return None
            if self._ask_again:  # answered 503: ask again
                return await self.next(wanted)
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), self._timeout)
            except TimeoutError:
                raise TimeoutError(f"no event from the stream within {self._timeout} s") from None
        return stored_from_delivery(self._buffer.popleft())


def _messages(request: AppendRequest) -> list[tuple[str, bytes, dict[str, str]]]:
    """Headers per event. The expected sequence goes only on the first event of each
    subject: the server checks it against the stream as it was before the batch."""
    seen: set[str] = set()
    out = []
    for new in request.events:
        headers = {"Nats-Msg-Id": new.event.id}
        if new.subject not in seen and new.subject in request.expected:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(request.expected[new.subject])
        seen.add(new.subject)
        if new.event.traceparent:
            headers["traceparent"] = new.event.traceparent
        out.append((new.subject, new.payload or new.event.to_bytes(), headers))
    return out


def messages_of(requests: Sequence[AppendRequest]) -> list[tuple[str, bytes, dict[str, str]]]:
    return [m for r in requests for m in _messages(r)]


def _raise_for_ack(ack: dict[str, Any]) -> None:
    error = ack.get("error")
    if error:
        raise _translate(int(error.get("err_code", 0)), str(error.get("description", "")))


def _translate(err_code: int | None, description: str | None) -> Exception:
    if err_code in (WRONG_LAST_SEQUENCE, BATCH_WRONG_LAST_SEQUENCE):
        return ConcurrencyConflict(description or "wrong last sequence")
    if err_code == BATCH_DUPLICATE_MSG_ID:
        return DuplicateInBatch(description or "duplicate message id in batch")
    return RuntimeError(f"JetStream refused the append: {err_code} {description}")


def stored_from_delivery(msg: Msg) -> StoredEvent:
    """A delivered message as stored. Its stream sequence and time are read straight from
    the reply subject ($JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.
    <nanoseconds>.<pending>, or the longer form with domain and account hash)."""
    tokens = msg.reply.split(".")
    if len(tokens) == 9:
        sequence, nanoseconds = tokens[5], tokens[7]
    elif len(tokens) >= 11:
        sequence, nanoseconds = tokens[7], tokens[9]
    else:
        meta = msg.metadata
        return StoredEvent(meta.sequence.stream, msg.subject, msg.data, meta.timestamp)
    return StoredEvent(int(sequence), msg.subject, msg.data, EPOCH + timedelta(microseconds=int(nanoseconds) // 1000))


__all__ = ["JetStreamEventStore", "NewEvent", "ensure_stream", "stream_config"]


def pending_after(msg: Msg) -> int:
    """How many messages the consumer holds after this delivered one: the last token of its
    reply subject (the forms `stored_from_delivery` reads)."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9:
        return int(tokens[8])
    if len(tokens) >= 11:
        return int(tokens[10])
    return 0
