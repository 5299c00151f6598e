"""What the platform creates in JetStream before any service starts: the event stream and
the key-value buckets, each with the replicas the deployment asks for (pathways.runtime.
replicas). Services connect as themselves and may not create them."""

from __future__ import annotations

from nats.aio.client import Client

from pathways.core.logging import get_logger
from pathways.core.subjects import STREAM_NAME
from pathways.jetstream.store import ensure_stream
from pathways.policy.access import BUCKET as TOKENS
from pathways.policy.access import TokenStore
from pathways.policy.personal import BUCKET as PERSON_KEYS
from pathways.policy.personal import PersonKeys
from pathways.runtime.replicas import raise_replicas, replicas_for

log = get_logger("pathways.storage")
STREAMS = (STREAM_NAME, f"KV_{TOKENS}", f"KV_{PERSON_KEYS}")


async def prepare_storage(nc: Client, replicas: int | None = None) -> int:
    """Make (or check) the stream and the buckets; returns the replicas each has at least."""
    wanted = replicas_for(nc, replicas)
    await ensure_stream(nc, wanted)
    await TokenStore(nc).ensure_bucket()
    await PersonKeys(nc).ensure_bucket()
    for stream in STREAMS:
        if await raise_replicas(nc, stream, wanted):
            log.warning("raised a stream's replicas in place", stream=stream, replicas=wanted)
    return wanted
