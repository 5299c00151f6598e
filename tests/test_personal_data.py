"""Personal data (DESIGN §4 G7), against a real nats-server of its own: participants
enrolled with made-up personal details leave no plain text in any stored event, log line,
read-model or ledger database; identities open only for the partner and the commissioner,
each opening recorded; after erasure nothing can recover them and the ledger still verifies."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from pathways.eventstore.jetstream import JetStreamEventStore
from pathways.ledger.verifier import VerifierKey
from pathways.personal import DetailsErased, PersonKeys
from pathways.runtime.host import ServiceHost
from pathways.service import discover
from pathways.testing.servers import NatsEndpoint
from pathways_audit.sources import DatabaseLedger
from pathways_audit.verify import verify_history

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, running, setup_programme, signed_in, unique
from tests.test_reporting import caught_up

# Made-up people: nothing here belongs to anyone.
PEOPLE = {
    "pt-marigold": {"name": "Marigold Featherstonehaugh", "date_of_birth": "1947-07-19",
                    "contact": "marigold.f@example.invalid", "nhs_number": "9990012345"},
    "pt-osric": {"name": "Osric Pennywhistle", "date_of_birth": "1983-11-29", "contact": "07700 900461"},
}
SECRETS = [v for person in PEOPLE.values() for v in person.values()]


@dataclass
class Platform:
    nc: Client
    client: CommandClient
    registry: ServiceHost
    audit: ServiceHost
    reporting: ServiceHost
    s: ProgrammeSetup
    folder: Path


@pytest.fixture
async def platform(own_nats_server: NatsEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Platform]:
    monkeypatch.setenv("PATHWAYS_LEDGER_KEY", str(tmp_path / "keys" / "ledger.key"))
    monkeypatch.setenv("PATHWAYS_LEDGER_CHECKPOINT_SECONDS", "0.3")
    services = discover()
    nc = await own_nats_server.connection.connect("personal-data-test")
    client = CommandClient(nc)
    async with running(services["registry"], own_nats_server, tmp_path) as registry, \
            running(services["reporting"], own_nats_server, tmp_path) as reporting, \
            running(services["audit"], own_nats_server, tmp_path) as audit:
        s = await setup_programme(client)
        yield Platform(nc, client, registry, audit, reporting, s, tmp_path)
    await nc.close()


def everywhere(p: Platform, captured: str) -> str:
    """Everything a person with the disks and the logs could read."""
    databases = "\n".join(path.read_bytes().decode("latin-1") for path in p.folder.rglob("*.db*"))
    return captured + databases


async def stream_text(nc: Client) -> str:
    store = JetStreamEventStore(nc)
    return "\n".join([e.payload.decode() async for e in store.read_all(1, await store.last_sequence())])


async def test_personal_details_are_sealed_opened_only_for_the_right_roles_and_erasable(
    platform: Platform, capfd: pytest.CaptureFixture[str],
) -> None:
    p, s = platform, platform.s
    for person, details in PEOPLE.items():
        reply = await p.client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, person) | {"personal": details})
        assert reply["status"] == "accepted", reply
    # A refused enrolment carrying details: the refusal is recorded, the details are not.
    refused = await p.client.send(s.partner_a, "EnrolParticipant",
                                  enrolment(s.programme_id, "pt-refused", setting="moon") | {"personal": PEOPLE["pt-osric"]})
    assert refused["code"] == "invalid" and "Osric" not in json.dumps(refused)
    await caught_up(p.audit, p.nc)
    async with await signed_in(p.audit, unique("auditor"), "auditor") as auditor:
        record = (await auditor.get("/audit/rejections", params={"limit": 1})).json()[0]
    # The kept hash cannot confirm a guess at the person: it is not the hash of what carried the details.
    sent = {"idempotency_key": record["idempotency_key"], "organisation": s.partner_a, "actor": "tester",
            "data": enrolment(s.programme_id, "pt-refused", setting="moon") | {"personal": PEOPLE["pt-osric"]}}
    assert record["body_sha256"] != hashlib.sha256(json.dumps(sent).encode()).hexdigest()
    forged = await p.client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, "pt-forged") | {
        "sealed_personal": {"nonce": "AAAAAAAAAAAAAAAA", "ciphertext": "AAAA"}})
    assert forged["code"] == "invalid"  # only the platform seals

    for host in (p.registry, p.reporting, p.audit):
        await caught_up(host, p.nc)
    stored = await stream_text(p.nc)
    assert '"personal":{"alg":"AES-256-GCM"' in stored  # sealed, and there
    scanned = everywhere(p, capfd.readouterr().err + stored)
    assert "pt-marigold" in scanned and "command rejected" in scanned  # the scan does read the databases and logs
    leaks = [secret for secret in SECRETS if secret in scanned]
    assert leaks == []

    # Identities open for the partner and the commissioner, never for others; each opening is on the record.
    path = f"/programmes/{s.programme_id}/participants/pt-marigold/identity"
    async with await signed_in(p.registry, s.partner_a, "partner") as partner:
        opened = await partner.get(path)
        assert opened.status_code == 200 and opened.json()["name"] == "Marigold Featherstonehaugh"
    async with await signed_in(p.registry, s.commissioner, "commissioner") as commissioner:
        assert (await commissioner.get(path)).json()["nhs_number"] == "9990012345"
    for org, role, status in [(s.evaluator, "evaluator", 403), (unique("auditor"), "auditor", 403),
                              ("operator", "operator", 403), (s.partner_b, "partner", 404),
                              (unique("commissioner"), "commissioner", 404)]:
        async with await signed_in(p.registry, org, role) as other:
            denied = await other.get(path)
            assert denied.status_code == status and "Marigold" not in denied.text, (role, denied.text)
    await caught_up(p.audit, p.nc)
    async with await signed_in(p.audit, unique("auditor"), "auditor") as auditor:
        reads = (await auditor.get("/audit/participants/pt-marigold/reads")).json()
    assert [(r["organisation_id"], r["service"]) for r in reads] == [(s.partner_a, "registry"), (s.commissioner, "registry")]

    # Erasure: the key is deleted; nothing opens the details again; the history still verifies.
    erase = {"programme_id": s.programme_id, "participant_id": "pt-marigold", "on": "2026-01-05"}
    first = await p.client.send(s.partner_a, "EraseParticipantData", erase, key="erase-marigold")
    assert first["status"] == "accepted", first
    assert await p.client.send(s.partner_a, "EraseParticipantData", erase, key="erase-marigold") == first
    with pytest.raises(DetailsErased):
        await PersonKeys(p.nc).existing(s.programme_id, "pt-marigold")
    await caught_up(p.registry, p.nc)
    async with await signed_in(p.registry, s.partner_a, "partner") as partner:
        gone = await partner.get(path)
        assert gone.status_code == 410 and "Marigold" not in gone.text
        still = await partner.get(f"/programmes/{s.programme_id}/participants/pt-osric/identity")
        assert still.json()["name"] == "Osric Pennywhistle"  # another person's details are untouched
    assert '"participant_id":"pt-marigold"' in await stream_text(p.nc)  # the pseudonymous history stays
    async with await signed_in(p.registry, s.commissioner, "commissioner") as commissioner:
        roster = (await commissioner.get(f"/programmes/{s.programme_id}")).json()
    assert (roster["unique_participants"], roster["erased_participants"]) == (2, 1)  # the roster shows the erasure
    await signed_checkpoint(p)
    report = await verify_history(JetStreamEventStore(p.nc), vkey(p), ledger=DatabaseLedger(p.audit.engine))
    assert report.ok, report.problems
    leaks = [secret for secret in SECRETS if secret in everywhere(p, capfd.readouterr().err)]
    assert leaks == []


def vkey(p: Platform) -> VerifierKey:
    return VerifierKey.parse((p.folder / "keys" / "ledger.vkey").read_text())


async def signed_checkpoint(p: Platform) -> Any:
    """A checkpoint covering the last event that is not itself a checkpoint (the signer
    never signs a checkpoint of nothing but checkpoints)."""
    from pathways_audit import records

    store = JetStreamEventStore(p.nc)
    events = [e async for e in store.read_all(1, await store.last_sequence())]
    last = max(e.sequence for e in events if not e.subject.endswith(".audit.checkpoints"))
    for _ in range(200):
        with p.audit.engine.connect() as conn:
            latest = records.latest_checkpoint(conn)
        if latest is not None and latest.tree_size >= last:
            return latest
        await asyncio.sleep(0.1)
    raise AssertionError("no checkpoint covered the history")
