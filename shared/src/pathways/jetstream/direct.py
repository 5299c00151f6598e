"""Direct Get on PATHWAYS_EVENTS over one long-lived reply subscription.

Every read of one aggregate used to subscribe to a fresh inbox and unsubscribe again (two
protocol round trips on top of the read itself). Here one wildcard subscription under the
connection's inbox prefix receives every reply, and each request's replies are routed to
it by the last token of the reply subject, as nats-py does for its own requests.

A batched Direct Get answers with the messages asked for, then an end-of-batch status
(204) whose headers say how far the stream reached; a request that finds nothing gets 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg

from pathways.core.eventstore.base import Latest, StoredEvent
from pathways.core.subjects import STREAM_NAME

DIRECT_GET = f"$JS.API.DIRECT.GET.{STREAM_NAME}"
BATCH = 256  # messages per Direct Get request when reading one aggregate
LATEST_BATCH = 64  # subjects answered per "last of each" request
RANGE_BATCH = 512  # messages per Direct Get request when reading a range of the stream


class DirectGetError(RuntimeError):
    """The server refused a Direct Get (not 404 "not found": that is an empty answer)."""


@dataclass(frozen=True, slots=True)
class Answer:
    messages: list[Msg]
    end: dict[str, str]  # headers of the status that ended the answer (empty for 404)


class _Answering:
    """One request's answer as it arrives; done at the status that ends it (or at its one
    message, for a request that is not batched)."""

    __slots__ = ("batched", "done", "messages")

    def __init__(self, batched: bool) -> None:
        self.batched = batched
        self.messages: list[Msg] = []
        self.done: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    def arrived(self, msg: Msg) -> None:
        if self.done.done():
            return
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is None:
            self.messages.append(msg)
            if not self.batched:
                self.done.set_result({})
        elif status == "404":
            self.done.set_result({})
        elif status == "204":
            self.done.set_result(dict(headers))
        else:
            self.done.set_exception(DirectGetError(f"direct get failed: {status} {headers.get('Description', '')}".strip()))


class DirectGets:
    """Direct Get requests of one connection, each answered into a queue of its own."""

    def __init__(self, nc: Client, timeout: float) -> None:
        self._nc = nc
        self._timeout = timeout
        self._prefix = nc.new_inbox()  # under the connection's inbox prefix, where its user may receive
        self._pending: dict[str, _Answering] = {}
        self._tokens = itertools.count()
        self._sub: Any = None
        self._subscribing: asyncio.Lock | None = None
        self.bytes_read = 0  # payload bytes of every stored message answered: what a test counts

    async def _ensure(self) -> None:
        if self._sub is not None:
            return
        if self._subscribing is None:
            self._subscribing = asyncio.Lock()
        async with self._subscribing:
            if self._sub is None:
                self._sub = await self._nc.subscribe(f"{self._prefix}.*", cb=self._route)

    async def _route(self, msg: Msg) -> None:
        answering = self._pending.get(msg.subject.rsplit(".", 1)[-1])
        if answering is not None:  # an answer nobody waits for any more (timed out) is dropped
            answering.arrived(msg)

    async def ask(self, request: dict[str, Any], *, batched: bool) -> Answer:
        """Send one Direct Get; collect its messages up to the status that ends it (a single
        message answers an unbatched request)."""
        await self._ensure()
        token = str(next(self._tokens))
        answering = self._pending[token] = _Answering(batched)
        try:
            await self._nc.publish(DIRECT_GET, json.dumps(request).encode(), reply=f"{self._prefix}.{token}")
            end = await asyncio.wait_for(answering.done, self._timeout)
            self.bytes_read += sum(len(m.data) for m in answering.messages)
            return Answer(answering.messages, end)
        except TimeoutError:
            raise TimeoutError(f"no answer to a Direct Get within {self._timeout} s") from None
        finally:
            del self._pending[token]

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    # -- the reads the store makes -------------------------------------------------------

    async def subject(self, subject: str, after: int = 0) -> list[StoredEvent]:
        """Every message on `subject` (a wildcard too) after sequence `after`, in order."""
        events: list[StoredEvent] = []
        next_seq = after + 1
        while True:
            answer = await self.ask({"seq": next_seq, "next_by_subj": subject, "batch": BATCH}, batched=True)
            events.extend(stored_from_direct(m) for m in answer.messages)
            pending = int(answer.end.get("Nats-Num-Pending", "0") or 0)
            if len(answer.messages) < BATCH or pending == 0:
                return events
            next_seq = events[-1].sequence + 1

    async def range(self, start: int, end: int, subject: str) -> AsyncIterator[StoredEvent]:
        """Every message on `subject` (a wildcard too) from `start` to `end`, in order, in
        batches: a reader that needs no consumer of its own (an auditor's NATS user may
        create none: a consumer's config could name any subject to deliver to)."""
        next_seq = start
        while next_seq <= end:
            answer = await self.ask({"seq": next_seq, "next_by_subj": subject, "batch": RANGE_BATCH}, batched=True)
            if not answer.messages:
                return
            for msg in answer.messages:
                stored = stored_from_direct(msg)
                if stored.sequence > end:
                    return
                yield stored
            next_seq = stored.sequence + 1

    async def latest(self, subjects: Sequence[str]) -> Latest:
        """The last sequence of each subject (wildcards name every subject they match), in
        one request that also says where the stream as a whole stood."""
        answer = await self.ask({"multi_last": list(subjects), "batch": LATEST_BATCH}, batched=True)
        found = {}
        for msg in answer.messages:
            headers = msg.headers or {}
            found[headers["Nats-Subject"]] = int(headers["Nats-Sequence"])
        up_to = answer.end.get("Nats-UpTo-Sequence")
        pending = int(answer.end.get("Nats-Num-Pending", "0") or 0)
        return Latest(found, int(up_to) if up_to else None, complete=pending == 0)

    async def next_matching(self, subject: str, after: int) -> int | None:
        """The sequence of the first message on `subject` (a wildcard) after `after`, or None."""
        answer = await self.ask({"seq": after + 1, "next_by_subj": subject}, batched=False)
        if not answer.messages:
            return None
        return int((answer.messages[0].headers or {})["Nats-Sequence"])

    async def at(self, sequence: int) -> StoredEvent | None:
        answer = await self.ask({"seq": sequence}, batched=False)
        return stored_from_direct(answer.messages[0]) if answer.messages else None


def stored_from_direct(msg: Msg) -> StoredEvent:
    headers = msg.headers or {}
    return StoredEvent(
        int(headers["Nats-Sequence"]),
        headers["Nats-Subject"],
        msg.data,
        parse_time(headers.get("Nats-Time-Stamp", "")),
    )


def parse_time(value: str) -> datetime:
    if not value:
        return datetime.now(UTC)
    # Go prints nanoseconds; Python keeps microseconds.
    head, _, frac = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")
