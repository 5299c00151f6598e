"""Service-local views: read models a service's rules consult (which partner holds which
contract, who is enrolled and consenting). A service learns them from events only, never
from another service's database, and runs their projections next to its command intake.

Before a rule reads a view, the view is brought up to the stream's last sequence as it
stood when the command arrived: so a command never decides on facts older than the ones
its sender already saw acknowledged, and a service that was down decides nothing until it
has caught up on what it missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine

from pathways.core.eventstore.base import EventStore
from pathways.core.projection import Projection
from pathways.core.replies import RejectionCode, reject

T = TypeVar("T")
_MEMO = "pathways.consultation"


class ViewRunner(Protocol):
    """What runs a service's views: the NATS adapter's projection runner
    (pathways.jetstream.runner.ProjectionRunner), given by the runtime."""

    @property
    def projections(self) -> Sequence[Projection]: ...

    async def reach(self, sequence: int) -> None: ...


def consultation_memo(conn: Connection) -> dict[Any, Any]:
    """Facts already read in this consultation (one command's, or one whole batch's), for
    queries that would otherwise ask the views the same thing again: a batch of 200
    sessions asks for the partner's contracts once. Emptied when the consultation ends."""
    # Outside a consultation (an API read, a dashboard) nothing is kept: the pooled
    # connection outlives the request, and facts kept on it would go stale.
    memo: dict[Any, Any] = conn.info.get(_MEMO, {})
    return memo


class LocalViews:
    def __init__(
        self,
        context: str,
        engine: Engine,
        runners: Sequence[ViewRunner],
        store: EventStore,
        *,
        catch_up_timeout: float = 10.0,
        views: Sequence[Projection] | None = None,
    ) -> None:
        self.context = context
        self.engine = engine
        self.runners = runners
        self.store = store
        self.catch_up_timeout = catch_up_timeout
        views = views if views is not None else [p for r in runners for p in r.projections]
        # Whether the views learn from this context's own events (the payments ledger does):
        # then a command's facts depend on what the commands before it stored, which a batch
        # must have stored before it consults the views again.
        own = f"pathways.{context}."
        self.learn_from_own_events = any(p.stored is not None or any(t.startswith(own) for t in p.by_type)
                                         for p in views)

    async def consult(self, query: Callable[[Connection], T], stream_at: int | None = None) -> T:
        """Run `query` once every view has reached `stream_at` (where the stream stood when
        the command arrived; asked of the store when not known)."""
        await self.catch_up(stream_at)
        return await asyncio.to_thread(self._run, query)

    async def catch_up(self, stream_at: int | None = None) -> None:
        target = stream_at if stream_at is not None else await self.store.last_sequence()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(runner.reach(target) for runner in self.runners)),
                self.catch_up_timeout,
            )
        except TimeoutError:
            raise reject(
                RejectionCode.UNAVAILABLE,
                f"The {self.context} service is still catching up with events published "
                f"while it was away (it needs sequence {target}). Nothing was recorded; send "
                "the command again with the same idempotency key in a moment.",
            ) from None

    def _run(self, query: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            conn.info[_MEMO] = {}
            try:
                return query(conn)
            finally:
                conn.info.pop(_MEMO, None)  # the pooled connection outlives the consultation
