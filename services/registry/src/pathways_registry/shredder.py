"""The key shredder: for every ParticipantDataErased in the stream, the enrolment's key is
erased. The command's own follow-up erases it at once; this makes sure of it when that
follow-up did not happen (the service stopped between storing the event and deleting the
key, or the key store was unreachable just then).

It reads the registry's events through a durable consumer of its own and acknowledges
each one only after the erasure, so an erasure interrupted by a crash is done again on
restart. Erasing is idempotent, and two registry instances share the consumer. Repeating
an old erasure never takes a newer key: an erased enrolment is never enrolled again under
the same id (`decide.enrol_participant`)."""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pathways.eventstore.jetstream import stored_from_delivery
from pathways.logging import get_logger
from pathways.personal import EnrolmentRef, PersonKeys
from pathways.pull import fetch_or_stop
from pathways.service import BackgroundContext
from pathways.subjects import EVENTS_ROOT, STREAM_NAME

from pathways_registry.domain import events as e
from pathways_registry.handlers import CONTEXT

log = get_logger("pathways.registry.shredder")

# A fixed name, declared in the registry's NatsNeeds: the server keeps every other user from it.
CONSUMER = "registry_key_shredder"
ERASED = "pathways.registry.ParticipantDataErased"
BATCH = 256


async def shred_erased_keys(ctx: BackgroundContext) -> None:
    """The background task: runs until the service stops, resubscribing after any failure."""
    keys = PersonKeys(ctx.nc)
    js = ctx.nc.jetstream()
    while not ctx.stop.is_set():
        try:
            await js.add_consumer(STREAM_NAME, config=ConsumerConfig(
                name=CONSUMER, durable_name=CONSUMER, filter_subject=f"{EVENTS_ROOT}.*.*.{CONTEXT}.>",
                deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT, ack_wait=60.0, max_ack_pending=BATCH * 4,
            ))
            sub = await js.pull_subscribe_bind(consumer=CONSUMER, stream=STREAM_NAME)
            stopping = asyncio.ensure_future(ctx.stop.wait())
            try:
                while not ctx.stop.is_set():
                    try:
                        msgs = await fetch_or_stop(sub, BATCH, stopping, idle_after=1.0)
                    except (TimeoutError, NatsTimeout):  # idle (nats-py raises either)
                        continue
                    if msgs is None:  # stopping: what was fetched is delivered again later
                        return
                    for msg in msgs:
                        await _shred(keys, msg)
                        await msg.ack()
            finally:
                stopping.cancel()
                # A subscription left open keeps the connection's drain waiting at shutdown.
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        except Exception:
            log.exception("key shredder failed; resubscribing")
            await asyncio.sleep(1.0)


async def _shred(keys: PersonKeys, msg: Msg) -> None:
    try:
        stored = stored_from_delivery(msg)
        event = stored.event
        if event.type != ERASED:
            return
        erased = e.schemas.decode(event.type, event.dataschema, event.data)
    except (ValueError, KeyError, IndexError):
        # Not a registry event (only the registry may publish here, but the shredder must
        # never stall on one message): acknowledged and passed over.
        log.warning("skipped a message that is not a registry event", subject=msg.subject)
        return
    assert isinstance(erased, e.ParticipantDataErased)
    if await keys.erase(EnrolmentRef(erased.programme_id, erased.partner_id, erased.participant_id)):
        log.info("erased a key the erasure command had left", sequence=stored.sequence)
