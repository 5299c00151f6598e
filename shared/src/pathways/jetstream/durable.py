"""A service's durable consumers (`ServiceDefinition.consumers`) on faststream's JetStream
pull subscriber, with explicit acknowledgement: a message is acknowledged after its
handler returns, and one whose handler raised is delivered again after a pause rather
than at once (a key store that is down is not hammered)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.message import NatsBatchMessage
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy as ServerAck
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import Engine

from pathways.core.eventstore.base import EventStore
from pathways.core.logging import get_logger
from pathways.core.subjects import STREAM_NAME

log = get_logger("pathways.durable")


@dataclass(frozen=True)
class BackgroundContext:
    """What a service's background task works with (the host's own connections)."""

    nc: Client
    engine: Engine
    store: EventStore
    stop: asyncio.Event


# A long-running task beside the projections, such as the audit ledger's checkpoint
# signer; it returns when `stop` is set.
BackgroundTask = Callable[[BackgroundContext], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class DurableConsumer:
    """A durable consumer of the event stream that a service reads where its projections
    run (`subscribe` below wires it to faststream's JetStream pull subscriber). Each
    message is acknowledged only once `handle` has returned, so work a crash interrupted is
    done again on restart: `handle` must be idempotent. Instances of the service share the
    consumer (each message goes to one of them)."""

    name: str  # fixed, and in the service's `NatsNeeds.own_consumers`: no other user may touch it
    subject: str  # the stream subjects it reads (a filter)
    handle: Callable[[BackgroundContext, Msg], Coroutine[Any, Any, None]]
    batch: int = 256  # messages per pull request
    ack_wait: float = 60.0  # seconds before the server delivers an unacknowledged message again
    retry_after: float = 1.0  # seconds before a message whose `handle` failed comes again

    def server_config(self) -> ConsumerConfig:
        """The consumer as the server keeps it (created, or updated in place, as a service starts).

        An instance that stops while a pull of its is answered takes the batch with it: the
        server holds those messages as delivered until `ack_wait`, then delivers them again
        (measured on nats-server 2.15: each client that closed with a batch of 256 delivered
        to it left the 256 pending). At most `max_ack_pending` are held so, and
        past it the consumer delivers nothing to anyone: at four batches, four instances
        stopped within a minute (a rolling restart, or a test suite's registries) stalled
        the key shredder for the rest of that minute. So it holds 64 batches. (`ack_wait`
        stays a minute: a batch is handled one message after another, and a batch of erasures
        on a slow key store may take many seconds, after which a shorter wait would deliver
        the rest again to another instance while this one still works on it; a message
        taken twice is erased twice, which `handle` must allow: it is idempotent.)"""
        return ConsumerConfig(
            name=self.name, durable_name=self.name, filter_subject=self.subject,
            deliver_policy=DeliverPolicy.ALL, ack_policy=ServerAck.EXPLICIT, ack_wait=self.ack_wait,
            max_ack_pending=self.batch * 64,
        )

# How long one pull request waits for messages: a stopping service waits at most this long.
FETCH_WAIT = 1.0


async def declare(nc: Client, consumer: DurableConsumer) -> None:
    """The consumer updated in place where an earlier version made it with other limits (the
    subscriber alone would leave it as it was). Asked first, so a start that finds it right
    sends no update (an update needs the cluster's metadata leader, absent in an election);
    one not there yet is made by the subscriber as before."""
    js = nc.jetstream()
    wanted = consumer.server_config()
    try:
        held = (await js.consumer_info(STREAM_NAME, consumer.name)).config
    except NotFoundError:
        return
    if (held.ack_wait, held.max_ack_pending) != (wanted.ack_wait, wanted.max_ack_pending):
        await js.add_consumer(STREAM_NAME, config=wanted)


def subscribe(broker: NatsBroker, consumer: DurableConsumer, context: BackgroundContext, inbox_prefix: str) -> Any:
    """Registers `consumer` on `broker` (before the broker starts); returns the subscriber."""

    async def as_batch(msg: NatsBatchMessage) -> NatsBatchMessage:
        return msg  # the handler reads each stored event itself

    subscriber = broker.subscriber(
        consumer.subject, stream=JStream(STREAM_NAME, declare=False), durable=consumer.name, config=consumer.server_config(),
        # A batch per pull, not a message: faststream's per-message path (its context, middlewares
        # and a task each) cost the registry more per enrolment than its own read models, for a
        # consumer that passes over nearly every event it reads (bench/consumers.py: 105 µs of CPU
        # per event against 32 µs for the batch subscriber). It fills a batch for up to FETCH_WAIT,
        # so under light traffic a message waits up to that long: the key shredder is the
        # safety net behind the erasure command's own follow-up, which erases at once.
        pull_sub=PullSub(batch_size=consumer.batch, timeout=FETCH_WAIT, batch=True),
        # faststream's own default inbox prefix is `_INBOX.`, where a service user may not
        # subscribe: its pull requests are answered under the service's prefix instead.
        inbox_prefix=f"{inbox_prefix}.".encode(),
        # Acknowledged here, each message on its own, not by faststream's policy: one whose
        # handler failed is delivered again after `retry_after`, and the rest are not held up.
        ack_policy=AckPolicy.MANUAL, decoder=as_batch, title=consumer.name,
    )

    @subscriber
    async def handle(batch: NatsBatchMessage) -> None:
        for msg in batch.raw_message:
            try:
                await consumer.handle(context, msg)
            except Exception:
                log.exception("a durable consumer's handler failed; the message comes again",
                              consumer=consumer.name, subject=msg.subject)
                await msg.nak(delay=consumer.retry_after)
                continue
            await msg.ack()

    return subscriber
