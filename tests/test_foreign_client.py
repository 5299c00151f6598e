"""A client written without Pathways or nats-py can enrol a participant: the exported
JSON Schema and the README are enough. The body is the README's example, verbatim,
checked against the exported schema, then sent over a raw TCP socket in the NATS text
protocol — what a partner's system in any language would do."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path
from typing import Any

import jsonschema
from pathways.core.commands import OPERATOR_ORGANISATION
from pathways.jetstream.contract import export_schemas
from pathways.runtime.host import ServiceHost
from pathways.runtime.service import all_schemas, discover
from pathways.testing.servers import NatsEndpoint
from pathways_registry.app import service as registry_service

from tests.conftest import CommandClient

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> dict[str, Any]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```json\n(.*?)```", readme, re.S)
    assert block, "README.md shows an example command"
    body: dict[str, Any] = json.loads(block.group(1))
    return body


def raw_nats_request(url: str, user: str, password: str, subject: str, payload: bytes, inbox: str) -> bytes:
    host, port = url.removeprefix("nats://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        stream = sock.makefile("rb")
        assert stream.readline().startswith(b"INFO ")
        connect = {"verbose": False, "pedantic": False, "user": user, "pass": password, "protocol": 1, "lang": "raw"}
        sock.sendall(f"CONNECT {json.dumps(connect)}\r\n".encode())
        sock.sendall(f"SUB {inbox} 1\r\n".encode())
        sock.sendall(f"PUB {subject} {inbox} {len(payload)}\r\n".encode() + payload + b"\r\nPING\r\n")
        while True:
            line = stream.readline()
            if line.startswith(b"PING"):
                sock.sendall(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise RuntimeError(line.decode())
            elif line.startswith(b"MSG "):
                size = int(line.split()[-1])
                return stream.read(size + 2)[:size]


async def test_readme_example_validates_and_is_accepted_from_a_raw_socket(own_nats_server: NatsEndpoint, tmp_path: Path) -> None:
    exported = export_schemas(all_schemas(discover()), tmp_path / "schemas")
    schema = json.loads((tmp_path / "schemas" / "commands" / "registry.EnrolParticipant.v1.json").read_text())
    assert tmp_path / "schemas" / "commands" / "registry.EnrolParticipant.v1.json" in exported
    body = readme_example()
    jsonschema.validate(body, schema)
    bad = json.loads(json.dumps(body))
    bad["data"]["setting"] = "moon"
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad)), "the schema catches a bad setting"

    host = ServiceHost(registry_service, own_nats_server.connection, database_url=f"sqlite:///{tmp_path / 'r.db'}")
    await host.start()
    nc = await own_nats_server.connection.connect()
    try:
        client = CommandClient(nc)
        partner, programme = body["organisation"], body["data"]["programme_id"]
        for org, kind in [("commissioner-x", "commissioner"), (partner, "delivery_partner")]:
            assert (await client.send(OPERATOR_ORGANISATION, "RegisterOrganisation", {"organisation_id": org, "name": org,
                                                                                      "kind": kind}))["status"] == "accepted"
        await client.send("commissioner-x", "LaunchProgramme", {"programme_id": programme, "name": "P", "aims": ["a"],
                                                                "starts_on": "2025-10-01", "ends_on": "2026-09-30",
                                                                "budget_pence": 100000})
        await client.send("commissioner-x", "CommissionPartner", {"programme_id": programme, "contract_id": "k1",
                                                                  "partner_id": partner,
                                                                  "budget_pence": 1000, "activities": ["yoga"],
                                                                  "starts_on": "2025-10-01", "ends_on": "2026-09-30"})
        conn = own_nats_server.connection
        subject = f"pathways.cmd.{partner}.registry.EnrolParticipant"
        # A reply comes back only on the sender's own inboxes, `_INBOX.<organisation>.…` (README).
        raw = await asyncio.to_thread(raw_nats_request, conn.nats_url, conn.user or "", conn.password or "", subject,
                                      json.dumps(body).encode(), f"_INBOX.{partner}.foreign")
        reply = json.loads(raw)
        jsonschema.validate(reply, json.loads((tmp_path / "schemas" / "replies" / "Accepted.json").read_text()))
        assert reply["status"] == "accepted" and len(reply["event_ids"]) == 1
    finally:
        await nc.close()
        await host.stop()
