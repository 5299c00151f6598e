"""pytest fixtures for Pathways (registered as a pytest11 entry point)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from nats.aio.client import Client

from pathways.testing.servers import NatsEndpoint, nats_endpoint, postgres_url, wheel_nats_server


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsEndpoint]:
    """One real NATS server with JetStream for the session (see servers.py for the order)."""
    with nats_endpoint(tmp_path_factory.mktemp("nats")) as endpoint:
        yield endpoint


@pytest.fixture
def own_nats_server(tmp_path: Path) -> Iterator[NatsEndpoint]:
    """A nats-server process of the test's own, for tests that kill or restart it."""
    with wheel_nats_server(tmp_path / "nats") as endpoint:
        yield endpoint


@pytest.fixture
async def nats_client(nats_server: NatsEndpoint) -> AsyncIterator[Client]:
    nc = await nats_server.connection.connect("pathways-test")
    yield nc
    await nc.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL database of this test process's own, made empty for the run and dropped
    after it; tests that need it are reported as not run when there is no server.

    The suite's two xdist workers once shared the server's one database, so two modules
    writing the same read-model tables at the same moment (a projection's rebuild swap in
    each) could deadlock each other. A worker runs its tests one at a time, so a database
    per worker removes that without making a database for every test."""
    with postgres_url() as url:
        if url is None:
            pytest.skip("PostgreSQL not available: set PATHWAYS_TEST_POSTGRES_URL or run a Docker engine")
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with _own_database(url, f"pathways_test_{worker}") as own:
            yield own


@pytest.fixture
def fresh_postgres(postgres: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (dropped afterwards): read models that
    consume the whole stream must not meet rows left by another test or an earlier run."""
    with _own_database(postgres, "pathways_test") as own:
        yield own


@contextmanager
def _own_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new database on `server_url`'s server, named `prefix` and a random suffix (two
    runs of the suite on one server never meet), dropped when the block ends."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False).replace("+psycopg", "", 1)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
