"""The nats-servers `pathways up` runs: one, or (`--nodes 3`) a cluster of embedded servers
on loopback sharing the home's authorization, each with a store of its own. A cluster of
three is what gives every stream and bucket three copies (R3) on one machine, to try the
distributed setup (deploy/README) without containers; production runs one node per host.

The client ports are kept in $PATHWAYS_HOME/nats.port (one per node, node 1 first) and taken
again next time: credentials files written by `pathways org add` name them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from pathways.runtime.connection import ConnectionInfo
from pathways.runtime.natsserver import Credentials, EmbeddedNatsServer, Routes, free_port
from pathways.runtime.replicas import cluster_size

MAX_NODES = 5


def remembered_ports(home: Path) -> list[int]:
    try:
        return [int(p) for p in (home / "nats.port").read_text().split()]
    except (FileNotFoundError, ValueError):
        return []


def remember_ports(home: Path, servers: list[EmbeddedNatsServer]) -> None:
    (home / "nats.port").write_text(" ".join(str(s.port) for s in servers) + "\n")


def make_servers(home: Path, nodes: int, first_port: int | None, credentials: Credentials,
                 services: list[str]) -> list[EmbeddedNatsServer]:
    """The servers of this home: node 1 on `first_port` (or the one it used last, else
    4222), the others on the ports they used last where free."""
    if not 1 <= nodes <= MAX_NODES:
        raise ValueError(f"--nodes is 1 to {MAX_NODES}, not {nodes}")
    remembered = remembered_ports(home)
    wanted = [first_port or (remembered[0] if remembered else 4222)]
    wanted += [remembered[n] if n < len(remembered) else free_port() for n in range(1, nodes)]
    route_ports = [free_port() for _ in range(nodes)] if nodes > 1 else []
    servers = []
    for n in range(1, nodes + 1):
        routes = None
        if nodes > 1:
            routes = Routes(route_ports[n - 1], tuple(p for i, p in enumerate(route_ports) if i != n - 1))
        servers.append(EmbeddedNatsServer(home, port=wanted[n - 1], credentials=credentials, organisations=True,
                                          services=services, node=n, routes=routes))
    return servers


def start_servers(servers: list[EmbeddedNatsServer], timeout: float = 30.0) -> None:
    """Launched together: a cluster's nodes find each other as they come up."""
    for server in servers:
        server.launch()
    for server in servers:
        server.wait_ready(timeout)


def url_of(servers: list[EmbeddedNatsServer]) -> str:
    """Every node's address: a client connects to any and fails over to the others."""
    return ",".join(server.url for server in servers)


async def wait_formed(connection: ConnectionInfo, nodes: int, within: float = 60.0) -> None:
    """Until the cluster has all its nodes and JetStream has a leader to answer: replicas
    are counted from the servers a client sees, so a cluster still forming would get fewer."""
    deadline = time.monotonic() + within
    seen, failure = 0, ""
    while time.monotonic() < deadline:
        try:
            nc = await connection.connect("pathways-up", allow_reconnect=False, connect_timeout=5)
        except Exception as err:  # not up yet
            failure = str(err)
        else:
            try:
                seen = cluster_size(nc)
                if seen >= nodes:
                    await nc.jetstream().account_info()
                    return
            except Exception as err:  # no JetStream leader elected yet
                failure = str(err)
            finally:
                await nc.close()
        await asyncio.sleep(0.25)
    raise TimeoutError(f"the {nodes} nats-servers did not form one cluster in {within:.0f} s "
                       f"({seen} seen{'; ' + failure if failure else ''}); see nats-server*.log in the home")
