"""How the operator's CLI calls a service's signed-in read API: with $PATHWAYS_TOKEN when
set, otherwise with an operator token issued for this one call over the platform's NATS
connection (which only the operator holds) and revoked as soon as the call is done."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager

from pathways.runtime.connection import ConnectionInfo


@contextmanager
def operator_headers(connection: ConnectionInfo) -> Iterator[dict[str, str]]:
    given = os.environ.get("PATHWAYS_TOKEN")
    if given:
        yield {"Authorization": f"Bearer {given}"}
        return

    # Imported here: the service CLIs that use this must start fast for `--help`.
    from pathways.core.ids import OPERATOR_ORGANISATION
    from pathways.policy.access import TokenStore

    async def with_store(work: str, token: str = "") -> str:
        nc = await connection.connect("pathways-cli-signin", allow_reconnect=False, connect_timeout=5)
        try:
            store = TokenStore(nc)
            if work == "issue":
                return await store.issue(OPERATOR_ORGANISATION, "operator")
            await store.forget(token)
            return ""
        finally:
            await nc.close()

    token = asyncio.run(with_store("issue"))
    try:
        yield {"Authorization": f"Bearer {token}"}
    finally:
        asyncio.run(with_store("forget", token))
