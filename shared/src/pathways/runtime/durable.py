"""A service's durable consumers (`ServiceDefinition.consumers`) on faststream's JetStream
pull subscriber, with explicit acknowledgement: a message is acknowledged after its
handler returns, and one whose handler raised is delivered again after a pause rather
than at once (a key store that is down is not hammered)."""

from __future__ import annotations

from typing import Any

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from nats.js.api import AckPolicy as ServerAck
from nats.js.api import ConsumerConfig, DeliverPolicy

from pathways.logging import get_logger
from pathways.service import BackgroundContext, DurableConsumer
from pathways.subjects import STREAM_NAME

log = get_logger("pathways.durable")

# How long one pull request waits for messages: a stopping service waits at most this long.
FETCH_WAIT = 1.0


def subscribe(broker: NatsBroker, consumer: DurableConsumer, context: BackgroundContext, inbox_prefix: str) -> Any:
    """Registers `consumer` on `broker` (before the broker starts); returns the subscriber."""

    async def as_message(msg: NatsMessage) -> NatsMessage:
        return msg  # the handler reads the stored event itself

    config = ConsumerConfig(
        name=consumer.name, durable_name=consumer.name, filter_subject=consumer.subject,
        deliver_policy=DeliverPolicy.ALL, ack_policy=ServerAck.EXPLICIT, ack_wait=consumer.ack_wait,
        max_ack_pending=consumer.batch * 4,
    )
    subscriber = broker.subscriber(
        consumer.subject, stream=JStream(STREAM_NAME, declare=False), durable=consumer.name, config=config,
        pull_sub=PullSub(batch_size=consumer.batch, timeout=FETCH_WAIT),
        # faststream's own default inbox prefix is `_INBOX.`, where a service user may not
        # subscribe: its pull requests are answered under the service's prefix instead.
        inbox_prefix=f"{inbox_prefix}.".encode(),
        # Acknowledged here, not by faststream's policy: a failure is delivered again after
        # `retry_after`, where NACK_ON_ERROR would deliver it again at once.
        ack_policy=AckPolicy.MANUAL, decoder=as_message, title=consumer.name,
    )

    @subscriber
    async def handle(msg: NatsMessage) -> None:
        try:
            await consumer.handle(context, msg.raw_message)
        except Exception:
            log.exception("a durable consumer's handler failed; the message comes again",
                          consumer=consumer.name, subject=msg.raw_message.subject)
            await msg.nack(delay=consumer.retry_after)
            return
        await msg.ack()

    return subscriber
