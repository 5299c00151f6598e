"""Partner systems under load for the fault tests, and the independent reader that counts
what the store holds against what the replies acknowledged."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from typing import Any

import nats.errors
from nats.aio.client import Client
from pathways.jetstream.store import JetStreamEventStore

from tests.conftest import CommandClient, enrolment, unique


class PartnerSystems:
    """`n` partner systems enrolling people one after another, as the README tells them
    to: on a timeout or `unavailable` the same command again, with the same key."""

    def __init__(self, client: CommandClient, partner: str, programme_id: str) -> None:
        self.client, self.partner, self.programme_id = client, partner, programme_id
        self.acknowledged: dict[str, list[str]] = {}  # idempotency key → event ids, as the replies gave them
        self.last_ack = time.monotonic()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, n: int) -> None:
        self._tasks = [asyncio.create_task(self._one(i)) for i in range(n)]

    async def acked_more(self, than: int, within: float) -> None:
        """Until more than `than` commands are acknowledged: writes have resumed."""
        began = time.monotonic()
        while len(self.acknowledged) <= than:
            assert time.monotonic() - began < within, f"writes did not resume within {within:.0f} s"
            await asyncio.sleep(0.05)

    async def stop(self) -> list[BaseException]:
        """Stop sending; what any of them met beyond accepted or "unavailable, send again"."""
        self._stop.set()
        results = await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 90)
        return [r for r in results if isinstance(r, BaseException)]

    async def _one(self, n: int) -> None:
        while not self._stop.is_set():
            key = f"c{n}-{uuid.uuid4().hex[:8]}"
            data = enrolment(self.programme_id, unique("p"))
            while True:
                try:
                    reply = await self.client.send(self.partner, "EnrolParticipant", data, key=key)
                except (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.errors.ConnectionClosedError):
                    await asyncio.sleep(0.2)
                    continue
                if reply["status"] == "accepted":
                    self.acknowledged[key] = reply["event_ids"]
                    self.last_ack = time.monotonic()
                    break
                assert reply["code"] == "unavailable", reply
                await asyncio.sleep(0.2)


async def lost_and_duplicated(nc: Client, acknowledged: dict[str, list[str]]) -> dict[str, Any]:
    """The whole stream read back: acknowledged events it lacks, and events it holds twice."""
    store = JetStreamEventStore(nc, timeout=30)
    stored = Counter([json.loads(e.payload).get("id") async for e in store.read_all(1, await store.last_sequence())])
    stored.pop(None, None)  # bare messages some tests publish
    ids = [i for event_ids in acknowledged.values() for i in event_ids]
    return {"acknowledged": len(ids), "lost": len([i for i in ids if i not in stored]),
            "duplicates": len([i for i, n in stored.items() if n > 1])}
