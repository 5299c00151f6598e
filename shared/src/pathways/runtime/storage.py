"""What the platform creates in JetStream before any service starts: the event stream and
the key-value buckets. Services connect as themselves and may not create them."""

from __future__ import annotations

from nats.aio.client import Client

from pathways.access import TokenStore
from pathways.eventstore.jetstream import ensure_stream
from pathways.personal import PersonKeys


async def prepare_storage(nc: Client) -> None:
    await ensure_stream(nc)
    await TokenStore(nc).ensure_bucket()
    await PersonKeys(nc).ensure_bucket()
