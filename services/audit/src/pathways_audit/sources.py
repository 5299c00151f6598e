"""Where `verify` reads the audit service's ledger from: its database (inside the
service, or an operator with the database URL) or its HTTP API (an auditor with a token);
and where an auditor reads the stream from: the audit service's HTTP API, since auditors
ask JetStream nothing themselves (pathways.runtime.accounts says why)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
from pathways.core.eventstore.base import StoredEvent
from sqlalchemy import Engine

from pathways_audit import ledger, records


class DatabaseLedger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _size(self) -> int:
        with self.engine.connect() as conn:
            return ledger.tree_size(conn)

    def _leaves(self, start: int, count: int) -> list[bytes]:
        with self.engine.connect() as conn:
            return ledger.leaf_hashes(conn, start, count)

    def _checkpoints(self) -> list[tuple[int, str]]:
        with self.engine.connect() as conn:
            return records.checkpoint_notes(conn)

    async def size(self) -> int:
        return await asyncio.to_thread(self._size)

    async def leaves(self, start: int, count: int) -> list[bytes]:
        return await asyncio.to_thread(self._leaves, start, count)

    async def checkpoints(self) -> list[tuple[int, str]]:
        return await asyncio.to_thread(self._checkpoints)


class HttpLedger:
    """The same over the auditor-only HTTP API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def size(self) -> int:
        response = await self.client.get("/audit/ledger")
        response.raise_for_status()
        return int(response.json()["tree_size"])

    async def leaves(self, start: int, count: int) -> list[bytes]:
        response = await self.client.get("/audit/ledger/leaves", params={"start": start, "count": count})
        response.raise_for_status()
        body = response.content
        return [body[i : i + 32] for i in range(0, len(body), 32)]

    async def checkpoints(self) -> list[tuple[int, str]]:
        response = await self.client.get("/audit/checkpoints", params={"limit": 0})
        response.raise_for_status()
        return [(int(c["sequence"]), str(c["note"])) for c in reversed(response.json())]


class HttpStream:
    """The stream's messages, exactly as stored, over the auditor-only HTTP API, a page at
    a time: what `verify_history` needs of a store (`last_sequence`, `read_all`)."""

    PAGE = 4096

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def last_sequence(self) -> int:
        response = await self.client.get("/audit/stream/last")
        response.raise_for_status()
        return int(response.json()["last_sequence"])

    async def read_all(self, from_sequence: int = 1, until: int | None = None) -> AsyncIterator[StoredEvent]:
        end = until if until is not None else await self.last_sequence()
        start = max(from_sequence, 1)
        while start <= end:
            count = min(self.PAGE, end - start + 1)
            response = await self.client.get("/audit/stream", params={"start": start, "count": count})
            response.raise_for_status()
            for line in response.content.splitlines():
                row = json.loads(line)
                yield StoredEvent(int(row["sequence"]), str(row["subject"]), base64.b64decode(row["payload_base64"]),
                                  datetime.fromisoformat(row["stored_at"]))
            # The next page starts after this one's range, not after its last event: a page
            # whose events were all deleted comes back empty, and the verification must go on
            # past it to see the events beyond, and so name the gap.
            start += count
