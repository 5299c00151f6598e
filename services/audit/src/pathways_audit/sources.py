"""Where `verify` reads the audit service's ledger from: its database (inside the
service, or an operator with the database URL) or its HTTP API (an auditor with a token)."""

from __future__ import annotations

import asyncio

import httpx
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
