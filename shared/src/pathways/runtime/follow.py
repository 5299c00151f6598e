"""An organisation follows its own facts: a durable consumer per organisation,
`follow-<id>`, of the events on its own subjects (`pathways.evt.*.<id>.>`: its enrolments,
sessions, claims and their approvals, invoices, the records of its own refused commands),
made by the platform, never by the organisation, and delivering to the organisation's own
inbox, `_INBOX.<id>.follow`, which only it may subscribe to.

The organisation sends nothing to JetStream at all: it subscribes to that subject, and the
consumer moves on as it delivers (while nobody listens it waits, so a partner system that
was offline resumes where it left off; what was in flight when it crashed is not sent
again). Why no pull and no acknowledgement: any JetStream request an organisation may make
(a pull, an acknowledgement with a reply, a consumer's info) lets it name the subject the
server answers on, and the server's answer on `$KV.<bucket>.<key>` is stored in that bucket
(found while building this: a pull answered onto `$KV.PATHWAYS_TOKENS.…` wrote the event
there). An organisation that only subscribes to its own inbox can name nothing."""

from __future__ import annotations

from collections.abc import Iterable

import nats.js.errors
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from pathways.core.subjects import EVENTS_ROOT, STREAM_NAME
from pathways.runtime.accounts import inbox_prefix


def follow_consumer(organisation_id: str) -> str:
    return f"follow-{organisation_id}"


def followed_subject(organisation_id: str) -> str:
    return f"{EVENTS_ROOT}.*.{organisation_id}.>"


def delivered_to(organisation_id: str) -> str:
    """Where the organisation's consumer delivers: under its own inbox prefix."""
    return f"{inbox_prefix(organisation_id)}.follow"


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
            deliver_subject=delivered_to(organisation_id), deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE))
        made.append(organisation_id)
    return made
