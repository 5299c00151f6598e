"""An organisation follows its own facts: a durable pull consumer per organisation,
`follow-<id>`, of the events on its own subjects (`pathways.evt.*.<id>.>`: its enrolments,
sessions, claims and their approvals, invoices, earnings warnings about its co-producers,
its outcomes and tracker items), made by the platform, never by the organisation.

The organisation may only pull from its own consumer and acknowledge what it got
(pathways.runtime.accounts): it can create no consumer, so it can neither widen the filter
nor name a subject for the server to deliver to (which the server's permissions could not
see), and it cannot read another organisation's. Acknowledged events are not delivered
again; an unacknowledged one comes back after ACK_WAIT, so a partner system that crashes
mid-batch loses nothing."""

from __future__ import annotations

from collections.abc import Iterable

import nats.js.errors
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from pathways.subjects import EVENTS_ROOT, STREAM_NAME

ACK_WAIT = 30.0  # seconds before an event fetched and not acknowledged is delivered again
MAX_ACK_PENDING = 1000  # events out and not yet acknowledged, at most


def follow_consumer(organisation_id: str) -> str:
    return f"follow-{organisation_id}"


def followed_subject(organisation_id: str) -> str:
    return f"{EVENTS_ROOT}.*.{organisation_id}.>"


async def ensure_following(nc: Client, organisation_ids: Iterable[str]) -> list[str]:
    """Make each organisation's consumer if it has none; returns the ones made."""
    js = nc.jetstream()
    made = []
    for organisation_id in organisation_ids:
        name = follow_consumer(organisation_id)
        try:
            await js.consumer_info(STREAM_NAME, name)
            continue
        except nats.js.errors.NotFoundError:
            pass
        await js.add_consumer(STREAM_NAME, config=ConsumerConfig(
            durable_name=name, name=name, filter_subject=followed_subject(organisation_id),
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT,
            max_ack_pending=MAX_ACK_PENDING))
        made.append(organisation_id)
    return made


def following_permissions(organisation_id: str) -> list[str]:
    """What an organisation's user may publish to pull from its own consumer and acknowledge."""
    name = follow_consumer(organisation_id)
    return [f"$JS.API.CONSUMER.INFO.{STREAM_NAME}.{name}", f"$JS.API.CONSUMER.MSG.NEXT.{STREAM_NAME}.{name}",
            f"$JS.ACK.{STREAM_NAME}.{name}.>"]
