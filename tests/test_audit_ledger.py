"""The audit ledger against a real nats-server of its own: the tree the service keeps equals
the RFC 6962 tree recomputed from the stored bytes, its checkpoints are signed and on the
stream, proofs verify with the standalone verifier (run as its own program, from a copy)
and fail when corrupted, and only auditors may use the API."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client
from pathways.jetstream.store import JetStreamEventStore
from pathways.policy.access import TokenStore
from pathways.policy.ledger import verifier
from pathways.policy.ledger.merkle import root_of
from pathways.policy.ledger.verifier import VerifierKey, leaf_hash, open_checkpoint, verify_bundle
from pathways.runtime.host import ServiceHost
from pathways.runtime.service import discover
from pathways.testing.servers import NatsEndpoint
from pathways_audit import records as audit_records

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, running, setup_programme, unique


@dataclass
class AuditedPlatform:
    nats: NatsEndpoint
    nc: Client
    client: CommandClient
    registry: ServiceHost
    audit: ServiceHost
    vkey: VerifierKey
    key_path: Path
    auditor_token: str

    @property
    def store(self) -> JetStreamEventStore:
        return JetStreamEventStore(self.nc)

    def http(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token or self.auditor_token}"}
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.audit.http_app()), base_url="http://audit",
                                 headers=headers, timeout=60)


@pytest.fixture
async def platform(
    own_nats_server: NatsEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AuditedPlatform]:
    """Registry and audit on a server of their own, checkpoints every 0.2 s."""
    key_path = tmp_path / "keys" / "ledger.key"
    monkeypatch.setenv("PATHWAYS_LEDGER_KEY", str(key_path))
    monkeypatch.setenv("PATHWAYS_LEDGER_ORIGIN", "pathways.test/ledger")
    monkeypatch.setenv("PATHWAYS_LEDGER_CHECKPOINT_SECONDS", "0.2")
    services = discover()
    nc = await own_nats_server.connection.connect("audit-test")
    async with running(services["registry"], own_nats_server, tmp_path) as registry, \
            running(services["audit"], own_nats_server, tmp_path) as audit:
        token = await TokenStore(nc).issue(unique("auditor"), "auditor")
        vkey = VerifierKey.parse(key_path.with_suffix(".vkey").read_text())
        yield AuditedPlatform(own_nats_server, nc, CommandClient(nc), registry, audit, vkey, key_path, token)
    await nc.close()


async def signed_up_to(p: AuditedPlatform, sequence: int, seconds: float = 30) -> str:
    """Wait for a checkpoint covering `sequence`; returns its note. (A checkpoint that is
    itself the last event is covered by none: the signer never signs only checkpoints.)"""
    while sequence > 1:
        stored = await p.store.get(sequence)
        if stored is None or not stored.subject.endswith(".audit.checkpoints"):
            break
        sequence -= 1
    for _ in range(int(seconds / 0.1)):
        with p.audit.engine.connect() as conn:
            latest = audit_records.latest_checkpoint(conn)
        if latest is not None and latest.tree_size >= sequence:
            return str(latest.note)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no checkpoint covered sequence {sequence} within {seconds} s")


async def some_history(p: AuditedPlatform, people: int = 5) -> ProgrammeSetup:
    s = await setup_programme(p.client)
    for i in range(people):
        reply = await p.client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, f"pt-{i}"))
        assert reply["status"] == "accepted", reply
    return s


async def test_the_ledger_is_the_rfc6962_tree_of_the_stored_bytes_and_checkpoints_are_signed(platform: AuditedPlatform) -> None:
    await some_history(platform)
    last = await platform.store.last_sequence()
    note = await signed_up_to(platform, last)
    checkpoint = open_checkpoint(note, platform.vkey)
    stored = [e async for e in platform.store.read_all(1, checkpoint.size)]
    assert [e.sequence for e in stored] == list(range(1, checkpoint.size + 1))
    # Recomputed here from the bytes NATS holds, with the reference MTH, not the ledger's code path.
    assert root_of([leaf_hash(e.payload) for e in stored]) == checkpoint.root
    assert checkpoint.origin == "pathways.test/ledger" and checkpoint.time is not None
    # The checkpoint is itself on the stream, on the checkpoints subject.
    published = [e for e in [x async for x in platform.store.read_all(1, await platform.store.last_sequence())]
                 if e.subject.endswith(".audit.checkpoints")]
    assert any(json.loads(e.payload)["data"]["note"] == note for e in published)
    # The signer stops when nothing but checkpoints has been added since the last one.
    await asyncio.sleep(1.0)
    quiet = await platform.store.last_sequence()
    await asyncio.sleep(1.0)
    assert await platform.store.last_sequence() == quiet
    # A note signed by another key, or altered, does not open.
    with pytest.raises(verifier.CheckpointError):
        open_checkpoint(note.replace(f"\n{checkpoint.size}\n", f"\n{checkpoint.size + 1}\n"), platform.vkey)


async def test_proofs_verify_with_the_standalone_verifier_and_fail_when_corrupted(
    platform: AuditedPlatform, tmp_path: Path
) -> None:
    await some_history(platform, people=3)
    old_note = await signed_up_to(platform, await platform.store.last_sequence())  # what an auditor kept then
    await some_history(platform, people=4)
    last = await platform.store.last_sequence()
    await signed_up_to(platform, last)
    enrolled = [e async for e in platform.store.read_all(1, last) if b".ParticipantEnrolled" in e.payload]
    event_id = json.loads(enrolled[-1].payload)["id"]
    async with platform.http() as auditor:
        response = await auditor.get(f"/audit/proofs/inclusion/{event_id}")
        assert response.status_code == 200, response.text
        inclusion = response.json()
        assert inclusion["sequence"] == enrolled[-1].sequence and inclusion["tree_size"] >= last
        assert "is entry" in verify_bundle(inclusion, platform.vkey)
        response = await auditor.post("/audit/proofs/consistency", content=old_note, headers={"content-type": "text/plain"})
        assert response.status_code == 200, response.text
        consistency = response.json()
        assert "is a prefix" in verify_bundle(consistency, platform.vkey)

    # The verifier as an auditor runs it: one copied file, the key and the proofs.
    alone = tmp_path / "auditor"
    alone.mkdir()
    shutil.copy(verifier.__file__, alone / "verifier.py")
    (alone / "ledger.vkey").write_text(str(platform.vkey))
    (alone / "inclusion.json").write_text(json.dumps(inclusion))
    (alone / "consistency.json").write_text(json.dumps(consistency))
    (alone / "checkpoint.txt").write_text(old_note)

    def run(*files: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-I", "verifier.py", "--key", "ledger.vkey", *files],
                              cwd=alone, capture_output=True, text=True, timeout=60)

    good = run("inclusion.json", "consistency.json", "checkpoint.txt")
    assert good.returncode == 0, good.stderr
    assert good.stdout.count("OK") == 3

    # Any bit flipped in any hash of the proof, the event or the checkpoint's root fails.
    for element in range(len(inclusion["proof"])):
        for bit in (0, 7, 255):
            bad = json.loads(json.dumps(inclusion))
            raw = bytearray(bytes.fromhex(bad["proof"][element]))
            raw[bit // 8] ^= 1 << (bit % 8)
            bad["proof"][element] = raw.hex()
            with pytest.raises(verifier.ProofError):
                verify_bundle(bad, platform.vkey)
    for field, change in [("leaf_index", 1), ("leaf_index", -1), ("tree_size", 1), ("tree_size", -1)]:
        bad = json.loads(json.dumps(inclusion))
        bad[field] += change
        with pytest.raises(verifier.ProofError):
            verify_bundle(bad, platform.vkey)
    bad = json.loads(json.dumps(consistency))
    raw = bytearray(bytes.fromhex(bad["proof"][0]))
    raw[0] ^= 1
    bad["proof"][0] = raw.hex()
    (alone / "bad-consistency.json").write_text(json.dumps(bad))
    event = bytearray(base64.b64decode(inclusion["event_base64"]))
    event[10] ^= 1
    tampered = dict(inclusion, event_base64=base64.b64encode(bytes(event)).decode())
    (alone / "bad-inclusion.json").write_text(json.dumps(tampered))
    failed = run("bad-consistency.json", "bad-inclusion.json")
    assert failed.returncode == 1
    assert failed.stderr.count("FAIL") == 2, failed.stderr


async def test_only_auditors_may_use_the_audit_api(platform: AuditedPlatform) -> None:
    s = await some_history(platform, people=1)
    await signed_up_to(platform, await platform.store.last_sequence())
    tokens = TokenStore(platform.nc)
    paths = ["/audit/ledger", "/audit/public-key", "/audit/checkpoints", "/audit/checkpoints/latest", "/audit/ledger/leaves",
             "/audit/proofs/inclusion/1", "/audit/verify", "/audit/replay?as_of=2030-01-01",
             "/audit/participants/pt-0/reads", "/audit/rejections", "/audit/stream", "/audit/stream/last"]
    async with platform.http() as auditor:
        for path in paths:
            assert (await auditor.get(path)).status_code == 200, path
    for org, role in [(s.commissioner, "commissioner"), (s.partner_a, "partner"), (s.evaluator, "evaluator"),
                      ("operator", "operator")]:
        async with platform.http(await tokens.issue(org, role)) as other:
            for path in paths:
                assert (await other.get(path)).status_code == 403, (role, path)
            refused = await other.post("/audit/proofs/consistency", content="x", headers={"content-type": "text/plain"})
            assert refused.status_code == 403
    transport = httpx.ASGITransport(app=platform.audit.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://audit") as anonymous:
        for path in paths:
            assert (await anonymous.get(path)).status_code == 401, path


async def test_replay_and_verify_over_http_for_an_auditor(platform: AuditedPlatform) -> None:
    s = await some_history(platform, people=2)
    last = await platform.store.last_sequence()
    await signed_up_to(platform, last)
    moment = datetime.now(UTC).isoformat()
    async with platform.http() as auditor:
        lines = [json.loads(line) for line in (await auditor.get("/audit/replay", params={"as_of": moment})).text.splitlines()]
        mine = (await auditor.get("/audit/replay", params={"as_of": moment, "organisation": s.partner_a})).text.splitlines()
        report = (await auditor.get("/audit/verify")).json()
        bad = await auditor.get("/audit/replay", params={"as_of": "soon"})
    assert lines[-1]["end"] is True and lines[-1]["events"] == len(lines) - 1 >= last
    assert [r["sequence"] for r in lines[:-1]] == list(range(1, len(lines)))
    assert {json.loads(line)["event"]["organisation"] for line in mine[:-1]} == {s.partner_a}
    assert report["ok"] and report["ledger_compared"] and report["events"] >= last and report["checkpoints"] >= 1
    assert bad.status_code == 422


async def test_an_auditor_reads_the_stream_byte_for_byte_through_the_audit_service(platform: AuditedPlatform) -> None:
    """Auditors ask JetStream nothing (pathways.runtime.accounts): `pathways audit verify`
    reads the stream from GET /audit/stream, a page at a time. Every message comes back as
    stored (sequence, subject, time, the exact bytes the ledger hashes), across page
    boundaries, and the history verifies from it against the ledger."""
    from pathways.policy.ledger.verifier import VerifierKey
    from pathways_audit.sources import HttpLedger, HttpStream
    from pathways_audit.verify import verify_history

    await some_history(platform, people=3)
    last = await platform.store.last_sequence()
    await signed_up_to(platform, last)
    stored = [e async for e in platform.store.read_all(1, last)]
    async with platform.http() as auditor:
        stream = HttpStream(auditor)
        stream.PAGE = 7  # several pages, and one cut short at the end
        assert await stream.last_sequence() >= last
        assert [e async for e in stream.read_all(1, last)] == stored
        assert [e.sequence async for e in stream.read_all(last - 2, last)] == [last - 2, last - 1, last]
        vkey = VerifierKey.parse((await auditor.get("/audit/public-key")).text.strip())
        report = await verify_history(stream, vkey, ledger=HttpLedger(auditor))
    assert report.ok and report.ledger_compared and report.events >= last, report.to_dict()


HOSTILE_NUMBERS = ["9223372036854775808", "18446744073709551616", str(2**53), "-1", "1e3", "0x10", "9" * 400, ""]


async def test_numbers_past_what_the_database_holds_are_refused_as_bad_input_never_a_server_error(
    platform: AuditedPlatform,
) -> None:
    """2^63 and more reached SQLite and came back as a 500 (OverflowError): every numeric
    query parameter of the audit API is bounded, so a hostile number is a 422."""
    await some_history(platform, people=1)
    await signed_up_to(platform, await platform.store.last_sequence())
    async with platform.http() as auditor:
        assert (await auditor.get("/audit/ledger/leaves", params={"start": str(2**53 - 1)})).status_code == 200
        past_the_end = await auditor.get("/audit/stream", params={"start": str(2**53 - 1)})
        assert past_the_end.status_code == 200 and past_the_end.content == b""
        for value in HOSTILE_NUMBERS:
            for path, name in [("/audit/checkpoints", "limit"), ("/audit/ledger/leaves", "start"),
                               ("/audit/ledger/leaves", "count"), ("/audit/proofs/inclusion/1", "tree_size"),
                               ("/audit/rejections", "limit"), ("/audit/stream", "start"), ("/audit/stream", "count")]:
                answer = await auditor.get(path, params={name: value})
                assert answer.status_code == 422, (path, name, value, answer.status_code, answer.text[:200])
            refused = await auditor.post("/audit/proofs/consistency", params={"tree_size": value}, content="x",
                                         headers={"content-type": "text/plain"})
            assert refused.status_code == 422, (value, refused.status_code)
        for event in ["99999999999999999999", "²", "9" * 400, str(2**53)]:  # a path parameter too (found by a review)
            answer = await auditor.get(f"/audit/proofs/inclusion/{event}")
            assert answer.status_code == 404, (event, answer.status_code)
