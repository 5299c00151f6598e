"""How many copies of the history and the buckets the servers keep (DESIGN §4 G8: the loss
of one node of a three-node cluster loses nothing and stops nothing).

The deployment may say (`PATHWAYS_REPLICAS`, `pathways up --replicas`, the compose
variable of the same name); otherwise it is the cluster's size, capped at 3, as the server
the platform is connected to describes its cluster. A stream or bucket made with fewer
(by an earlier version, or before the cluster grew) is raised in place by a stream update:
the servers copy what it holds to the new replicas, and nothing is rewritten or lost. A
stream is never lowered here: that is an operator's decision."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nats.aio.client import Client

MAX_REPLICAS = 3  # JetStream's useful maximum: R5 exists, but costs writes for no more safety here


def cluster_size(nc: Client) -> int:
    """Servers in the cluster of the server `nc` is connected to (1 when it is alone). The
    server's INFO on connecting names its cluster and lists every member's client URL; nats-py
    keeps only that first INFO, but adds the members later INFOs announce to its server pool as
    discovered, so those count too (a client that connected while a route was still forming)."""
    info = nc._server_info  # nats-py keeps the server's INFO here and offers no accessor
    if not info.get("cluster"):
        return 1
    members = set(info.get("connect_urls") or [])
    members |= {uri.netloc for uri in nc.discovered_servers}
    return max(1, len(members))


def replicas_for(nc: Client, asked: int | None = None) -> int:
    size = cluster_size(nc)
    if asked is None and os.environ.get("PATHWAYS_REPLICAS"):
        try:
            asked = int(os.environ["PATHWAYS_REPLICAS"])
        except ValueError:
            raise ValueError(f"PATHWAYS_REPLICAS must be a whole number, not {os.environ['PATHWAYS_REPLICAS']!r}") from None
    wanted = asked if asked is not None else min(MAX_REPLICAS, size)
    if not 1 <= wanted <= size:
        raise ValueError(f"{wanted} replicas asked for, but the cluster has {size} server{'s' if size > 1 else ''}: "
                         f"use 1 to {size}.")
    return wanted


@dataclass(frozen=True)
class Placement:
    """Where one stream stands: what `pathways status` shows."""

    stream: str
    replicas: int
    leader: str | None
    lagging: dict[str, int]  # replica → operations behind the leader
    offline: tuple[str, ...]


async def raise_replicas(nc: Client, stream: str, replicas: int) -> bool:
    """Give `stream` at least `replicas` copies; True if it had to be raised."""
    js = nc.jetstream(timeout=30)
    info = await js.stream_info(stream)
    if (info.config.num_replicas or 1) >= replicas:
        return False
    info.config.num_replicas = replicas
    await js.update_stream(info.config)
    return True


async def placement(nc: Client, stream: str) -> Placement:
    info = await nc.jetstream(timeout=10).stream_info(stream)
    cluster = info.cluster
    peers = (cluster.replicas or []) if cluster else []
    return Placement(
        stream, info.config.num_replicas or 1, cluster.leader if cluster else None,
        {str(p.name): int(p.lag or 0) for p in peers if p.lag},
        tuple(str(p.name) for p in peers if p.offline),
    )
