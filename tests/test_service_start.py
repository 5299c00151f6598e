"""A service says it has started only once it can do what it says: its read models' tables
are there, and its HTTP API listens. Short of either, it does not run half alive."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from pathways.jetstream.runner import ProjectionRunner
from pathways.runtime.host import HttpUnavailable
from pathways.runtime.service import discover
from pathways.testing.servers import NatsEndpoint
from sqlalchemy import inspect

from tests.conftest import running


async def test_a_service_says_it_has_started_only_once_its_read_model_tables_are_there(
    nats_server: NatsEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HTTP read the moment a service is up found 'no such table' (seen in the suite: the
    registry's /organisations, its tables still being made in a thread). Making them is slowed
    here, so a host that did not wait for them would say it had started without them."""
    made = ProjectionRunner.create_tables

    def slowly(self: ProjectionRunner) -> None:
        time.sleep(1.0)
        made(self)

    monkeypatch.setattr(ProjectionRunner, "create_tables", slowly)
    async with running(discover()["registry"], nats_server, tmp_path) as registry:
        wanted = {t.name for p in (*registry.service.views, *registry.service.projections) for t in p.tables}
        with registry.engine.connect() as conn:
            assert wanted and wanted <= set(inspect(conn).get_table_names())



async def test_a_service_whose_http_port_is_taken_says_so_and_stops_what_it_started(
    nats_server: NatsEndpoint, tmp_path: Path
) -> None:
    """A port `pathways up` found free can be taken before the service binds it (seen in the
    suite: two platforms starting at once). uvicorn then exits the process's loop; the service
    stayed up half alive, its API gone. Now it raises, having stopped its consumers first."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        before = {t for t in asyncio.all_tasks()}
        with pytest.raises(HttpUnavailable, match=f"127.0.0.1:{port}"):
            async with running(discover()["registry"], nats_server, tmp_path, http_port=port):
                pass
        await asyncio.sleep(0.1)
        left = [t.get_name() for t in asyncio.all_tasks() - before if not t.done()]
        assert left == []  # nothing it started still runs (its runners, consumers, the API)
    finally:
        taken.close()
